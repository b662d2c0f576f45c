"""Which module serves which dataset; only the stages that treat every dataset alike import it,
so that a stage of one dataset does not depend on another dataset's code."""

from __future__ import annotations

from types import ModuleType

from synthset.data import fids30, mnist

MODULES: dict[str, ModuleType] = {"mnist": mnist, "fids30": fids30}


def module(dataset: str) -> ModuleType:
    return MODULES[dataset]
