"""Hostile clients against a real server, while a good client measures its round trip.

The in-process tests check the answer each attack gets, on both loops; the cross-process
one (``bench.load.hostile``, shortened) reproduces the issue's report: slowloris sockets,
ping floods that never read, malformed handshakes and the other attacks together, the
server on one core, the good client in a process of its own.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any, ClassVar

import pytest

from bench import load
from fastws import Listener, serve
from fastws._connection_py import MAX_CONTROL_PER_READ

pytestmark = [pytest.mark.load, pytest.mark.timeout(120)]

HOST = "127.0.0.1"


class Echo(Listener):
    codes: ClassVar[list[int]] = []

    def on_message(self, ws: Any, message: Any) -> None:
        ws.send(message)

    def on_close(self, ws: Any, code: int, reason: str) -> None:
        Echo.codes.append(code)


async def round_trip(port: int) -> None:
    reader, writer = await load.ws_open(port)
    writer.write(load.frame(0x2, b"good"))
    assert await asyncio.wait_for(load.read_frame(reader), 5) == (0x82, b"good")
    writer.write(load.frame(0x8, struct.pack("!H", 1000)))
    assert await load.expect_close(reader) == 1000
    writer.close()


@pytest.mark.parametrize("opcode", [0x9, 0xA], ids=["ping", "pong"])
def test_control_frame_flood_is_closed_with_1008(run, opcode: int) -> None:
    async def main() -> None:
        Echo.codes = []
        async with serve(Echo, HOST, 0) as server:
            reader, writer = await load.ws_open(server.port)
            writer.write(load.frame(opcode, b"flood") * 100_000)  # 1.1 MB of control frames
            assert await load.expect_close(reader) == 1008
            writer.close()
            await round_trip(server.port)  # the others are served meanwhile
            await asyncio.sleep(0.1)
        assert 1008 in Echo.codes

    run(main())


def test_paced_pings_under_the_limit_are_all_answered(run) -> None:
    async def main() -> None:
        async with serve(Echo, HOST, 0) as server:
            reader, writer = await load.ws_open(server.port)
            for burst in range(20):
                writer.write(b"".join(load.frame(0x9, b"%d" % (burst * 100 + i)) for i in range(MAX_CONTROL_PER_READ)))
                for _ in range(MAX_CONTROL_PER_READ):
                    b0, _ = await asyncio.wait_for(load.read_frame(reader), 5)
                    assert b0 == 0x8A
            writer.close()

    run(main())


def test_endless_empty_fragments_are_closed_with_1009(run) -> None:
    async def main() -> None:
        async with serve(Echo, HOST, 0, max_size=65536) as server:
            reader, writer = await load.ws_open(server.port)
            writer.write(load.frame(0x1, b"", fin=False))
            chunk = load.frame(0x0, b"", fin=False) * 10_000
            closing = asyncio.ensure_future(load.expect_close(reader))
            sent = 0
            while not closing.done() and sent < 10_000_000:
                writer.write(chunk)
                sent += len(chunk)
                await writer.drain()
            assert await closing == 1009  # (after how many bytes: test_limits_sansio.py)
            writer.close()
            await round_trip(server.port)

    run(main())


def test_frame_announcing_2_63_bytes_is_closed_with_1009(run) -> None:
    async def main() -> None:
        async with serve(Echo, HOST, 0) as server:
            reader, writer = await load.ws_open(server.port)
            writer.write(load.frame(0x2, b"x", length=(1 << 63) - 1))
            assert await load.expect_close(reader) == 1009
            writer.close()

    run(main())


def test_deflate_bombs_are_inflated_one_turn_at_a_time(run) -> None:
    """Messages of ~1 KiB that inflate to max_size: every echo comes back whole, in order,
    while a good client keeps being served."""

    async def main() -> None:
        async with serve(Echo, HOST, 0) as server:
            reader, writer = await load.ws_open(server.port, "Sec-WebSocket-Extensions: permessage-deflate\r\n")
            bombs = [load.frame(0x2, load.deflate_bomb(1 << 20), rsv1=True) for _ in range(8)]
            writer.write(b"".join(bombs))
            good = asyncio.ensure_future(round_trip(server.port))
            inflater = load.zlib.decompressobj(-15)  # the server's messages share one window
            for _ in range(8):
                b0, payload = await asyncio.wait_for(load.read_frame(reader), 10)
                assert b0 == 0xC2  # binary, compressed
                assert inflater.decompress(payload + b"\0\0\xff\xff") == bytes(1 << 20)
            await asyncio.wait_for(good, 10)
            writer.write(load.frame(0x8, struct.pack("!H", 1000)))
            assert await load.expect_close(reader) == 1000
            writer.close()

    run(main())


def test_slowloris_is_dropped_after_open_timeout(run) -> None:
    async def main() -> None:
        async with serve(Echo, HOST, 0, open_timeout=0.5) as server:
            reader, writer = await asyncio.open_connection(HOST, server.port)
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
            started = asyncio.get_running_loop().time()
            try:
                for _ in range(20):
                    await asyncio.sleep(0.1)
                    writer.write(b"X-Slow: 1\r\n")
                    if reader.at_eof():
                        break
                answer = await asyncio.wait_for(reader.read(), 5)
            except ConnectionError:  # the server aborts: an RST
                answer = b""
            assert answer == b""  # dropped without an answer
            assert asyncio.get_running_loop().time() - started < 2.5
            writer.close()
            await round_trip(server.port)
            for _ in range(100):
                if not server.connections:
                    break
                await asyncio.sleep(0.02)
            assert not server.connections

    run(main())


def test_hostile_mix_good_client_round_trip_and_memory() -> None:
    """The issue's report, shortened: before the fixes the good client's median round trip went
    from ~50 us to seconds and new clients could not connect (a ping flood of 256 KiB reads
    took ~40 ms each, endless empty fragments and deflate bombs were read 8 MiB at a time)."""
    counts = {
        "slowloris": 200, "malformed": 2, "oversized": 1, "huge-frame": 1,
        "ping-flood": 10, "fragment-flood": 2, "inflate-bomb": 1,
    }  # fmt: skip
    result = load.hostile(8.0, counts, max_size=1 << 20, cpu=0, attacker_cpu=1, probe_seconds=2.0)
    unloaded, loaded = result["unloaded"], result["loaded"]
    print(result)
    assert not loaded["errors"] and loaded["rtts"] > 100 and loaded["handshakes"] >= 10
    # Twice the unloaded median, or 5 ms on a busy test machine: before the fixes it was seconds.
    assert loaded["rtt_p50_us"] <= max(2 * unloaded["rtt_p50_us"], 5000), result
    assert loaded["handshake_p50_ms"] < 100, result
    outcomes = result["outcomes"]
    for expected in ("malformed: 400", "oversized: 431", "huge-frame: 1009", "slowloris: dropped"):
        assert outcomes.get(expected), result
    # Memory: a handshake's worth per slowloris socket, the bound for each WebSocket attacker.
    websockets = counts["ping-flood"] + counts["fragment-flood"] + counts["inflate-bomb"] + counts["huge-frame"]
    handshaking = counts["slowloris"] + counts["malformed"] + counts["oversized"]
    bound = handshaking * 32 + websockets * load.memory_bound_kib(1 << 20, queue=False)
    assert result["rss_peak_kib"] - result["rss_before_kib"] <= bound, result
    assert result["after"]["connections"] == 0 and result["after"]["tasks"] == 1, result


def test_reported_attack_on_one_core() -> None:
    """As reported against ``fastws serve --echo``: 500 slowloris sockets, 20 connections flooding
    pings without reading and a stream of malformed handshakes, all on the server's core. Before
    the fixes new clients could not connect at all."""
    counts = {"slowloris": 500, "ping-flood": 20, "malformed": 4}
    result = load.hostile(8.0, counts, max_size=1 << 20, cpu=0, attacker_cpu=0, probe_seconds=2.0)
    unloaded, loaded = result["unloaded"], result["loaded"]
    print(result)
    assert not loaded["errors"] and loaded["handshakes"] >= 10, result
    assert loaded["rtt_p50_us"] <= max(2 * unloaded["rtt_p50_us"], 5000), result
    assert result["outcomes"].get("malformed: 400") and result["outcomes"].get("slowloris: dropped"), result
    assert result["rss_peak_kib"] - result["rss_before_kib"] <= 520 * 32 + 20 * load.memory_bound_kib(1 << 20, queue=False)
