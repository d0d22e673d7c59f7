"""connect() through real proxies (pproxy; proxy_server.py for refusals), and over sock=.

Every server and proxy is a real process or server on a free loopback port.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path
from typing import Any, Awaitable

import pytest
from client_peers import pproxy, refusing_proxy

import fastws
from fastws.exceptions import InvalidState, InvalidURI
from fastws.proxy import ProxyError, parse_proxy, proxy_from_environment
from fastws.server import HTTPResponse
from loops import run_on

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Any:
    return lambda coro, timeout=30: run_on(request.param, coro, timeout)


def run_asyncio(coro: Awaitable[Any]) -> Any:
    return run_on("asyncio", coro, 30)


async def echo(ws: fastws.WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


def server_tls(certificate: tuple[Path, Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate[1], certificate[2])
    return context


def client_tls(certificate: tuple[Path, Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


async def round_trip(uri: str, **kwargs: Any) -> fastws.WebSocket:
    async with fastws.connect(uri, **kwargs) as ws:
        await ws.send("through")
        assert await ws.recv() == "through"
        await ws.send(b"\x00\xff" * 1000)
        assert await ws.recv() == b"\x00\xff" * 1000
    return ws


# --------------------------------------------------------------------------- HTTP CONNECT


@pytest.mark.parametrize("auth", ["", "alice:s3cret"])
def test_http_connect_pproxy(run: Any, auth: str) -> None:
    async def main() -> None:
        server = await fastws.serve(echo, "127.0.0.1", 0)
        try:
            with pproxy("http", auth) as url:
                ws = await round_trip(f"ws://127.0.0.1:{server.port}/", proxy=url)
                assert ws.close_code == 1000
        finally:
            server.close()

    run(main())


def test_wss_inside_an_http_tunnel_and_tls_to_the_proxy(run: Any, certificate: Any) -> None:
    """wss:// through http:// (TLS inside the tunnel) and through https:// (TLS inside TLS)."""

    async def main() -> None:
        server = await fastws.serve(echo, "127.0.0.1", 0, ssl=server_tls(certificate))
        uri = f"wss://localhost:{server.port}/"
        try:
            with refusing_proxy("http") as plain:
                await round_trip(uri, proxy=f"http://127.0.0.1:{plain.port}", ssl=client_tls(certificate))
            tls_args = ["--tls", str(certificate[1]), str(certificate[2])]
            with refusing_proxy("http", "--auth", "u:p", *tls_args) as secure:
                await round_trip(
                    uri, proxy=f"https://u:p@localhost:{secure.port}", proxy_ssl=client_tls(certificate),
                    ssl=client_tls(certificate),
                )  # fmt: skip
            assert secure.tunnels() == [f"localhost:{server.port}"]
            assert plain.tunnels() == [f"localhost:{server.port}"]
        finally:
            server.close()

    run(main())


def test_https_proxy_with_pproxy_ssl(certificate: Any) -> None:
    async def main() -> None:
        server = await fastws.serve(echo, "127.0.0.1", 0)
        try:
            with pproxy("http+ssl", tls=(certificate[1], certificate[2])) as url:
                await round_trip(f"ws://127.0.0.1:{server.port}/", proxy=url.replace("127.0.0.1", "localhost"),
                                 proxy_ssl=client_tls(certificate))  # fmt: skip
                # The proxy's certificate is checked: without the CA it fails, naming the verification.
                with pytest.raises(ProxyError, match="cannot reach the proxy: .*CERTIFICATE_VERIFY_FAILED"):
                    await fastws.connect(f"ws://127.0.0.1:{server.port}/", proxy=url.replace("127.0.0.1", "localhost"))
        finally:
            server.close()

    run_asyncio(main())


