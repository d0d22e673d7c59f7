"""``wsproto.utilities``: the error classes, and the header helpers the handshake uses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Optional

from fastws.handshake import accept_key, generate_key

if TYPE_CHECKING:
    from .events import Event


class ProtocolError(Exception):
    """Base of both error classes."""


class LocalProtocolError(ProtocolError):
    """The local side asked for something its state or RFC 6455 does not allow."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something RFC 6455 does not allow.

    ``event_hint`` is the event to send back (usually a ``RejectConnection``), or None.
    """

    def __init__(self, message: str, event_hint: Optional[Event] = None) -> None:
        self.event_hint = event_hint
        super().__init__(message)


def normed_header_dict(headers: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """Header names mapped to their values, repeated headers joined with ``", "``."""
    joined: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        joined.setdefault(name, []).append(value)
    return {name: b", ".join(values) for name, values in joined.items()}


def split_comma_header(value: bytes) -> list[str]:
    """The comma-separated items of a header value, stripped."""
    return [item.decode("ascii").strip() for item in value.split(b",")]


def generate_nonce() -> bytes:
    """A fresh ``Sec-WebSocket-Key`` (fastws's generator)."""
    return generate_key().encode("ascii")


def generate_accept_token(token: bytes) -> bytes:
    """The ``Sec-WebSocket-Accept`` value for a key (fastws's implementation)."""
    return accept_key(token.decode("ascii")).encode("ascii")


__all__ = [
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "generate_accept_token",
    "generate_nonce",
    "normed_header_dict",
    "split_comma_header",
]
