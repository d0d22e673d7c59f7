"""The closing handshake (RFC 6455 §5.5.1, §7) and failing the connection, against a hand-driven peer.

The peer is :class:`rawpeer.RawPeer`: a plain TCP stream doing the upgrade by
hand and writing hand-encoded frames, so every byte fastws receives is chosen
by the test and every byte it answers is checked.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from rawpeer import EOF, OP_RESERVED, RawPeer, RawServer, close_payload

import fastws
from fastws import ConnectionClosed, ConnectionClosedError, ConnectionClosedOK
from fastws.constants import OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT

pytestmark = pytest.mark.timeout(30)

HOST = "127.0.0.1"


async def drain(ws: fastws.WebSocket) -> tuple[list, ConnectionClosed]:
    """Receive until the connection is closed: (messages, the ConnectionClosed raised)."""
    messages = []
    while True:
        try:
            messages.append(await ws.recv())
        except ConnectionClosed as exc:
            return messages, exc


class Recorder:
    """A server handler that drains the connection and reports what it saw."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()

    async def __call__(self, ws: fastws.WebSocket) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)  # let everything arrive before reading
        messages, exc = await drain(ws)
        self.done.set_result((messages, exc, ws.close_code, ws.close_reason))

    async def result(self, timeout: float = 5.0):
        return await asyncio.wait_for(self.done, timeout)


# ===================================================================================
# Peer-initiated close (server side)
# ===================================================================================


@pytest.mark.parametrize(
    "code, reason",
    [(1000, ""), (1000, "bye"), (1001, "going"), (3000, "r" * 123), (4999, "☃"), (None, "")],
    ids=["1000", "1000-reason", "1001", "3000-max-reason", "4999-utf8", "no-code"],
)
def test_server_echoes_close_and_closes_tcp_first(run, impl, code, reason):
    async def main():
        recorder = Recorder()
        # A long close_timeout: a prompt EOF can only be the server closing after the handshake.
        async with await fastws.serve(recorder, HOST, 0, close_timeout=10) as srv:
            peer = await RawPeer.connect(srv.port)
            peer.send(OP_TEXT, "hello")
            peer.send_close(code, reason)
            started = time.monotonic()
            before, close = await peer.read_until_close()
            assert before == []
            if code is None:
                assert close.payload == b""  # an empty close is echoed empty
            else:
                assert close.close[0] == code  # the peer's code is echoed
            assert not close.masked  # a server never masks
            # The raw client never closes its side: the server must close TCP (RFC 6455 §7.1.1).
            eof = await peer.expect_eof(timeout=2)
            assert not eof.reset
            assert time.monotonic() - started < 2
            messages, exc, close_code, close_reason = await recorder.result()
        assert messages == ["hello"]
        expected_code = 1005 if code is None else code
        expected_type = ConnectionClosedOK if expected_code in (1000, 1001, 1005) else ConnectionClosedError
        assert type(exc) is expected_type
        assert (exc.code, exc.reason) == (expected_code, reason)
        assert (close_code, close_reason) == (expected_code, reason)

    run(main())


