"""The connection: an ``asyncio.BufferedProtocol`` joining a transport to the codec.

One class serves both sides and both APIs:

* the awaitable API (``await ws.recv()``, ``async for message in ws``,
  ``await ws.send(...)``, ``await ws.ping()``, ``await ws.close()``);
* the callback API (a :class:`Listener` whose ``on_message`` and friends are
  called straight from ``data_received``), the fastest path.

``send``, ``ping`` and ``close`` write to the transport at once and return an
awaitable, so callback code calls them plainly and coroutine code awaits them
(for flow control, the pong, or the end of the closing handshake).
The opening handshake lives in ``server.py`` / ``client.py``; this module starts
when it is done (:meth:`WebSocket._open`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import sys
import time
from dataclasses import dataclass, fields
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Optional, Union

from . import codec
from ._impl import load
from .constants import (
    CLOSE_ABNORMAL,
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NO_STATUS,
    CLOSE_NORMAL,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
)
from .exceptions import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK, ProtocolError

logger = logging.getLogger("fastws")

Data = Union[str, bytes]

CONNECTING, OPEN, CLOSING, CLOSED = range(4)  # OPEN must equal _core.OPEN (checked below)
_STATE_NAMES = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")

_core = load("fastws._core_c", "fastws._core_py")
ProtocolCore = _core.ProtocolCore
_WRITELINES_THRESHOLD = _core.WRITELINES_THRESHOLD
assert _core.OPEN == OPEN


@dataclass
class Options:
    """Per-connection settings shared by server and client."""

    max_size: Optional[int] = 1 << 20  # largest message, after reassembly and inflation (1009 above); None: no limit
    max_frame_size: Optional[int] = None  # largest frame; None means max_size
    max_queue: int = 16  # received messages buffered before reading pauses
    write_limit: int = 64 * 1024  # transport buffer above which send() waits
    ping_interval: Optional[float] = None  # keepalive pings; None disables them
    ping_timeout: Optional[float] = 20.0  # no pong this long after a keepalive ping: 1011
    close_timeout: float = 5.0  # how long to wait for the peer in the closing handshake
    open_timeout: float = 10.0  # the whole opening handshake

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> Options:
        """Options from keyword arguments; TypeError names any unknown one."""
        unknown = set(kwargs) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
        return cls(**kwargs)


class Listener:
    """Callback API: subclass and override what you need; every method is optional.

    Callbacks run inside ``data_received``: keep them short and non-blocking.
    """

    def on_open(self, ws: WebSocket) -> None:
        pass

    # False: text messages go to on_text() as validated UTF-8 bytes, never decoded to str
    # (cheaper for applications that parse bytes, e.g. orjson, or pass them on).
    decode_text: bool = True

    def on_message(self, ws: WebSocket, message: Data) -> None:
        pass

    def on_text(self, ws: WebSocket, data: bytes) -> None:
        """A text message, as UTF-8 bytes (already validated); only with ``decode_text = False``.

        Reply with ``ws.send(data, text=True)``. By default: ``on_message(ws, data.decode())``.
        """
        self.on_message(ws, data.decode("utf-8"))

    def on_ping(self, ws: WebSocket, payload: bytes) -> None:
        """Called after the automatic pong was sent."""

    def on_pong(self, ws: WebSocket, payload: bytes) -> None:
        pass

    def on_close(self, ws: WebSocket, code: int, reason: str) -> None:
        pass

    def on_error(self, ws: WebSocket, exc: BaseException) -> None:
        """A protocol violation by the peer (the connection is being failed) or a callback raised."""

    def on_pause_writing(self, ws: WebSocket) -> None:
        """The transport's write buffer went above ``write_limit``: stop sending."""

    def on_resume_writing(self, ws: WebSocket) -> None:
        """The write buffer drained: sending may resume."""


class _Discarding:
    """The parser of a failed connection: what the peer still sends is dropped,
    and the time of its last bytes is kept (see ``WebSocket._linger``)."""

    __slots__ = ("_loop", "last")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.last = loop.time()

    def feed(self, data: bytes) -> list[Any]:
        self.last = self._loop.time()
        return []


# A failed connection keeps reading until the peer has been quiet this long (or
# until close_timeout), so that closing cannot turn unread bytes into an RST.
_QUIET = 0.05


