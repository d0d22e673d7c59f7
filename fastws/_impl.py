"""Choosing between a compiled module and its pure-Python twin.

``FASTWS_PURE=1`` forces every twin to its pure-Python side; otherwise the
compiled one is used when it was built.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def pure_requested() -> bool:
    return os.environ.get("FASTWS_PURE", "") not in ("", "0")


def load(compiled: str, pure: str) -> ModuleType:
    """The compiled module ``compiled`` unless pure is requested or it was not built."""
    if not pure_requested():
        try:
            return importlib.import_module(compiled)
        except ImportError:
            pass
    return importlib.import_module(pure)


def implementation(name: str, compiled: str, pure: str) -> ModuleType:
    """One twin by name: "c" (ImportError if not built) or "python"."""
    if name == "python":
        return importlib.import_module(pure)
    if name == "c":
        return importlib.import_module(compiled)
    raise ValueError(f"unknown implementation {name!r}; expected 'c' or 'python'")
