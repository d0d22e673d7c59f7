"""fastws as uvicorn's WebSocket implementation: ``uvicorn app:app --ws fastws.asgi:WebSocketProtocol``.

uvicorn builds one :class:`WebSocketProtocol` per upgraded connection (with its
``config``, ``server_state`` and ``app_state``), calls ``connection_made`` and
replays the upgrade request through ``data_received``; from then on the
transport reads straight into fastws's connection (``get_buffer`` /
``buffer_updated``). Frames are parsed and built by fastws's codec; this layer
only turns messages into ASGI event dicts and back (ASGI WebSocket spec 2.4,
with the ``websocket.http.response`` denial extension).

uvicorn's settings: ``ws_max_size`` (1009 above it), ``ws_max_queue`` (received
messages held before reading pauses), ``ws_ping_interval`` / ``ws_ping_timeout``
(keepalive, 1011 on timeout), ``ws_per_message_deflate``, ``root_path``, the
default headers (``server``, ``date``), proxy headers (uvicorn's middleware
wraps the app), the server state (graceful shutdown closes with 1012).

Backpressure: reading pauses while a message waits and the application is not
in ``receive()`` (and in any case once ``ws_max_queue`` messages wait);
``websocket.send`` waits while the transport's buffer is above its high-water mark.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable, Mapping
from typing import Any, Optional, cast
from urllib.parse import unquote

from uvicorn._types import WebSocketScope
from uvicorn.config import Config
from uvicorn.logging import TRACE_LOG_LEVEL
from uvicorn.protocols.utils import (
    ClientDisconnected,
    get_client_addr,
    get_local_addr,
    get_path_with_query_string,
    get_remote_addr,
    is_ssl,
)
from uvicorn.server import ServerState

from . import handshake
from .connection import Connection
from .deflate import EXTENSION_NAME, PerMessageDeflate
from .exceptions import ConnectionClosed, InvalidHandshake
from .options import MIN_SIZE_LIMIT, Options
from .protocol import CLOSED, CONNECTING, OPEN, WebSocket

__all__ = ["WebSocketProtocol"]

# What uvicorn's own implementations offer: 4 KiB windows, mem_level 5 (about 25 KiB per connection).
DEFLATE = PerMessageDeflate(server_max_window_bits=12, client_max_window_bits=12, mem_level=5)
CLOSE_TIMEOUT = 10.0  # uvicorn's: how long to wait for the peer's close frame
ABORT_GRACE = 1.0  # at least this long between closing the transport and aborting it
SERVICE_RESTART = 1012
# Bytes a client may pipeline while the application decides whether to accept.
MAX_EARLY_DATA = 64 * 1024

# The phases of the application's side of the connection.
HANDSHAKE, ACCEPTED, RESPONDING, FINISHED = 0, 1, 2, 3

_INTERNAL_ERROR = handshake.build_http_response(
    500, None, [("Content-Type", "text/plain; charset=utf-8")], b"Internal Server Error"
)
_options: weakref.WeakKeyDictionary[Config, Options] = weakref.WeakKeyDictionary()


def options_for(config: Config) -> Options:
    """fastws options for uvicorn's ``ws_*`` settings (cached per config)."""
    options = _options.get(config)
    if options is None:
        interval, timeout = config.ws_ping_interval, config.ws_ping_timeout
        options = Options(
            # A limit below 125 bytes could not even carry a close frame.
            max_size=max(int(config.ws_max_size), MIN_SIZE_LIMIT),
            max_queue=max(int(config.ws_max_queue), 1),
            ping_interval=interval if interval and interval > 0 else None,
            ping_timeout=timeout if timeout and timeout > 0 else None,
            close_timeout=CLOSE_TIMEOUT,
        )
        _options[config] = options
    return options


def _latin1(value: Any, what: str) -> str:
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{what} must be bytes, not {type(value).__name__}")
    return bytes(value).decode("latin-1")


