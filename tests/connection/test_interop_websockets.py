"""Interoperability with the ``websockets`` library (its asyncio implementation).

Both directions: a fastws server with a websockets client, and a fastws client
with a websockets server; messages of every length encoding, fragmentation,
ping/pong, and every way a connection ends.  websockets' compression is off
(fastws does not negotiate permessage-deflate yet) and its keepalive too, so
nothing but what a test does goes over the wire.
"""

from __future__ import annotations

import asyncio
import os
import string
import time
from typing import Any

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed as WSClosed
from websockets.exceptions import ConnectionClosedError as WSClosedError
from websockets.exceptions import ConnectionClosedOK as WSClosedOK

import fastws
from fastws import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK

pytestmark = pytest.mark.timeout(30)

SIZES = [0, 1, 125, 126, 65535, 65536]
BIG = 16 * 1024 * 1024
BIG_LIMIT = 32 * 1024 * 1024
HOST = "127.0.0.1"

WS_CLIENT_OPTS: dict[str, Any] = {
    "compression": None,
    "max_size": 4 * 1024 * 1024,
    "ping_interval": None,
    "proxy": None,
    "close_timeout": 5,
}
WS_SERVER_OPTS: dict[str, Any] = {
    "compression": None,
    "max_size": 4 * 1024 * 1024,
    "ping_interval": None,
    "close_timeout": 5,
}