def test_http_proxy_refusals_are_precise() -> None:
    async def main() -> None:
        server = await fastws.serve(echo, "127.0.0.1", 0)
        uri = f"ws://127.0.0.1:{server.port}/"
        try:
            with refusing_proxy("http", "--auth", "u:p", "--forbid", str(server.port)) as proxy:
                with pytest.raises(ProxyError) as no_credentials:
                    await fastws.connect(uri, proxy=f"http://127.0.0.1:{proxy.port}")
                assert no_credentials.value.status == 407
                assert str(no_credentials.value) == (
                    f"proxy http://127.0.0.1:{proxy.port}: CONNECT refused: HTTP 407 Proxy Authentication "
                    "Required (no credentials in the proxy URL)"
                )
                assert ("Proxy-Authenticate", 'Basic realm="tests"') in no_credentials.value.headers
                with pytest.raises(ProxyError, match=r"HTTP 407 .*\(credentials refused\)") as wrong:
                    await fastws.connect(uri, proxy=f"http://u:wrong@127.0.0.1:{proxy.port}")
                assert "wrong" not in str(wrong.value)  # credentials never appear in messages
                with pytest.raises(ProxyError, match="CONNECT refused: HTTP 403 Forbidden") as forbidden:
                    await fastws.connect(uri, proxy=f"http://u:p@127.0.0.1:{proxy.port}")
                assert forbidden.value.status == 403
                closed = socket.socket()
                closed.bind(("127.0.0.1", 0))
                dead = closed.getsockname()[1]
                closed.close()
                with pytest.raises(ProxyError, match="HTTP 502 Bad Gateway"):
                    await fastws.connect(f"ws://127.0.0.1:{dead}/", proxy=f"http://u:p@127.0.0.1:{proxy.port}")
            with refusing_proxy("http", "--chatty") as chatty:
                with pytest.raises(ProxyError, match="the proxy sent data after its CONNECT answer"):
                    await fastws.connect(uri, proxy=f"http://127.0.0.1:{chatty.port}")
            with pytest.raises(ProxyError, match=f"proxy http://127.0.0.1:{dead}: cannot reach the proxy"):
                await fastws.connect(uri, proxy=f"http://127.0.0.1:{dead}")
            assert isinstance(ProxyError("x", "p"), OSError)
        finally:
            server.close()

    run_asyncio(main())


# --------------------------------------------------------------------------- SOCKS


@pytest.mark.parametrize("scheme,auth", [("socks5", ""), ("socks5", "bob:pw"), ("socks4", "")])
def test_socks_pproxy(run: Any, scheme: str, auth: str) -> None:
    async def main() -> None:
        server = await fastws.serve(echo, "127.0.0.1", 0)
        try:
            with pproxy(scheme, auth) as url:
                await round_trip(f"ws://127.0.0.1:{server.port}/", proxy=url)
                if scheme == "socks5":  # the proxy resolves the name
                    await round_trip(f"ws://localhost:{server.port}/", proxy=url.replace("socks5:", "socks5h:"))
        finally:
            server.close()

    run(main())


def test_socks_refusals_are_precise(certificate: Any) -> None:
    async def main() -> None:
        server = await fastws.serve(echo, "127.0.0.1", 0, ssl=server_tls(certificate))
        uri = f"wss://localhost:{server.port}/"
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        dead_port = dead.getsockname()[1]
        dead.close()
        try:
            with refusing_proxy("socks5", "--auth", "u:p", "--forbid", "1") as p5:
                url = f"socks5h://u:p@127.0.0.1:{p5.port}"
                await round_trip(uri, proxy=url, ssl=client_tls(certificate))  # TLS inside the SOCKS tunnel
                with pytest.raises(ProxyError, match="SOCKS refused: Username and password authentication failure"):
                    await fastws.connect(uri, proxy=f"socks5h://u:bad@127.0.0.1:{p5.port}")
                with pytest.raises(ProxyError, match="SOCKS refused: Connection refused"):
                    await fastws.connect(f"ws://127.0.0.1:{dead_port}/", proxy=url)
                with pytest.raises(ProxyError, match="SOCKS refused: Connection not allowed by ruleset"):
                    await fastws.connect("ws://127.0.0.1:1/", proxy=url)
            with refusing_proxy("socks4", "--forbid", str(server.port)) as p4:
                with pytest.raises(ProxyError, match="SOCKS refused: Request rejected or failed"):
                    await fastws.connect(uri, proxy=f"socks4://127.0.0.1:{p4.port}")
            with pytest.raises(ProxyError, match=f"proxy socks5://127.0.0.1:{dead_port}: cannot reach the proxy"):
                await fastws.connect(uri, proxy=f"socks5://127.0.0.1:{dead_port}")
        finally:
            server.close()

    run_asyncio(main())


