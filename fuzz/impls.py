"""Both implementations of every twin, loaded side by side in one process.

The compiled ones must be there: a fuzz run without them would compare the pure
code with itself and find nothing.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def _pair(compiled: str, pure: str) -> tuple[ModuleType, ModuleType]:
    try:
        c = importlib.import_module(compiled)
    except ImportError as exc:
        raise SystemExit(f"fuzzing needs the compiled {compiled} (build it first): {exc}") from None
    return c, importlib.import_module(pure)


CODEC_C, CODEC_PY = _pair("fastws._codec_c", "fastws._codec_py")
DEFLATE_C, DEFLATE_PY = _pair("fastws._deflate_c", "fastws._deflate_py")
CONNECTION_C, CONNECTION_PY = _pair("fastws._connection_c", "fastws._connection_py")
CODECS = {"c": CODEC_C, "python": CODEC_PY}
DEFLATES = {"c": DEFLATE_C, "python": DEFLATE_PY}
