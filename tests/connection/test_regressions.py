"""Regression tests of the connection layer's review defects (issue #10: B1-B13) and its API
corrections, over real sockets, with hostile or careless peers and cancelled tasks.

Every test runs on both event loops (``run``) and both codecs (``impl``);
test_pure_core.py runs this module again on the pure build of the connection core.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import tracemalloc
import zlib
from typing import Any

import pytest
from rawpeer import RawPeer

import fastws
from fastws import Listener, connect, serve
from fastws.constants import OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT
from fastws.echo import EchoListener
from fastws.listener import check_listener
from fastws.exceptions import ConnectionClosed, InvalidState

pytestmark = pytest.mark.timeout(60)

MiB = 1 << 20


def port_of(server: Any) -> int:
    return server.port  # type: ignore[no-any-return]


async def until(predicate: Any, timeout: float = 5.0) -> None:
    """Wait (polling the loop) until ``predicate()`` is true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def deflate_raw(data: bytes) -> bytes:
    """One permessage-deflate message as a client compresses it (RFC 7692 §7.2.1)."""
    z = zlib.compressobj(1, zlib.DEFLATED, -15)
    out = z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


async def fill_write_buffer(ws: Any) -> None:
    """Send (without waiting) until the transport pauses writing (the peer reads nothing)."""
    chunk = bytes(256 * 1024)
    while not ws.writing_paused:
        ws.send(chunk, compress=False)
        await asyncio.sleep(0)


# --- B1: cancelling one paused sender ---------------------------------------------------------


def test_b1_cancelling_one_paused_sender_leaves_the_others_waiting(run, impl) -> None:
    async def main() -> None:
        done = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            await fill_write_buffer(ws)

            async def send(data: bytes) -> None:
                await ws.send(data)

            first = asyncio.create_task(send(b"first"))
            second = asyncio.create_task(send(b"second"))
            await asyncio.sleep(0.01)
            assert not first.done() and not second.done()
            first.cancel()
            await asyncio.sleep(0.01)
            assert first.cancelled()
            assert not second.done(), "the other sender was woken (or cancelled) with the first"
            done.set_result(None)
            await second  # completes once the peer reads
            await ws.send(b"after")  # not a CancelledError
            await ws.send(b"end")
            await asyncio.sleep(1)

        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            peer = await RawPeer.connect(port_of(server))
            await done
            payloads = []
            while not payloads or payloads[-1] != b"end":
                payloads.append((await peer.read_frame()).payload)
            assert payloads[-4:] == [b"first", b"second", b"after", b"end"]  # written at once, in call order
            peer.abort()

    run(main())


# --- B2: recv() is cancel-safe ------------------------------------------------------------------


def test_b2_recv_timeouts_lose_no_message(run, impl) -> None:
    count = 300

    async def main() -> None:
        async def handler(ws: Any) -> None:
            for i in range(count):
                await ws.send(str(i))
                if i % 7 == 0:
                    await asyncio.sleep(0.001)
            await asyncio.sleep(5)

        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(ws.recv(), 0)  # cancelled before anything came
                got: list[str] = []
                timeouts = 0
                while len(got) < count:
                    try:
                        got.append(await asyncio.wait_for(ws.recv(), 0.0005))
                    except asyncio.TimeoutError:
                        timeouts += 1
                assert got == [str(i) for i in range(count)]
                assert timeouts > 0  # the cancellations did happen

    run(main())


def test_b2_cancelled_recv_leaves_the_connection_usable(run, impl) -> None:
    async def main() -> None:
        async def handler(ws: Any) -> None:
            await asyncio.sleep(0.2)
            await ws.send("late")
            await ws.recv()

        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                task = asyncio.create_task(ws.recv())
                await asyncio.sleep(0.05)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert await asyncio.wait_for(ws.recv(), 5) == "late"

    run(main())


# --- B3: max_queue bounds memory, compression included ------------------------------------------


