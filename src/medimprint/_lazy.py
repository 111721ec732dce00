"""Lazy re-exports for the subpackages (PEP 562), as scikit-image and SciPy do.

`from medimprint.membership import decide` works, yet importing a subpackage imports none of its
modules until one of their names is used: planning the workflow's DAG imports a few light
modules, not torch, scikit-learn or matplotlib (tests/test_names.py measures it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(
    package: str, modules: Mapping[str, Sequence[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """`__getattr__`, `__dir__` and `__all__` for `package`, given {module: [its public names]}."""
    home = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{home[name]}"), name)

    def __dir__() -> list[str]:
        return sorted(home)

    return __getattr__, __dir__, sorted(home)
