"""fastws: a fast, correct WebSocket (RFC 6455) library with a C hot path."""

from __future__ import annotations

from .exceptions import ProtocolError, WebSocketError

__version__ = "0.1.0"

__all__ = ["ProtocolError", "WebSocketError", "__version__"]
