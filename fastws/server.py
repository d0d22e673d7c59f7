"""The server: ``serve()`` accepts TCP (or TLS) connections and runs the opening handshake.

A handler is either an ``async def handler(ws)`` (awaitable API, one task per
connection) or, for the callback API (no task at all), a
:class:`~fastws.Listener` subclass or a factory of listeners, called once per
connection (as ``connect(listener=...)`` takes them).

Behind a reverse proxy, ``serve(..., trusted_proxies=[...])`` makes
``ws.client_ip`` the client that ``X-Forwarded-For`` names when the TCP peer is
one of those proxies; ``ws.remote_address`` stays the socket's peer.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import logging
import socket
import ssl as ssl_module
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Generator, Iterable, Optional, Sequence, Union

from . import deflate as deflate_module
from . import handshake
from .admission import DEFAULT_SHARE as DEFAULT_HANDSHAKE_SHARE
from .admission import HandshakeGate
from .constants import CLOSE_GOING_AWAY, CLOSE_INTERNAL_ERROR, CLOSE_NORMAL
from .exceptions import ConnectionClosed, InvalidHandshake
from .handshake import Request
from .listener import Listener, listener_factory, make_listener
from .options import Options, check_int, check_strings
from .protocol import CONNECTING, OPEN, WebSocket

logger = logging.getLogger("fastws.server")

Handler = Union[Callable[[WebSocket], Awaitable[Any]], type[Listener], Callable[[], Listener]]


@dataclass
class HTTPResponse:
    """What a ``process_request`` hook returns to answer the request itself (auth, health checks)."""

    status: int
    body: Union[bytes, str] = b""
    headers: Sequence[tuple[str, str]] = field(default_factory=list)
    reason: Optional[str] = None

    def serialize(self) -> bytes:
        body = self.body.encode("utf-8") if isinstance(self.body, str) else self.body
        headers = list(self.headers)
        if isinstance(self.body, str) and not any(n.lower() == "content-type" for n, _ in headers):
            headers.append(("Content-Type", "text/plain; charset=utf-8"))
        return handshake.build_http_response(self.status, self.reason, headers, body)


_INTERNAL_ERROR = HTTPResponse(500, "internal server error\n").serialize()

ProcessRequest = Callable[[WebSocket, Request], Union[None, HTTPResponse, Awaitable[Optional[HTTPResponse]]]]

_Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
_Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


def _trusted_networks(trusted_proxies: Optional[Iterable[Any]]) -> tuple[_Network, ...]:
    """``serve(trusted_proxies=...)`` as networks; TypeError / ValueError name the bad entry."""
    if trusted_proxies is None:
        return ()
    if isinstance(trusted_proxies, (str, bytes)):
        raise TypeError(
            "trusted_proxies must be a list of IP addresses or networks, "
            f"not a single {type(trusted_proxies).__name__} (write [{trusted_proxies!r}])"
        )
    networks = []
    for entry in trusted_proxies:
        if not isinstance(entry, (str, ipaddress.IPv4Address, ipaddress.IPv6Address,
                                  ipaddress.IPv4Network, ipaddress.IPv6Network)):  # fmt: skip
            raise TypeError(f"trusted_proxies: {entry!r} is not an IP address or network (str)")
        try:
            network = ipaddress.ip_network(entry)
        except ValueError as exc:
            if isinstance(entry, str) and "has host bits set" in str(exc):
                fixed = ipaddress.ip_network(entry, strict=False)
                raise ValueError(
                    f"trusted_proxies: {entry!r} has host bits set; did you mean {str(fixed)!r}?"
                ) from None
            raise ValueError(f"trusted_proxies: {entry!r} is not an IP address or network") from None
        if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
            mapped = network.network_address.ipv4_mapped
            if mapped is not None:  # peers are matched as plain IPv4 (see _parse_ip)
                network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
        networks.append(network)
    return tuple(networks)


def _parse_ip(value: str) -> Optional[_Address]:
    """An address of X-Forwarded-For or of the socket's peer (IPv6 maybe in brackets); None if malformed."""
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket's IPv4 peer
    return address