def test_b3_full_queue_does_not_inflate_what_was_read(run, impl) -> None:
    max_queue, max_size = 4, MiB

    async def main() -> None:
        connected = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            connected.set_result(ws)
            await asyncio.sleep(30)  # never reads

        async with serve(handler, "127.0.0.1", 0, max_queue=max_queue, max_size=max_size) as server:
            peer = await RawPeer.connect(port_of(server), extensions=b"permessage-deflate")
            ws = await connected
            bomb = peer.frame(OP_BINARY, deflate_raw(bytes(max_size)), rsv1=True)
            frames = bomb * (254 * 1024 // len(bomb))  # ~254 KiB on the wire: 50+ MiB inflated
            tracemalloc.start()
            try:
                peer.write(frames)
                await until(lambda: len(ws.messages) >= max_queue)
                await asyncio.sleep(0.2)  # whatever else would be inflated is, by now
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert len(ws.messages) == max_queue
            assert peak < max_queue * max_size + 2 * MiB, peak
            # Nothing lost: the application gets every message once it reads.
            count = len(frames) // len(bomb)
            for _ in range(count):
                assert await asyncio.wait_for(ws.recv(), 5) == bytes(max_size)
            peer.abort()

    run(main())


def test_b3_a_bomb_is_inflated_a_slice_per_turn_while_others_are_served(run, impl) -> None:
    """A 16 MiB bomb (72 KiB on the wire) takes many turns of the loop, 16 KiB each: another
    connection's echoes go on meanwhile (inflated in one call, the loop was held ~8 ms), and
    recv() cancelled again and again mid-message loses nothing."""
    max_size = 16 * MiB

    async def main() -> None:
        delivered: list[Any] = []
        echoes = timeouts = 0

        async def handler(ws: Any) -> None:
            nonlocal timeouts
            if ws.request.path == "/echo":
                async for message in ws:
                    await ws.send(message)
                return
            while len(delivered) < 2:
                try:  # times out (cancelling recv) while the message is inflated
                    message = await asyncio.wait_for(ws.recv(), 0.0005)
                except asyncio.TimeoutError:
                    timeouts += 1
                    continue
                delivered.append((message == bytes(max_size), echoes))

        async with serve(handler, "127.0.0.1", 0, max_size=max_size) as server:
            good = await connect(f"ws://127.0.0.1:{port_of(server)}/echo", compression=None)
            peer = await RawPeer.connect(port_of(server), extensions=b"permessage-deflate")
            bomb = peer.frame(OP_BINARY, deflate_raw(bytes(max_size)), rsv1=True)
            assert len(bomb) < 128 * 1024  # level 1: ~72 KiB
            stop = asyncio.Event()

            async def echo_loop() -> None:
                nonlocal echoes
                while not stop.is_set():
                    await good.send(b"x" * 100)
                    assert await asyncio.wait_for(good.recv(), 5) == b"x" * 100
                    echoes += 1

            task = asyncio.create_task(echo_loop())
            await until(lambda: echoes > 0)
            before = echoes
            peer.write(bomb * 2)
            await until(lambda: len(delivered) == 2, timeout=30)
            stop.set()
            await task
            assert [ok for ok, _ in delivered] == [True, True]  # whole, once each, despite the timeouts
            assert timeouts > 0  # the cancellations did happen
            assert delivered[0][1] - before >= 20, (before, delivered)  # echoes while the first one inflated
            await good.close()
            peer.abort()

    run(main())


class RecordingDecompressor:
    """A session's decompressor that records, per inflate() call, the loop iteration
    (``clock[0]``, advanced by a call_soon chain) and the bytes it produced."""

    def __init__(self, real: Any, clock: list[int]) -> None:
        self.real, self.clock = real, clock
        self.calls: list[tuple[int, int]] = []

    def start(self, data: bytes, max_size: Any) -> None:
        self.real.start(data, max_size)

    def inflate(self, budget: int) -> Any:
        try:
            return self.real.inflate(budget)
        finally:
            self.calls.append((self.clock[0], self.real.produced))

    def reset(self) -> None:
        self.real.reset()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_b3_bombs_on_several_connections_share_one_inflate_budget_per_iteration(run, impl) -> None:
    """Four connections inflating bombs at once: their turns come in order from one queue per
    loop, and all of them together inflate at most one budget per iteration of the loop (each
    connection having its own turn every iteration, the loop carried four slices per iteration,
    and every other client waited for all four). Each message still arrives whole."""
    from fastws.protocol import INFLATE_PER_ITERATION

    peers_n, max_size = 4, 4 * MiB
    per_turn = fastws.connection.Connection(False, fastws.Options(), fastws.connection.MemorySink())._inflate_per_turn

    async def main() -> None:
        loop = asyncio.get_running_loop()
        clock = [0]
        ready: list[RecordingDecompressor] = []
        received: list[bool] = []
        ticking = True

        def tick() -> None:
            clock[0] += 1
            if ticking:
                loop.call_soon(tick)

        async def handler(ws: Any) -> None:
            session = ws._deflate
            session.decompressor = recording = RecordingDecompressor(session.decompressor, clock)
            ready.append(recording)
            received.append(await ws.recv() == bytes(max_size))
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0, max_size=max_size) as server:
            peers = [await RawPeer.connect(port_of(server), extensions=b"permessage-deflate") for _ in range(peers_n)]
            await until(lambda: len(ready) == peers_n)
            loop.call_soon(tick)
            for peer in peers:
                peer.write(peer.frame(OP_BINARY, deflate_raw(bytes(max_size)), rsv1=True))
            await until(lambda: len(received) == peers_n, timeout=30)
            ticking = False
            assert received == [True] * peers_n
            assert sum(produced for r in ready for _, produced in r.calls) == peers_n * max_size
            # A connection's first slice comes in its read; the rest in turns, which stop
            # once an iteration's budget is spent (the last one served may take a whole turn).
            per_iteration: dict[int, int] = {}
            for recording in ready:
                for iteration, produced in recording.calls[1:]:
                    per_iteration[iteration] = per_iteration.get(iteration, 0) + produced
            over = {i: n for i, n in per_iteration.items() if n > INFLATE_PER_ITERATION + per_turn}
            assert not over, over
            assert len(per_iteration) >= (peers_n * max_size - peers_n * per_turn) // (INFLATE_PER_ITERATION + per_turn)
            # In order: the connections finish within a few iterations of one another.
            ends = sorted(recording.calls[-1][0] for recording in ready)
            assert ends[-1] - ends[0] <= 2 * peers_n, ends
            for peer in peers:
                peer.abort()

    run(main())


