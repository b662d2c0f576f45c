"""Which module serves which dataset, by name: a stage run for one dataset calls that dataset's
module only, so dvc.yaml declares only that one (the contract test knows this dispatch)."""

from __future__ import annotations

from types import ModuleType

from synthset.datasets import fids30, mnist

MODULES: dict[str, ModuleType] = {"mnist": mnist, "fids30": fids30}


def module(dataset: str) -> ModuleType:
    return MODULES[dataset]
