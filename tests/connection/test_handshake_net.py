"""The opening handshake over real sockets.

Server side: a raw asyncio stream client talks HTTP by hand to a real fastws
server, so every rejection, header and byte on the wire is checked as sent.
Client side: the fastws client against real (or tiny hand-written) servers:
subprotocols, rejections, redirects.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import time
from typing import Any, Optional, Sequence

import pytest

from fastws import HTTPResponse, connect, serve
from fastws.exceptions import HandshakeRejected, InvalidHandshake

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3 sample key
KEY_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # ... and its documented accept value

TIMEOUT = 15


# --------------------------------------------------------------------------- helpers


def expected_accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def build_request(
    path: str = "/",
    *,
    host: Optional[str] = "127.0.0.1",
    key: Optional[str] = KEY,
    upgrade: Optional[str] = "websocket",
    connection: Optional[str] = "Upgrade",
    version: Optional[str] = "13",
    method: str = "GET",
    extra: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A handshake request; pass None to leave a header out."""
    lines = [f"{method} {path} HTTP/1.1"]
    for name, value in (
        ("Host", host),
        ("Upgrade", upgrade),
        ("Connection", connection),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", version),
    ):
        if value is not None:
            lines.append(f"{name}: {value}")
    lines.extend(f"{name}: {value}" for name, value in extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class RawResponse:
    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name: str) -> Optional[str]:
        values = [v for n, v in self.headers if n.lower() == name.lower()]
        return ", ".join(values) if values else None

    def __repr__(self) -> str:
        return f"RawResponse({self.status} {self.reason!r}, {self.headers!r}, {self.body!r})"


async def read_response(reader: asyncio.StreamReader) -> RawResponse:
    """Read one HTTP response head, and its body when it has a Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    assert version == "HTTP/1.1", lines[0]
    status, _, reason = rest.partition(" ")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    response = RawResponse(int(status), reason, headers, b"")
    length = response.header("Content-Length")
    if length is not None:
        response.body = await reader.readexactly(int(length))
    return response


async def read_to_eof(reader: asyncio.StreamReader) -> bytes:
    """What is left until the server closes the connection (a reset counts as closed)."""
    try:
        return await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:
        return b""


async def exchange(port: int, request: bytes) -> tuple[RawResponse, bytes]:
    """Send ``request``; return the response and whatever follows it until EOF."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        response = await asyncio.wait_for(read_response(reader), 5)
        if response.status == 101:
            return response, b""
        return response, await read_to_eof(reader)
    finally:
        writer.close()


def masked_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A client frame, built by hand (independent of the codec under test)."""
    mask = os.urandom(4)
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", first, 0x80 | 127, n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


async def read_server_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked server frame: (opcode, payload)."""
    b0, b1 = await reader.readexactly(2)
    assert b1 & 0x80 == 0, "server frames must not be masked"
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", await reader.readexactly(8))
    assert b0 & 0x80, "expected a final frame"
    return b0 & 0x0F, await reader.readexactly(n)


async def echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


def assert_one_line_reason(response: RawResponse, *words: str) -> None:
    body = response.body
    assert body.endswith(b"\n") and body.count(b"\n") == 1, body
    assert len(body) > 1, body
    text = body.decode("utf-8").lower()
    for word in words:
        assert word.lower() in text, (word, body)
    assert (response.header("Content-Type") or "").startswith("text/plain"), response
    assert "close" in (response.header("Connection") or "").lower(), response


