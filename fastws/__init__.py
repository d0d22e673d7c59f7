"""fastws: a fast, correct WebSocket (RFC 6455) library with a C hot path.

The public names are imported lazily, so ``python -m fastws --pure`` can still
choose the codec before it is loaded.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "WebSocketError": "exceptions",
    "ProtocolError": "exceptions",
    "ConnectionClosed": "exceptions",
    "ConnectionClosedOK": "exceptions",
    "ConnectionClosedError": "exceptions",
    "InvalidHandshake": "exceptions",
    "HandshakeRejected": "exceptions",
    "HandshakeRedirect": "exceptions",
    "InvalidURI": "exceptions",
    "InvalidState": "exceptions",
    "WebSocket": "protocol",
    "Listener": "listener",
    "Options": "options",
    "Connection": "connection",
    "State": "connection",
    "serve": "server",
    "Server": "server",
    "HTTPResponse": "server",
    "connect": "client",
    "PerMessageDeflate": "deflate",
    "run": "runner",
    "new_event_loop": "runner",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from .client import connect
    from .connection import Connection, State
    from .deflate import PerMessageDeflate
    from .exceptions import (
        ConnectionClosed,
        ConnectionClosedError,
        ConnectionClosedOK,
        HandshakeRedirect,
        HandshakeRejected,
        InvalidHandshake,
        InvalidState,
        InvalidURI,
        ProtocolError,
        WebSocketError,
    )
    from .listener import Listener
    from .options import Options
    from .protocol import WebSocket
    from .runner import new_event_loop, run
    from .server import HTTPResponse, Server, serve


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fastws' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
