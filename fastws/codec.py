"""The sans-IO codec: the compiled implementation when built, the pure-Python twin otherwise.

``FASTWS_PURE=1`` in the environment forces the pure one.  ``IMPLEMENTATION``
says which is active ("c" or "python"); ``implementation(name)`` returns either
module explicitly, so tests and benchmarks can compare them side by side.
"""

from __future__ import annotations

from types import ModuleType

from ._impl import implementation as _implementation
from ._impl import load
from .constants import *  # noqa: F403  (opcodes and close codes belong to the codec API)
from .exceptions import ProtocolError


def implementation(name: str) -> ModuleType:
    """The codec module for ``name``: "c" (ImportError if not built) or "python"."""
    return _implementation(name, "fastws._codec_c", "fastws._codec_py")


_impl = load("fastws._codec_c", "fastws._codec_py")
IMPLEMENTATION: str = _impl.IMPLEMENTATION
Frame = _impl.Frame
FrameParser = _impl.FrameParser
FrameBuilder = _impl.FrameBuilder
Utf8Validator = _impl.Utf8Validator
mask = _impl.mask
mask_inplace = _impl.mask_inplace
validate_utf8 = _impl.validate_utf8
build_close_payload = _impl.build_close_payload
parse_close_payload = _impl.parse_close_payload

__all__ = [
    "IMPLEMENTATION",
    "Frame",
    "FrameBuilder",
    "FrameParser",
    "ProtocolError",
    "Utf8Validator",
    "build_close_payload",
    "implementation",
    "mask",
    "mask_inplace",
    "parse_close_payload",
    "validate_utf8",
]