class WebSocket(ProtocolCore, asyncio.BufferedProtocol):  # type: ignore[misc,valid-type]
    """One WebSocket connection (see the module docstring)."""

    # Set by the opening handshake (server.py / client.py).
    request: Any = None  # server side: the client's handshake request
    response: Any = None  # client side: the server's handshake response
    subprotocol: Optional[str] = None
    remote_address: Any = None

    def __init__(self, client: bool, options: Options, loop: asyncio.AbstractEventLoop) -> None:
        self.client = client
        self.options = options
        self.loop = loop
        self.state = CONNECTING
        self.transport: Optional[asyncio.Transport] = None
        self.listener: Optional[Listener] = None
        self._parser: Any = None  # set when open: data_received tests it to route handshake bytes
        self._builder = codec.FrameBuilder(client)
        self._deflate: Any = None  # deflate.DeflateSession once permessage-deflate is agreed
        self.close_code: Optional[int] = None
        self.close_reason: str = ""
        self._close_sent = False
        self._close_received = False
        self._closed_waiter: asyncio.Future[None] = loop.create_future()
        self._close_timer: Optional[asyncio.TimerHandle] = None
        # Awaitable API: received messages and the reader waiting for one.
        self._messages: collections.deque[Data] = collections.deque()
        self._recv_waiter: Optional[asyncio.Future[None]] = None
        self._reading_paused = False
        self._fragmented_send = False
        # Flow control.
        self._drain_waiter: Optional[asyncio.Future[None]] = None
        # Pings in flight: payload -> (waiter, time sent).
        self._pings: dict[bytes, tuple[asyncio.Future[float], float]] = {}
        self._keepalive_handle: Optional[asyncio.TimerHandle] = None
        self._keepalive_deadline: Optional[asyncio.TimerHandle] = None
        self.latency: Optional[float] = None  # last measured ping round trip, seconds

    def __repr__(self) -> str:
        side = "client" if self.client else "server"
        return f"<fastws.WebSocket {side} {_STATE_NAMES[self.state]} {self.remote_address}>"

    # --- opening -----------------------------------------------------------

    def _open(self, trailing: bytes = b"", deflate: Any = None) -> None:
        """Switch from the handshake to frames; ``trailing`` are bytes that came after it.

        ``deflate`` is the connection's permessage-deflate session, if agreed.
        """
        options = self.options
        self._deflate = deflate
        max_size = options.max_size if options.max_size is not None else sys.maxsize  # None: no limit
        self._text_bytes = self.listener is not None and not self.listener.decode_text
        self._parser = codec.FrameParser(
            self.client,
            max_frame_size=options.max_frame_size or max_size,
            max_message_size=max_size,
            allow_rsv1=deflate is not None,
            decode_text=not self._text_bytes,
        )
        self.state = OPEN
        assert self.transport is not None
        self.transport.set_write_buffer_limits(high=options.write_limit, low=options.write_limit // 4)
        if options.ping_interval:
            self._keepalive_handle = self.loop.call_later(options.ping_interval, self._keepalive)
        if self.listener is not None:
            self._call_listener(self.listener.on_open, self)
        if trailing:
            self.data_received(trailing)

    # --- asyncio.BufferedProtocol (reads: get_buffer / buffer_updated in the core) ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.remote_address = transport.get_extra_info("peername")

    def _handshake_data(self, data: bytes) -> None:  # overridden by both sides
        raise NotImplementedError

    def eof_received(self) -> Optional[bool]:
        return None  # close the transport: a half-closed WebSocket is of no use

    def pause_writing(self) -> None:
        self._drain_waiter = self.loop.create_future()
        if self.listener is not None:
            self._call_listener(self.listener.on_pause_writing, self)

    def resume_writing(self) -> None:
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self.listener is not None:
            self._call_listener(self.listener.on_resume_writing, self)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        was_open = self._parser is not None
        self.state = CLOSED
        if self.close_code is None:
            self.close_code = CLOSE_ABNORMAL  # TCP closed without a close frame
        for handle in (self._close_timer, self._keepalive_handle, self._keepalive_deadline):
            if handle is not None:
                handle.cancel()
        for waiter, _ in self._pings.values():
            if not waiter.done():
                waiter.set_exception(self._closed_exception())
                waiter.exception()  # mark retrieved: nobody may be awaiting a ping
        self._pings.clear()
        waiter, self._drain_waiter = self._drain_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)  # senders wake up; their next send() raises ConnectionClosed
        self._wake_reader()
        if not self._closed_waiter.done():
            self._closed_waiter.set_result(None)
        if was_open and self.listener is not None:
            self._call_listener(self.listener.on_close, self, self.close_code, self.close_reason)

    # --- receiving ----------------------------------------------------------

    def _inflate(self, opcode: int, payload: bytes) -> Optional[Data]:
        """A compressed message (RSV1): decompress within max_size, then check text.

        Returns None after failing the connection (1009 too big, 1007 corrupt or not UTF-8).
        """
        try:
            data = self._deflate.decompress(payload, self.options.max_size)
            if opcode != OP_TEXT:
                return data  # type: ignore[no-any-return]
            if self._text_bytes:
                if not codec.validate_utf8(data):
                    raise ProtocolError(1007, "invalid UTF-8 in text message")
                return data  # type: ignore[no-any-return]
            try:
                return data.decode("utf-8")  # type: ignore[no-any-return]
            except UnicodeDecodeError:
                raise ProtocolError(1007, "invalid UTF-8 in text message") from None
        except ProtocolError as exc:
            self._protocol_error(exc)
            return None

    def _queue_message(self, message: Data) -> None:
        messages = self._messages
        messages.append(message)
        if len(messages) >= self.options.max_queue and not self._reading_paused:
            # The application does not keep up: let TCP push back on the peer.
            self._reading_paused = True
            self.transport.pause_reading()  # type: ignore[union-attr]
        self._wake_reader()

    def _wake_reader(self) -> None:
        waiter = self._recv_waiter
        if waiter is not None:
            self._recv_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _control_received(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_PING:
            if self.state == OPEN:
                self._write_frame(OP_PONG, payload)
            if self.listener is not None:
                self._call_listener(self.listener.on_ping, self, payload)
        elif opcode == OP_PONG:
            self._pong_received(payload)
            if self.listener is not None:
                self._call_listener(self.listener.on_pong, self, payload)
        elif opcode == OP_CLOSE:
            self._close_frame_received(payload)

    def _close_frame_received(self, payload: bytes) -> None:
        code, reason = codec.parse_close_payload(payload)  # already validated by the parser
        self._close_received = True
        self.close_code, self.close_reason = code, reason
        self._wake_reader()  # no message can follow: a waiting recv() raises now
        if not self._close_sent:
            # Echo the peer's code (RFC 6455 §5.5.1); an empty close is echoed empty.
            self._send_close_frame(None if code == CLOSE_NO_STATUS else code, "")
        self.state = CLOSING
        self._finish_closing()

    def _finish_closing(self) -> None:
        """Both close frames exchanged: the server closes TCP first (RFC 6455 §7.1.1)."""
        if not self.client:
            self.transport.close()  # type: ignore[union-attr]
        self._start_close_timer()  # the flush (server) or the server (client) may never come

    def _protocol_error(self, exc: ProtocolError) -> None:
        """Fail the connection (RFC 6455 §7.1.7): close frame with the code, then drop TCP."""
        if self.close_code is None:
            self.close_code, self.close_reason = exc.code, exc.reason
        if not self._close_sent and self.state in (OPEN, CLOSING):
            self._send_close_frame(exc.code, exc.reason[:123])
        self.state = CLOSING
        # Lingering close: closing now, with the peer's bytes still unread, makes the
        # kernel send RST, which can destroy our close frame in flight. Keep reading
        # and discarding until the peer is quiet, then close (close_timeout aborts).
        self._parser = _Discarding(self.loop)
        self.loop.call_later(_QUIET, self._linger)
        self._start_close_timer()
        if self.listener is not None:
            self._call_listener(self.listener.on_error, self, exc)

    def _linger(self) -> None:
        """Close a failed connection once the peer has stopped sending (close_timeout aborts)."""
        if self.state == CLOSED or self.transport is None:
            return
        quiet_for = self.loop.time() - self._parser.last
        if quiet_for >= _QUIET:
            self.transport.close()
        else:
            self.loop.call_later(_QUIET - quiet_for, self._linger)

    # --- the awaitable API ----------------------------------------------------

    async def recv(self) -> Data:
        """The next message: ``str`` for text, ``bytes`` for binary.

        Raises ConnectionClosedOK / ConnectionClosedError once the connection is
        closed and every message received before has been returned.
        """
        messages = self._messages
        while not messages:
            if self.state == CLOSED or self._close_received:
                raise self._closed_exception()
            if self._recv_waiter is not None:
                raise RuntimeError("recv() is already being awaited by another task")
            self._recv_waiter = self.loop.create_future()
            await self._recv_waiter
        message = messages.popleft()
        if self._reading_paused and len(messages) <= self.options.max_queue // 4:
            self._reading_paused = False
            if self.state != CLOSED:
                self.transport.resume_reading()  # type: ignore[union-attr]
        return message

    def __aiter__(self) -> AsyncIterator[Data]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Data]:
        try:
            while True:
                yield await self.recv()
        except ConnectionClosedOK:
            return

    async def wait_closed(self) -> None:
        """Until the TCP connection is closed."""
        await asyncio.shield(self._closed_waiter)

    # --- sending (both APIs) ---------------------------------------------------

    def _send_deflated(self, opcode: int, message: Any) -> Awaitable[None]:
        """send() when permessage-deflate is on: small messages go uncompressed."""
        deflate = self._deflate
        if len(message) < deflate.threshold:
            self._write_frame(opcode, message)
        else:
            self._write_frame(opcode, deflate.compress(message), rsv1=True)
        return self._drain_waiter or _core.READY

    def _refuse_send(self) -> None:
        if self.state != OPEN:
            raise self._closed_exception()
        raise RuntimeError("a fragmented message is being sent; finish it first")

    def _write_frame(self, opcode: int, payload: Any, fin: bool = True, rsv1: bool = False) -> None:
        if self._corked is not None:
            self._flush_corked()  # what send() corked goes first: a close frame must come last
        transport = self.transport
        if len(payload) < _WRITELINES_THRESHOLD:
            transport.write(self._builder.build(opcode, payload, fin, rsv1))  # type: ignore[union-attr]
        else:
            transport.writelines(self._builder.build_parts(opcode, payload, fin, rsv1))  # type: ignore[union-attr]

    async def send_fragments(
        self, fragments: Union[Iterable[Data], AsyncIterator[Data]], compress: bool = True
    ) -> None:
        """Send one message as several frames, one per fragment (all str or all bytes).

        Accepts a sync or async iterable: large or streamed messages never need
        to be held whole in memory.
        """
        if self.state != OPEN:
            raise self._closed_exception()
        if self._fragmented_send:
            raise RuntimeError("a fragmented message is already being sent")
        self._fragmented_send = True
        deflate = self._deflate if compress else None
        opcode: Optional[int] = None
        try:
            if hasattr(fragments, "__aiter__"):
                async for fragment in fragments:  # type: ignore[union-attr]
                    opcode = await self._send_fragment(opcode, fragment, deflate)
            else:
                for fragment in fragments:  # type: ignore[union-attr]
                    opcode = await self._send_fragment(opcode, fragment, deflate)
            if opcode is None:
                return  # nothing to send
            if self.state != OPEN:
                raise self._closed_exception()
            last = deflate.compress_fragment(b"", True) if deflate is not None else b""
            self._write_frame(OP_CONTINUATION, last, fin=True)
        finally:
            self._fragmented_send = False

    async def _send_fragment(self, opcode: Optional[int], fragment: Data, deflate: Any) -> int:
        kind = OP_TEXT if isinstance(fragment, str) else OP_BINARY
        if opcode is not None and kind != opcode:
            raise TypeError("all fragments of a message must be str, or all bytes-like")
        if self.state != OPEN:
            raise self._closed_exception()
        first = opcode is None
        data = deflate.compress_fragment(fragment, False) if deflate is not None else fragment
        # With compression, RSV1 marks the first frame only (RFC 7692 §6.1).
        self._write_frame(kind if first else OP_CONTINUATION, data, fin=False, rsv1=first and deflate is not None)
        if self._drain_waiter is not None:
            await self._drain_waiter
        return kind

    def ping(self, data: Union[str, bytes, None] = None) -> Awaitable[float]:
        """Send a ping; the returned future gives the round-trip time (seconds) when the pong arrives."""
        if self.state != OPEN:
            raise self._closed_exception()
        if data is None:
            data = os.urandom(4)
            while data in self._pings:
                data = os.urandom(4)
        elif isinstance(data, str):
            data = data.encode()
        else:
            data = bytes(data)
        if data in self._pings:
            raise ValueError("a ping with this payload is already waiting for its pong")
        self._write_frame(OP_PING, data)  # raises ValueError for over 125 bytes: nothing registered
        waiter: asyncio.Future[float] = self.loop.create_future()
        self._pings[data] = (waiter, time.monotonic())
        return waiter

    def _pong_received(self, payload: bytes) -> None:
        if payload not in self._pings:
            return  # unsolicited pong: allowed, ignored (RFC 6455 §5.5.3)
        now = time.monotonic()
        # A pong acknowledges its ping and every ping sent before it.
        for key in list(self._pings):
            waiter, sent = self._pings.pop(key)
            if not waiter.done():
                waiter.set_result(now - sent)
            if key == payload:
                self.latency = now - sent
                break
        if self._keepalive_deadline is not None:
            self._keepalive_deadline.cancel()
            self._keepalive_deadline = None

    def _keepalive(self) -> None:
        options = self.options
        if self.state != OPEN:
            return
        waiter = self.ping()
        waiter.add_done_callback(lambda f: f.cancelled() or f.exception())  # nobody awaits it
        if options.ping_timeout is not None and self._keepalive_deadline is None:
            self._keepalive_deadline = self.loop.call_later(options.ping_timeout, self._keepalive_timeout)
        self._keepalive_handle = self.loop.call_later(options.ping_interval, self._keepalive)  # type: ignore[arg-type]

    def _keepalive_timeout(self) -> None:
        self._keepalive_deadline = None
        if self.state in (OPEN, CLOSING):
            logger.info("%r: no pong within %ss, closing", self, self.options.ping_timeout)
            self.close_code, self.close_reason = CLOSE_INTERNAL_ERROR, "keepalive ping timeout"
            if not self._close_sent:
                self._send_close_frame(CLOSE_INTERNAL_ERROR, "keepalive ping timeout")
            self.transport.abort()  # type: ignore[union-attr]

    # --- closing ----------------------------------------------------------------

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> Awaitable[None]:
        """Start the closing handshake; the returned future completes when TCP is closed."""
        if self.state == OPEN:
            self._send_close_frame(code, reason)  # ValueError for a bad code before any change
            self.state = CLOSING
            self._start_close_timer()
        elif self.state == CONNECTING and self.transport is not None:
            self.transport.close()
        return asyncio.shield(self._closed_waiter)

    def _send_close_frame(self, code: Optional[int], reason: str) -> None:
        self._write_frame(OP_CLOSE, codec.build_close_payload(code, reason))
        self._close_sent = True

    def _start_close_timer(self) -> None:
        if self._close_timer is None and self.transport is not None:
            self._close_timer = self.loop.call_later(self.options.close_timeout, self._close_timed_out)

    def _close_timed_out(self) -> None:
        self._close_timer = None
        if self.state != CLOSED:
            self.transport.abort()  # type: ignore[union-attr]

    def abort(self) -> None:
        """Drop the TCP connection now, without a closing handshake."""
        if self.transport is not None:
            self.transport.abort()

    def _closed_exception(self) -> ConnectionClosed:
        code = self.close_code if self.close_code is not None else CLOSE_ABNORMAL
        cls = ConnectionClosedOK if code in (CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_NO_STATUS) else ConnectionClosedError
        return cls(code, self.close_reason)

    # --- helpers ------------------------------------------------------------------

    def _call_listener(self, method: Callable[..., Any], *args: Any) -> None:
        try:
            method(*args)
        except Exception as exc:
            self._listener_failed(exc)

    def _listener_failed(self, exc: Exception) -> None:
        logger.exception("%r: listener callback failed", self)
        if self.listener is not None:
            try:
                self.listener.on_error(self, exc)
            except Exception:
                logger.exception("%r: on_error failed", self)
        if self.state == OPEN:
            self.close(CLOSE_INTERNAL_ERROR, "internal error")

    @property
    def open(self) -> bool:
        return self.state == OPEN

    @property
    def closed(self) -> bool:
        return self.state == CLOSED

    def pause_reading(self) -> None:
        """Callback API flow control: stop reading from the socket."""
        if self.transport is not None and self.state != CLOSED:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and self.state != CLOSED:
            self.transport.resume_reading()