def _forwarded_client(
    peer: Optional[str], forwarded_for: Sequence[str], trusted: Sequence[_Network]
) -> Optional[str]:
    """The client's IP: ``peer`` (the socket's), or, when ``peer`` is a trusted proxy, from X-Forwarded-For.

    ``forwarded_for`` are the X-Forwarded-For fields in arrival order. Each proxy
    appends the address it received the request from, so the list is walked from
    the right, over trusted proxies, to the first address that is not one: the
    client. If every address is trusted, the leftmost is the client. An element
    that is not a bare IP address (garbage, or one with a port: proxies append
    addresses only) or no header at all stops the walk and ``peer`` is kept:
    what lies to the left of it cannot be trusted.
    """
    if not trusted or peer is None:
        return peer
    address = _parse_ip(peer)
    if address is None or not any(address in net for net in trusted):
        return peer  # not a proxy we trust: X-Forwarded-For is whatever the client wrote
    hops = [hop.strip(" \t") for value in forwarded_for for hop in value.split(",")]
    hops = [hop for hop in hops if hop]  # empty list elements are allowed (RFC 9110 §5.6.1)
    client: Optional[str] = None
    for hop in reversed(hops):
        address = _parse_ip(hop)
        if address is None:
            return peer
        client = str(address)
        if not any(address in net for net in trusted):
            break
    return client if client is not None else peer


