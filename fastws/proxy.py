"""Reaching a WebSocket server through a proxy: HTTP CONNECT (RFC 9110 §9.3.6) and SOCKS 4/5.

``connect(uri, proxy=...)`` takes ``http://[user:pass@]host:port`` (``https://``
for TLS to the proxy itself), ``socks5://``, ``socks5h://``, ``socks4://`` or
``socks4a://`` (SOCKS needs the ``python-socks`` package: ``pip install
fastws[socks]``). By default the proxy comes from the environment as urllib reads
it (:func:`proxy_from_environment`); ``proxy=None`` connects directly.

The tunnel is opened here and handed to the client as a connected transport
(HTTP) or socket (SOCKS); TLS to the WebSocket server, for wss://, runs inside it.
"""

from __future__ import annotations

import asyncio
import base64
import ssl as ssl_module
import urllib.request
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import unquote, urlsplit

from .exceptions import InvalidURI, WebSocketError

__all__ = ["ProxyError", "Proxy", "parse_proxy", "proxy_from_environment", "USE_ENVIRONMENT"]

# connect()'s default for proxy=: look the proxy up in the environment.
USE_ENVIRONMENT = "environment"

HTTP_SCHEMES = ("http", "https")
SOCKS_SCHEMES = ("socks5", "socks5h", "socks4", "socks4a")
MAX_RESPONSE_HEAD = 16 * 1024  # a CONNECT answer's status line and headers


