"""fastws.broadcast over real sockets: a thousand subscribers with a content check, peers that
never read (memory bounded by the policy), and connections that close or vanish while
broadcasts go on. A real fastws server on a free loopback port, real clients; both loops
(and both builds: test_broadcast_pure_build.py reruns this directory on the pure one)."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import struct
from typing import Any

import pytest
from broadcast_support import HOST, collectors, got, hub_class, raw_subscriber, server_side, wait_for

import fastws
from fastws import _codec_py
from fastws.constants import OP_CLOSE

pytestmark = pytest.mark.timeout(60)
KiB = 1024


def test_a_thousand_subscribers_get_every_message_intact(run: Any) -> None:
    messages: list[Any] = [
        '{"event": "tick", "values": [%s]}' % ", ".join(str(i) for i in range(100)),  # compressible text
        os.urandom(10 * KiB),  # incompressible binary (compressed all the same)
        "hi",  # below the deflate threshold: one uncompressed frame for all
        ("\u00e9t\u00e9 " * 30_000),  # 180 KiB of text, above the size where frames are written in parts
        "caf\u00e9 bytes as text".encode() * 10,  # bytes sent as text
    ]

    async def main() -> None:
        hub = hub_class()
        async with fastws.serve(hub, HOST, 0, max_size=None, ping_interval=None) as server:
            plain = await collectors(server.port, 500, compression=None, max_size=None)
            deflate = await collectors(server.port, 500, max_size=None)
            await wait_for(lambda: len(hub.open) == 1000, 10, "1000 open connections")
            assert sum(ws._deflate is not None for ws in hub.open) == 500
            for message in messages:
                result = fastws.broadcast(hub.open, message, text=True if isinstance(message, bytes) and b"caf" in message else None)
                small = len(message) < 128
                assert result == fastws.BroadcastResult(
                    sent=1000, compressed=0 if small else 500, not_open=0, busy=0, skipped=0, closed=0,
                    frames_built=1 if small else 2,
                )  # fmt: skip
            clients = plain + deflate
            await wait_for(lambda: all(len(got(c)) == len(messages) for c in clients), 20, "every message")
            expected = [*messages[:4], messages[4].decode()]
            for client in clients:
                assert got(client) == expected
            await asyncio.gather(*(c.close() for c in clients))

    run(main(), timeout=50)


@pytest.mark.parametrize("limit", [None, 8 * KiB])
def test_peers_that_never_read_miss_messages_with_bounded_buffers(run: Any, limit: int | None) -> None:
    """Skip policy: a subscriber that does not read holds at most its limit plus one message."""
    size, count, write_limit = 32 * KiB, 150, 64 * KiB

    async def main() -> None:
        hub = hub_class(sndbuf=16 * KiB)
        async with fastws.serve(hub, HOST, 0, compression=None, write_limit=write_limit, ping_interval=None) as server:
            socks = [await raw_subscriber(server.port) for _ in range(3)]
            readers = await collectors(server.port, 2)
            await wait_for(lambda: len(hub.open) == 5, 10, "5 open connections")
            slow = [server_side(hub, s) for s in socks]
            peak = skipped = 0
            for i in range(count):
                message = i.to_bytes(4, "big") + os.urandom(size - 4)
                result = fastws.broadcast(hub.open, message, max_buffered=limit)
                assert result.sent + result.skipped == 5 and result.closed == 0
                skipped += result.skipped
                peak = max(peak, *(ws.transport.get_write_buffer_size() for ws in slow))
                await asyncio.sleep(0.001)  # the readers read; the raw subscribers never do
            bound = (limit if limit is not None else write_limit) + size + 14  # + one frame
            assert 0 < peak <= bound
            assert skipped >= 3 * (count - 10)  # they stopped getting messages early on
            assert all(ws.open for ws in slow)  # skipped, not closed
            await wait_for(lambda: all(len(got(r)) == count for r in readers), 10, "the readers' messages")
            for reader in readers:
                assert [int.from_bytes(m[:4], "big") for m in got(reader)] == list(range(count))
            for s in socks:
                s.close()
            await asyncio.gather(*(r.close() for r in readers))

    run(main())


def test_peers_that_do_not_read_are_closed_with_the_policy_code(run: Any) -> None:
    """Close policy: both slow subscribers get a close frame (1013) queued behind what they did
    not read; the one that reads again at last finds it after the data, the one that never
    reads is dropped after close_timeout. The readers miss nothing."""

    async def main() -> None:
        hub = hub_class(sndbuf=16 * KiB)
        async with fastws.serve(
            hub, HOST, 0, compression=None, write_limit=16 * KiB, close_timeout=0.5, ping_interval=None
        ) as server:
            late, never = [await raw_subscriber(server.port) for _ in range(2)]
            readers = await collectors(server.port, 2)
            await wait_for(lambda: len(hub.open) == 4, 10, "4 open connections")
            slow = [server_side(hub, s) for s in (late, never)]
            closed = 0
            for i in range(60):
                result = fastws.broadcast(
                    list(hub.open), bytes([i]) * 16 * KiB, slow="close", close_code=1013, close_reason="too slow"
                )
                assert result.sent + result.closed + result.not_open == 4
                closed += result.closed
                await asyncio.sleep(0.001)
            assert closed == 2 and all(ws.state == fastws.State.CLOSING for ws in slow)
            frames = await read_until_close(late)  # it reads again, at last
            assert frames[-1].opcode == OP_CLOSE and frames[-1].payload == (1013).to_bytes(2, "big") + b"too slow"
            assert [f.payload for f in frames[:-1]] == [bytes([i]) * 16 * KiB for i in range(len(frames) - 1)]
            late.close()
            await wait_for(lambda: all(ws.closed for ws in slow), 5, "the slow connections to be dropped")
            await wait_for(lambda: all(len(got(r)) == 60 for r in readers), 10, "the readers' messages")
            assert all(r.open for r in readers)
            never.close()
            await asyncio.gather(*(r.close() for r in readers))

    run(main())


async def read_until_close(sock: Any) -> list[Any]:
    """Read a raw subscriber's socket until a close frame: the frames, parsed as a client does."""
    parser = _codec_py.FrameParser(True)
    frames: list[Any] = []
    loop = asyncio.get_running_loop()
    while not frames or frames[-1].opcode != OP_CLOSE:
        data = await asyncio.wait_for(loop.sock_recv(sock, 1 << 20), 5)
        assert data, f"EOF before a close frame, after {len(frames)} frames"
        frames += parser.feed(data)
    return frames


