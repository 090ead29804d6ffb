"""A package's names imported from their modules when first asked for (PEP 562).

A package whose ``__init__`` imported every module would load them all for one of them: the
store's service, SQLite and Trio for ``vyx backtest``, which reads only its records (~0.2 s);
google-genai or apprise for a machine that uses neither. Its ``__init__`` instead lists which
module holds each name (types for checkers under ``TYPE_CHECKING``) and sets
``__getattr__ = lazy_exports(__name__, EXPORTS)``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``: name -> the module of ``package`` that
    defines it (``exports``), imported on first use and the name then kept in the package."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