def test_b3_a_connection_dropped_while_waiting_for_its_turn_leaves_the_queue(run, impl) -> None:
    """Two bombs inflating; the server aborts one connection mid-message: the other's message
    still arrives whole, the dropped one's partial message is freed at once (not when the
    connection object goes), and the loop's turn queue drains."""
    max_size = 8 * MiB

    async def main() -> None:
        loop = asyncio.get_running_loop()
        opened: list[Any] = []
        received: list[bool] = []

        async def handler(ws: Any) -> None:
            opened.append(ws)
            try:
                received.append(await ws.recv() == bytes(max_size))
            except ConnectionClosed:
                pass

        async with serve(handler, "127.0.0.1", 0, max_size=max_size) as server:
            peers = [await RawPeer.connect(port_of(server), extensions=b"permessage-deflate") for _ in range(2)]
            await until(lambda: len(opened) == 2)
            for peer in peers:
                peer.write(peer.frame(OP_BINARY, deflate_raw(bytes(max_size)), rsv1=True))
            dropped = opened[0] if opened[0].remote_address[1] == peers[0].writer.get_extra_info("sockname")[1] else opened[1]
            for _ in range(100_000):  # polled every iteration: the message takes ~1,000 of them
                if dropped._deflate.decompressor.pending:
                    break
                await asyncio.sleep(0)
            assert dropped._deflate.decompressor.pending
            dropped.abort()
            await asyncio.wait_for(dropped.wait_closed(), 5)
            assert not dropped._deflate.decompressor.pending
            await until(lambda: received == [True], timeout=30)
            queue = loop._fastws_turns  # type: ignore[attr-defined]
            await until(lambda: not queue.waiting and not queue.scheduled)
            peers[1].abort()

    run(main())


# --- B4: pongs respect backpressure; so does the echo server --------------------------------------