def test_close_frame_split_across_writes(run, impl):
    async def main():
        recorder = Recorder()
        async with await fastws.serve(recorder, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            data = peer.frame(OP_CLOSE, close_payload(4000, "split"))
            for i in range(len(data)):
                peer.write(data[i : i + 1])
                await peer.writer.drain()
                await asyncio.sleep(0.001)
            _, close = await peer.read_until_close()
            assert close.close[0] == 4000
            await peer.expect_eof()
            _, exc, _, _ = await recorder.result()
        assert (exc.code, exc.reason) == (4000, "split")

    run(main())


# ===================================================================================
# Server-initiated close
# ===================================================================================


@pytest.mark.parametrize("code, reason", [(1000, ""), (4000, "server reason")])
def test_server_initiated_close_waits_for_echo_then_closes_tcp(run, impl, code, reason):
    result: asyncio.Future

    async def handler(ws):
        started = time.monotonic()
        await ws.close(code, reason)
        result.set_result((time.monotonic() - started, ws.closed, ws.close_code, ws.close_reason))

    async def main():
        nonlocal result
        result = asyncio.get_running_loop().create_future()
        async with await fastws.serve(handler, HOST, 0, close_timeout=10) as srv:
            peer = await RawPeer.connect(srv.port)
            _, close = await peer.read_until_close()
            assert close.close == (code, reason.encode())
            # Before the echo, the server keeps the TCP connection open.
            await peer.no_eof_within(0.2)
            assert not result.done()
            peer.send_close(code, "echo")
            eof = await peer.expect_eof(timeout=2)
            assert not eof.reset
            elapsed, closed, close_code, close_reason = await asyncio.wait_for(result, 2)
        assert closed
        assert 0.15 < elapsed < 2  # returned when TCP closed, long before close_timeout
        assert (close_code, close_reason) == (code, "echo")  # what the peer sent back

    run(main())


def test_server_close_timeout_when_peer_never_echoes(run):
    result: asyncio.Future

    async def handler(ws):
        started = time.monotonic()
        await ws.close(1000, "")
        result.set_result((time.monotonic() - started, ws.close_code))

    async def main():
        nonlocal result
        result = asyncio.get_running_loop().create_future()
        async with await fastws.serve(handler, HOST, 0, close_timeout=0.3) as srv:
            peer = await RawPeer.connect(srv.port)
            _, close = await peer.read_until_close()
            assert close.close[0] == 1000
            await peer.expect_eof(timeout=3)  # dropped by the close timer
            elapsed, close_code = await asyncio.wait_for(result, 2)
        assert 0.25 < elapsed < 2
        assert close_code == 1006  # no close frame was received

    run(main())


def test_data_from_peer_after_our_close_frame_is_ignored(run, impl):
    """Data the peer sends after our close frame (before its echo) is ignored (RFC 6455 §1.4)."""
    result: asyncio.Future

    async def handler(ws):
        await ws.close(1000)
        result.set_result(await drain(ws))

    async def main():
        nonlocal result
        result = asyncio.get_running_loop().create_future()
        async with await fastws.serve(handler, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            await peer.read_until_close()
            peer.send(OP_TEXT, "too late")
            peer.send(OP_BINARY, b"also too late")
            peer.send(OP_PING, b"p")  # still a valid frame; a pong is optional now
            peer.send_close(1000)
            frames = []
            try:
                while True:
                    frames.append(await peer.read_frame(timeout=2))
            except EOF:
                pass
            assert all(f.opcode == OP_PONG for f in frames)  # nothing but maybe a pong
            messages, exc = await asyncio.wait_for(result, 2)
        assert messages == []
        assert type(exc) is ConnectionClosedOK and exc.code == 1000

    run(main())


# ===================================================================================
# Data after the peer's close frame
# ===================================================================================


def test_data_after_close_frame_is_ignored(run, impl):
    async def main():
        recorder = Recorder(delay=0.1)
        async with await fastws.serve(recorder, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            peer.write(
                peer.frame(OP_TEXT, "a")
                + peer.frame(OP_BINARY, b"b")
                + peer.frame(OP_CLOSE, close_payload(1000, "done"))
                + peer.frame(OP_TEXT, "after close")
                + peer.frame(OP_BINARY, b"after close")
                + peer.frame(OP_PING, b"after close")
            )
            before, close = await peer.read_until_close()
            assert before == []  # in particular no pong for the ping after the close
            assert close.close[0] == 1000
            await peer.expect_eof()
            messages, exc, _, _ = await recorder.result()
        assert messages == ["a", b"b"]
        assert type(exc) is ConnectionClosedOK and (exc.code, exc.reason) == (1000, "done")

    run(main())


def test_garbage_after_close_frame_is_ignored(run, impl):
    """After the close frame nothing is parsed: even invalid bytes do not change the outcome."""

    async def main():
        recorder = Recorder()
        async with await fastws.serve(recorder, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            peer.write(
                peer.frame(OP_CLOSE, close_payload(4000)) + peer.frame(OP_RESERVED, b"x") + b"\xff" * 20
            )
            _, close = await peer.read_until_close()
            assert close.close[0] == 4000
            await peer.expect_eof()
            _, exc, close_code, _ = await recorder.result()
        assert exc.code == 4000 and close_code == 4000

    run(main())


# ===================================================================================
# Failing the connection: protocol violations
# ===================================================================================


def _violations():
    """(id, builder(peer) -> bytes, expected close code)."""
    return [
        ("reserved-data-opcode", lambda p: p.frame(OP_RESERVED, b"x"), 1002),
        ("reserved-control-opcode", lambda p: p.frame(0xB, b""), 1002),
        ("unmasked-frame", lambda p: p.frame(OP_TEXT, "hi", masked=False), 1002),
        ("rsv1-without-extension", lambda p: p.frame(OP_TEXT, "hi", rsv1=True), 1002),
        ("rsv2", lambda p: p.frame(OP_BINARY, b"x", rsv2=True), 1002),
        ("rsv3", lambda p: p.frame(OP_BINARY, b"x", rsv3=True), 1002),
        ("fragmented-ping", lambda p: p.frame(OP_PING, b"x", fin=False), 1002),
        ("ping-over-125", lambda p: p.frame(OP_PING, b"x" * 126), 1002),
        ("continuation-without-start", lambda p: p.frame(OP_CONTINUATION, b"x"), 1002),
        (
            "new-message-inside-fragmented",
            lambda p: p.frame(OP_TEXT, "a", fin=False) + p.frame(OP_TEXT, "b"),
            1002,
        ),
        ("non-minimal-length", lambda p: p.frame(OP_BINARY, b"x", length_form=16), 1002),
        ("close-1-byte", lambda p: p.frame(OP_CLOSE, b"\x03"), 1002),
        ("close-code-1005", lambda p: p.frame(OP_CLOSE, close_payload(1005)), 1002),
        ("close-code-1006", lambda p: p.frame(OP_CLOSE, close_payload(1006)), 1002),
        ("close-code-999", lambda p: p.frame(OP_CLOSE, close_payload(999)), 1002),
        ("close-code-2000", lambda p: p.frame(OP_CLOSE, close_payload(2000)), 1002),
        ("close-code-5000", lambda p: p.frame(OP_CLOSE, close_payload(5000)), 1002),
        ("close-reason-bad-utf8", lambda p: p.frame(OP_CLOSE, close_payload(1000, b"\xff")), 1007),
        ("invalid-utf8-text", lambda p: p.frame(OP_TEXT, b"ok \xff"), 1007),
        ("utf8-surrogate", lambda p: p.frame(OP_TEXT, b"\xed\xa0\x80"), 1007),
        (
            "invalid-utf8-across-fragments",
            lambda p: p.frame(OP_TEXT, b"\xc3", fin=False) + p.frame(OP_CONTINUATION, b"\x28"),
            1007,
        ),
        (
            "text-ends-inside-utf8-sequence",
            lambda p: p.frame(OP_TEXT, b"a\xe2\x98", fin=False) + p.frame(OP_CONTINUATION, b""),
            1007,
        ),
    ]


@pytest.mark.parametrize("build, code", [v[1:] for v in _violations()], ids=[v[0] for v in _violations()])
def test_protocol_violation_fails_connection(run, impl, build, code):
    async def main():
        recorder = Recorder(delay=0.05)
        async with await fastws.serve(recorder, HOST, 0, close_timeout=10) as srv:
            peer = await RawPeer.connect(srv.port)
            # A valid message first, in the same write: it must still be delivered.
            peer.write(peer.frame(OP_TEXT, "valid") + build(peer))
            before, close = await peer.read_until_close()
            assert before == []
            assert close.close[0] == code
            await peer.expect_eof(timeout=2)  # then the server drops TCP, without waiting
            messages, exc, close_code, _ = await recorder.result()
        assert messages == ["valid"]
        assert type(exc) is ConnectionClosedError
        assert exc.code == code
        assert close_code == code

    run(main())


def test_violation_after_our_close_still_drops_tcp(run, impl):
    """While waiting for the echo, garbage from the peer: no second close frame, TCP closed."""

    async def handler(ws):
        await ws.close(1000)

    async def main():
        async with await fastws.serve(handler, HOST, 0, close_timeout=10) as srv:
            peer = await RawPeer.connect(srv.port)
            await peer.read_until_close()
            peer.write(peer.frame(OP_RESERVED, b"x"))
            started = time.monotonic()
            await peer.expect_eof(timeout=3)
            assert time.monotonic() - started < 2

    run(main())


# ===================================================================================
# Size limits
# ===================================================================================


@pytest.mark.parametrize(
    "frames",
    [
        lambda p: p.frame(OP_BINARY, b"x" * 1025),
        lambda p: p.frame(OP_TEXT, "x" * 1025),
        lambda p: p.frame(OP_BINARY, b"x" * 600, fin=False) + p.frame(OP_CONTINUATION, b"x" * 425),
        lambda p: b"".join(
            p.frame(OP_CONTINUATION if i else OP_TEXT, "y" * 100, fin=False) for i in range(11)
        ),
    ],
    ids=["binary-frame", "text-frame", "fragmented", "many-fragments"],
)
def test_message_over_max_size_gets_1009(run, impl, frames):
    async def main():
        recorder = Recorder()
        async with await fastws.serve(recorder, HOST, 0, max_size=1024) as srv:
            peer = await RawPeer.connect(srv.port)
            peer.send(OP_BINARY, b"z" * 1024)  # exactly the limit: fine
            peer.write(frames(peer))
            _, close = await peer.read_until_close()
            assert close.close[0] == 1009
            await peer.expect_eof()
            messages, exc, close_code, _ = await recorder.result()
        assert messages == [b"z" * 1024]
        assert type(exc) is ConnectionClosedError and exc.code == 1009 and close_code == 1009

    run(main())


def test_max_frame_size_below_max_size(run, impl):
    async def main():
        recorder = Recorder()
        async with await fastws.serve(recorder, HOST, 0, max_size=1024, max_frame_size=256) as srv:
            peer = await RawPeer.connect(srv.port)
            # 4 frames of 250 bytes: every frame and the message are within limits
            peer.write(
                b"".join(
                    peer.frame(OP_CONTINUATION if i else OP_BINARY, bytes([i]) * 250, fin=i == 3)
                    for i in range(4)
                )
            )
            peer.send(OP_BINARY, b"x" * 300)  # one frame over max_frame_size
            _, close = await peer.read_until_close()
            assert close.close[0] == 1009
            await peer.expect_eof()
            messages, exc, _, _ = await recorder.result()
        assert messages == [b"".join(bytes([i]) * 250 for i in range(4))]
        assert exc.code == 1009

    run(main())


# ===================================================================================
# Keepalive
# ===================================================================================


def test_keepalive_timeout_against_silent_peer(run, impl):
    async def main():
        recorder = Recorder()
        async with await fastws.serve(recorder, HOST, 0, ping_interval=0.1, ping_timeout=0.2) as srv:
            peer = await RawPeer.connect(srv.port)
            started = time.monotonic()
            before, close = await peer.read_until_close(timeout=3)  # never answer the pings
            elapsed = time.monotonic() - started
            assert before and all(f.opcode == OP_PING for f in before)
            assert close.close[0] == 1011
            await peer.expect_eof(timeout=2)  # then aborted, without waiting for an echo
            assert 0.25 < elapsed < 2  # first ping at 0.1 s, deadline 0.2 s later
            _, exc, close_code, _ = await recorder.result()
        assert type(exc) is ConnectionClosedError and exc.code == 1011 and close_code == 1011

    run(main())


def test_keepalive_answered_keeps_connection_open(run):
    async def main():
        async with await fastws.serve(Recorder(), HOST, 0, ping_interval=0.1, ping_timeout=0.2) as srv:
            peer = await RawPeer.connect(srv.port)
            pings = 0
            deadline = time.monotonic() + 0.6
            while time.monotonic() < deadline:
                try:
                    frame = await peer.read_frame(timeout=deadline - time.monotonic())
                except asyncio.TimeoutError:
                    break
                assert frame.opcode == OP_PING, frame  # no close: the pongs keep it alive
                peer.send(OP_PONG, frame.payload)
                pings += 1
            assert pings >= 3
            conn = next(iter(srv.connections))
            assert conn.open
            assert conn.latency is not None and conn.latency >= 0
            peer.send_close(1000)
            await peer.read_until_close()
            await peer.expect_eof()

    run(main())


def test_client_keepalive_timeout_against_silent_server(run, impl):
    async def main():
        async with RawServer() as raw:
            client = await fastws.connect(raw.uri, ping_interval=0.1, ping_timeout=0.2)
            peer = await raw.peer()
            before, close = await peer.read_until_close(timeout=3)
            assert before and all(f.opcode == OP_PING and f.masked for f in before)
            assert close.masked and close.close[0] == 1011
            await peer.expect_eof(timeout=2)
            await asyncio.wait_for(client.wait_closed(), 2)
            assert client.close_code == 1011
            with pytest.raises(ConnectionClosedError) as info:
                await client.recv()
            assert info.value.code == 1011

    run(main())


# ===================================================================================
# recv() around the close
# ===================================================================================


@pytest.mark.parametrize(
    "code, exc_type", [(1000, ConnectionClosedOK), (1001, ConnectionClosedOK), (4000, ConnectionClosedError)]
)
def test_recv_delivers_queued_messages_then_raises(run, impl, code, exc_type):
    result: asyncio.Future

    async def handler(ws):
        await asyncio.sleep(0.1)  # everything, close frame included, has arrived
        got = [await ws.recv() for _ in range(3)]
        errors = []
        for _ in range(2):  # and it keeps raising
            try:
                await ws.recv()
            except ConnectionClosed as exc:
                errors.append(exc)
        result.set_result((got, errors))

    async def main():
        nonlocal result
        result = asyncio.get_running_loop().create_future()
        async with await fastws.serve(handler, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            peer.write(
                peer.frame(OP_TEXT, "1")
                + peer.frame(OP_BINARY, b"2")
                + peer.frame(OP_TEXT, "3", fin=False)
                + peer.frame(OP_CONTINUATION, "!")
                + peer.frame(OP_CLOSE, close_payload(code, "reason"))
            )
            got, errors = await asyncio.wait_for(result, 5)
        assert got == ["1", b"2", "3!"]
        assert [type(e) for e in errors] == [exc_type, exc_type]
        assert all((e.code, e.reason) == (code, "reason") for e in errors)

    run(main())


def test_async_for_ends_cleanly_on_normal_close(run, impl):
    result: asyncio.Future

    async def handler(ws):
        result.set_result([m async for m in ws])

    async def main():
        nonlocal result
        result = asyncio.get_running_loop().create_future()
        async with await fastws.serve(handler, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            peer.write(peer.frame(OP_TEXT, "x") + peer.frame(OP_CLOSE, close_payload(1000)))
            assert await asyncio.wait_for(result, 5) == ["x"]

    run(main())


def test_async_for_raises_on_error_close(run, impl):
    result: asyncio.Future

    async def handler(ws):
        got = []
        try:
            async for m in ws:
                got.append(m)
        except ConnectionClosedError as exc:
            result.set_result((got, exc.code))

    async def main():
        nonlocal result
        result = asyncio.get_running_loop().create_future()
        async with await fastws.serve(handler, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            peer.send(OP_TEXT, "x")
            await asyncio.sleep(0.05)
            peer.abort()
            assert await asyncio.wait_for(result, 5) == (["x"], 1006)

    run(main())


def test_recv_after_drop_delivers_then_raises_1006(run, impl):
    async def main():
        recorder = Recorder(delay=0.2)
        async with await fastws.serve(recorder, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            peer.write(peer.frame(OP_TEXT, "a") + peer.frame(OP_TEXT, "b") + peer.frame(OP_BINARY, b"c"))
            await peer.writer.drain()
            await asyncio.sleep(0.05)
            peer.abort()  # no close frame
            messages, exc, close_code, close_reason = await recorder.result()
        assert messages == ["a", "b", b"c"]
        assert type(exc) is ConnectionClosedError
        assert exc.code == 1006 and close_code == 1006 and close_reason == ""

    run(main())


def test_drop_mid_message_is_1006(run, impl):
    async def main():
        recorder = Recorder()
        async with await fastws.serve(recorder, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            data = peer.frame(OP_TEXT, "complete") + peer.frame(OP_TEXT, "x" * 1000)
            peer.write(data[:-500])  # the second frame is cut short
            await peer.writer.drain()
            await asyncio.sleep(0.05)
            await peer.close_tcp()  # clean FIN, but still no close frame
            messages, exc, close_code, _ = await recorder.result()
        assert messages == ["complete"]
        assert type(exc) is ConnectionClosedError and exc.code == 1006 and close_code == 1006

    run(main())


def test_pending_recv_and_ping_fail_on_drop(run, impl):
    result: asyncio.Future

    async def handler(ws):
        ping = ws.ping(b"never answered")
        recv = asyncio.ensure_future(ws.recv())
        outcomes = await asyncio.gather(ping, recv, return_exceptions=True)
        try:
            ws.send("after")
        except ConnectionClosed as exc:
            outcomes.append(exc)
        result.set_result(outcomes)

    async def main():
        nonlocal result
        result = asyncio.get_running_loop().create_future()
        async with await fastws.serve(handler, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            frame = await peer.read_frame()
            assert frame.opcode == OP_PING and frame.payload == b"never answered"
            peer.abort()
            outcomes = await asyncio.wait_for(result, 5)
        assert [type(o) for o in outcomes] == [ConnectionClosedError] * 3
        assert all(o.code == 1006 for o in outcomes)

    run(main())


def test_send_after_close_raises(run, impl):
    result: asyncio.Future

    async def handler(ws):
        closing = ws.close(1000, "")
        errors = []
        for call in (lambda: ws.send("x"), lambda: ws.ping(), lambda: ws.send_fragments(["a"])):
            try:
                r = call()
                if asyncio.iscoroutine(r):
                    await r
            except ConnectionClosed as exc:
                errors.append(exc)
        await closing
        result.set_result(errors)

    async def main():
        nonlocal result
        result = asyncio.get_running_loop().create_future()
        async with await fastws.serve(handler, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            before, _ = await peer.read_until_close()
            assert before == []  # nothing was sent after the close frame
            peer.send_close(1000)
            await peer.expect_eof()
            errors = await asyncio.wait_for(result, 5)
        assert len(errors) == 3

    run(main())


# ===================================================================================
# Client side: the fastws client against a raw server
# ===================================================================================


def test_client_echoes_server_close_and_waits_for_server_tcp_close(run, impl):
    async def main():
        async with RawServer() as raw:
            client = await fastws.connect(raw.uri, close_timeout=10)
            peer = await raw.peer()
            peer.write(peer.frame(OP_TEXT, "before") + peer.frame(OP_CLOSE, close_payload(4000, "srv")))
            _, echo = await peer.read_until_close()
            assert echo.masked  # a client always masks
            assert echo.close[0] == 4000
            # The client does not close TCP itself: it waits for the server (RFC 6455 §7.1.1).
            await peer.no_eof_within(0.3)
            assert not client.closed
            await peer.close_tcp()
            await asyncio.wait_for(client.wait_closed(), 2)
            assert (client.close_code, client.close_reason) == (4000, "srv")
            messages, exc = await drain(client)
            assert messages == ["before"]
            assert type(exc) is ConnectionClosedError and (exc.code, exc.reason) == (4000, "srv")

    run(main())


def test_client_aborts_if_server_never_closes_tcp(run):
    async def main():
        async with RawServer() as raw:
            client = await fastws.connect(raw.uri, close_timeout=0.3)
            peer = await raw.peer()
            peer.send_close(1000, "")
            await peer.read_until_close()
            started = time.monotonic()
            await peer.expect_eof(timeout=3)
            assert 0.2 < time.monotonic() - started < 2
            await asyncio.wait_for(client.wait_closed(), 2)
            assert client.close_code == 1000  # the handshake did complete

    run(main())


@pytest.mark.parametrize("code, reason", [(1000, ""), (4321, "client reason")])
def test_client_initiated_close(run, impl, code, reason):
    async def main():
        async with RawServer() as raw:
            client = await fastws.connect(raw.uri, close_timeout=10)
            peer = await raw.peer()
            closing = client.close(code, reason)
            _, close = await peer.read_until_close()
            assert close.masked and close.close == (code, reason.encode())
            assert not closing.done()
            peer.send_close(code)
            await peer.close_tcp()  # the server closes TCP after the handshake
            await asyncio.wait_for(closing, 2)
            assert client.closed and client.close_code == code

    run(main())


def test_client_close_timeout_when_server_never_echoes(run):
    async def main():
        async with RawServer() as raw:
            client = await fastws.connect(raw.uri, close_timeout=0.3)
            peer = await raw.peer()
            started = time.monotonic()
            await asyncio.wait_for(client.close(), 3)
            assert 0.25 < time.monotonic() - started < 2
            assert client.close_code == 1006
            _, close = await peer.read_until_close()
            assert close.close[0] == 1000
            await peer.expect_eof()

    run(main())


@pytest.mark.parametrize(
    "build, code",
    [
        (lambda p: p.frame(OP_TEXT, "hi", masked=True), 1002),  # a server must not mask
        (lambda p: p.frame(OP_RESERVED, b""), 1002),
        (lambda p: p.frame(OP_TEXT, b"\xc0\xaf"), 1007),  # overlong encoding
    ],
    ids=["masked-from-server", "reserved-opcode", "invalid-utf8"],
)
def test_client_fails_connection_on_violation(run, impl, build, code):
    async def main():
        async with RawServer() as raw:
            client = await fastws.connect(raw.uri)
            peer = await raw.peer()
            peer.write(peer.frame(OP_BINARY, b"ok") + build(peer))
            _, close = await peer.read_until_close()
            assert close.masked and close.close[0] == code
            await peer.expect_eof()
            await asyncio.wait_for(client.wait_closed(), 2)
            messages, exc = await drain(client)
            assert messages == [b"ok"]
            assert type(exc) is ConnectionClosedError and exc.code == code

    run(main())


def test_client_message_over_max_size(run, impl):
    async def main():
        async with RawServer() as raw:
            client = await fastws.connect(raw.uri, max_size=200)
            peer = await raw.peer()
            peer.send(OP_BINARY, b"x" * 201)
            _, close = await peer.read_until_close()
            assert close.close[0] == 1009
            with pytest.raises(ConnectionClosedError) as info:
                await client.recv()
            assert info.value.code == 1009

    run(main())


def test_client_pending_recv_raises_when_close_frame_arrives(run, impl):
    """A recv() already waiting ends as soon as the close frame arrives, not when TCP closes later.

    (A recv() called after the close frame raises at once; one already waiting must too.)
    """

    async def main():
        async with RawServer() as raw:
            client = await fastws.connect(raw.uri, close_timeout=10)
            peer = await raw.peer()
            pending = asyncio.ensure_future(client.recv())
            # whatever happens, the task's outcome is collected (no "exception never retrieved")
            pending.add_done_callback(lambda t: t.cancelled() or t.exception())
            await asyncio.sleep(0.05)
            peer.send_close(4000, "srv")
            _, echo = await peer.read_until_close()
            assert echo.close[0] == 4000
            # The server has not closed TCP yet (it may take its time): recv() must not wait for it.
            done, _ = await asyncio.wait([pending], timeout=1)
            assert pending in done, "recv() still blocked after the close frame was received"
            exc = pending.exception()
            assert type(exc) is ConnectionClosedError and (exc.code, exc.reason) == (4000, "srv")
            await peer.close_tcp()
            await asyncio.wait_for(client.wait_closed(), 2)

    run(main())


async def _fill_write_buffer(ws: fastws.WebSocket) -> None:
    """Send until the transport holds over 1 MiB the peer has not read (kernel buffers are full)."""
    chunk = b"x" * 65536
    for _ in range(4096):
        ws.send(chunk)  # not awaited on purpose: the data piles up in the transport
        if ws.transport.get_write_buffer_size() > 1 << 20:
            return
        await asyncio.sleep(0)
    raise AssertionError("could not fill the write buffer")


@pytest.mark.parametrize("trigger", ["close-frame", "violation"])
def test_server_close_timeout_applies_when_peer_stops_reading(run, trigger):
    """After a close frame (or a violation) the server closes TCP, but a peer that does not read
    keeps the flush pending: close_timeout must still bound how long the connection lingers."""
    filled: asyncio.Future
    closed: asyncio.Future

    async def handler(ws):
        await _fill_write_buffer(ws)
        filled.set_result(None)
        await ws.wait_closed()
        closed.set_result(ws.close_code)

    async def main():
        nonlocal filled, closed
        filled = asyncio.get_running_loop().create_future()
        closed = asyncio.get_running_loop().create_future()
        async with await fastws.serve(handler, HOST, 0, close_timeout=0.3) as srv:
            peer = await RawPeer.connect(srv.port)  # and never reads again
            await asyncio.wait_for(filled, 10)
            if trigger == "close-frame":
                peer.send_close(1000)
            else:
                peer.send(OP_RESERVED, b"")
            started = time.monotonic()
            done, _ = await asyncio.wait([closed], timeout=1.5)
            elapsed = time.monotonic() - started
            peer.abort()
            assert closed in done, (
                "connection still not closed 1.5 s after the closing started (close_timeout=0.3)"
            )
            assert elapsed < 2
            assert closed.result() == (1000 if trigger == "close-frame" else 1002)

    run(main())


def test_client_close_timeout_applies_on_violation_when_server_stops_reading(run):
    async def main():
        async with RawServer() as raw:
            client = await fastws.connect(raw.uri, close_timeout=0.3)
            peer = await raw.peer()  # never reads
            await _fill_write_buffer(client)
            peer.send(OP_RESERVED, b"")
            waiter = asyncio.ensure_future(client.wait_closed())
            done, _ = await asyncio.wait([waiter], timeout=1.5)
            waiter.cancel()
            assert done, "client connection still not closed 1.5 s after failing it (close_timeout=0.3)"
            assert client.close_code == 1002

    run(main())


def test_send_fragments_raises_if_closed_before_the_message_is_finished(run, impl):
    """A fragmented message cut short by the close must not look like a successful send."""
    result: asyncio.Future

    async def handler(ws):
        async def fragments():
            yield "first"
            while ws.open:  # the peer closes while we are producing the next fragment
                await asyncio.sleep(0.01)

        try:
            await ws.send_fragments(fragments())
        except ConnectionClosed as exc:
            result.set_result(exc)
        else:
            result.set_result(None)

    async def main():
        nonlocal result
        result = asyncio.get_running_loop().create_future()
        async with await fastws.serve(handler, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            frame = await peer.read_frame()
            assert (frame.opcode, frame.fin, frame.payload) == (OP_TEXT, False, b"first")
            peer.send_close(1000)
            outcome = await asyncio.wait_for(result, 5)
        assert isinstance(outcome, ConnectionClosed), "send_fragments() returned normally"

    run(main())


def test_invalid_ping_leaves_no_pending_ping(run, impl):
    """ping() with a payload over 125 bytes fails, and does not leave a ping waiting for a pong."""
    result: asyncio.Future

    async def handler(ws):
        errors = []
        for _ in range(2):
            try:
                ws.ping(b"x" * 126)
            except ValueError as exc:
                errors.append(str(exc))
        result.set_result(errors)
        await ws.recv()

    async def main():
        nonlocal result
        result = asyncio.get_running_loop().create_future()
        async with await fastws.serve(handler, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            errors = await asyncio.wait_for(result, 5)
            peer.send_close(1000)
            await peer.read_until_close()
        assert len(errors) == 2
        # the second attempt fails for the same reason, not "already waiting for its pong"
        assert "125" in errors[1], errors

    run(main())


def test_close_with_invalid_code_or_reason_raises_and_keeps_connection_open(run, impl):
    result: asyncio.Future

    async def handler(ws):
        errors = []
        for code, reason in [(1005, ""), (1006, ""), (999, ""), (5000, ""), (1000, "r" * 124)]:
            try:
                ws.close(code, reason)
            except ValueError as exc:
                errors.append(exc)
        result.set_result((len(errors), ws.open))
        await ws.send("still open")
        await ws.close(1000)

    async def main():
        nonlocal result
        result = asyncio.get_running_loop().create_future()
        async with await fastws.serve(handler, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            before, close = await peer.read_until_close()
            assert [f.payload for f in before] == [b"still open"]
            assert close.close == (1000, b"")
            peer.send_close(1000)
            await peer.expect_eof()
        assert await result == (5, True)

    run(main())


def test_simultaneous_close(run, impl):
    """Both ends send a close frame before seeing the other's: no echo is due, the server closes TCP."""
    result: asyncio.Future

    async def handler(ws):
        await asyncio.sleep(0.05)  # the peer's close frame is on its way
        closing = ws.close(4001, "server")
        await closing
        result.set_result(ws.close_code)

    async def main():
        nonlocal result
        result = asyncio.get_running_loop().create_future()
        async with await fastws.serve(handler, HOST, 0, close_timeout=10) as srv:
            peer = await RawPeer.connect(srv.port)
            peer.send_close(4002, "client")  # sent before reading the server's close
            frames = []
            try:
                while True:
                    frames.append(await peer.read_frame(timeout=3))
            except EOF:
                pass
            # exactly one close frame from the server: its own, or the echo of ours, never both
            assert [f.opcode for f in frames] == [OP_CLOSE]
            assert frames[0].close[0] in (4001, 4002)
            assert await asyncio.wait_for(result, 3) == 4002

    run(main())


def test_abort_then_send_raises_connection_closed(run, impl) -> None:
    """ws.abort(): until the transport reports the loss, sends raise ConnectionClosedError
    (1006) on both loops (uvloop's transport would raise RuntimeError) and broadcast skips it."""
    async def main() -> None:
        checked = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            ws.abort()
            try:
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.send("after abort")
                assert info.value.code == 1006
                assert fastws.broadcast([ws], "after abort").not_open == 1
                ws.abort()  # twice: harmless
                await asyncio.wait_for(ws.wait_closed(), 5)
                assert ws.close_code == 1006
                checked.set_result(None)
            except BaseException as exc:
                checked.set_exception(exc)

        async with await fastws.serve(handler, "127.0.0.1", 0) as server:
            async with fastws.connect(f"ws://127.0.0.1:{server.port}/") as ws:
                await asyncio.wait_for(ws.wait_closed(), 5)
                assert ws.close_code == 1006
            await asyncio.wait_for(checked, 5)

    run(main())