# --------------------------------------------------------------------------- server: rejections


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize(
    "omit, word",
    [
        ("upgrade", "upgrade"),
        ("connection", "connection"),
        ("host", "host"),
        ("key", "sec-websocket-key"),
    ],
)
def test_missing_header_is_400_with_reason(run, omit: str, word: str) -> None:
    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0) as server:
            response, rest = await exchange(server.port, build_request(**{omit: None}))
            assert response.status == 400, response
            assert_one_line_reason(response, word)
            assert rest == b"", "the server must close the connection after a rejection"

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_key_of_15_bytes_is_400(run) -> None:
    key = base64.b64encode(b"x" * 15).decode()

    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0) as server:
            response, rest = await exchange(server.port, build_request(key=key))
            assert response.status == 400, response
            assert_one_line_reason(response, "16 bytes")
            assert rest == b""

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_key_not_base64_is_400(run) -> None:
    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0) as server:
            response, _ = await exchange(server.port, build_request(key="not base64 at all!!!!!!"))
            assert response.status == 400, response
            assert_one_line_reason(response, "base64")

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_version_8_is_426_naming_13(run) -> None:
    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0) as server:
            response, rest = await exchange(server.port, build_request(version="8"))
            assert response.status == 426, response
            assert response.header("Sec-WebSocket-Version") == "13"
            assert_one_line_reason(response, "version")
            assert rest == b""

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_post_is_405(run) -> None:
    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0) as server:
            response, _ = await exchange(server.port, build_request(method="POST"))
            assert response.status == 405, response
            assert response.header("Allow") == "GET"

    run(main())


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize(
    "connection, upgrade",
    [("keep-alive, Upgrade", "websocket"), ("upgrade", "WebSocket"), ("Upgrade,keep-alive", "websocket")],
)
def test_connection_keep_alive_upgrade_is_accepted(run, connection: str, upgrade: str) -> None:
    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(build_request(connection=connection, upgrade=upgrade))
            response = await asyncio.wait_for(read_response(reader), 5)
            assert response.status == 101, response
            assert response.header("Sec-WebSocket-Accept") == KEY_ACCEPT == expected_accept(KEY)
            assert response.header("Upgrade").lower() == "websocket"
            assert "upgrade" in response.header("Connection").lower()
            # And it really is a WebSocket now.
            writer.write(masked_frame(0x1, b"ping?"))
            assert await asyncio.wait_for(read_server_frame(reader), 5) == (0x1, b"ping?")
            writer.close()

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_random_key_gets_matching_accept(run) -> None:
    key = base64.b64encode(os.urandom(16)).decode()

    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0) as server:
            response, _ = await exchange(server.port, build_request(key=key))
            assert response.status == 101
            assert response.header("Sec-WebSocket-Accept") == expected_accept(key)

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_oversized_headers_are_431(run) -> None:
    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0) as server:
            request = build_request(extra=[("X-Big", "a" * 9000)])
            response, rest = await exchange(server.port, request)
            assert response.status == 431, response
            assert_one_line_reason(response)
            assert rest == b""

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_too_many_headers_are_431(run) -> None:
    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0, max_headers=10) as server:
            request = build_request(extra=[(f"X-H{i}", "v") for i in range(10)])
            response, _ = await exchange(server.port, request)
            assert response.status == 431, response
            assert_one_line_reason(response, "10")

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_max_head_size_option_is_honoured(run) -> None:
    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0, max_head_size=300) as server:
            response, _ = await exchange(server.port, build_request(extra=[("X-Pad", "p" * 300)]))
            assert response.status == 431, response
            response, _ = await exchange(server.port, build_request(extra=[("X-Pad", "p" * 20)]))
            assert response.status == 101, response

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_half_request_is_dropped_after_open_timeout(run) -> None:
    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0, open_timeout=0.3) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            start = time.monotonic()
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
            rest = await read_to_eof(reader)
            elapsed = time.monotonic() - start
            writer.close()
            assert rest == b""
            assert 0.25 <= elapsed < 2.0, elapsed
            await asyncio.sleep(0.05)
            assert not server.connections

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_open_timeout_covers_a_slow_async_hook(run) -> None:
    async def hook(ws: Any, request: Any) -> None:
        await asyncio.sleep(30)

    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0, open_timeout=0.3, process_request=hook) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            start = time.monotonic()
            writer.write(build_request())
            rest = await read_to_eof(reader)
            elapsed = time.monotonic() - start
            writer.close()
            assert rest == b""
            assert 0.25 <= elapsed < 2.0, elapsed

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_request_trickled_byte_by_byte(run) -> None:
    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            for byte in build_request(extra=[("X-Pad", "y" * 20)]):
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.0005)
            response = await asyncio.wait_for(read_response(reader), 5)
            assert response.status == 101, response
            assert response.header("Sec-WebSocket-Accept") == KEY_ACCEPT
            writer.write(masked_frame(0x1, b"ok"))
            assert await asyncio.wait_for(read_server_frame(reader), 5) == (0x1, b"ok")
            writer.close()

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_open_timeout_does_not_cut_an_open_connection(run) -> None:
    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0, open_timeout=0.2) as server:
            async with connect(f"ws://127.0.0.1:{server.port}/") as ws:
                await asyncio.sleep(0.4)
                await ws.send("still here")
                assert await asyncio.wait_for(ws.recv(), 5) == "still here"

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_frames_pipelined_with_the_request_are_not_lost(run, impl) -> None:
    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            big = os.urandom(70000)
            writer.write(
                build_request()
                + masked_frame(0x1, "héllo".encode())
                + masked_frame(0x2, b"\x00\x01")
                + masked_frame(0x2, big)
            )
            response = await asyncio.wait_for(read_response(reader), 5)
            assert response.status == 101
            assert await asyncio.wait_for(read_server_frame(reader), 5) == (0x1, "héllo".encode())
            assert await asyncio.wait_for(read_server_frame(reader), 5) == (0x2, b"\x00\x01")
            assert await asyncio.wait_for(read_server_frame(reader), 5) == (0x2, big)
            writer.close()

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_frames_pipelined_while_async_hook_runs_are_not_lost(run, impl) -> None:
    async def hook(ws: Any, request: Any) -> None:
        await asyncio.sleep(0.1)

    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0, process_request=hook) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(build_request() + masked_frame(0x1, b"first"))
            await asyncio.sleep(0.03)  # the hook is still running
            writer.write(masked_frame(0x1, b"second"))
            response = await asyncio.wait_for(read_response(reader), 5)
            assert response.status == 101
            assert await asyncio.wait_for(read_server_frame(reader), 5) == (0x1, b"first")
            assert await asyncio.wait_for(read_server_frame(reader), 5) == (0x1, b"second")
            writer.close()

    run(main())


