"""The client: ``connect()`` opens a ws:// or wss:// connection, follows redirects, reconnects.

``await connect(uri)`` returns an open :class:`~fastws.protocol.WebSocket`;
``async with connect(uri) as ws`` closes it at the end; ``async for ws in
connect(uri)`` reconnects with exponential backoff whenever the connection is
lost, until the application closes it itself.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import ssl as ssl_module
import sys
from typing import (
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Mapping,
    Optional,
    Sequence,
    TypeVar,
    Union,
)
from urllib.parse import urljoin, urlsplit, urlunsplit

from . import deflate as deflate_module
from . import handshake
from . import proxy as proxy_module
from .exceptions import HandshakeRedirect, InvalidHandshake, InvalidState, InvalidURI
from .listener import Listener, listener_factory, make_listener
from .options import Options, check_int, check_seconds, check_strings
from .protocol import WebSocket

T = TypeVar("T")

if sys.version_info >= (3, 11):

    async def _within(aw: Awaitable[T], seconds: Optional[float]) -> T:
        """``await aw`` within ``seconds`` (TimeoutError past them).  Not ``wait_for``: before
        3.12 it returns the result when the awaitable finishes as the task is cancelled, and
        the cancellation is lost (a reconnecting ``async for`` cancelled then retried forever)."""
        async with asyncio.timeout(seconds):
            return await aw

else:  # no asyncio.timeout: wait_for and its race
    _within = asyncio.wait_for

logger = logging.getLogger("fastws.client")


class ClientConnection(WebSocket):
    """Client side of one connection: sends the request, validates the 101."""

    def __init__(
        self,
        options: Options,
        loop: asyncio.AbstractEventLoop,
        request: bytes,
        key: str,
        subprotocols: Sequence[str],
        listener: Optional[Listener],
        deflate_offer: Optional[handshake.ExtensionParams] = None,
        deflate_options: Optional[Mapping[str, Any]] = None,
    ) -> None:
        super().__init__(True, options, loop)
        self._request = request
        self._key = key
        self._subprotocols = list(subprotocols)
        self._deflate_offer = deflate_offer
        self._deflate_options = deflate_options or {}
        self.listener = listener
        self._handshake = handshake.ClientHandshake()
        self.handshake_done: asyncio.Future[None] = loop.create_future()
        self.close_requested = False  # the application called close(): never reconnect

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        transport.write(self._request)  # type: ignore[attr-defined]

    def _handshake_data(self, data: bytes) -> None:
        if self.handshake_done.done():
            return
        try:
            response = self._handshake.feed(data)
            if response is None:
                return
            offered = [deflate_module.EXTENSION_NAME] if self._deflate_offer is not None else []
            negotiated = handshake.validate_response(response, self._key, self._subprotocols, offered)
            deflate = None
            for name, params in negotiated.extensions:
                if name == deflate_module.EXTENSION_NAME:
                    deflate = deflate_module.client_accept(
                        params, self._deflate_offer, **self._deflate_options  # type: ignore[arg-type]
                    )
        except InvalidHandshake as exc:
            self._handshake_failed(exc)
            return
        self.response = response
        self.subprotocol = negotiated.subprotocol
        self._open(self._handshake.trailing, deflate)
        if not self.handshake_done.done():
            self.handshake_done.set_result(None)

    def _handshake_failed(self, exc: BaseException) -> None:
        if not self.handshake_done.done():
            self.handshake_done.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Optional[Exception] = None) -> None:
        if not self.handshake_done.done():
            try:  # a rejection whose body ends with the connection
                response = self._handshake.feed_eof()
                handshake.validate_response(response, self._key, self._subprotocols)
                error: BaseException = InvalidHandshake(0, "connection closed during the handshake")
            except InvalidHandshake as rejected:
                error = rejected
            self.handshake_done.set_exception(error)
            self.handshake_done.exception()  # mark retrieved: the attempt may have been cancelled
        super().connection_lost(exc)

    def close(self, code: int = 1000, reason: str = "") -> Any:
        """The application's close: ``async for ws in connect(...)`` stops reconnecting.

        (The connection's own closes, such as after a listener callback raised,
        go through ``Connection.close`` and do not stop it.)"""
        self.close_requested = True
        return super().close(code, reason)


def _check_client_args(
    subprotocols: Sequence[str], max_redirects: int, backoff_initial: float, backoff_factor: float,
    backoff_max: float,
) -> None:  # fmt: skip
    check_strings("subprotocols", subprotocols)
    check_int("max_redirects", max_redirects, 0)
    check_seconds("backoff_initial", backoff_initial, none_ok=False)
    check_seconds("backoff_max", backoff_max, none_ok=False)
    if isinstance(backoff_factor, bool) or not isinstance(backoff_factor, (int, float)) or not backoff_factor >= 1:
        raise ValueError(f"backoff_factor must be a number >= 1, got {backoff_factor!r}")
    if backoff_max < backoff_initial:
        raise ValueError(f"backoff_max ({backoff_max}) must not be less than backoff_initial ({backoff_initial})")


def _follow(uri: str, location: Optional[str]) -> str:
    if not location:
        raise InvalidHandshake(0, "redirect without a Location header")
    target = urlsplit(urljoin(uri, location))
    # A redirect to http(s) means the same server over ws(s) (as browsers do).
    scheme = {"http": "ws", "https": "wss"}.get(target.scheme, target.scheme)
    if urlsplit(uri).scheme == "wss" and scheme != "wss":
        raise InvalidHandshake(0, f"refusing to follow a redirect from wss:// to {scheme}://")
    return urlunsplit((scheme, *target[1:]))


_CREDENTIALS = ("authorization", "cookie", "proxy-authorization")


class connect:  # noqa: N801  (used like a function: await connect(...))
    """Open a client connection; see the module docstring for the three ways to use it.

    Options: ``origin``, ``subprotocols`` (offered, in order), ``extra_headers``,
    ``ssl`` (an SSLContext for wss://; the default verifies certificates),
    ``open_timeout``, ``max_redirects``, ``listener`` (callback API: a
    :class:`~fastws.Listener` subclass or a factory of listeners, as ``serve()``
    takes them), and the per-connection :class:`~fastws.options.Options`
    (max_size, ping_interval, ...). Every argument is checked here: a bad value
    raises ValueError or TypeError naming it.
    ``compression``: "deflate" (default) offers permessage-deflate, None does not;
    ``compression_options`` holds :func:`fastws.deflate.client_offer`'s options
    (client_max_window_bits, ...) and level / mem_level / threshold.
    Reconnection (``async for``): ``backoff_initial``, ``backoff_factor``,
    ``backoff_max`` seconds and ``on_reconnect(attempt, delay, error)``.
    Network: ``proxy`` (True, the default: from the environment, see
    :func:`fastws.proxy.proxy_from_environment`; a URL such as
    ``http://user:pass@host:3128`` or ``socks5h://host:1080``; None: direct),
    ``proxy_ssl`` (SSLContext for an https:// proxy), ``proxy_headers`` (extra
    CONNECT headers); ``sock``: an already-connected socket to use instead of
    opening one (once: no redirect or reconnection with it); ``server_hostname``:
    the name TLS checks the certificate against (default: the URI's host).
    A proxy that refuses raises :class:`fastws.proxy.ProxyError`.
    """

    def __init__(
        self,
        uri: str,
        *,
        origin: Optional[str] = None,
        subprotocols: Sequence[str] = (),
        extra_headers: Iterable[tuple[str, str]] = (),
        ssl: Optional[ssl_module.SSLContext] = None,
        max_redirects: int = 3,
        listener: Union[type[Listener], Callable[[], Listener], None] = None,
        backoff_initial: float = 0.5,
        backoff_factor: float = 2.0,
        backoff_max: float = 30.0,
        on_reconnect: Optional[Callable[[int, float, BaseException], Any]] = None,
        compression: Optional[str] = "deflate",
        compression_options: Optional[dict[str, Any]] = None,
        proxy: Union[str, bool, None] = True,
        proxy_ssl: Optional[ssl_module.SSLContext] = None,
        proxy_headers: Iterable[tuple[str, str]] = (),
        sock: Optional[socket.socket] = None,
        server_hostname: Optional[str] = None,
        **options: Any,
    ) -> None:
        handshake.parse_uri(uri)  # fail early on a bad URI
        _check_client_args(subprotocols, max_redirects, backoff_initial, backoff_factor, backoff_max)
        if ssl is not None and not isinstance(ssl, ssl_module.SSLContext):
            raise TypeError(f"ssl must be an ssl.SSLContext or None, not {type(ssl).__name__}")
        if proxy_ssl is not None and not isinstance(proxy_ssl, ssl_module.SSLContext):
            raise TypeError(f"proxy_ssl must be an ssl.SSLContext or None, not {type(proxy_ssl).__name__}")
        if proxy is not True and proxy is not False and proxy is not None:
            scheme = proxy_module.parse_proxy(proxy).scheme  # TypeError unless a str
            if proxy_ssl is not None and scheme != "https":
                raise ValueError(f"proxy_ssl is for an https:// proxy, not {scheme}://")
        if sock is not None and not isinstance(sock, socket.socket):
            raise TypeError(f"sock must be a connected socket.socket, not {type(sock).__name__}")
        if server_hostname is not None and not isinstance(server_hostname, str):
            raise TypeError(f"server_hostname must be a str or None, not {type(server_hostname).__name__}")
        self.proxy = proxy if proxy is not False else None
        self.proxy_ssl = proxy_ssl
        self.proxy_headers = list(proxy_headers)
        self.sock = sock
        self._sock_used = sock is not None
        self.server_hostname = server_hostname
        self.uri = uri
        self.origin = origin
        self.subprotocols = list(subprotocols)
        self.extra_headers = list(extra_headers)
        self.ssl = ssl
        self.max_redirects = max_redirects
        self.listener = listener_factory(listener, "listener") if listener is not None else None
        self.backoff_initial = backoff_initial
        self.backoff_factor = backoff_factor
        self.backoff_max = backoff_max
        self.on_reconnect = on_reconnect
        self.options = Options.from_kwargs(options)
        self._ws: Optional[ClientConnection] = None
        # permessage-deflate: what we offer (client_offer's options) and how we compress
        # (level, mem_level, threshold).
        if compression not in ("deflate", None):
            raise ValueError(f"compression must be 'deflate' or None, not {compression!r}")
        extra = dict(compression_options or {})
        self._deflate_options: dict[str, Any] = {k: extra.pop(k) for k in ("level", "mem_level", "threshold") if k in extra}
        self._deflate_offer = deflate_module.client_offer(**extra) if compression else None

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self._connect().__await__()

    async def __aenter__(self) -> ClientConnection:
        self._ws = await self._connect()
        return self._ws

    async def __aexit__(self, *exc_info: Any) -> None:
        if self._ws is not None:
            await self._ws.close()

    async def _connect(self) -> ClientConnection:
        uri = self.uri
        headers = self.extra_headers
        for _ in range(self.max_redirects + 1):
            try:
                return await _within(self._attempt(uri, headers), self.options.open_timeout)
            except HandshakeRedirect as exc:
                if self._sock_used:
                    raise InvalidHandshake(
                        exc.status, f"cannot follow a redirect to {exc.location!r}: sock= serves one connection"
                    ) from exc
                target = _follow(uri, exc.location)
                if urlsplit(target).netloc != urlsplit(uri).netloc:
                    # Credentials meant for one host are not handed to another.
                    headers = [(n, v) for n, v in headers if n.lower() not in _CREDENTIALS]
                uri = target
            except asyncio.TimeoutError:
                raise asyncio.TimeoutError(
                    f"opening handshake with {uri} took more than {self.options.open_timeout}s"
                ) from None
        raise InvalidHandshake(0, f"more than {self.max_redirects} redirects")

    async def _attempt(self, uri: str, extra_headers: list[tuple[str, str]]) -> ClientConnection:
        secure, host, port, path = handshake.parse_uri(uri)
        request, key = handshake.build_client_request(
            host,
            port,
            path,
            secure,
            origin=self.origin,
            subprotocols=self.subprotocols,
            extensions_header=(
                handshake.format_extensions([(deflate_module.EXTENSION_NAME, self._deflate_offer)])
                if self._deflate_offer is not None
                else None
            ),
            extra_headers=extra_headers,
        )
        loop = asyncio.get_running_loop()
        ssl_context: Any = None
        if secure:
            ssl_context = self.ssl or ssl_module.create_default_context()
        elif self.ssl is not None:
            raise InvalidURI(f"an SSL context was given for a ws:// URI: {uri}")
        listener = make_listener(self.listener) if self.listener is not None else None

        def factory() -> ClientConnection:
            return ClientConnection(
                self.options, loop, request, key, self.subprotocols, listener,
                self._deflate_offer, self._deflate_options,
            )  # fmt: skip

        transport, conn = await self._open_transport(loop, factory, host.strip("[]"), port, ssl_context)
        try:
            await conn.handshake_done
        except BaseException:
            transport.abort()
            raise
        return conn

    async def _open_transport(
        self,
        loop: asyncio.AbstractEventLoop,
        factory: Callable[[], ClientConnection],
        host: str,
        port: int,
        ssl_context: Optional[ssl_module.SSLContext],
    ) -> tuple[asyncio.Transport, ClientConnection]:
        """The connection's transport: over ``sock``, through a proxy, or straight to host:port."""
        server_hostname = (self.server_hostname or host) if ssl_context is not None else None
        if self._sock_used:
            if self.sock is None:
                raise InvalidState("sock= serves one connection, and it was used: cannot reconnect with it")
            sock, self.sock = self.sock, None
            return await loop.create_connection(
                factory, sock=sock, ssl=ssl_context, server_hostname=server_hostname
            )
        proxy_url = self.proxy
        if proxy_url is True:
            proxy_url = proxy_module.proxy_from_environment(host, port, ssl_context is not None)
        if not proxy_url:
            return await loop.create_connection(
                factory, host, port, ssl=ssl_context, server_hostname=server_hostname
            )
        proxy = proxy_module.parse_proxy(proxy_url)
        if proxy.scheme in proxy_module.SOCKS_SCHEMES:
            sock = await proxy_module.open_socks_socket(proxy, host, port)
            try:
                return await loop.create_connection(
                    factory, sock=sock, ssl=ssl_context, server_hostname=server_hostname
                )
            except BaseException:
                sock.close()
                raise
        transport, tunnel = await proxy_module.open_http_tunnel(
            loop, proxy, host, port, self.proxy_ssl, self.proxy_headers
        )
        try:
            if ssl_context is not None:  # TLS to the server, inside the tunnel
                tls = await loop.start_tls(transport, tunnel, ssl_context, server_hostname=server_hostname)
                assert tls is not None
                transport = tls
            conn = factory()
            transport.set_protocol(conn)
            conn.connection_made(transport)
        except BaseException:
            transport.abort()
            raise
        return transport, conn

    async def __aiter__(self) -> AsyncIterator[ClientConnection]:
        """Yield a connection, and a new one each time the previous one is lost."""
        attempt = 0
        delay = self.backoff_initial
        while True:
            try:
                ws = await self._connect()
            except (OSError, asyncio.TimeoutError, InvalidHandshake) as exc:
                if isinstance(exc, InvalidHandshake) and 400 <= exc.status < 500 and exc.status != 429:
                    raise  # refused for good (auth, origin, path): retrying will not help
                if isinstance(exc, ssl_module.SSLCertVerificationError) or proxy_module.check_refusal(exc):
                    raise  # a certificate that fails verification, or a proxy's refusal, will fail again
                attempt += 1
                wait = delay * random.uniform(0.5, 1.0)  # jitter: clients must not reconnect in step
                logger.info("connect to %s failed (%s); retrying in %.2fs", self.uri, exc, wait)
                if self.on_reconnect is not None:
                    self.on_reconnect(attempt, wait, exc)
                await asyncio.sleep(wait)
                delay = min(delay * self.backoff_factor, self.backoff_max)
                continue
            attempt = 0
            delay = self.backoff_initial
            yield ws
            await ws.wait_closed()
            if ws.close_requested:
                return
            # Lost: wait a little before reconnecting, so that a server which accepts
            # and drops at once is not hammered in a tight loop.
            await asyncio.sleep(self.backoff_initial * random.uniform(0.5, 1.0))