def make_payload(kind: str, size: int) -> str | bytes:
    """A text (ASCII, so ``size`` bytes) or binary payload of ``size`` bytes."""
    if kind == "text":
        alphabet = string.ascii_letters + string.digits
        return (alphabet * (size // len(alphabet) + 1))[:size]
    return os.urandom(size)


UNICODE_TEXT = "héllo wörld — ☃ 😀 \u0000 \U0010ffff"


async def fastws_echo(ws: fastws.WebSocket) -> None:
    async for message in ws:
        await ws.send(message)


async def ws_echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


def ws_port(server: Any) -> int:
    return server.sockets[0].getsockname()[1]


async def wait_for_connection(srv: fastws.Server) -> Any:
    """The single server-side connection, once it is open."""
    for _ in range(500):
        conns = [c for c in srv.connections if c.open]
        if conns:
            return conns[0]
        await asyncio.sleep(0.01)
    raise AssertionError("no connection was opened")


async def drain(ws: fastws.WebSocket) -> tuple[list, ConnectionClosed]:
    """Receive until the connection is closed: (messages, the ConnectionClosed raised)."""
    messages = []
    while True:
        try:
            messages.append(await ws.recv())
        except ConnectionClosed as exc:
            return messages, exc


# ===================================================================================
# Messages
# ===================================================================================


@pytest.mark.parametrize("kind", ["text", "binary"])
@pytest.mark.interop(peer="websockets", role="fastws server", feature=("text", "binary"))
def test_fastws_server_echo_sizes(run, impl, kind):
    """A websockets client sends each length encoding (7, 16, 64 bits); fastws echoes it intact."""
    payloads = [make_payload(kind, n) for n in SIZES]
    if kind == "text":
        payloads.append(UNICODE_TEXT)

    async def main():
        async with await fastws.serve(fastws_echo, HOST, 0) as srv:
            async with ws_connect(f"ws://{HOST}:{srv.port}/", **WS_CLIENT_OPTS) as client:
                for payload in payloads:
                    await client.send(payload)
                    echoed = await client.recv()
                    assert type(echoed) is type(payload)
                    assert echoed == payload, f"size {len(payload)}"
                # pipelined: all sent before any is read back
                for payload in payloads:
                    await client.send(payload)
                for payload in payloads:
                    assert await client.recv() == payload
            assert client.close_code == 1000

    run(main())


@pytest.mark.parametrize("kind", ["text", "binary"])
@pytest.mark.interop(peer="websockets", role="fastws client", feature=("text", "binary"))
def test_fastws_client_echo_sizes(run, impl, kind):
    """fastws client sends each length encoding to a websockets echo server and gets it back."""
    payloads = [make_payload(kind, n) for n in SIZES]
    if kind == "text":
        payloads.append(UNICODE_TEXT)
    received_by_server: list = []

    async def handler(ws):
        async for message in ws:
            received_by_server.append(message)
            await ws.send(message)

    async def main():
        async with ws_serve(handler, HOST, 0, **WS_SERVER_OPTS) as server:
            async with fastws.connect(f"ws://{HOST}:{ws_port(server)}/") as client:
                for payload in payloads:
                    await client.send(payload)
                    echoed = await client.recv()
                    assert type(echoed) is type(payload)
                    assert echoed == payload, f"size {len(payload)}"
                for payload in payloads:
                    await client.send(payload)
                assert [await client.recv() for _ in payloads] == payloads
            assert client.close_code == 1000
            assert client.closed
        assert received_by_server == payloads * 2

    run(main())


# 16 MiB on a couple of combinations only: it is the slow one.
@pytest.mark.timeout(60)
@pytest.mark.parametrize("loop_name, kind", [("asyncio", "binary"), ("uvloop", "text")])
@pytest.mark.interop(peer="websockets", role="fastws server", feature="large")
def test_fastws_server_16mib(run, impl, kind):
    payload = make_payload(kind, BIG)

    async def main():
        async with await fastws.serve(fastws_echo, HOST, 0, max_size=BIG_LIMIT) as srv:
            opts = dict(WS_CLIENT_OPTS, max_size=BIG_LIMIT)
            async with ws_connect(f"ws://{HOST}:{srv.port}/", **opts) as client:
                await client.send(payload)
                echoed = await client.recv()
                assert type(echoed) is type(payload) and len(echoed) == BIG
                assert echoed == payload

    run(main(), timeout=50)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("loop_name, kind", [("uvloop", "text"), ("asyncio", "binary")])
@pytest.mark.interop(peer="websockets", role="fastws client", feature="large")
def test_fastws_client_16mib(run, impl, kind):
    payload = make_payload(kind, BIG)

    async def main():
        opts = dict(WS_SERVER_OPTS, max_size=BIG_LIMIT)
        async with (
            ws_serve(ws_echo, HOST, 0, **opts) as server,
            fastws.connect(f"ws://{HOST}:{ws_port(server)}/", max_size=BIG_LIMIT) as client,
        ):
            await client.send(payload)
            echoed = await client.recv()
            assert type(echoed) is type(payload) and len(echoed) == BIG
            assert echoed == payload

    run(main(), timeout=50)


@pytest.mark.interop(peer="websockets", role="fastws server", feature=("large", "close codes"))
def test_16mib_over_default_limit_is_refused(run):
    """Without raising max_size, fastws refuses a 16 MiB message with 1009 (and websockets sees it)."""

    async def main():
        async with await fastws.serve(fastws_echo, HOST, 0) as srv:  # max_size 1 MiB
            opts = dict(WS_CLIENT_OPTS, max_size=BIG_LIMIT)
            async with ws_connect(f"ws://{HOST}:{srv.port}/", **opts) as client:
                try:
                    await client.send(make_payload("binary", BIG))
                except WSClosed:
                    pass  # the 1009 may arrive while the message is still being written
                with pytest.raises(WSClosedError):
                    await client.recv()
                assert client.close_code == 1009

    run(main())


# ===================================================================================
# Fragmentation
# ===================================================================================


@pytest.mark.interop(peer="websockets", role="fastws server", feature="fragmented")
def test_fragments_websockets_client_to_fastws_server(run, impl):
    """websockets sends fragmented messages (iterables); fastws reassembles them."""
    received: list = []

    async def handler(ws):
        async for message in ws:
            received.append(message)
            await ws.send(message)

    big_parts = [os.urandom(70000), os.urandom(1), b"", os.urandom(126)]

    async def main():
        async with (
            await fastws.serve(handler, HOST, 0) as srv,
            ws_connect(f"ws://{HOST}:{srv.port}/", **WS_CLIENT_OPTS) as client,
        ):
            await client.send(["hé", "llo ", "wörld ☃"])
            assert await client.recv() == "héllo wörld ☃"
            await client.send(big_parts)
            assert await client.recv() == b"".join(big_parts)
            # A UTF-8 character split across two frames: valid once reassembled.
            await client.send([b"caf\xc3", b"\xa9 \xf0\x9f", b"\x98\x80"], text=True)
            assert await client.recv() == "café 😀"

            # A control frame between fragments is allowed (RFC 6455 §5.4).
            async def parts():
                yield "abc"
                await client.ping(b"mid-message")
                yield "def"

            await client.send(parts())
            assert await client.recv() == "abcdef"
        assert received == ["héllo wörld ☃", b"".join(big_parts), "café 😀", "abcdef"]

    run(main())


@pytest.mark.interop(peer="websockets", role="fastws server", feature="fragmented")
def test_fragments_fastws_server_to_websockets_client(run, impl):
    """fastws send_fragments (sync and async iterables) arrives as one fragmented message."""

    async def handler(ws):
        await ws.recv()  # go
        await ws.send_fragments(["hé", "llo", " ☃"])
        await ws.send_fragments([b"\x00\x01", b"\x02" * 70000])

        async def agen():
            for i in range(5):
                yield f"part{i};"
                await asyncio.sleep(0)

        await ws.send_fragments(agen())
        await ws.send("after")
        await ws.recv()

    async def main():
        async with (
            await fastws.serve(handler, HOST, 0) as srv,
            ws_connect(f"ws://{HOST}:{srv.port}/", **WS_CLIENT_OPTS) as client,
        ):
            await client.send("go")
            fragments = [f async for f in client.recv_streaming()]
            assert "".join(fragments) == "héllo ☃"
            assert [f for f in fragments if f] == ["hé", "llo", " ☃"]  # really one frame each
            fragments = [f async for f in client.recv_streaming()]
            assert b"".join(fragments) == b"\x00\x01" + b"\x02" * 70000
            assert len([f for f in fragments if f]) >= 2
            assert await client.recv() == "".join(f"part{i};" for i in range(5))
            assert await client.recv() == "after"

    run(main())


@pytest.mark.interop(peer="websockets", role="fastws client", feature="fragmented")
def test_fragments_websockets_server_to_fastws_client(run, impl):
    async def handler(ws):
        await ws.send(["frag", "mented ", "tëxt"])
        await ws.send([b"\xff" * 65536, b"\x00"])
        await ws.send([b"\xe2\x98", b"\x83"], text=True)  # ☃ split across frames
        await ws.recv()

    async def main():
        async with (
            ws_serve(handler, HOST, 0, **WS_SERVER_OPTS) as server,
            fastws.connect(f"ws://{HOST}:{ws_port(server)}/") as client,
        ):
            assert await client.recv() == "fragmented tëxt"
            assert await client.recv() == b"\xff" * 65536 + b"\x00"
            assert await client.recv() == "☃"

    run(main())


@pytest.mark.interop(peer="websockets", role="fastws client", feature="fragmented")
def test_fragments_fastws_client_to_websockets_server(run, impl):
    seen: asyncio.Future

    async def handler(ws):
        frames = [f async for f in ws.recv_streaming()]
        whole = await ws.recv()
        seen.set_result((frames, whole))
        await ws.wait_closed()

    async def main():
        nonlocal seen
        seen = asyncio.get_running_loop().create_future()
        async with (
            ws_serve(handler, HOST, 0, **WS_SERVER_OPTS) as server,
            fastws.connect(f"ws://{HOST}:{ws_port(server)}/") as client,
        ):
            await client.send_fragments(["a", "bé", "c"])
            await client.send_fragments(iter([b"x" * 100000, b"y"]))
            frames, whole = await seen
        assert [f for f in frames if f] == ["a", "bé", "c"]
        assert whole == b"x" * 100000 + b"y"

    run(main())


# ===================================================================================
# Ping / pong
# ===================================================================================


@pytest.mark.interop(peer="websockets", role="fastws server", feature="ping")
def test_ping_fastws_server_to_websockets_client(run, impl):
    results: asyncio.Future

    async def handler(ws):
        rtt1 = await ws.ping(b"payload")
        rtt2 = await ws.ping()
        rtt3 = await ws.ping("text payload")
        results.set_result((rtt1, rtt2, rtt3, ws.latency))
        await ws.recv()

    async def main():
        nonlocal results
        results = asyncio.get_running_loop().create_future()
        async with (
            await fastws.serve(handler, HOST, 0) as srv,
            ws_connect(f"ws://{HOST}:{srv.port}/", **WS_CLIENT_OPTS),
        ):
            rtt1, rtt2, rtt3, latency = await results
        for rtt in (rtt1, rtt2, rtt3):
            assert isinstance(rtt, float) and 0 <= rtt < 5
        assert latency == rtt3

    run(main())


@pytest.mark.interop(peer="websockets", role="fastws server", feature="ping")
def test_ping_websockets_client_to_fastws_server(run, impl):
    async def main():
        async with (
            await fastws.serve(fastws_echo, HOST, 0) as srv,
            ws_connect(f"ws://{HOST}:{srv.port}/", **WS_CLIENT_OPTS) as client,
        ):
            latency = await asyncio.wait_for(await client.ping(b"hello"), 5)
            assert isinstance(latency, float) and latency >= 0
            latency = await asyncio.wait_for(await client.ping(), 5)
            assert latency >= 0
            # the connection still carries messages afterwards
            await client.send("x")
            assert await client.recv() == "x"

    run(main())


@pytest.mark.interop(peer="websockets", role="fastws client", feature="ping")
def test_ping_fastws_client_to_websockets_server(run, impl):
    async def main():
        async with (
            ws_serve(ws_echo, HOST, 0, **WS_SERVER_OPTS) as server,
            fastws.connect(f"ws://{HOST}:{ws_port(server)}/") as client,
        ):
            rtt = await asyncio.wait_for(client.ping(b"abc"), 5)
            assert isinstance(rtt, float) and 0 <= rtt < 5
            assert client.latency == rtt
            # several pings in flight, answered in order
            waiters = [client.ping(f"p{i}") for i in range(5)]
            rtts = await asyncio.wait_for(asyncio.gather(*waiters), 5)
            assert all(isinstance(r, float) and r >= 0 for r in rtts)

    run(main())


@pytest.mark.interop(peer="websockets", role="fastws client", feature="ping")
def test_ping_websockets_server_to_fastws_client(run, impl):
    latencies: asyncio.Future

    async def handler(ws):
        latencies.set_result([await asyncio.wait_for(await ws.ping(p), 5) for p in (b"one", b"", b"x" * 125)])
        await ws.wait_closed()

    async def main():
        nonlocal latencies
        latencies = asyncio.get_running_loop().create_future()
        # pongs are automatic: the client answers although no recv() is pending
        async with (
            ws_serve(handler, HOST, 0, **WS_SERVER_OPTS) as server,
            fastws.connect(f"ws://{HOST}:{ws_port(server)}/"),
        ):
            result = await latencies
        assert len(result) == 3 and all(isinstance(x, float) and x >= 0 for x in result)

    run(main())


# ===================================================================================
# Closing: fastws server, websockets client
# ===================================================================================


@pytest.mark.parametrize(
    "code, reason, fastws_exc",
    [(1000, "bye", ConnectionClosedOK), (4000, "client reason ☃", ConnectionClosedError)],
)
@pytest.mark.interop(peer="websockets", role="fastws server", feature="close codes")
def test_websockets_client_closes_fastws_server(run, impl, code, reason, fastws_exc):
    seen: asyncio.Future

    async def handler(ws):
        result = await drain(ws)
        seen.set_result((result, ws.close_code, ws.close_reason))

    async def main():
        nonlocal seen
        seen = asyncio.get_running_loop().create_future()
        async with await fastws.serve(handler, HOST, 0) as srv:
            client = await ws_connect(f"ws://{HOST}:{srv.port}/", **WS_CLIENT_OPTS)
            await client.send("before close")
            started = time.monotonic()
            await client.close(code, reason)
            assert time.monotonic() - started < 2  # the server closed TCP promptly
            (messages, exc), close_code, close_reason = await asyncio.wait_for(seen, 5)
        assert messages == ["before close"]
        assert type(exc) is fastws_exc
        assert (exc.code, exc.reason) == (code, reason)
        assert (close_code, close_reason) == (code, reason)
        # the server echoed the client's code (RFC 6455 §5.5.1; echoing the reason is optional)
        assert client.close_code == code

    run(main())


@pytest.mark.parametrize("code, reason", [(1000, ""), (4001, "server bye")])
@pytest.mark.interop(peer="websockets", role="fastws server", feature="close codes")
def test_fastws_server_closes_websockets_client(run, impl, code, reason):
    seen: asyncio.Future

    async def handler(ws):
        await ws.send("last")
        started = time.monotonic()
        await ws.close(code, reason)  # completes when TCP is closed
        seen.set_result((time.monotonic() - started, ws.closed, ws.close_code, ws.close_reason))

    async def main():
        nonlocal seen
        seen = asyncio.get_running_loop().create_future()
        async with (
            await fastws.serve(handler, HOST, 0) as srv,
            ws_connect(f"ws://{HOST}:{srv.port}/", **WS_CLIENT_OPTS) as client,
        ):
            assert await client.recv() == "last"
            with pytest.raises(WSClosedOK if code == 1000 else WSClosedError) as info:
                await client.recv()
            assert info.value.rcvd.code == code
            assert info.value.rcvd.reason == reason
            elapsed, closed, close_code, _ = await asyncio.wait_for(seen, 5)
        assert client.close_code == code and client.close_reason == reason
        assert closed
        assert elapsed < 2
        assert close_code == code  # the client's echo

    run(main())


@pytest.mark.interop(peer="websockets", role="fastws server", feature="close codes")
def test_fastws_handler_returns_closes_1000(run, impl):
    async def handler(ws):
        await ws.send("only message")

    async def main():
        async with (
            await fastws.serve(handler, HOST, 0) as srv,
            ws_connect(f"ws://{HOST}:{srv.port}/", **WS_CLIENT_OPTS) as client,
        ):
            assert await client.recv() == "only message"
            with pytest.raises(WSClosedOK):
                await client.recv()
            assert client.close_code == 1000

    run(main())


@pytest.mark.interop(peer="websockets", role="fastws server", feature="close codes")
def test_fastws_handler_raises_closes_1011(run, impl, caplog):
    async def handler(ws):
        await ws.recv()
        raise RuntimeError("boom")

    async def main():
        async with (
            await fastws.serve(handler, HOST, 0) as srv,
            ws_connect(f"ws://{HOST}:{srv.port}/", **WS_CLIENT_OPTS) as client,
        ):
            await client.send("trigger")
            with pytest.raises(WSClosedError) as info:
                await client.recv()
            assert info.value.rcvd.code == 1011
            assert client.close_code == 1011

    run(main())
    assert any("boom" in (r.exc_text or "") or "handler failed" in r.getMessage() for r in caplog.records)


@pytest.mark.interop(peer="websockets", role="fastws server", feature="close codes")
def test_websockets_client_drops_tcp(run, impl):
    """No close frame: the fastws server reports 1006 and recv raises ConnectionClosedError."""
    seen: asyncio.Future

    async def handler(ws):
        seen.set_result((await drain(ws), ws.close_code))

    async def main():
        nonlocal seen
        seen = asyncio.get_running_loop().create_future()
        async with await fastws.serve(handler, HOST, 0) as srv:
            client = await ws_connect(f"ws://{HOST}:{srv.port}/", **WS_CLIENT_OPTS)
            await client.send("a")
            await client.send(b"b")
            await asyncio.sleep(0.05)
            client.transport.abort()
            (messages, exc), close_code = await asyncio.wait_for(seen, 5)
        assert messages == ["a", b"b"]  # delivered before the exception
        assert type(exc) is ConnectionClosedError
        assert exc.code == 1006
        assert close_code == 1006

    run(main())


@pytest.mark.interop(peer="websockets", role="fastws server", feature="close codes")
def test_fastws_server_drops_tcp(run, impl):
    async def handler(ws):
        await ws.send("bye")
        await ws.recv()
        ws.abort()
        await ws.wait_closed()

    async def main():
        async with (
            await fastws.serve(handler, HOST, 0) as srv,
            ws_connect(f"ws://{HOST}:{srv.port}/", **WS_CLIENT_OPTS) as client,
        ):
            assert await client.recv() == "bye"
            await client.send("drop me")
            with pytest.raises(WSClosedError) as info:
                await client.recv()
            assert info.value.rcvd is None
            assert client.close_code == 1006

    run(main())


@pytest.mark.interop(peer="websockets", role="fastws server", feature="close codes")
def test_server_close_sends_1001(run, impl):
    """Server.close(): every client gets 1001, handlers see it, and wait_closed() returns promptly."""
    seen: list = []

    async def handler(ws):
        seen.append(await drain(ws))

    async def main():
        srv = await fastws.serve(handler, HOST, 0, close_timeout=5)
        uri = f"ws://{HOST}:{srv.port}/"
        clients = [await ws_connect(uri, **WS_CLIENT_OPTS) for _ in range(3)]
        for c in clients:
            await c.send("hi")
        await asyncio.sleep(0.05)
        started = time.monotonic()
        srv.close()
        await srv.wait_closed()
        assert time.monotonic() - started < 2  # no laggard: nobody waited for close_timeout
        for c in clients:
            with pytest.raises(WSClosedOK) as info:
                await c.recv()
            assert info.value.rcvd.code == 1001
            assert c.close_code == 1001
            assert c.close_reason == "server shutting down"
        assert len(seen) == 3
        for messages, exc in seen:
            assert messages == ["hi"]
            assert type(exc) is ConnectionClosedOK and exc.code == 1001
        # no longer listening
        with pytest.raises(OSError):
            await ws_connect(uri, **dict(WS_CLIENT_OPTS, open_timeout=2))

    run(main())


# ===================================================================================
# Closing: websockets server, fastws client
# ===================================================================================


@pytest.mark.parametrize("code, reason", [(1000, "done"), (4000, "client reason ☃")])
@pytest.mark.interop(peer="websockets", role="fastws client", feature="close codes")
def test_fastws_client_closes_websockets_server(run, impl, code, reason):
    seen: asyncio.Future

    async def handler(ws):
        try:
            await ws.recv()
            await ws.recv()
        except WSClosed as exc:
            seen.set_result((exc.rcvd.code, exc.rcvd.reason, ws.close_code))

    async def main():
        nonlocal seen
        seen = asyncio.get_running_loop().create_future()
        async with ws_serve(handler, HOST, 0, **WS_SERVER_OPTS) as server:
            client = await fastws.connect(f"ws://{HOST}:{ws_port(server)}/")
            await client.send("one")
            started = time.monotonic()
            await client.close(code, reason)
            assert time.monotonic() - started < 2
            assert client.closed
            assert client.close_code == code  # the echo
            assert await asyncio.wait_for(seen, 5) == (code, reason, code)  # websockets saw ours
            with pytest.raises(ConnectionClosedOK if code == 1000 else ConnectionClosedError):
                await client.recv()
            with pytest.raises(ConnectionClosed):
                client.send("too late")

    run(main())


@pytest.mark.parametrize(
    "code, reason, fastws_exc",
    [(1001, "going away", ConnectionClosedOK), (4001, "server bye", ConnectionClosedError)],
)
@pytest.mark.interop(peer="websockets", role="fastws client", feature="close codes")
def test_websockets_server_closes_fastws_client(run, impl, code, reason, fastws_exc):
    async def handler(ws):
        await ws.send("last")
        await ws.close(code, reason)

    async def main():
        async with ws_serve(handler, HOST, 0, **WS_SERVER_OPTS) as server:
            client = await fastws.connect(f"ws://{HOST}:{ws_port(server)}/")
            messages, exc = await drain(client)
            assert messages == ["last"]
            assert type(exc) is fastws_exc
            assert (exc.code, exc.reason) == (code, reason)
            await asyncio.wait_for(client.wait_closed(), 2)
            assert (client.close_code, client.close_reason) == (code, reason)

    run(main())


@pytest.mark.interop(peer="websockets", role="fastws client", feature="close codes")
def test_websockets_handler_returns_fastws_client(run, impl):
    async def handler(ws):
        await ws.send("a")
        await ws.send(b"b")

    async def main():
        async with ws_serve(handler, HOST, 0, **WS_SERVER_OPTS) as server:
            client = await fastws.connect(f"ws://{HOST}:{ws_port(server)}/")
            assert [m async for m in client] == ["a", b"b"]  # ends cleanly on 1000
            await asyncio.wait_for(client.wait_closed(), 2)
            assert client.close_code == 1000
            with pytest.raises(ConnectionClosedOK):
                await client.recv()

    run(main())


@pytest.mark.interop(peer="websockets", role="fastws client", feature="close codes")
def test_websockets_handler_raises_fastws_client(run, impl):
    async def handler(ws):
        raise RuntimeError("websockets handler boom")

    async def main():
        async with ws_serve(handler, HOST, 0, **WS_SERVER_OPTS) as server:
            client = await fastws.connect(f"ws://{HOST}:{ws_port(server)}/")
            with pytest.raises(ConnectionClosedError) as info:
                await client.recv()
            assert info.value.code == 1011
            await asyncio.wait_for(client.wait_closed(), 2)
            assert client.close_code == 1011

    run(main())


@pytest.mark.interop(peer="websockets", role="fastws client", feature="close codes")
def test_fastws_client_drops_tcp(run, impl):
    seen: asyncio.Future

    async def handler(ws):
        try:
            await ws.recv()
            await ws.recv()
        except WSClosed as exc:
            seen.set_result((type(exc), exc.rcvd, ws.close_code))

    async def main():
        nonlocal seen
        seen = asyncio.get_running_loop().create_future()
        async with ws_serve(handler, HOST, 0, **WS_SERVER_OPTS) as server:
            client = await fastws.connect(f"ws://{HOST}:{ws_port(server)}/")
            await client.send("x")
            client.abort()
            await asyncio.wait_for(client.wait_closed(), 2)
            assert client.close_code == 1006
            exc_type, rcvd, close_code = await asyncio.wait_for(seen, 5)
        assert exc_type is WSClosedError and rcvd is None and close_code == 1006

    run(main())


@pytest.mark.interop(peer="websockets", role="fastws client", feature="close codes")
def test_websockets_server_drops_tcp(run, impl):
    async def handler(ws):
        await ws.send("before drop")
        await ws.recv()
        ws.transport.abort()

    async def main():
        async with ws_serve(handler, HOST, 0, **WS_SERVER_OPTS) as server:
            client = await fastws.connect(f"ws://{HOST}:{ws_port(server)}/")
            assert await client.recv() == "before drop"
            await client.send("go")
            with pytest.raises(ConnectionClosedError) as info:
                await client.recv()
            assert info.value.code == 1006
            assert client.close_code == 1006
            assert client.closed

    run(main())


@pytest.mark.interop(peer="websockets", role="fastws client", feature="close codes")
def test_websockets_server_shutdown_fastws_client_sees_1001(run, impl):
    async def main():
        server = await ws_serve(ws_echo, HOST, 0, **WS_SERVER_OPTS)
        clients = [await fastws.connect(f"ws://{HOST}:{ws_port(server)}/") for _ in range(2)]
        server.close()
        for client in clients:
            messages, exc = await drain(client)
            assert messages == []
            assert type(exc) is ConnectionClosedOK and exc.code == 1001
        await asyncio.wait_for(server.wait_closed(), 5)
        for client in clients:
            await asyncio.wait_for(client.wait_closed(), 2)
            assert client.close_code == 1001

    run(main())


def test_fastws_server_close_fastws_client(run, impl):
    """Both ends fastws: Server.close() reaches the client as 1001 with its reason."""

    async def main():
        srv = await fastws.serve(fastws_echo, HOST, 0)
        client = await fastws.connect(f"ws://{HOST}:{srv.port}/")
        await client.send("ping")
        assert await client.recv() == "ping"
        srv.close()
        messages, exc = await drain(client)
        assert messages == []
        assert type(exc) is ConnectionClosedOK
        assert (exc.code, exc.reason) == (1001, "server shutting down")
        await asyncio.wait_for(srv.wait_closed(), 2)
        await asyncio.wait_for(client.wait_closed(), 2)

    run(main())