def test_connections_closing_and_vanishing_mid_broadcast(run: Any) -> None:
    """Clients close, abort or drop their socket while a task broadcasts: no exception, every
    connection counted every time, and the ones that stay get every message in order."""

    async def main() -> None:
        hub = hub_class()
        async with fastws.serve(hub, HOST, 0, ping_interval=None, close_timeout=1) as server:
            stay = await collectors(server.port, 10)
            leave = await collectors(server.port, 60)
            raws = [await raw_subscriber(server.port, rcvbuf=1 << 20) for _ in range(10)]
            await wait_for(lambda: len(hub.open) == 80, 10, "80 open connections")
            everyone = list(hub.open)  # kept: closed ones must be skipped, not raise
            rounds = 300
            sent_to: list[int] = []

            async def publisher() -> None:
                for i in range(rounds):
                    result = fastws.broadcast(everyone, f"message {i} " + "x" * (i % 300))
                    assert result.sent + result.not_open + result.skipped == 80
                    sent_to.append(result.sent)
                    await asyncio.sleep(0)

            async def leaver(i: int, ws: fastws.WebSocket) -> None:
                await asyncio.sleep(random.random() * 0.05)
                if i % 3 == 0:
                    await ws.close()
                elif i % 3 == 1:
                    ws.abort()
                else:
                    sock = ws.transport.get_extra_info("socket")  # reset: the server reads ECONNRESET
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    ws.abort()

            async def dropper(sock: Any) -> None:
                await asyncio.sleep(random.random() * 0.05)
                sock.close()

            await asyncio.gather(
                publisher(), *(leaver(i, ws) for i, ws in enumerate(leave)), *(dropper(s) for s in raws)
            )
            await wait_for(lambda: len(hub.open) == 10, 10, "the leavers to be gone")
            assert sent_to[0] > 10 and sent_to[-1] >= 10
            assert fastws.broadcast(everyone, "last").sent == 10
            await wait_for(lambda: all(len(got(c)) == rounds + 1 for c in stay), 10, "every message")
            for client in stay:
                assert got(client) == [f"message {i} " + "x" * (i % 300) for i in range(rounds)] + ["last"]
            await asyncio.gather(*(c.close() for c in stay))

    run(main())


def test_client_side_connections_mask_per_connection(run: Any) -> None:
    """A broadcast from clients (masked frames, one per connection) to a websockets server."""
    from websockets.asyncio.server import serve as ws_serve

    received: list[Any] = []

    async def echo(ws: Any) -> None:
        async for message in ws:
            received.append(message)

    async def main() -> None:
        async with ws_serve(echo, HOST, 0, ping_interval=None) as server:
            port = server.sockets[0].getsockname()[1]
            clients = [
                await fastws.connect(f"ws://{HOST}:{port}/", proxy=None, ping_interval=None, compression=c)
                for c in ("deflate", None, "deflate")
            ]
            for i in range(5):
                result = fastws.broadcast(clients, f"from clients {i} " * 20)
                assert (result.sent, result.compressed, result.frames_built) == (3, 2, 3)
            await wait_for(lambda: len(received) == 15, 10, "the server to get every message")
            assert sorted(received) == sorted(f"from clients {i} " * 20 for i in range(5) for _ in range(3))
            for client in clients:
                await client.send("own " * 50)  # after the shared compressed ones: own context reset
            await wait_for(lambda: len(received) == 18, 10, "the own messages")
            assert received[-3:] == ["own " * 50] * 3
            await asyncio.gather(*(c.close() for c in clients))

    run(main())
