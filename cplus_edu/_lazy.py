"""Lazy attribute loading, so that ``import cplus_edu`` stays fast.

torch, torchvision and umap take seconds to import; a package ``__init__`` lists the public
names it exports and the module each lives in, and a module is imported only when one of its
names is first used (PEP 562 module ``__getattr__``).
"""

from __future__ import annotations

import importlib
from typing import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable, Callable]:
    """Return ``(__getattr__, __dir__)`` for ``package`` exporting ``{name: submodule}``."""

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f"{package}.{exports[name]}")
        return getattr(module, name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