# --------------------------------------------------------------------------- server: origins, hooks


@pytest.mark.timeout(TIMEOUT)
def test_origins(run) -> None:
    async def main() -> None:
        allowed = ["https://good.example", "http://localhost:8000"]
        async with await serve(echo, "127.0.0.1", 0, origins=allowed) as server:
            response, rest = await exchange(
                server.port, build_request(extra=[("Origin", "https://evil.example")])
            )
            assert response.status == 403, response
            assert_one_line_reason(response, "origin")
            assert rest == b""
            for origin in allowed:
                response, _ = await exchange(server.port, build_request(extra=[("Origin", origin)]))
                assert response.status == 101, (origin, response)
            # The fastws client: accepted, and rejected with a clear error.
            async with connect(f"ws://127.0.0.1:{server.port}/", origin="https://good.example") as ws:
                await ws.send("x")
                assert await ws.recv() == "x"
            with pytest.raises(HandshakeRejected) as info:
                await connect(f"ws://127.0.0.1:{server.port}/", origin="https://evil.example")
            assert isinstance(info.value, InvalidHandshake)
            assert info.value.status == 403
            assert b"origin" in info.value.body.lower()
            assert "403" in str(info.value)

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_process_request_sync_hook(run) -> None:
    seen: list[str] = []

    def hook(ws: Any, request: Any) -> Optional[HTTPResponse]:
        seen.append(request.path)
        if "token" not in request.query:
            return HTTPResponse(401, "missing token\n", headers=[("WWW-Authenticate", "Bearer")])
        return None

    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0, process_request=hook) as server:
            response, rest = await exchange(server.port, build_request("/secure"))
            assert response.status == 401, response
            assert response.header("WWW-Authenticate") == "Bearer"
            assert response.body == b"missing token\n"
            assert rest == b""
            with pytest.raises(HandshakeRejected) as info:
                await connect(f"ws://127.0.0.1:{server.port}/secure")
            assert info.value.status == 401
            assert info.value.body == b"missing token\n"
            async with connect(f"ws://127.0.0.1:{server.port}/secure?token=abc") as ws:
                await ws.send("authorised")
                assert await ws.recv() == "authorised"
            assert seen == ["/secure", "/secure", "/secure?token=abc"]

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_process_request_async_hook(run) -> None:
    async def hook(ws: Any, request: Any) -> Optional[HTTPResponse]:
        await asyncio.sleep(0.01)
        if request.path_without_query == "/health":
            return HTTPResponse(200, "ok")
        return None

    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0, process_request=hook) as server:
            # A plain HTTP health check, not even a WebSocket request.
            response, rest = await exchange(server.port, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert response.status == 200, response
            assert response.body == b"ok"
            assert response.header("Content-Type").startswith("text/plain")
            assert rest == b""
            # None: the upgrade goes on.
            async with connect(f"ws://127.0.0.1:{server.port}/chat") as ws:
                await ws.send(b"\x01\x02")
                assert await ws.recv() == b"\x01\x02"

    run(main())


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("kind", ["sync", "async"])
def test_process_request_raising_is_500(run, kind: str) -> None:
    def sync_hook(ws: Any, request: Any) -> None:
        raise RuntimeError("boom")

    async def async_hook(ws: Any, request: Any) -> None:
        raise RuntimeError("boom")

    hook = sync_hook if kind == "sync" else async_hook

    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0, process_request=hook) as server:
            response, rest = await exchange(server.port, build_request())
            assert response.status == 500, response
            assert b"boom" not in response.body  # no internals leaked to the peer
            assert rest == b""
            # The server is still serving.
            response, _ = await exchange(server.port, build_request())
            assert response.status == 500

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_handler_sees_request_details(run) -> None:
    seen: dict[str, Any] = {}

    async def handler(ws: Any) -> None:
        seen["path"] = ws.request.path
        seen["path_without_query"] = ws.request.path_without_query
        seen["query"] = ws.request.query
        seen["custom"] = ws.request.headers["x-custom"]
        seen["cookies"] = ws.request.cookies
        seen["remote"] = ws.remote_address
        seen["subprotocol"] = ws.subprotocol
        await ws.send("ready")
        await echo(ws)

    async def main() -> None:
        async with await serve(handler, "127.0.0.1", 0, subprotocols=["chat.v1"]) as server:
            uri = f"ws://127.0.0.1:{server.port}/rooms/42?user=ann&tag=a&tag=b"
            async with connect(
                uri,
                subprotocols=["chat.v1"],
                extra_headers=[("X-Custom", "hello"), ("Cookie", "session=s3cr3t; theme=dark")],
            ) as ws:
                assert await ws.recv() == "ready"
                local = ws.transport.get_extra_info("sockname")
                assert ws.subprotocol == "chat.v1"
                assert ws.response.status == 101
        assert seen["path"] == "/rooms/42?user=ann&tag=a&tag=b"
        assert seen["path_without_query"] == "/rooms/42"
        assert seen["query"] == {"user": ["ann"], "tag": ["a", "b"]}
        assert seen["custom"] == "hello"
        assert seen["cookies"] == {"session": "s3cr3t", "theme": "dark"}
        assert tuple(seen["remote"][:2]) == tuple(local[:2])
        assert seen["subprotocol"] == "chat.v1"

    run(main())


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize(
    "offered, expected",
    [
        (["v1", "v2"], "v2"),  # the server's preference wins over the client's order
        (["v2", "v1"], "v2"),
        (["v1", "other"], "v1"),
        (["other"], None),
        ([], None),
    ],
)
def test_subprotocol_negotiation_server_preference(run, offered: list[str], expected: Optional[str]) -> None:
    server_side: list[Optional[str]] = []

    async def handler(ws: Any) -> None:
        server_side.append(ws.subprotocol)
        await echo(ws)

    async def main() -> None:
        async with await serve(handler, "127.0.0.1", 0, subprotocols=["v2", "v1"]) as server:
            async with connect(f"ws://127.0.0.1:{server.port}/", subprotocols=offered) as ws:
                assert ws.subprotocol == expected
                if expected is None:
                    assert ws.response.header("Sec-WebSocket-Protocol") is None
                else:
                    assert ws.response.header("Sec-WebSocket-Protocol") == expected
                await ws.send("x")
                assert await ws.recv() == "x"
        assert server_side == [expected]

    run(main())


