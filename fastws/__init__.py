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
    "broadcast": "broadcasting",
    "BroadcastResult": "broadcasting",
    "Topics": "topics",
    "new_event_loop": "runner",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:  # the names as type checkers see them (explicit re-exports)
    from .broadcasting import BroadcastResult as BroadcastResult
    from .broadcasting import broadcast as broadcast
    from .client import connect as connect
    from .connection import Connection as Connection
    from .connection import State as State
    from .deflate import PerMessageDeflate as PerMessageDeflate
    from .exceptions import ConnectionClosed as ConnectionClosed
    from .exceptions import ConnectionClosedError as ConnectionClosedError
    from .exceptions import ConnectionClosedOK as ConnectionClosedOK
    from .exceptions import HandshakeRedirect as HandshakeRedirect
    from .exceptions import HandshakeRejected as HandshakeRejected
    from .exceptions import InvalidHandshake as InvalidHandshake
    from .exceptions import InvalidState as InvalidState
    from .exceptions import InvalidURI as InvalidURI
    from .exceptions import ProtocolError as ProtocolError
    from .exceptions import WebSocketError as WebSocketError
    from .listener import Listener as Listener
    from .options import Options as Options
    from .protocol import WebSocket as WebSocket
    from .runner import new_event_loop as new_event_loop
    from .runner import run as run
    from .server import HTTPResponse as HTTPResponse
    from .server import Server as Server
    from .server import serve as serve
    from .topics import Topics as Topics


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fastws' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