def test_b4_ping_flood_from_a_peer_that_never_reads(run, impl) -> None:
    write_limit = 64 * 1024

    async def main() -> None:
        connected = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            connected.set_result(ws)
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0, write_limit=write_limit) as server:
            peer = await RawPeer.connect(port_of(server))
            ws = await connected
            ping = peer.frame(OP_PING, bytes(125))
            for _ in range(40):  # 40 x 5000 pings of 125 bytes: 25 MiB of pongs if all were answered
                peer.write(ping * 5000)
                await peer.writer.drain()
            peer.write(peer.frame(OP_PING, b"last"))
            await asyncio.sleep(0.3)
            assert ws.transport.get_write_buffer_size() <= write_limit + 256
            # Once the peer reads: the pongs sent before, then the close frame that ended the
            # flood (more than MAX_CONTROL_PER_READ control frames in one read: 1008).
            last = await peer.read_frame()
            while last.opcode == OP_PONG:
                last = await peer.read_frame()
            assert last.opcode == OP_CLOSE and last.close[0] == 1008
            assert ws.close_code == 1008
            peer.abort()

    run(main())


def test_b4_echo_server_stops_reading_when_the_peer_does_not_read(run, impl) -> None:
    write_limit = 64 * 1024

    async def main() -> None:
        async with serve(EchoListener, "127.0.0.1", 0, write_limit=write_limit, compression=None) as server:
            peer = await RawPeer.connect(port_of(server))
            [ws] = server.connections
            message = peer.frame(OP_BINARY, bytes(64 * 1024))
            with pytest.raises(asyncio.TimeoutError):
                # 512 MiB would be echoed; the server stops reading long before, so drain() stalls.
                async def flood() -> None:
                    for _ in range(8192):
                        peer.write(message)
                        await peer.writer.drain()

                await asyncio.wait_for(flood(), 2)
            # Reading paused with at most one read's echoes (256 KiB) beyond the limit.
            assert ws.transport.get_write_buffer_size() <= write_limit + 300 * 1024
            peer.abort()

    run(main())


# --- B5: interrupted send_fragments() ----------------------------------------------------------


@pytest.mark.parametrize("how", ["raises", "cancelled"])
def test_b5_interrupted_fragmented_send_fails_the_connection(run, impl, how: str) -> None:
    async def main() -> None:
        outcome = asyncio.get_running_loop().create_future()

        async def fragments() -> Any:
            yield "first part, "
            if how == "raises":
                raise ValueError("the source broke")
            await asyncio.sleep(30)
            yield "never"

        async def handler(ws: Any) -> None:
            task = asyncio.create_task(ws.send_fragments(fragments()))
            await asyncio.sleep(0.05)
            if how == "cancelled":
                task.cancel()
            try:
                await task
            except BaseException as exc:  # noqa: BLE001
                outcome.set_result(type(exc))
            with pytest.raises(ConnectionClosed):
                await ws.send("a whole message after half a message")
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0, compression=None) as server:
            peer = await RawPeer.connect(port_of(server))
            before, close = await peer.read_until_close()
            assert [(f.opcode, f.fin) for f in before] == [(OP_TEXT, False)]
            assert close.close[0] == 1011
            expected = ValueError if how == "raises" else asyncio.CancelledError
            assert await outcome is expected
            peer.abort()

    run(main())


# --- B6: a header alone commits no memory --------------------------------------------------------


def test_b6_headers_announcing_large_frames_cost_little(run, impl) -> None:
    connections, max_size = 50, 16 * MiB

    async def main() -> None:
        async def handler(ws: Any) -> None:
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0, max_size=max_size, compression=None) as server:
            peers = [await RawPeer.connect(port_of(server)) for _ in range(connections)]
            gc.collect()
            tracemalloc.start()
            try:
                for peer in peers:
                    # A 14-byte header announcing max_size, then 1 byte of it.
                    peer.write(peer.frame(OP_BINARY, b"x", length=max_size)[:15])
                await asyncio.sleep(0.3)
                held, _ = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert held < connections * 256 * 1024, held  # announced: 800 MiB
            for peer in peers:
                peer.abort()

    run(main())


# --- B7: the connection is closed after the handler, whatever it raised -------------------------