# --------------------------------------------------------------------------- client: rejections, redirects


class RawHTTPServer:
    """A tiny HTTP server that answers every request with ``make_response(count, path)``."""

    def __init__(self, make_response: Any) -> None:
        self.make_response = make_response
        self.requests: list[bytes] = []
        self.server: Optional[asyncio.AbstractServer] = None

    async def __aenter__(self) -> RawHTTPServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(head)
            path = head.split(b" ", 2)[1].decode()
            writer.write(self.make_response(len(self.requests), path))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def redirect_response(location: str, status: int = 302) -> bytes:
    return (
        f"HTTP/1.1 {status} Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    ).encode()


@pytest.mark.timeout(TIMEOUT)
def test_client_rejected_with_403(run) -> None:
    def hook(ws: Any, request: Any) -> HTTPResponse:
        return HTTPResponse(403, "go away\n")

    async def main() -> None:
        async with await serve(echo, "127.0.0.1", 0, process_request=hook) as server:
            with pytest.raises(HandshakeRejected) as info:
                await connect(f"ws://127.0.0.1:{server.port}/")
            assert isinstance(info.value, InvalidHandshake)
            assert info.value.status == 403
            assert info.value.body == b"go away\n"
            assert "403" in str(info.value)

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_client_rejects_a_bad_accept(run) -> None:
    def bad_101(count: int, path: str) -> bytes:
        return (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + KEY_ACCEPT.encode() + b"\r\n\r\n"
        )

    async def main() -> None:
        async with RawHTTPServer(bad_101) as raw:
            with pytest.raises(InvalidHandshake) as info:
                await connect(f"ws://127.0.0.1:{raw.port}/")
            assert not isinstance(info.value, HandshakeRejected)
            assert "accept" in str(info.value).lower()

    run(main())


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("scheme", ["ws", "http"])
def test_client_follows_redirect(run, scheme: str) -> None:
    paths: list[str] = []

    async def handler(ws: Any) -> None:
        paths.append(ws.request.path)
        await echo(ws)

    async def main() -> None:
        async with await serve(handler, "127.0.0.1", 0) as server:
            target = f"{scheme}://127.0.0.1:{server.port}/target?x=1"
            async with RawHTTPServer(lambda n, path: redirect_response(target)) as raw:
                async with connect(f"ws://127.0.0.1:{raw.port}/start") as ws:
                    await ws.send("after redirect")
                    assert await ws.recv() == "after redirect"
                assert len(raw.requests) == 1
                assert raw.requests[0].startswith(b"GET /start HTTP/1.1\r\n")
        assert paths == ["/target?x=1"]

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_client_follows_relative_redirect(run) -> None:
    async def main() -> None:
        def respond(count: int, path: str) -> bytes:
            if path == "/old":
                return redirect_response("/new", 301)
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"

        async with RawHTTPServer(respond) as raw:
            with pytest.raises(HandshakeRejected) as info:
                await connect(f"ws://127.0.0.1:{raw.port}/old")
            assert info.value.status == 404
            assert [r.split(b" ")[1] for r in raw.requests] == [b"/old", b"/new"]

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_client_redirect_loop_fails_clearly(run) -> None:
    async def main() -> None:
        async with RawHTTPServer(lambda n, path: b"") as raw:
            loop_uri = f"ws://127.0.0.1:{raw.port}/loop"
            raw.make_response = lambda n, path: redirect_response(loop_uri)
            with pytest.raises(InvalidHandshake) as info:
                await connect(loop_uri, max_redirects=2)
            assert "redirect" in str(info.value).lower()
            assert "2" in str(info.value)
            # The first request plus max_redirects follow-ups, then it gives up.
            assert len(raw.requests) == 3

            raw.requests.clear()
            with pytest.raises(InvalidHandshake):
                await connect(loop_uri, max_redirects=0)
            assert len(raw.requests) == 1

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_client_redirect_without_location(run) -> None:
    async def main() -> None:
        response = b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n"
        async with RawHTTPServer(lambda n, path: response) as raw:
            with pytest.raises(InvalidHandshake) as info:
                await connect(f"ws://127.0.0.1:{raw.port}/")
            assert "location" in str(info.value).lower()

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_client_server_closes_without_answer(run) -> None:
    async def main() -> None:
        async with RawHTTPServer(lambda n, path: b"") as raw:
            with pytest.raises(InvalidHandshake) as info:
                await connect(f"ws://127.0.0.1:{raw.port}/")
            assert not isinstance(info.value, HandshakeRejected)

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_client_keeps_frames_sent_with_the_101(run, impl) -> None:
    """A server may write its first frames in the same segment as the 101: the client must keep them."""

    async def main() -> None:
        async with RawHTTPServer(lambda n, path: b"") as raw:

            def answer(count: int, path: str) -> bytes:
                key = [
                    line.split(b":", 1)[1].strip().decode()
                    for line in raw.requests[-1].split(b"\r\n")
                    if line.lower().startswith(b"sec-websocket-key:")
                ][0]
                return (
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Accept: " + expected_accept(key).encode() + b"\r\n\r\n"
                    b"\x81\x05hello" + b"\x82\x7e\x01\x00" + bytes(range(256))
                )

            raw.make_response = answer
            ws = await connect(f"ws://127.0.0.1:{raw.port}/")
            assert await asyncio.wait_for(ws.recv(), 5) == "hello"
            assert await asyncio.wait_for(ws.recv(), 5) == bytes(range(256))
            ws.abort()

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_client_rejection_body_ended_by_close(run) -> None:
    """A rejection without Content-Length: its body ends when the server closes."""
    response = b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n\r\nno way in"

    async def main() -> None:
        async with RawHTTPServer(lambda n, path: response) as raw:
            with pytest.raises(HandshakeRejected) as info:
                await connect(f"ws://127.0.0.1:{raw.port}/")
            assert info.value.status == 403
            assert info.value.reason == "Forbidden"
            assert info.value.body == b"no way in"

    run(main())


@pytest.mark.timeout(TIMEOUT)
def test_client_open_timeout_against_a_silent_server(run) -> None:
    closed = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read()  # until the client gives up and closes
        except ConnectionError:
            pass
        closed.set()
        writer.close()

    async def main() -> None:
        raw = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = raw.sockets[0].getsockname()[1]
        try:
            start = time.monotonic()
            with pytest.raises(asyncio.TimeoutError):
                await connect(f"ws://127.0.0.1:{port}/", open_timeout=0.3)
            assert 0.25 <= time.monotonic() - start < 2
            # The client closed its socket: nothing is left half-open.
            await asyncio.wait_for(closed.wait(), 2)
        finally:
            raw.close()
            await raw.wait_closed()

    run(main())
