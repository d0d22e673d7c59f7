"""RedisHub on a three-node Redis Cluster started on loopback: sharded Pub/Sub, streams by topic."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.crc import key_slot
from scale_support import RedisCluster
from test_redis_faults import collect_until, publish_steadily, stream
from test_redis_hub import Node, receive, run, wait_joined

import fastws

pytestmark = pytest.mark.timeout(120)


def owner(cluster: RedisCluster, key: str) -> int:
    """The index of the node serving ``key``'s slot (from CLUSTER SHARDS as the nodes see it)."""
    slot = key_slot(key.encode())
    for index, node in enumerate(cluster.nodes):
        for line in node.cli("CLUSTER", "NODES").splitlines():
            fields = line.split()
            if "myself" not in fields[2]:
                continue
            for span in fields[8:]:
                low, _, high = span.partition("-")
                if int(low) <= slot <= int(high or low):
                    return index
    raise AssertionError(f"no node serves slot {slot}")


def topics_on_every_node(cluster: RedisCluster, prefix: str) -> list[str]:
    """One topic name per node (their streams and shard channels live there)."""
    chosen: dict[int, str] = {}
    i = 0
    while len(chosen) < len(cluster.nodes):
        name = f"{prefix}{i}"
        chosen.setdefault(owner(cluster, f"fastws:{{{name}}}"), name)
        i += 1
    return [chosen[n] for n in sorted(chosen)]


def test_sharded_pubsub_and_streams_on_every_node(redis_cluster: RedisCluster) -> None:
    rooms = topics_on_every_node(redis_cluster, "room")

    async def scenario() -> None:
        async with Node(redis_cluster.url, cluster=True) as a, Node(redis_cluster.url, cluster=True) as b:
            before = {room: [await a.hub.publish(room, f"{room} old {i}") for i in range(3)] for room in rooms}
            clients = {}
            for room in rooms:
                clients[room] = [
                    await fastws.connect(a.uri(room)),
                    await fastws.connect(b.uri(room, last=before[room][0])),  # resumes: 2 old ones
                ]
                await wait_joined(a, room, 1)
                await wait_joined(b, room, 1)
            for room in rooms:
                assert await receive(clients[room][1], 2) == [(before[room][i], f"{room} old {i}") for i in (1, 2)]
            for index, room in enumerate(rooms):
                node = redis_cluster.nodes[index]
                # the live channel is a shard channel on the node that holds the stream, nowhere else
                assert node.cli("PUBSUB", "SHARDCHANNELS").split() == [f"fastws:{{{room}}}"]
                assert node.cli("PUBSUB", "CHANNELS").split() == []
                assert node.cli("EXISTS", f"fastws:{{{room}}}").strip() == "1"
                sid = await (a, b)[index % 2].hub.publish(room, f"{room} live")
                for ws in clients[room]:
                    assert await receive(ws, 1) == [(sid, f"{room} live")]
            for pair in clients.values():
                for ws in pair:
                    await ws.close()
            assert len(b.hub._subscribers) == 3  # one sharded Pub/Sub connection per node

    run(scenario(), 60)


def test_cluster_node_restarted_publishes_fail_then_recover(redis_cluster: RedisCluster) -> None:
    rooms = topics_on_every_node(redis_cluster, "restart")
    victim = redis_cluster.nodes[1]

    async def scenario() -> dict[str, int]:
        async with Node(redis_cluster.url, cluster=True, timeout=0.5) as a, Node(
            redis_cluster.url, cluster=True, timeout=0.5
        ) as b:
            clients = {room: await fastws.connect(b.uri(room)) for room in rooms}
            for room in rooms:
                await wait_joined(b, room, 1)
            stop = asyncio.Event()
            ok: dict[str, list[str]] = {room: [] for room in rooms}
            errors: dict[str, list[str]] = {room: [] for room in rooms}
            tasks = [asyncio.create_task(publish_steadily(a, r, stop, ok[r], errors[r])) for r in rooms]
            await asyncio.sleep(0.3)
            victim.stop()
            await asyncio.sleep(1.0)
            await asyncio.get_running_loop().run_in_executor(None, victim.start)
            count = len(ok[rooms[1]])
            deadline = time.monotonic() + 20
            while len(ok[rooms[1]]) < count + 20 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.gather(*tasks)
            assert errors[rooms[1]], "publishes to the stopped node's topic must raise"
            assert not errors[rooms[0]] and not errors[rooms[2]], "the other shards keep working"
            stored = {room: [sid for sid, _ in await stream(a, room)] for room in rooms}
            for room, ws in clients.items():
                assert set(ok[room]) <= set(stored[room])
                assert len(stored[room]) - len(ok[room]) <= len(errors[room])  # stored though it raised
                assert await collect_until(ws, stored[room][-1], 30) == stored[room]
                await ws.close()
            assert b.hub.stats.delivered == sum(map(len, stored.values()))
            return {
                "acknowledged": sum(map(len, ok.values())),
                "errors": sum(map(len, errors.values())),
                "stored despite an error": sum(map(len, stored.values())) - sum(map(len, ok.values())),
                "delivered": b.hub.stats.delivered,
                "recovered": b.hub.stats.recovered,
            }

    counts = run(scenario(), 90)
    print("cluster node restart:", counts)
