"""RedisHub on a real redis-server: fan-out between hubs, resume by id, retention, bad input.

Each hub stands for one worker process (its own Topics, its own Redis connections,
its own fastws server on a free port); test_redis_workers.py runs them as real
worker processes.
"""

from __future__ import annotations

import asyncio
from typing import Any, Optional

import pytest
from redis_apps import encode, make_handler
from scale_support import RedisServer, free_port

import fastws
from fastws.backends.redis import BackendError, RedisHub, parse_id

pytestmark = pytest.mark.timeout(60)


def run(coro: Any, timeout: float = 40) -> Any:
    return fastws.run(asyncio.wait_for(coro, timeout))


class Node:
    """One 'worker': a Topics hub, a RedisHub and a fastws server relaying topics."""

    def __init__(self, url: str, cluster: bool = False, **hub_options: Any) -> None:
        self.hub = RedisHub(fastws.Topics(slow="close"), url, cluster=cluster, encode=encode, **hub_options)

    async def __aenter__(self) -> "Node":
        await self.hub.start()
        self.server = await fastws.serve(make_handler(self.hub), "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.server.close()
        await self.server.wait_closed()
        await self.hub.close()

    def uri(self, topic: str, last: Optional[str] = None) -> str:
        return f"ws://127.0.0.1:{self.server.port}/{topic}" + (f"?last={last}" if last else "")


async def receive(ws: Any, count: int, timeout: float = 10) -> list[tuple[str, str]]:
    got = []
    for _ in range(count):
        sid, _, text = (await asyncio.wait_for(ws.recv(), timeout)).partition(" ")
        got.append((sid, text))
    return got


async def wait_joined(node: Node, topic: str, count: int) -> None:
    while len(node.hub.topics.subscribers(topic)) < count:
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_publish_on_one_hub_reaches_subscribers_on_every_hub(redis: RedisServer, loop: str) -> None:
    async def scenario() -> None:
        async with Node(redis.url) as a, Node(redis.url) as b:
            clients = [await fastws.connect(n.uri("room")) for n in (a, a, b, b)]
            await wait_joined(a, "room", 2)
            await wait_joined(b, "room", 2)
            await clients[0].send("from a")
            await clients[3].send("from b")
            for ws in clients:
                got = await receive(ws, 2)
                assert sorted(text for _, text in got) == ["from a", "from b"]
                assert parse_id(got[0][0]) < parse_id(got[1][0])  # stream order
            # one hub's topics are not another's: a topic nobody on b joined costs b nothing
            other = await fastws.connect(a.uri("other"))
            await wait_joined(a, "other", 1)
            await a.hub.publish("other", b"\x00binary")
            assert await other.recv() is not None
            assert "other" not in b.hub._states
            sid = await b.hub.publish("room", "direct")
            for ws in clients:
                assert await receive(ws, 1) == [(sid, "direct")]
            for ws in [*clients, other]:
                await ws.close()
            assert a.hub.stats.delivered == 4 and b.hub.stats.delivered == 3
            # the last local subscriber gone, each hub leaves the channel in Redis
            deadline = asyncio.get_running_loop().time() + 5
            while redis.cli("PUBSUB", "NUMSUB", "fastws:room", "fastws:other").split()[1::2] != ["0", "0"]:
                assert asyncio.get_running_loop().time() < deadline, "channels still subscribed"
                await asyncio.sleep(0.05)
            assert not a.hub._states and not b.hub._states

    fastws.run(asyncio.wait_for(scenario(), 40), loop=loop)


def test_resume_sends_what_was_missed_in_order_then_live(redis: RedisServer) -> None:
    async def scenario() -> None:
        async with Node(redis.url) as a, Node(redis.url) as b:
            ids = [await a.hub.publish("chat", f"m{i}") for i in range(20)]
            ws = await fastws.connect(b.uri("chat", last=ids[9]))
            assert await receive(ws, 10) == [(ids[i], f"m{i}") for i in range(10, 20)]
            await wait_joined(b, "chat", 1)
            live = await a.hub.publish("chat", "live")
            assert await receive(ws, 1) == [(live, "live")]
            everything = await fastws.connect(a.uri("chat", last="0"))
            assert [s for s, _ in await receive(everything, 21)] == [*ids, live]
            await ws.close()
            await everything.close()

    run(scenario())


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_resume_races_a_busy_publisher_without_loss_or_duplicates(redis: RedisServer, loop: str) -> None:
    """Clients join with old ids while messages keep coming: each sees exactly the stream after its id."""

    async def scenario() -> None:
        async with Node(redis.url) as a, Node(redis.url) as b:
            first = await a.hub.publish("busy", "seed")
            stop = asyncio.Event()
            published: list[str] = [first]

            async def publisher() -> None:
                i = 0
                while not stop.is_set():
                    published.append(await a.hub.publish("busy", f"p{i}"))
                    i += 1

            task = asyncio.create_task(publisher())
            clients = []
            for i in range(12):
                await asyncio.sleep(0.01)
                last = published[max(0, len(published) - 1 - i * 3)]
                clients.append((last, await fastws.connect((a, b)[i % 2].uri("busy", last=last))))
            await asyncio.sleep(0.2)
            stop.set()
            await task
            end = await a.hub.publish("busy", "end")
            published.append(end)
            for last, ws in clients:
                expected = published[published.index(last) + 1 :]
                got = []
                while not got or got[-1] != end:
                    got.append((await receive(ws, 1))[0][0])
                assert got == expected, f"resumed after {last}"
                await ws.close()
            assert len(published) > 20

    fastws.run(asyncio.wait_for(scenario(), 40), loop=loop)


def test_retention_is_maxlen_and_a_trimmed_resume_says_so(redis: RedisServer) -> None:
    async def scenario() -> None:
        topics = fastws.Topics()
        async with RedisHub(topics, redis.url, maxlen=5) as hub:
            ids = [await hub.publish("t", f"m{i}") for i in range(12)]
            assert [m.id for m in await hub.history("t")] == ids[-5:]
            assert redis.cli("XLEN", "fastws:t").strip() == "5"

            async with fastws.serve(_collector, "127.0.0.1", 0) as server:
                async with fastws.connect(f"ws://127.0.0.1:{server.port}/") as ws:
                    conn = next(iter(server.connections))
                    result = await hub.join(conn, "t", ids[2])  # ids[3..6] were trimmed
                    assert result == (5, False)
                    assert [await ws.recv() for _ in range(5)] == [f"m{i}" for i in range(7, 12)]
                    result = await hub.join(conn, "t2", "0")
                    assert result == (0, True)
                    assert (await hub.join(conn, "t", ids[8])) == (3, True)

    run(scenario())


async def _collector(ws: fastws.WebSocket) -> None:
    await ws.wait_closed()


def test_bad_input_gets_precise_errors(redis: RedisServer) -> None:
    async def scenario() -> None:
        removed: list[str] = []
        topics = fastws.Topics(on_topic_removed=removed.append)
        async with RedisHub(topics, redis.url) as hub:  # an existing hook is kept, called after the hub's
            async with fastws.serve(_collector, "127.0.0.1", 0) as server:
                async with fastws.connect(f"ws://127.0.0.1:{server.port}/"):
                    await hub.join(next(iter(server.connections)), "hooked")
            assert removed == ["hooked"] and not hub._states
        with pytest.raises(ValueError, match="maxlen must be a positive int"):
            RedisHub(fastws.Topics(), redis.url, maxlen=0)
        async with RedisHub(fastws.Topics(), redis.url) as hub:
            with pytest.raises(TypeError, match="message must be str or bytes, not int"):
                await hub.publish("t", 42)  # type: ignore[arg-type]
            async with Node(redis.url) as node:
                ws = await fastws.connect(node.uri("t", last="not-an-id"))
                with pytest.raises(fastws.ConnectionClosed):
                    await ws.recv()
                assert ws.close_code == 1011  # the handler's ValueError: not a stream id
        with pytest.raises(BackendError, match="the hub is closed"):
            await hub.publish("t", "late")
        with pytest.raises(BackendError, match=f"cannot reach Redis at redis://127.0.0.1:{port}"):
            await RedisHub(fastws.Topics(), f"redis://127.0.0.1:{port}/0", timeout=0.5).start()

    port = free_port()
    run(scenario())
    with pytest.raises(ValueError, match="not a stream id: '1-x'"):
        parse_id("1-x")


def test_an_encode_that_raises_costs_one_message_not_the_reader(redis: RedisServer, caplog: Any) -> None:
    def picky(message: Any) -> str:
        if message.message == "poison":
            raise ValueError("cannot encode this one")
        return encode(message)

    async def scenario() -> None:
        async with Node(redis.url) as a:
            a.hub.encode = picky
            ws = await fastws.connect(a.uri("p"))
            await wait_joined(a, "p", 1)
            await a.hub.publish("p", "poison")
            sid = await a.hub.publish("p", "fine")
            assert await receive(ws, 1) == [(sid, "fine")]
            await ws.close()

    run(scenario())
    assert "could not be delivered locally" in caplog.text and "cannot encode this one" in caplog.text


def test_many_concurrent_reads_wait_for_a_pooled_connection(redis: RedisServer) -> None:
    """More joins/history reads at once than the pool has connections (1,000 clients resuming
    together) wait for a connection instead of failing with redis-py's 'Too many connections'."""

    async def scenario() -> None:
        async with Node(redis.url, max_connections=8) as node:
            ids = [await node.hub.publish("crowd", f"m{i}") for i in range(5)]
            reads = await asyncio.gather(*(node.hub.history("crowd", "0") for _ in range(300)))
            assert all([entry.id for entry in read] == ids for read in reads)
            clients = await asyncio.gather(*(fastws.connect(node.uri("crowd", last="0")) for _ in range(50)))
            for ws in clients:
                assert [sid for sid, _ in await receive(ws, 5)] == ids
            await asyncio.gather(*(ws.close() for ws in clients))

    run(scenario())