def test_b7_handler_ending_with_another_connections_closed_error(run, impl, caplog) -> None:
    async def main() -> None:
        async def handler(ws: Any) -> None:
            raise fastws.ConnectionClosedOK(1000, "some other connection's")

        async with serve(handler, "127.0.0.1", 0) as server:
            peer = await RawPeer.connect(port_of(server))
            _, close = await peer.read_until_close(timeout=5)
            assert close.close[0] == 1011
            peer.abort()

    with caplog.at_level(logging.ERROR, logger="fastws.server"):
        run(main())
    assert "handler failed" in caplog.text


def test_b7_handler_returning_closes_with_1000(run, impl) -> None:
    async def main() -> None:
        async def handler(ws: Any) -> None:
            return None

        async with serve(handler, "127.0.0.1", 0) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                await ws.wait_closed()
                assert ws.close_code == 1000

    run(main())


# --- B8: close() while reading is paused -----------------------------------------------------------


def test_b8_close_with_a_full_queue_reads_the_peers_close(run, impl) -> None:
    async def main() -> None:
        closed = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            await until(lambda: len(ws.messages) >= 2)
            await asyncio.sleep(0.1)  # reading is paused now
            start = asyncio.get_running_loop().time()
            await ws.close()
            closed.set_result((ws.close_code, asyncio.get_running_loop().time() - start))

        async with serve(handler, "127.0.0.1", 0, max_queue=2, close_timeout=3) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                for i in range(50):
                    await ws.send(bytes(10_000))
                await ws.wait_closed()
                assert ws.close_code == 1000
        code, took = await closed
        assert code == 1000
        assert took < 2.0  # well within close_timeout

    run(main())


# --- B9: coroutine callbacks are refused --------------------------------------------------------------


class AsyncListener(Listener):
    async def on_message(self, ws: Any, message: Any) -> None:  # type: ignore[override]
        pass


def test_b9_coroutine_listener_callbacks_are_refused(run, impl) -> None:
    with pytest.raises(TypeError, match=r"AsyncListener\.on_message is a coroutine function"):
        serve(AsyncListener, "127.0.0.1", 0)
    with pytest.raises(TypeError, match=r"AsyncListener\.on_message is a coroutine function"):
        connect("ws://127.0.0.1:1/", listener=AsyncListener)

    async def main() -> None:
        # A factory's listeners are checked as they are made: that connection fails, clearly.
        async with serve(EchoListener, "127.0.0.1", 0) as server:
            with pytest.raises(TypeError, match="coroutine function"):
                await connect(f"ws://127.0.0.1:{port_of(server)}/", listener=lambda: AsyncListener())

    run(main())


def test_b9_coroutine_callbacks_set_on_an_instance_are_refused() -> None:
    """Classes are inspected once (not per connection); a callback an instance sets itself still is."""
    listener = EchoListener()
    check_listener(listener)
    check_listener(EchoListener())  # the class is known good now: still fine

    async def on_message(ws: Any, message: Any) -> None:
        pass

    listener.on_message = on_message  # type: ignore[method-assign]
    with pytest.raises(TypeError, match=r"EchoListener\.on_message is a coroutine function"):
        check_listener(listener)
    with pytest.raises(TypeError, match=r"AsyncListener\.on_message is a coroutine function"):
        check_listener(AsyncListener())  # a bad class is refused every time, not remembered as checked
    with pytest.raises(TypeError, match=r"AsyncListener\.on_message is a coroutine function"):
        check_listener(AsyncListener())


def test_serve_and_connect_take_a_listener_class_or_factory(run, impl) -> None:
    async def main() -> None:
        received: list[Any] = []

        class Collect(Listener):
            def on_message(self, ws: Any, message: Any) -> None:
                received.append(message)

        for server_listener in (EchoListener, lambda: EchoListener()):
            for client_listener in (Collect, lambda: Collect()):
                async with serve(server_listener, "127.0.0.1", 0) as server:
                    uri = f"ws://127.0.0.1:{port_of(server)}/"
                    async with connect(uri, listener=client_listener) as ws:
                        ws.send("ping")
                        await until(lambda: len(received) == 1)
                received.clear()
        with pytest.raises(TypeError, match="Listener subclass or a factory"):
            serve(42, "127.0.0.1", 0)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="Listener subclass or a factory"):
            connect("ws://127.0.0.1:1/", listener=int)  # type: ignore[arg-type]

    run(main())