# --------------------------------------------------------------------------- environment


def test_proxy_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The order websockets documents, then ALL_PROXY; NO_PROXY; SOCKS_PROXY as socks5h."""
    assert proxy_from_environment("example.com", 443, True) is None
    monkeypatch.setenv("ALL_PROXY", "socks5://all:1080")
    assert proxy_from_environment("example.com", 80, False) == "socks5://all:1080"
    monkeypatch.setenv("HTTP_PROXY", "http://plain:3128")
    assert proxy_from_environment("example.com", 80, False) == "http://plain:3128"
    assert proxy_from_environment("example.com", 443, True) == "socks5://all:1080"  # HTTP_PROXY is not for wss
    monkeypatch.setenv("HTTPS_PROXY", "http://secure:3128")
    assert proxy_from_environment("example.com", 443, True) == "http://secure:3128"
    assert proxy_from_environment("example.com", 80, False) == "http://secure:3128"  # favoured, as websockets
    monkeypatch.setenv("SOCKS_PROXY", "sockshost:1080")
    assert proxy_from_environment("example.com", 443, True) == "socks5h://sockshost:1080"
    monkeypatch.setenv("wss_proxy", "http://ws-only:8080")
    assert proxy_from_environment("example.com", 443, True) == "http://ws-only:8080"
    monkeypatch.setenv("NO_PROXY", "internal.example, .corp")
    assert proxy_from_environment("internal.example", 443, True) is None
    assert proxy_from_environment("a.corp", 80, False) is None
    assert proxy_from_environment("example.com", 443, True) == "http://ws-only:8080"
    monkeypatch.setenv("NO_PROXY", "*")
    assert proxy_from_environment("example.com", 443, True) is None


def test_environment_proxy_is_used_and_proxy_none_disables_it(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        server = await fastws.serve(echo, "127.0.0.1", 0)
        uri = f"ws://127.0.0.1:{server.port}/"
        try:
            with refusing_proxy("http") as proxy:
                monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
                await round_trip(uri)  # default: from the environment
                await round_trip(uri, proxy=None)  # direct
                await round_trip(uri, proxy=False)
                monkeypatch.setenv("NO_PROXY", "127.0.0.1")
                await round_trip(uri)  # bypassed
            assert proxy.tunnels() == [f"127.0.0.1:{server.port}"]
        finally:
            server.close()

    run_asyncio(main())


def test_bad_proxy_arguments() -> None:
    with pytest.raises(InvalidURI, match="unsupported proxy scheme 'ftp'"):
        fastws.connect("ws://h/", proxy="ftp://p:21")
    with pytest.raises(InvalidURI, match="proxy URL without a host"):
        fastws.connect("ws://h/", proxy="http://:8080")
    with pytest.raises(InvalidURI, match="bad port in proxy URL"):
        fastws.connect("ws://h/", proxy="http://p:99999")
    with pytest.raises(InvalidURI, match="has no path"):
        fastws.connect("ws://h/", proxy="http://p:1/path")
    with pytest.raises(TypeError, match="proxy must be a URL string or None, not int"):
        fastws.connect("ws://h/", proxy=3128)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="proxy_ssl must be an ssl.SSLContext"):
        fastws.connect("ws://h/", proxy_ssl=True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="proxy_ssl is for an https:// proxy, not socks5://"):
        fastws.connect("ws://h/", proxy="socks5://p", proxy_ssl=ssl.create_default_context())
    with pytest.raises(TypeError, match="sock must be a connected socket.socket, not int"):
        fastws.connect("ws://h/", sock=3)  # type: ignore[arg-type]
    parsed = parse_proxy("http://us%40er:p%3Ass@[::1]:81")
    assert (parsed.username, parsed.password, parsed.host, parsed.port) == ("us@er", "p:ss", "::1", 81)
    assert parsed.url == "http://[::1]:81"
    assert parse_proxy("socks5://h").port == 1080 and parse_proxy("https://h").port == 443


# --------------------------------------------------------------------------- redirects, reconnection


def test_redirect_and_reconnection_through_the_proxy() -> None:
    async def main() -> None:
        target = await fastws.serve(echo, "127.0.0.1", 0)

        def redirect(ws: Any, request: Any) -> Any:
            if request.path == "/old":
                return HTTPResponse(301, headers=[("Location", f"ws://localhost:{target.port}/new")])
            return None

        front = await fastws.serve(echo, "127.0.0.1", 0, process_request=redirect)
        try:
            with refusing_proxy("http") as proxy:
                url = f"http://127.0.0.1:{proxy.port}"
                ws = await fastws.connect(f"ws://127.0.0.1:{front.port}/old", proxy=url)
                assert ws.request is None and ws.response is not None
                await ws.send("after redirect")
                assert await ws.recv() == "after redirect"
                await ws.close()
                connections = 0
                async for ws in fastws.connect(f"ws://localhost:{target.port}/", proxy=url, backoff_initial=0.05):
                    connections += 1
                    await ws.send("again")
                    assert await ws.recv() == "again"
                    if connections == 2:
                        await ws.close()
                    else:
                        ws.abort()  # lost: reconnect, through the proxy again
            assert proxy.tunnels() == [
                f"127.0.0.1:{front.port}", f"localhost:{target.port}", f"localhost:{target.port}",
                f"localhost:{target.port}",
            ]  # fmt: skip
        finally:
            target.close()
            front.close()

    run_asyncio(main())


def test_reconnection_stops_on_a_proxy_refusal() -> None:
    async def main() -> None:
        with refusing_proxy("http", "--auth", "u:p") as proxy:
            attempts: list[Any] = []
            with pytest.raises(ProxyError, match="407"):
                async for _ in fastws.connect(
                    "ws://127.0.0.1:9/", proxy=f"http://127.0.0.1:{proxy.port}",
                    on_reconnect=lambda *a: attempts.append(a),
                ):  # fmt: skip
                    pass
            assert attempts == []

    run_asyncio(main())


# --------------------------------------------------------------------------- sock=


def test_sock_connected_socket_with_tls_on_top(run: Any, certificate: Any) -> None:
    async def main() -> None:
        plain = await fastws.serve(echo, "127.0.0.1", 0)
        secure = await fastws.serve(echo, "127.0.0.1", 0, ssl=server_tls(certificate))
        try:
            sock = socket.create_connection(("127.0.0.1", plain.port))
            ws = await round_trip("ws://any-name.invalid/", sock=sock, proxy=None)  # the URI names, sock carries
            assert ws.close_code == 1000
            sock = socket.create_connection(("127.0.0.1", secure.port))
            await round_trip(
                "wss://other.invalid/", sock=sock, ssl=client_tls(certificate), server_hostname="localhost"
            )
            sock = socket.create_connection(("127.0.0.1", secure.port))
            with pytest.raises(ssl.SSLCertVerificationError, match="other.invalid"):
                await fastws.connect("wss://other.invalid/", sock=sock, ssl=client_tls(certificate))
            sock = socket.create_connection(("127.0.0.1", plain.port))
            opener = fastws.connect("ws://h/", sock=sock)
            await (await opener).close()
            with pytest.raises(InvalidState, match="sock= serves one connection"):
                await opener
        finally:
            plain.close()
            secure.close()

    run(main())


# --------------------------------------------------------------------------- misbehaving proxies


def test_connect_request_and_credentials_on_the_wire() -> None:
    async def main() -> None:
        server = await fastws.serve(echo, "127.0.0.1", 0)
        try:
            with refusing_proxy("http", "--auth", "us@er:p:ss") as proxy:
                await round_trip(
                    f"ws://127.0.0.1:{server.port}/", proxy=f"http://us%40er:p%3Ass@127.0.0.1:{proxy.port}",
                    proxy_headers=[("User-Agent", "fastws-tests")],
                )  # fmt: skip
            (request,) = [line for line in proxy.lines() if line.startswith("REQUEST")]
            authority = f"127.0.0.1:{server.port}"
            assert request == "REQUEST " + repr(
                f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
                "Proxy-Authorization: Basic dXNAZXI6cDpzcw==\r\nUser-Agent: fastws-tests\r\n\r\n"
            )
        finally:
            server.close()

    run_asyncio(main())


def test_ipv6_target_through_the_proxy() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")

    async def main() -> None:
        try:
            server = await fastws.serve(echo, "::1", 0)
        except OSError:
            pytest.skip("no IPv6 loopback on this machine")
        try:
            with refusing_proxy("http") as proxy:
                await round_trip(f"ws://[::1]:{server.port}/", proxy=f"http://127.0.0.1:{proxy.port}")
            assert proxy.tunnels() == [f"::1:{server.port}"]
            assert f"CONNECT [::1]:{server.port} HTTP/1.1" in proxy.lines()[0]
        finally:
            server.close()

    run_asyncio(main())


def test_stalling_proxy_times_out_and_a_cancelled_connect_lets_go() -> None:
    async def main() -> None:
        with refusing_proxy("http", "--stall") as proxy:
            url = f"http://127.0.0.1:{proxy.port}"
            with pytest.raises(asyncio.TimeoutError, match="opening handshake with ws://example.invalid/ took more"):
                await fastws.connect("ws://example.invalid/", proxy=url, open_timeout=0.3)
            task = asyncio.ensure_future(fastws.connect("ws://example.invalid/", proxy=url))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # Both connections to the proxy were closed by the client (none left open).
            await asyncio.get_running_loop().run_in_executor(None, proxy.wait_for, "CLIENT-GONE", 2)

    run_asyncio(main())


def test_flooding_proxy_is_cut_off() -> None:
    async def main() -> None:
        with refusing_proxy("http", "--flood") as proxy:
            with pytest.raises(ProxyError, match="CONNECT answer longer than 16384 bytes"):
                await fastws.connect("ws://example.invalid/", proxy=f"http://127.0.0.1:{proxy.port}")

    run_asyncio(main())


def test_reconnection_stops_on_socks_auth_failure_and_retries_a_refused_target() -> None:
    async def main() -> None:
        with refusing_proxy("socks5", "--auth", "u:p") as proxy:
            attempts: list[Any] = []
            with pytest.raises(ProxyError, match="authentication failure") as failed:
                async for _ in fastws.connect(
                    "ws://127.0.0.1:9/", proxy=f"socks5://u:x@127.0.0.1:{proxy.port}",
                    on_reconnect=lambda *a: attempts.append(a),
                ):  # fmt: skip
                    pass
            assert attempts == [] and failed.value.refused and failed.value.socks_reply is None

            class Enough(Exception):
                pass

            def on_reconnect(attempt: int, delay: float, error: BaseException) -> None:
                attempts.append(error)
                if attempt == 2:
                    raise Enough

            with pytest.raises(Enough):
                async for _ in fastws.connect(
                    "ws://127.0.0.1:9/", proxy=f"socks5://u:p@127.0.0.1:{proxy.port}",
                    on_reconnect=on_reconnect, backoff_initial=0.01,
                ):  # fmt: skip
                    pass
            assert [(type(e), e.socks_reply, e.refused) for e in attempts] == [(ProxyError, 5, False)] * 2

    run_asyncio(main())
