"""Exceptions shared by every layer (and by both codec implementations)."""

from __future__ import annotations


class WebSocketError(Exception):
    """Base class of every fastws error."""


class ProtocolError(WebSocketError):
    """The peer broke RFC 6455 / RFC 7692; ``code`` is the close code to answer with.

    ``frames`` holds the frames a parser completed, in the same ``feed`` call,
    before it met the violation, so nothing received before the error is lost.
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason
        self.frames: list[object] = []

    def __str__(self) -> str:
        return f"{self.reason} (close code {self.code})"


class InvalidHandshake(WebSocketError):
    """The opening handshake (RFC 6455 §4) failed.

    Server side: ``status``, ``reason`` (one line) and ``headers`` describe the
    HTTP error response to send (``fastws.handshake.error_response`` builds it).
    Client side: ``status`` is the status the server answered with, ``headers``
    and ``body`` what it sent along, ``reason`` what was wrong with it.
    """

    def __init__(
        self,
        status: int,
        reason: str,
        headers: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (),
        body: bytes = b"",
    ) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason
        self.headers = list(headers)
        self.body = body

    def __str__(self) -> str:
        return f"{self.reason} (HTTP {self.status})"


class HandshakeRejected(InvalidHandshake):
    """Client side: the server answered with a status other than 101.

    ``reason`` is the server's reason phrase; ``body`` the (possibly truncated)
    body it sent, useful for diagnostics.
    """

    def __str__(self) -> str:
        return f"server rejected the WebSocket handshake: HTTP {self.status} {self.reason}".rstrip()


class HandshakeRedirect(HandshakeRejected):
    """Client side: the server answered 3xx.

    ``location`` is the raw ``Location`` header (None if absent); it may be
    relative, so resolve it with ``urllib.parse.urljoin(original_uri, location)``.
    """

    def __init__(
        self,
        status: int,
        reason: str,
        headers: list[tuple[str, str]] | tuple[tuple[str, str], ...] = (),
        body: bytes = b"",
        location: str | None = None,
    ) -> None:
        super().__init__(status, reason, headers, body)
        self.location = location


class InvalidURI(WebSocketError, ValueError):
    """A URI is not a usable ws:// or wss:// URI."""


class ConnectionClosed(WebSocketError):
    """The connection is closed: ``code`` and ``reason`` of the closing handshake (1006 if none)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"connection closed: {self.code} {self.reason}".rstrip()


class ConnectionClosedOK(ConnectionClosed):
    """Closed normally (1000, 1001, or a close frame without a code)."""


class ConnectionClosedError(ConnectionClosed):
    """Closed with an error code, or the TCP connection dropped without a close frame (1006)."""


class InvalidState(WebSocketError, RuntimeError):
    """An operation that the connection's state does not allow (e.g. send() before it is open)."""