# --- B10: a listener exception does not end auto-reconnect -----------------------------------------


def test_b10_listener_failure_keeps_reconnecting(run, impl, caplog) -> None:
    async def main() -> None:
        class Broken(Listener):
            def on_message(self, ws: Any, message: Any) -> None:
                raise RuntimeError("listener bug")

        async def handler(ws: Any) -> None:
            await ws.send("trigger")
            await ws.wait_closed()

        connections = 0
        async with serve(handler, "127.0.0.1", 0) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            async for ws in connect(uri, listener=Broken, backoff_initial=0.01):
                connections += 1
                await ws.wait_closed()
                assert ws.close_code == 1011
                if connections == 3:
                    break
        assert connections == 3

    with caplog.at_level(logging.CRITICAL, logger="fastws"):
        run(main())


# --- B11: options are checked up front ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"max_size": 100}, ValueError, "max_size must be at least 125"),
        ({"max_frame_size": 10}, ValueError, "max_frame_size must be at least 125"),
        ({"max_size": 1000, "max_frame_size": 2000}, ValueError, "must not exceed max_size"),
        ({"max_size": "1M"}, TypeError, "max_size must be an int or None"),
        ({"max_queue": 0}, ValueError, "max_queue must be at least 1"),
        ({"write_limit": -1}, ValueError, "write_limit must be at least 0"),
        ({"ping_interval": 0}, ValueError, "ping_interval must be a positive"),
        ({"ping_timeout": -5}, ValueError, "ping_timeout must be a positive"),
        ({"close_timeout": None}, TypeError, "close_timeout must be a number of seconds"),
        ({"open_timeout": float("inf")}, ValueError, "open_timeout must be a positive, finite"),
        ({"max_sise": 1}, TypeError, "unknown option"),
    ],
)
def test_b11_bad_options_raise_precise_errors(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        serve(EchoListener, "127.0.0.1", 0, **kwargs)
    with pytest.raises(error, match=message):
        connect("ws://127.0.0.1:1/", **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"port": 70000}, "port must be an int from 0 to 65535"),
        ({"backlog": -1}, "backlog must be at least 0"),
        ({"max_headers": 0}, "max_headers must be at least 1"),
        ({"subprotocols": "chat"}, "not a single string"),
        ({"origins": "https://example.com"}, "not a single string"),
        ({"compression": "gzip"}, "compression must be"),
        ({"ssl": True}, "ssl must be an ssl.SSLContext"),
    ],
)
def test_b11_bad_serve_arguments(kwargs: dict[str, Any], message: str) -> None:
    port = kwargs.pop("port", 0)
    with pytest.raises((ValueError, TypeError), match=message):
        serve(EchoListener, "127.0.0.1", port, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_redirects": -1}, "max_redirects must be at least 0"),
        ({"backoff_initial": 0}, "backoff_initial must be a positive"),
        ({"backoff_factor": 0.5}, "backoff_factor must be a number >= 1"),
        ({"backoff_max": 0.1, "backoff_initial": 1}, "backoff_max"),
        ({"subprotocols": "chat"}, "not a single string"),
        ({"compression": "zstd"}, "compression must be"),
    ],
)
def test_b11_bad_connect_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        connect("ws://127.0.0.1:1/", **kwargs)


# --- B12: empty continuation frames do not pile up --------------------------------------------------


def test_b12_flood_of_empty_continuation_frames(run, impl) -> None:
    async def main() -> None:
        async def handler(ws: Any) -> None:
            await ws.send(await ws.recv())
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0, max_size=1024, compression=None) as server:
            peer = await RawPeer.connect(port_of(server))
            gc.collect()
            tracemalloc.start()
            try:
                peer.send(OP_TEXT, "a", fin=False)
                empty = peer.frame(OP_CONTINUATION, b"", fin=False)
                for _ in range(20):  # 200,000 empty fragments
                    peer.write(empty * 10_000)
                    await peer.writer.drain()
                peer.send(OP_CONTINUATION, "b", fin=True)
                answer = await peer.read_frame(timeout=20)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            # 1.2 MB of framing for a message of max_size 1024: cut once past max_size + 25% + 64 KiB
            # on the wire (an endless stream of empty fragments would otherwise be parsed forever).
            assert answer.opcode == OP_CLOSE and answer.close[0] == 1009
            # Before: one list entry per fragment (~8 bytes each and growing); now nothing per fragment.
            assert peak < 4 * MiB, peak
            peer.abort()

    run(main())