class ProxyError(WebSocketError, OSError):
    """The proxy refused or failed to open the tunnel.

    ``proxy`` is the proxy's URL without credentials; ``status`` the HTTP status
    an HTTP proxy answered (407, 403, 502, ...) or None; ``headers`` its response
    headers; ``socks_reply`` the reply code a SOCKS proxy refused the connection
    with (RFC 1928 §6: 2 not allowed, 4 host unreachable, 5 refused...; SOCKS4:
    0x5B), None when it refused earlier (authentication) or the error is not SOCKS;
    ``refused``: the proxy refused for good (credentials, a forbidden target), so
    trying again will fail again.
    """

    def __init__(
        self,
        message: str,
        proxy: str,
        status: Optional[int] = None,
        headers: Optional[list[tuple[str, str]]] = None,
        socks_reply: Optional[int] = None,
        refused: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.proxy = proxy
        self.status = status
        self.headers = headers or []
        self.socks_reply = socks_reply
        self.refused = refused or status in (401, 403, 407)

    def __str__(self) -> str:
        return f"proxy {self.proxy}: {self.message}"


@dataclass(frozen=True)
class Proxy:
    """A parsed proxy URL."""

    scheme: str
    host: str
    port: int
    username: Optional[str] = None
    password: Optional[str] = None

    @property
    def url(self) -> str:
        """The URL without credentials (for messages and logs)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def authorization(self) -> Optional[str]:
        """The Proxy-Authorization value (Basic) for an HTTP proxy with credentials."""
        if self.username is None:
            return None
        pair = f"{self.username}:{self.password or ''}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


def parse_proxy(url: str) -> Proxy:
    """A :class:`Proxy` from its URL; InvalidURI names what is wrong with it."""
    if not isinstance(url, str):
        raise TypeError(f"proxy must be a URL string or None, not {type(url).__name__}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in HTTP_SCHEMES + SOCKS_SCHEMES:
        raise InvalidURI(
            f"unsupported proxy scheme {parts.scheme!r} in {url!r}: use http, https, "
            "socks5, socks5h, socks4 or socks4a"
        )
    if not parts.hostname:
        raise InvalidURI(f"proxy URL without a host: {url!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidURI(f"a proxy URL has no path, query or fragment: {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise InvalidURI(f"bad port in proxy URL {url!r}") from None
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme, 1080)
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return Proxy(scheme, parts.hostname, port, username, password)


def proxy_from_environment(host: str, port: int, secure: bool) -> Optional[str]:
    """The proxy URL for ws(s)://host:port from the environment, or None.

    As websockets does it: ``NO_PROXY`` (urllib's ``proxy_bypass``) first, then
    for wss:// ``WSS_PROXY``, ``SOCKS_PROXY``, ``HTTPS_PROXY``, and for ws://
    ``WS_PROXY``, ``SOCKS_PROXY``, ``HTTPS_PROXY``, ``HTTP_PROXY``; then, like curl,
    ``ALL_PROXY`` for either. Lower-case names work too (urllib's ``getproxies``).
    A SOCKS_PROXY given as ``host:port`` or ``http://host:port`` means socks5h.
    """
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if urllib.request.proxy_bypass(target) or urllib.request.proxy_bypass(host):
        return None
    proxies = urllib.request.getproxies()
    order = ("wss", "socks", "https", "all") if secure else ("ws", "socks", "https", "http", "all")
    for name in order:
        url = proxies.get(name)
        if url:
            if name == "socks" and "://" not in url:
                url = "socks5h://" + url
            elif name == "socks" and url.startswith("http://"):
                url = "socks5h://" + url[len("http://") :]
            return url
    return None


# --------------------------------------------------------------------------- HTTP CONNECT


class _ConnectTunnel(asyncio.Protocol):
    """Reads the proxy's answer to CONNECT; the WebSocket protocol replaces it afterwards."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.head = bytearray()
        self.done: asyncio.Future[bytes] = loop.create_future()

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end >= 0:
            if len(self.head) > end + 4:  # a WebSocket server never speaks first
                self.done.set_exception(ConnectionError("the proxy sent data after its CONNECT answer"))
            else:
                self.done.set_result(bytes(self.head))
        elif len(self.head) > MAX_RESPONSE_HEAD:
            self.done.set_exception(ConnectionError(f"CONNECT answer longer than {MAX_RESPONSE_HEAD} bytes"))

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError("the proxy closed the connection before answering CONNECT"))


def _connect_request(proxy: Proxy, host: str, port: int, headers: list[tuple[str, str]]) -> bytes:
    authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
    auth = proxy.authorization()
    if auth is not None:
        lines.append(f"Proxy-Authorization: {auth}")
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _parse_connect_answer(proxy: Proxy, head: bytes) -> None:
    """Return if the proxy answered 2xx, else raise ProxyError with its status."""
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ProxyError(f"not an HTTP answer to CONNECT: {status_line[:80]!r}", proxy.url)
    status = int(parts[1])
    if 200 <= status < 300:
        return
    headers = []
    for line in header_lines:
        name, sep, value = line.partition(":")
        if sep:
            headers.append((name.strip(), value.strip()))
    reason = parts[2] if len(parts) > 2 else ""
    hint = ""
    if status == 407:
        hint = " (no credentials in the proxy URL)" if proxy.username is None else " (credentials refused)"
    raise ProxyError(f"CONNECT refused: HTTP {status} {reason}{hint}".rstrip(), proxy.url, status, headers)


async def open_http_tunnel(
    loop: asyncio.AbstractEventLoop,
    proxy: Proxy,
    host: str,
    port: int,
    proxy_ssl: Optional[ssl_module.SSLContext] = None,
    proxy_headers: Optional[list[tuple[str, str]]] = None,
) -> tuple[asyncio.Transport, asyncio.Protocol]:
    """A transport to ``host:port`` through an HTTP(S) proxy's CONNECT, and its placeholder protocol."""
    ssl_context: Any = None
    if proxy.scheme == "https":
        ssl_context = proxy_ssl or ssl_module.create_default_context()
    try:
        transport, tunnel = await loop.create_connection(
            lambda: _ConnectTunnel(loop), proxy.host, proxy.port, ssl=ssl_context,
            server_hostname=proxy.host if ssl_context is not None else None,
        )  # fmt: skip
    except OSError as exc:
        raise ProxyError(f"cannot reach the proxy: {exc}", proxy.url) from exc
    try:
        transport.write(_connect_request(proxy, host, port, proxy_headers or []))
        try:
            head = await tunnel.done
        except ConnectionError as exc:
            raise ProxyError(str(exc), proxy.url) from None
        _parse_connect_answer(proxy, head)
    except BaseException:
        transport.abort()
        raise
    return transport, tunnel


# --------------------------------------------------------------------------- SOCKS


async def open_socks_socket(proxy: Proxy, host: str, port: int) -> Any:
    """A connected, non-blocking socket to ``host:port`` through a SOCKS proxy (python-socks)."""
    try:
        from python_socks import ProxyConnectionError, ProxyError as SocksError, ProxyTimeoutError
        from python_socks.async_.asyncio import Proxy as SocksProxy
    except ImportError:
        raise ImportError(
            f"a {proxy.scheme}:// proxy needs python-socks: pip install 'fastws[socks]'"
        ) from None
    scheme = {"socks5h": "socks5", "socks4a": "socks4"}.get(proxy.scheme, proxy.scheme)
    # socks5h / socks4a: the proxy resolves the name; socks5 / socks4: resolved here.
    rdns = proxy.scheme in ("socks5h", "socks4a")
    userinfo = ""
    if proxy.username is not None:
        from urllib.parse import quote

        userinfo = quote(proxy.username, safe="") + ":" + quote(proxy.password or "", safe="") + "@"
    host_part = f"[{proxy.host}]" if ":" in proxy.host else proxy.host
    socks = SocksProxy.from_url(f"{scheme}://{userinfo}{host_part}:{proxy.port}", rdns=rdns)
    try:
        return await socks.connect(dest_host=host, dest_port=port)
    except SocksError as exc:  # the proxy's own refusal: its reply code's meaning
        code = exc.error_code
        # No reply code: refused while negotiating (credentials, methods); 2: not allowed.
        raise ProxyError(f"SOCKS refused: {exc}", proxy.url, socks_reply=code, refused=code in (None, 2)) from None
    except ProxyTimeoutError as exc:
        raise ProxyError(f"timed out: {exc}", proxy.url) from None
    except ProxyConnectionError as exc:
        raise ProxyError(f"cannot reach the proxy: {exc}", proxy.url) from None


def check_refusal(exc: BaseException) -> bool:
    """True for a proxy error that a retry would meet again (credentials, a forbidden target)."""
    return isinstance(exc, ProxyError) and exc.refused