class ServerConnection(WebSocket):
    """Server side of one connection: the opening handshake, then the handler."""

    def __init__(self, server: Server) -> None:
        assert server.loop is not None
        super().__init__(False, server.options, server.loop)
        self.server = server
        self._handshake = handshake.ServerHandshake(
            max_head_size=server.max_head_size, max_headers=server.max_headers
        )
        self._open_timer: Optional[asyncio.TimerHandle] = None
        self._request_done = False
        self._paced: Optional[bytearray] = None  # what came while waiting for a handshake turn
        self._early_data = bytearray()  # frames pipelined while an async hook runs
        self._hook_task: Optional[asyncio.Task[Optional[HTTPResponse]]] = None
        self.handler_task: Optional[asyncio.Task[Any]] = None
        self.client_ip: Optional[str] = None
        """The client's IP address: the socket's peer (``remote_address[0]``), or with
        ``serve(trusted_proxies=...)`` the client a trusted proxy names in
        X-Forwarded-For (set when the request has been read, before ``process_request``)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = self.remote_address
        self.client_ip = peer[0] if isinstance(peer, tuple) else None  # None for a Unix socket
        self.server._connections.add(self)
        # Slowloris: the whole handshake must finish within open_timeout.
        self._open_timer = self.loop.call_later(self.options.open_timeout, self._open_timed_out)

    def connection_lost(self, exc: Optional[Exception] = None) -> None:
        self.server._connections.discard(self)
        if self._failed and self.server.gate is not None:
            self.server.gate.failed()  # we failed it: a protocol error, a limit
        if self._open_timer is not None:
            self._open_timer.cancel()
        if self._hook_task is not None:
            self._hook_task.cancel()  # nobody is left to answer
        super().connection_lost(exc)

    def _open_timed_out(self) -> None:
        self._open_timer = None
        if self._state == CONNECTING and self.transport is not None:
            logger.info("%r: opening handshake timed out", self)
            self.transport.abort()

    def _handshake_data(self, data: bytes) -> None:
        paced = self._paced
        if paced is not None:
            # Waiting for its turn. Reading goes on, so that a client that leaves is seen
            # at once; past max_head_size the request is refused now (431: no parsing).
            paced += data
            if len(paced) > self.server.max_head_size:
                self._paced_turn()
            return
        gate = self.server.gate
        if gate is None or not gate.armed:
            self._handshake_now(data)
        elif gate.admits():
            gate.run(lambda: self._handshake_now(data))
        else:
            self._paced = bytearray(data)  # a flood of failing connections: wait for a turn
            gate.wait(self._paced_turn)

    def _paced_turn(self) -> None:
        data, self._paced = self._paced, None
        transport = self.transport
        if data is None or transport is None or transport.is_closing():
            return  # refused already, or gone meanwhile (open_timeout, or the peer left)
        self._handshake_now(bytes(data))

    def _handshake_now(self, data: bytes) -> None:
        if self._request_done:
            self._early_data += data  # an async process_request hook is running
            return
        try:
            request = self._handshake.feed(data)
        except InvalidHandshake as exc:
            self._reject(handshake.error_response(exc))
            return
        if request is None:
            return
        self._request_done = True
        self.request = request
        if self.server.trusted_proxies:
            self.client_ip = _forwarded_client(
                self.client_ip, request.headers.get_all("X-Forwarded-For"), self.server.trusted_proxies
            )
        hook = self.server.process_request
        try:
            result = hook(self, request) if hook is not None else None
        except Exception:
            logger.exception("%r: process_request failed", self)
            self._reject(_INTERNAL_ERROR)
            return
        if inspect.isawaitable(result):
            self.transport.pause_reading()  # type: ignore[union-attr]
            self._hook_task = self.loop.create_task(result)  # type: ignore[arg-type]
            self._hook_task.add_done_callback(self._hook_done)
        else:
            self._respond(result)

    def _hook_done(self, task: asyncio.Task[Optional[HTTPResponse]]) -> None:
        self._hook_task = None
        if task.cancelled() or self._state != CONNECTING or self.transport is None or self.transport.is_closing():
            return
        self.transport.resume_reading()
        try:
            result = task.result()
        except Exception:
            logger.exception("%r: process_request failed", self)
            self._reject(_INTERNAL_ERROR)
            return
        self._respond(result)

    def _respond(self, result: Optional[HTTPResponse]) -> None:
        if result is not None:
            self._reject(result.serialize())
            return
        server = self.server
        request = self.request
        try:
            accept = handshake.process_request(
                request,
                subprotocols=server.subprotocols,
                extensions=server.extensions,
                allowed_origins=server.origins,
                extra_headers=server.extra_headers,
            )
        except InvalidHandshake as exc:
            self._reject(handshake.error_response(exc))
            return
        if server.listener_factory is not None:
            try:
                self.listener = make_listener(server.listener_factory)
            except Exception:
                logger.exception("%r: the listener factory failed", self)
                self._reject(_INTERNAL_ERROR)
                return
        if self._open_timer is not None:
            self._open_timer.cancel()
            self._open_timer = None
        self.subprotocol = accept.subprotocol
        self.transport.write(accept.response)  # type: ignore[union-attr]
        handler = server.handler
        trailing = self._handshake.trailing + bytes(self._early_data)
        # Open connections may idle for hours: keep nothing of the handshake but the request.
        self._handshake = None  # type: ignore[assignment]
        self._early_data = None  # type: ignore[assignment]
        deflate = None
        for extension, params in accept.extensions:
            if extension.name == deflate_module.EXTENSION_NAME:
                deflate = extension.make_session(params, is_client=False)  # type: ignore[attr-defined]
        self._open(trailing, deflate)
        if handler is not None:
            self.handler_task = self.loop.create_task(self._run_handler(handler))

    def _reject(self, response: bytes) -> None:
        if self.server.gate is not None:
            self.server.gate.failed()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(response)
            transport.close()

    async def _run_handler(self, handler: Callable[[WebSocket], Awaitable[Any]]) -> None:
        """Run the handler; whatever way it ends, the connection is closed after it."""
        code, reason = CLOSE_NORMAL, ""
        try:
            await handler(self)
        except ConnectionClosed:
            if self._state == OPEN:  # another connection's: an error the handler let through
                logger.exception("%r: handler failed", self)
                code, reason = CLOSE_INTERNAL_ERROR, "internal error"
        except Exception:
            logger.exception("%r: handler failed", self)
            code, reason = CLOSE_INTERNAL_ERROR, "internal error"
        except asyncio.CancelledError:
            code, reason = CLOSE_GOING_AWAY, "going away"
            raise
        finally:
            if self._state == OPEN:
                WebSocket.close(self, code, reason)


class Server:
    """A listening WebSocket server; create it with :func:`serve`."""

    def __init__(
        self,
        handler: Handler,
        *,
        options: Options,
        loop: Optional[asyncio.AbstractEventLoop],
        subprotocols: Sequence[str] = (),
        extensions: Sequence[handshake.Extension] = (),
        origins: Optional[Sequence[str]] = None,
        process_request: Optional[ProcessRequest] = None,
        extra_headers: Iterable[tuple[str, str]] = (),
        max_head_size: int = handshake.DEFAULT_MAX_HEAD_SIZE,
        max_headers: int = handshake.DEFAULT_MAX_HEADERS,
        trusted_proxies: Optional[Iterable[Union[str, _Address, _Network]]] = (),
        handshake_share: Optional[float] = DEFAULT_HANDSHAKE_SHARE,
    ) -> None:
        self.handler: Optional[Callable[[WebSocket], Awaitable[Any]]] = None
        self.listener_factory: Optional[Callable[[], Listener]] = None
        if not isinstance(handler, type) and (
            inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(getattr(handler, "__call__", None))
        ):
            self.handler = handler  # type: ignore[assignment]  # an async function, or an object with an async __call__
        elif callable(handler):
            what = "handler (not an async function)"
            self.listener_factory = listener_factory(handler, what)
        else:
            raise TypeError(
                f"handler must be an async function, a Listener subclass or a factory of listeners, not {handler!r}"
            )
        self.options = options
        self.loop = loop  # None until serve() starts it
        self.subprotocols = list(subprotocols)
        self.extensions = list(extensions)
        self.origins = list(origins) if origins is not None else None
        self.process_request = process_request
        self.extra_headers = list(extra_headers)
        self.max_head_size = max_head_size
        self.max_headers = max_headers
        self.trusted_proxies = _trusted_networks(trusted_proxies)
        self._connections: set[ServerConnection] = set()
        self.handshake_share = handshake_share
        self.gate: Optional[HandshakeGate] = None  # set with the loop (see serve)
        self._server: Optional[asyncio.AbstractServer] = None
        self._closing: Optional[asyncio.Task[None]] = None

    @property
    def connections(self) -> set[ServerConnection]:
        """Every connection, from TCP accept until it is closed."""
        return set(self._connections)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self._server.sockets) if self._server is not None else ()  # type: ignore[attr-defined]

    @property
    def port(self) -> Optional[int]:
        """The port of the first listening socket (handy with ``port=0``); None once closed."""
        sockets = self.sockets
        return sockets[0].getsockname()[1] if sockets else None

    def close(self, code: int = CLOSE_GOING_AWAY, reason: str = "server shutting down") -> None:
        """Stop accepting, send ``code`` (1001) to every connection, then drop laggards.

        Returns at once; ``await wait_closed()`` for the end.
        """
        if self._closing is None and self.loop is not None:
            self._closing = self.loop.create_task(self._shutdown(code, reason))

    async def _shutdown(self, code: int, reason: str) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            if conn._state == OPEN:
                conn.close(code, reason)
            elif conn._state == CONNECTING and conn.transport is not None:
                conn.transport.close()
        if self.gate is not None:
            self.gate.close()  # the handshakes waiting for a turn are closing
        waiters = [conn._closed_waiter for conn in self._connections]
        if waiters:
            await asyncio.wait(waiters, timeout=self.options.close_timeout)
        for conn in list(self._connections):
            conn.abort()
        tasks = [c.handler_task for c in self._connections if c.handler_task is not None]
        if self._server is not None:
            await self._server.wait_closed()
        if tasks:
            await asyncio.wait(tasks, timeout=self.options.close_timeout)

    async def wait_closed(self) -> None:
        if self._closing is not None:
            await asyncio.shield(self._closing)
        elif self._server is not None:
            await self._server.wait_closed()

    async def serve_forever(self) -> None:
        """Serve until cancelled (or ``close()``d), then shut down gracefully."""
        try:
            while self._closing is None:
                await asyncio.sleep(3600)
        finally:
            self.close()
            await self.wait_closed()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.close()
        await self.wait_closed()


def _compression_extensions(compression: Any) -> list[handshake.Extension]:
    if compression is None:
        return []
    if compression == "deflate":
        # A 12-bit window and memLevel 5 for our compressor: ~49 KiB per connection
        # instead of ~250 KiB at zlib's defaults, for a slightly lower ratio.
        return [deflate_module.PerMessageDeflate(server_max_window_bits=12, mem_level=5)]
    if isinstance(compression, deflate_module.PerMessageDeflate):
        return [compression]
    raise ValueError(f"compression must be 'deflate', a PerMessageDeflate or None, not {compression!r}")


def _check_server_args(
    port: Optional[int], backlog: int, max_head_size: int, max_headers: int,
    subprotocols: Sequence[str], origins: Optional[Sequence[str]],
) -> None:  # fmt: skip
    """ValueError / TypeError for a bad serve() argument, before anything listens."""
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535):
        raise ValueError(f"port must be an int from 0 to 65535 (0: any free port), got {port!r}")
    check_int("backlog", backlog, 0)
    check_int("max_head_size", max_head_size, 64)
    check_int("max_headers", max_headers, 1)
    check_strings("subprotocols", subprotocols)
    if origins is not None:
        check_strings("origins", origins, none_entries=True)  # None, as in websockets: no Origin (allowed anyway)


class serve:  # noqa: N801  (used like a function: await serve(...), async with serve(...))
    """Start a WebSocket server on ``host:port`` (or ``sock``).

    ``await serve(...)`` returns the listening :class:`Server`; ``async with
    serve(...) as server:`` also closes it at the end (as does ``async with
    await serve(...)``).

    ``handler``: an ``async def handler(ws)``, or for the callback API a
    :class:`~fastws.Listener` subclass or a factory of listeners. ``options``
    are the per-connection :class:`~fastws.options.Options` (max_size,
    max_queue, write_limit, ping_interval, ping_timeout, close_timeout,
    open_timeout, ...), checked here: a bad value raises ValueError or
    TypeError naming it.  ``origins`` lists the allowed ``Origin`` values (403
    otherwise); ``process_request(ws, request)`` may return an
    :class:`HTTPResponse` (sync or async) to answer instead of upgrading.
    ``subprotocols`` are in the server's order of preference.
    ``compression``: ``"deflate"`` (default) accepts permessage-deflate offers
    with :class:`~fastws.deflate.PerMessageDeflate`'s defaults; pass an instance
    to tune it (window bits, level, memory, threshold) or None to decline.
    ``trusted_proxies`` lists the reverse proxies (IP addresses or networks,
    e.g. ``["127.0.0.1", "10.0.0.0/8"]``; default: none) whose
    ``X-Forwarded-For`` sets ``ws.client_ip``; ``ws.remote_address`` is always
    the socket's peer.  ``handshake_share``: while connections are being refused or
    failed in numbers (a flood: 50 in a second), the opening handshakes of new
    connections get at most this share of the loop's time (default 0.1) and wait
    their turn, so that the open connections are still served; None: never paced.
    """

    def __init__(
        self,
        handler: Handler,
        host: Optional[str] = None,
        port: Optional[int] = None,
        *,
        ssl: Optional[ssl_module.SSLContext] = None,
        sock: Optional[socket.socket] = None,
        subprotocols: Sequence[str] = (),
        extensions: Sequence[handshake.Extension] = (),
        origins: Optional[Sequence[str]] = None,
        process_request: Optional[ProcessRequest] = None,
        extra_headers: Iterable[tuple[str, str]] = (),
        max_head_size: int = handshake.DEFAULT_MAX_HEAD_SIZE,
        max_headers: int = handshake.DEFAULT_MAX_HEADERS,
        reuse_port: bool = False,
        backlog: int = 1024,
        compression: Union[str, deflate_module.PerMessageDeflate, None] = "deflate",
        trusted_proxies: Optional[Iterable[Union[str, _Address, _Network]]] = (),
        handshake_share: Optional[float] = DEFAULT_HANDSHAKE_SHARE,
        **options: Any,
    ) -> None:
        _check_server_args(port, backlog, max_head_size, max_headers, subprotocols, origins)
        if handshake_share is not None and not (
            isinstance(handshake_share, (int, float))
            and not isinstance(handshake_share, bool)
            and 0.0 < handshake_share <= 1.0
        ):
            raise ValueError(f"handshake_share must be in (0, 1] or None, got {handshake_share!r}")
        if ssl is not None and not isinstance(ssl, ssl_module.SSLContext):
            raise TypeError(f"ssl must be an ssl.SSLContext or None, not {type(ssl).__name__}")
        self._host = host
        self._port = port
        self._ssl = ssl
        self._sock = sock
        self._reuse_port = reuse_port
        self._backlog = backlog
        # Built (and every argument checked) now; it gets its loop when it starts.
        self._pending = Server(
            handler,
            loop=None,
            options=Options.from_kwargs(options),
            subprotocols=subprotocols,
            extensions=[*extensions, *_compression_extensions(compression)],
            origins=origins,
            process_request=process_request,
            extra_headers=extra_headers,
            max_head_size=max_head_size,
            max_headers=max_headers,
            trusted_proxies=trusted_proxies,
            handshake_share=handshake_share,
        )
        self._server: Optional[Server] = None

    def __await__(self) -> Generator[Any, None, Server]:
        return self._start().__await__()

    async def __aenter__(self) -> Server:
        self._server = await self._start()
        return self._server

    async def __aexit__(self, *exc_info: Any) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _start(self) -> Server:
        server = self._pending
        if server.loop is not None:
            raise RuntimeError("this serve() has already started its server")
        server.loop = loop = asyncio.get_running_loop()
        if server.handshake_share is not None:
            server.gate = HandshakeGate(loop, server.handshake_share)
        # The TLS handshake comes before connection_made: bound it by open_timeout too.
        tls: dict[str, Any] = (
            {"ssl": self._ssl, "ssl_handshake_timeout": server.options.open_timeout} if self._ssl else {}
        )
        if self._sock is not None:
            server._server = await loop.create_server(
                lambda: ServerConnection(server), sock=self._sock, backlog=self._backlog, **tls
            )
        else:
            server._server = await loop.create_server(
                lambda: ServerConnection(server),
                self._host,
                self._port,
                reuse_port=self._reuse_port or None,
                backlog=self._backlog,
                **tls,
            )
        return server