def header_fields(headers: Iterable[Any], what: str) -> list[tuple[str, str]]:
    """ASGI ``[(name, value), ...]`` byte pairs as str pairs; TypeError names a malformed entry."""
    if isinstance(headers, (bytes, str)) or not isinstance(headers, Iterable):
        raise TypeError(f"{what} must be an iterable of [name, value] byte pairs")
    fields = []
    for entry in headers:
        try:
            name, value = entry
        except (TypeError, ValueError):
            raise TypeError(f"{what}: {entry!r} is not a [name, value] pair") from None
        fields.append((_latin1(name, f"{what} name"), _latin1(value, f"{what} value")))
    return fields


class WebSocketProtocol(WebSocket):
    """One upgraded connection under uvicorn: fastws's connection speaking ASGI to the app."""

    close_timeout = CLOSE_TIMEOUT
    logger = logging.getLogger("uvicorn.error")

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: Optional[asyncio.AbstractEventLoop] = None,
    ) -> None:
        if not config.loaded:
            config.load()
        super().__init__(False, options_for(config), _loop or asyncio.get_event_loop())
        self.config = config
        self.app = config.loaded_app
        self.app_state = app_state
        # uvicorn types these sets with its own protocol classes; any protocol with shutdown() belongs there.
        self.connections = cast("set[Any]", server_state.connections)
        self.tasks = server_state.tasks
        self.default_headers = server_state.default_headers
        self.scope: WebSocketScope = cast(WebSocketScope, {})
        self.close_timer: Optional[asyncio.TimerHandle] = None
        self._handshake: Optional[handshake.ServerHandshake] = handshake.ServerHandshake()
        self._early = b""  # bytes after the request, before the application accepted
        self._phase = HANDSHAKE
        self._connect_sent = False
        self._disconnect: Optional[dict[str, Any]] = None  # set by the app's close, a rejection, shutdown
        self._app_behind = False  # reading paused: a message waits and the app is not in receive()
        self._response: Optional[tuple[int, list[tuple[str, str]]]] = None  # denial response, no length
        self._body = bytearray()
        self._head_sent = False

    # --- asyncio protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.connections.add(self)
        if self.logger.level <= TRACE_LOG_LEVEL:
            self.logger.log(TRACE_LOG_LEVEL, "%sWebSocket connection made", self._prefix())

    def connection_lost(self, exc: Optional[Exception] = None) -> None:
        self.connections.discard(self)
        if self.logger.level <= TRACE_LOG_LEVEL:
            self.logger.log(TRACE_LOG_LEVEL, "%sWebSocket connection lost", self._prefix())
        super().connection_lost(exc)

    def _prefix(self) -> str:
        peer = self.remote_address
        return "%s:%d - " % peer[:2] if isinstance(peer, tuple) else ""

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown or reload: close with 1012 (500 before the handshake)."""
        transport = self.transport
        assert transport is not None
        self._cancel("keepalive")
        if self._state == OPEN and not self._close_sent:
            self._disconnect = {"type": "websocket.disconnect", "code": SERVICE_RESTART}
            self._phase = FINISHED
            Connection.close(self, SERVICE_RESTART, "")
            self._wake_reader()
        elif self._state == CONNECTING:
            self._send_500()
        self._cancel("close")
        transport.close()

    # --- the opening handshake ----------------------------------------------------------

    def _handshake_data(self, data: bytes) -> None:
        parser = self._handshake
        if parser is None:  # the request is complete: the application has not accepted yet
            self._early += data
            if len(self._early) > MAX_EARLY_DATA and not self._app_behind:
                self._app_behind = True
                Connection.pause_reading(self)
            return
        try:
            request = parser.feed(data)
            if request is None:
                return
            handshake.validate_request(request)
            if self.config.ws_per_message_deflate:
                _ = request.extension_offers  # a malformed offer is a 400, as for uvicorn's others
        except InvalidHandshake as exc:
            self._handshake = None
            self._write_and_close(handshake.error_response(exc))
            return
        self._handshake = None
        self._early = parser.trailing
        self.request = request
        self.scope = self._make_scope(request)
        task = self.loop.create_task(self._run_asgi())
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def _make_scope(self, request: handshake.Request) -> WebSocketScope:
        transport_ = self.transport
        assert transport_ is not None
        raw_path, _, query = request.path.partition("?")
        root_path = self.config.root_path
        subprotocols = [
            token.strip(" \t")
            for value in request.headers.get_all("Sec-WebSocket-Protocol")
            for token in value.split(",")
            if token.strip(" \t")
        ]
        return {
            "type": "websocket",
            "asgi": {"version": self.config.asgi_version, "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": "wss" if is_ssl(transport_) else "ws",
            "server": get_local_addr(transport_),
            "client": get_remote_addr(transport_),
            "root_path": root_path,
            "path": root_path + unquote(raw_path),
            "raw_path": root_path.encode("ascii") + raw_path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1"))
                for name, value in request.headers.multi_items()
            ],
            "subprotocols": subprotocols,
            "state": self.app_state.copy(),
            "extensions": {"websocket.http.response": {}},
        }

    def _accept(self, message: Mapping[str, Any]) -> None:
        subprotocol = message.get("subprotocol")
        if subprotocol is not None and not isinstance(subprotocol, str):
            raise TypeError(f"websocket.accept: subprotocol must be a str, not {type(subprotocol).__name__}")
        headers = header_fields(self.default_headers, "default headers")
        headers += header_fields(message.get("headers") or (), "websocket.accept headers")
        request = self.request
        deflate = None
        extension_header = None
        if self.config.ws_per_message_deflate:
            extension_header, accepted = handshake.negotiate_extensions(request.extension_offers, [DEFLATE])
            for extension, params in accepted:
                if extension.name == EXTENSION_NAME:
                    deflate = DEFLATE.make_session(params)
        # ValueError for a subprotocol the client did not offer, or a header that could split the response.
        response = handshake.build_response_101(request, subprotocol or None, extension_header, headers)
        self._log("[accepted]")
        assert self.transport is not None
        if self.transport.is_closing():
            return
        self._phase = ACCEPTED
        self.subprotocol = subprotocol
        self.transport.write(response)
        early, self._early = self._early, b""
        if self._app_behind:
            self._app_behind = False
            Connection.resume_reading(self)
        self.start(deflate, early)

    def _deny(self, message: Mapping[str, Any]) -> None:
        """``websocket.http.response.start``: a response instead of the handshake."""
        status = message.get("status")
        if isinstance(status, bool) or not isinstance(status, int):
            raise TypeError(
                f"websocket.http.response.start: status must be an int, not {type(status).__name__}"
            )
        if not 100 <= status < 600:
            raise RuntimeError("Invalid HTTP status code '%d' in response." % status)
        headers = header_fields(message.get("headers") or (), "websocket.http.response.start headers")
        names = {name.lower() for name, _ in headers}
        headers += [(name, value) for name, value in header_fields(self.default_headers, "default headers")
                    if name.lower() not in names]  # fmt: skip
        self._log(str(status))
        self._phase = RESPONDING
        if "content-length" in names:  # the body can stream: send the head now
            self._write(handshake.build_http_response(status, None, headers))
            self._head_sent = True
        else:
            self._response = (status, headers)

    def _deny_body(self, message: Mapping[str, Any]) -> None:
        body = message.get("body", b"")
        if not isinstance(body, (bytes, bytearray, memoryview)):
            raise TypeError(f"websocket.http.response.body: body must be bytes, not {type(body).__name__}")
        more = bool(message.get("more_body", False))
        if self._head_sent:
            self._write(bytes(body))
        else:
            self._body += body
            if not more:
                assert self._response is not None
                status, headers = self._response
                self._write(handshake.build_http_response(status, None, headers, bytes(self._body)))
                self._head_sent = True
        if not more:
            self._reject()

    def _reject(self) -> None:
        self._phase = FINISHED
        self._disconnect = {"type": "websocket.disconnect", "code": 1006}
        self._wake_reader()
        assert self.transport is not None
        self.transport.close()

    def _send_500(self) -> None:
        if self._phase == HANDSHAKE or (self._phase == RESPONDING and not self._head_sent):
            self._phase = FINISHED
            self._write(_INTERNAL_ERROR)

    def _log(self, outcome: str) -> None:
        """uvicorn's access line for a WebSocket request: accepted, or the status it was answered with."""
        self.logger.info(
            '%s - "WebSocket %s" %s',
            get_client_addr(self.scope),
            get_path_with_query_string(self.scope),
            outcome,
        )

    def _write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def _write_and_close(self, data: bytes) -> None:
        self._write(data)
        assert self.transport is not None
        self.transport.close()

    # --- the application -----------------------------------------------------------------

    async def _run_asgi(self) -> None:
        try:
            result = await self.app(self.scope, self.asgi_receive, self.asgi_send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self._send_500()
        else:
            if self._phase == HANDSHAKE:
                self.logger.error("ASGI callable returned without completing handshake.")
                self._send_500()
            elif self._phase == RESPONDING and not self._head_sent:
                self.logger.error("ASGI callable returned without completing the response.")
                self._send_500()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
        if self.close_timer is None and self.transport is not None:
            self.transport.close()

    async def asgi_receive(self) -> dict[str, Any]:
        """The ASGI ``receive`` callable."""
        if not self._connect_sent:
            self._connect_sent = True
            return {"type": "websocket.connect"}
        while True:
            message = self.next_message()
            if message is not None:
                if self._app_behind and not self.messages:
                    self._app_behind = False
                    Connection.resume_reading(self)
                if type(message) is str:
                    return {"type": "websocket.receive", "text": message}
                return {"type": "websocket.receive", "bytes": message}
            if self._disconnect is not None:
                return self._disconnect
            if self._state == CLOSED or self._close_received or self._failed:
                return self._peer_disconnect()
            if self._recv_waiter is not None:
                raise RuntimeError("receive() is already being awaited by another task")
            waiter = self._recv_waiter = self.loop.create_future()
            try:
                await waiter
            finally:
                self._recv_waiter = None

    def _peer_disconnect(self) -> dict[str, Any]:
        code = self.close_code if self.close_code is not None else 1006
        event: dict[str, Any] = {"type": "websocket.disconnect", "code": code}
        if self._close_received or self.close_reason:
            event["reason"] = self.close_reason
        return event

    async def asgi_send(self, message: Mapping[str, Any]) -> None:
        """The ASGI ``send`` callable."""
        try:
            kind = message["type"]
        except (TypeError, KeyError):
            raise TypeError(f"an ASGI message must be a dict with a 'type', not {message!r}") from None
        phase = self._phase
        if phase == ACCEPTED:
            if kind == "websocket.send":
                await self._send_data(message)
            elif kind == "websocket.close":
                self._app_close(message)
            else:
                raise RuntimeError(
                    f"Expected ASGI message 'websocket.send' or 'websocket.close', but got '{kind}'."
                )
            return
        if self._state == CLOSED or (self.transport is not None and self.transport.is_closing()):
            if phase != FINISHED:
                raise ClientDisconnected()
        if phase == HANDSHAKE:
            if kind == "websocket.accept":
                self._accept(message)
            elif kind == "websocket.close":
                self._log("403")
                self._phase = FINISHED
                self._write(handshake.build_http_response(403))
                self._reject()
            elif kind == "websocket.http.response.start":
                self._deny(message)
            else:
                raise RuntimeError(
                    "Expected ASGI message 'websocket.accept', 'websocket.close' "
                    f"or 'websocket.http.response.start' but got '{kind}'."
                )
        elif phase == RESPONDING:
            if kind != "websocket.http.response.body":
                raise RuntimeError(f"Expected ASGI message 'websocket.http.response.body' but got '{kind}'.")
            self._deny_body(message)
        else:
            raise RuntimeError(f"Unexpected ASGI message '{kind}', after sending 'websocket.close'.")

    async def _send_data(self, message: Mapping[str, Any]) -> None:
        data = message.get("bytes")
        if data is None:
            data = message.get("text")
            if not isinstance(data, str):
                if data is None:
                    raise ValueError("websocket.send needs 'bytes' or 'text'")
                raise TypeError(f"websocket.send: text must be a str, not {type(data).__name__}")
        elif not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"websocket.send: bytes must be bytes, not {type(data).__name__}")
        elif message.get("text") is not None:
            raise ValueError("websocket.send takes 'bytes' or 'text', not both")
        while self.writing_paused and self._state == OPEN:
            await self._drain()  # the transport's buffer is full: wait before adding to it
        try:
            self.send(data)
        except ConnectionClosed:
            raise ClientDisconnected() from None

    def _app_close(self, message: Mapping[str, Any]) -> None:
        code = message.get("code", 1000)
        code = 1000 if code is None else code
        reason = message.get("reason") or ""
        if isinstance(code, bool) or not isinstance(code, int):
            raise TypeError(f"websocket.close: code must be an int, not {type(code).__name__}")
        if not isinstance(reason, str):
            raise TypeError(f"websocket.close: reason must be a str, not {type(reason).__name__}")
        if self._state == OPEN:  # else the peer closed first: nothing left to close
            Connection.close(self, code, reason)  # ValueError for a code or reason a close frame cannot carry
        self._phase = FINISHED
        self._disconnect = {"type": "websocket.disconnect", "code": code, "reason": reason}
        self._wake_reader()

    # --- hooks of the connection -----------------------------------------------------------

    def _wake_reader(self) -> None:
        waiter = self._recv_waiter
        if waiter is not None:
            if not waiter.done():
                waiter.set_result(None)
        elif self._state == OPEN and self.messages and not self._app_behind:
            # A message waits and the application is not in receive(): stop reading until it catches up.
            self._app_behind = True
            Connection.pause_reading(self)

    def _schedule(self, name: str, delay: float) -> None:
        if name != "close":
            super()._schedule(name, delay)
            return
        self._cancel("close")
        if self._close_sent and self._close_received:
            # Both close frames exchanged: only make sure TCP goes away.
            super()._schedule("abort", max(self.close_timeout, ABORT_GRACE))
        else:  # waiting for the peer's close frame, as uvicorn does: close_timer
            self.close_timer = self.loop.call_later(self.close_timeout, self._close_timed_out)

    def _cancel(self, name: str) -> None:
        if name == "close":
            if self.close_timer is not None:
                self.close_timer.cancel()
                self.close_timer = None
        else:
            super()._cancel(name)

    def _close_timed_out(self) -> None:
        self.close_timer = None
        if self._state != CLOSED and self.transport is not None:
            self.transport.close()  # flushes what is buffered, then closes
            # A peer that reads nothing keeps that flush waiting: drop it after a grace period.
            super()._schedule("abort", max(self.close_timeout, ABORT_GRACE))

    def timer_fired(self, name: str) -> None:
        if name == "abort":
            if self._state != CLOSED and self.transport is not None:
                self.transport.abort()
        else:
            super().timer_fired(name)

    # --- what uvicorn's implementations expose ---------------------------------------------

    @property
    def ping_timer(self) -> Optional[asyncio.TimerHandle]:
        """The keepalive timer (None with ``ws_ping_interval=None``)."""
        return self._timers.get("keepalive") if self._timers else None

    @property
    def ping_sent_at(self) -> float:
        """When the last keepalive ping was sent (0.0 before the first)."""
        return float(self._keepalive_sent)
