"""Faults with a real redis-server: killed and restarted, Pub/Sub connections cut, unreachable.

Every message whose publish() returned an id reaches every subscriber once, in order;
a publish that could not be stored raised BackendError. The counts are printed (-s).
"""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import pytest
from scale_support import RedisServer
from test_redis_hub import Node, receive, run, wait_joined

import fastws
from fastws.backends.redis import BackendError

pytestmark = pytest.mark.timeout(90)


async def publish_steadily(node: Node, topic: str, stop: asyncio.Event, ok: list[str], errors: list[str]) -> None:
    i = 0
    while not stop.is_set():
        try:
            ok.append(await node.hub.publish(topic, f"p{i}"))
        except BackendError as exc:
            errors.append(str(exc))
        i += 1
        await asyncio.sleep(0.005)


async def stream(node: Node, topic: str) -> list[tuple[str, str]]:
    """What Redis holds for ``topic``: (id, message) oldest first."""
    return [(m.id, str(m.message)) for m in await node.hub.history(topic)]


async def collect_until(ws: Any, last_id: str, timeout: float = 20) -> list[str]:
    got: list[str] = []
    while not got or got[-1] != last_id:
        got.append((await receive(ws, 1, timeout))[0][0])
    return got


def test_redis_killed_and_restarted(redis: RedisServer) -> None:
    async def scenario() -> dict[str, int]:
        async with Node(redis.url, timeout=0.5) as a, Node(redis.url, timeout=0.5) as b:
            clients = [await fastws.connect(n.uri("live")) for n in (a, b, b)]
            await wait_joined(a, "live", 1)
            await wait_joined(b, "live", 2)
            stop, ok, errors = asyncio.Event(), [], []
            task = asyncio.create_task(publish_steadily(a, "live", stop, ok, errors))
            await asyncio.sleep(0.3)
            redis.stop()  # SIGKILL; the append-only file (fsync always) keeps what was acknowledged
            down_at = len(ok)
            await asyncio.sleep(1.0)
            await asyncio.get_running_loop().run_in_executor(None, redis.start)
            deadline = time.monotonic() + 10
            while len(ok) < down_at + 20 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            stop.set()
            await task
            assert errors, "publishes while Redis was down must raise"
            assert all("Redis unreachable" in e for e in errors), errors[:3]
            assert len(ok) >= down_at + 20, "publishing resumed after the restart"
            stored = [sid for sid, _ in await stream(a, "live")]
            # A publish that raised may still have been stored (Redis ran it, the reply was lost):
            # those are delivered too, never more of them than errors, and never twice.
            assert set(ok) <= set(stored) and len(stored) - len(ok) <= len(errors)
            for ws in clients:
                got = await collect_until(ws, stored[-1])
                assert got == stored  # every stored message, in order, none twice
                await ws.close()
            assert b.hub.stats.reconnects >= 1 and a.hub.stats.reconnects >= 1
            assert b.hub.stats.delivered == len(stored)
            return {
                "acknowledged": len(ok),
                "publish errors": len(errors),
                "stored despite an error": len(stored) - len(ok),
                "delivered on b": b.hub.stats.delivered,
                "recovered on b": b.hub.stats.recovered,
                "duplicates dropped on b": b.hub.stats.duplicates,
            }

    counts = run(scenario(), 60)
    print("redis restart:", counts)


def test_pubsub_connections_cut_gap_filled_from_the_stream(redis: RedisServer) -> None:
    async def scenario() -> dict[str, int]:
        async with Node(redis.url, reconnect_delay=0.3, max_reconnect_delay=0.6) as a, Node(
            redis.url, reconnect_delay=0.3, max_reconnect_delay=0.6
        ) as b:
            ws = await fastws.connect(b.uri("gap"))
            await wait_joined(b, "gap", 1)
            stop, ok, errors = asyncio.Event(), [], []
            task = asyncio.create_task(publish_steadily(a, "gap", stop, ok, errors))
            await asyncio.sleep(0.2)
            for _ in range(3):
                killed = redis.cli("CLIENT", "KILL", "TYPE", "pubsub").strip()
                assert killed == "1"  # b's subscriber connection (a has no local subscriber)
                await asyncio.sleep(0.5)
            stop.set()
            await task
            assert not errors
            assert await collect_until(ws, ok[-1]) == ok
            await ws.close()
            assert b.hub.stats.reconnects == 3
            assert b.hub.stats.recovered > 0, "messages published during the cuts came from the stream"
            return {"published": len(ok), "delivered": b.hub.stats.delivered, "recovered": b.hub.stats.recovered}

    counts = run(scenario(), 60)
    print("pubsub cut x3:", counts)


def test_unreachable_redis_refuses_joins_with_1013_and_publishes_with_backend_error(redis: RedisServer) -> None:
    async def scenario() -> None:
        async with Node(redis.url, timeout=0.5) as a:
            redis.stop()
            ws = await fastws.connect(a.uri("down"))
            with pytest.raises(fastws.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert (ws.close_code, ws.close_reason) == (1013, "Redis unavailable, try again later")
            assert not a.hub._states  # the failed join left no channel behind
            started = time.monotonic()
            with pytest.raises(BackendError, match="publish to 'down' failed, Redis unreachable"):
                await a.hub.publish("down", "lost?")
            assert time.monotonic() - started < 2.5  # bounded by the hub's timeout, never hangs
            await asyncio.get_running_loop().run_in_executor(None, redis.start)
            async with fastws.connect(a.uri("down")) as ws:  # recovered without a restart of the hub
                await wait_joined(a, "down", 1)  # the join cut the subscriber's backoff short
                await ws.send("back")
                assert (await receive(ws, 1))[0][1] == "back"
            assert not a.hub._states  # and, its last client gone, the hub keeps no channel
            assert redis.cli("XLEN", "fastws:down").strip() == "1"  # the failed publish was not stored

    run(scenario(), 60)


def test_stalled_redis_publishes_time_out_then_everything_stored_arrives(redis: RedisServer) -> None:
    """SIGSTOP: Redis keeps its connections but answers nothing (a hung host, no reset)."""

    async def scenario() -> dict[str, int]:
        async with Node(redis.url, timeout=0.4) as a, Node(redis.url, timeout=0.4) as b:
            ws = await fastws.connect(b.uri("stall"))
            await wait_joined(b, "stall", 1)
            stop, ok, errors = asyncio.Event(), [], []
            task = asyncio.create_task(publish_steadily(a, "stall", stop, ok, errors))
            await asyncio.sleep(0.2)
            assert redis.proc is not None
            redis.proc.send_signal(signal.SIGSTOP)
            try:
                await asyncio.sleep(1.5)
                stalled = len(errors)
            finally:
                redis.proc.send_signal(signal.SIGCONT)
            count = len(ok)
            while len(ok) < count + 20:
                await asyncio.sleep(0.05)
            stop.set()
            await task
            assert stalled >= 1, "a publish to a stalled Redis must fail within the hub's timeout"
            assert all("Redis unreachable" in e for e in errors), errors[:3]
            stored = [sid for sid, _ in await stream(a, "stall")]
            assert set(ok) <= set(stored) and len(stored) - len(ok) <= len(errors)
            assert await collect_until(ws, stored[-1]) == stored
            await ws.close()
            return {"acknowledged": len(ok), "timed out": len(errors), "stored despite a timeout": len(stored) - len(ok)}

    counts = run(scenario(), 60)
    print("redis stalled 1.5 s:", counts)