# --- API corrections ------------------------------------------------------------------------------------


def test_keepalive_detects_a_dead_peer(run, impl) -> None:
    async def main() -> None:
        connected = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            connected.set_result(ws)
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0, ping_interval=0.1, ping_timeout=0.2) as server:
            peer = await RawPeer.connect(port_of(server))  # reads nothing, answers nothing
            ws = await connected
            await asyncio.wait_for(ws.wait_closed(), 3)
            assert (ws.close_code, ws.close_reason) == (1011, "keepalive ping timeout")
            peer.abort()

    run(main())


def test_keepalive_keeps_a_live_connection(run, impl) -> None:
    async def main() -> None:
        async def handler(ws: Any) -> None:
            await asyncio.sleep(0.6)
            await ws.send("still here")

        async with serve(handler, "127.0.0.1", 0, ping_interval=0.1, ping_timeout=0.2) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/", ping_interval=None) as ws:
                assert await ws.recv() == "still here"
                assert ws.latency is None  # the client sent no ping; the server's were answered

    run(main())


def test_serve_works_with_and_without_await(run, impl) -> None:
    async def main() -> None:
        async with serve(EchoListener, "127.0.0.1", 0) as server:
            assert isinstance(server, fastws.Server) and server.port
        assert server.port is None  # closed
        async with await serve(EchoListener, "127.0.0.1", 0) as server:
            assert server.port
        server = await serve(EchoListener, "127.0.0.1", 0)
        server.close()
        await server.wait_closed()

    run(main())


def test_send_before_open_is_a_state_error(run, impl) -> None:
    async def main() -> None:
        errors: list[BaseException] = []

        def process_request(ws: Any, request: Any) -> None:
            try:
                ws.send("too early")
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        async with serve(EchoListener, "127.0.0.1", 0, process_request=process_request) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/"):
                pass
        [error] = errors
        assert isinstance(error, InvalidState) and "handshake is not done" in str(error)

    run(main())


def test_user_pause_is_not_undone_by_recv(run, impl) -> None:
    async def main() -> None:
        result = asyncio.get_running_loop().create_future()

        async def handler(ws: Any) -> None:
            await until(lambda: len(ws.messages) >= 3)
            ws.pause_reading()
            for _ in range(3):
                await ws.recv()
            result.set_result(ws.transport.is_reading())
            ws.resume_reading()
            await ws.recv()
            await ws.send("resumed")

        async with serve(handler, "127.0.0.1", 0, max_queue=4) as server:
            async with connect(f"ws://127.0.0.1:{port_of(server)}/") as ws:
                for i in range(3):
                    await ws.send(str(i))
                assert await result is False
                await ws.send("3")
                assert await asyncio.wait_for(ws.recv(), 5) == "resumed"

    run(main())


def test_pipelining_listener_client_and_echo_server_do_not_deadlock(run, impl) -> None:
    """The echo server stops reading while its echoes are unread; a listener client that keeps a
    window of large messages in flight must still finish (it reads while its own writes wait)."""
    window, total, size = 16, 48, MiB

    async def main() -> None:
        done = asyncio.get_running_loop().create_future()
        payload = bytes(size)

        class Pipeline(Listener):
            def on_open(self, ws: Any) -> None:
                self.sent = self.received = 0
                for _ in range(window):
                    self.send(ws)

            def send(self, ws: Any) -> None:
                ws.send(payload)
                self.sent += 1

            def on_message(self, ws: Any, message: Any) -> None:
                assert len(message) == size
                self.received += 1
                if self.sent < total:
                    self.send(ws)
                elif self.received == total and not done.done():
                    done.set_result(None)

        async with serve(EchoListener, "127.0.0.1", 0, max_size=2 * MiB, compression=None) as server:
            uri = f"ws://127.0.0.1:{port_of(server)}/"
            async with connect(uri, listener=Pipeline, max_size=2 * MiB, compression=None):
                await asyncio.wait_for(done, 20)

    run(main(), timeout=40)
