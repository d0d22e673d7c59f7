"""The sans-IO WebSocket connection: the compiled build when it is there, else the pure one.

Both are built from one source, ``fastws/_connection_py.py`` (its docstring tells
how to drive a :class:`Connection` without any I/O). ``FASTWS_PURE=1`` forces the pure one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._impl import load

if TYPE_CHECKING:  # type checkers read the source itself
    from ._connection_py import IMPLEMENTATION, READY, Connection, MemorySink, State
else:
    _module = load("fastws._connection_c", "fastws._connection_py")
    Connection = _module.Connection
    MemorySink = _module.MemorySink
    State = _module.State
    READY = _module.READY
    IMPLEMENTATION = _module.IMPLEMENTATION

__all__ = ["Connection", "MemorySink", "State", "READY", "IMPLEMENTATION"]
