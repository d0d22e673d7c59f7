"""fastws.Topics on a real server: subscriptions, publish through broadcast, the hooks a relay
(Redis) uses, and automatic unsubscription on close with no leak over thousands of
subscribe/close cycles. Both loops (and both builds: test_broadcast_pure_build.py)."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from typing import Any

import pytest
from broadcast_support import (
    HOST,
    collectors,
    got,
    hub_class,
    one_connection,
    raw_subscriber,
    server_side,
    wait_for,
)

import fastws
from fastws import BroadcastResult, Topics

pytestmark = pytest.mark.timeout(60)


def test_subscribe_publish_unsubscribe(run: Any) -> None:
    events: list[tuple[str, str]] = []
    topics = Topics(
        on_topic_added=lambda t: events.append(("added", t)),
        on_topic_removed=lambda t: events.append(("removed", t)),
    )

    async def main() -> None:
        hub = hub_class()
        async with fastws.serve(hub, HOST, 0, ping_interval=None) as server:
            clients = await collectors(server.port, 3, batch=1)
            await wait_for(lambda: len(hub.open) == 3, 5, "3 connections")
            a, b, c = (next(ws for ws in hub.open if ws.remote_address[1] == cl.transport.get_extra_info("sockname")[1]) for cl in clients)  # fmt: skip
            assert topics.subscribe(a, "news") and topics.subscribe(b, "news") and topics.subscribe(a, "chat")
            assert not topics.subscribe(a, "news")  # already
            assert topics.subscribe(c, "chat")
            assert events == [("added", "news"), ("added", "chat")]
            assert topics.subscribers("news") == {a, b} and topics.subscribers("chat") == {a, c}
            assert topics.topics_of(a) == {"news", "chat"} and topics.topics_of(c) == {"chat"}
            assert topics.subscribers("none") == frozenset() and topics.topics == {"news", "chat"}
            assert len(topics) == 2 and "news" in topics and "none" not in topics
            assert topics.is_subscribed(b, "news") and not topics.is_subscribed(b, "chat")

            assert topics.publish("news", "n1") == BroadcastResult(2, 0, 0, 0, 0, 0, 1)
            assert topics.publish("chat", b"c1", exclude=a).sent == 1
            assert topics.publish("chat", "c2" * 100, exclude=b).compressed == 2  # b is not subscribed
            assert topics.publish("nobody", "x") == BroadcastResult(0, 0, 0, 0, 0, 0, 0)
            assert topics.unsubscribe(a, "news") and not topics.unsubscribe(a, "news")
            assert not topics.unsubscribe(b, "chat")
            assert topics.publish("news", "n2").sent == 1
            assert topics.unsubscribe_all(a) == 1 and topics.unsubscribe_all(a) == 0
            assert events[2:] == [] and topics.subscribers("chat") == {c}
            assert topics.unsubscribe(b, "news") and events[2:] == [("removed", "news")]
            await wait_for(lambda: sum(len(got(cl)) for cl in clients) == 6, 5, "the messages")
            assert [got(cl) for cl in clients] == [["n1", "c2" * 100], ["n1", "n2"], [b"c1", "c2" * 100]]
            await asyncio.gather(*(cl.close() for cl in clients))
            await wait_for(lambda: len(topics) == 0, 5, "the hub to empty")
            assert events[3:] == [("removed", "chat")]

    run(main())


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="slow must be 'skip' or 'close'"):
        Topics(slow="drop")
    with pytest.raises(ValueError, match="max_buffered"):
        Topics(max_buffered=-5)
    with pytest.raises(ValueError, match="1006"):
        Topics(slow="close", close_code=1006)
    topics = Topics()
    with pytest.raises(TypeError, match="a topic is a str, not bytes"):
        topics.publish(b"news", "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a topic is a str, not int"):
        topics.subscribe(object(), 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not valid UTF-8"):
        topics.publish("nobody", b"\xff", text=True)  # checked even without subscribers
    with pytest.raises(TypeError, match="not dict"):
        topics.publish("nobody", {})  # type: ignore[arg-type]


def test_thousands_of_subscribe_close_cycles_leave_nothing(run: Any, loop_name: str) -> None:
    """2,000 connections subscribe to three topics each and go away (a close handshake, an
    abort, or a raw socket closed); the hub ends empty and holds no connection alive."""
    cycles = 2000 if loop_name == "uvloop" else 600  # the asyncio loop's handshakes cost more
    added: list[str] = []
    removed: list[str] = []
    topics = Topics(on_topic_added=added.append, on_topic_removed=removed.append)
    refs: list[weakref.ref[Any]] = []

    class Subscriber(fastws.Listener):
        def on_open(self, ws: fastws.WebSocket) -> None:
            n = len(refs)
            for topic in ("all", f"batch-{n // 100}", f"conn-{n}"):
                assert topics.subscribe(ws, topic)
            refs.append(weakref.ref(ws))

    async def main() -> None:
        async with fastws.serve(Subscriber, HOST, 0, ping_interval=None, close_timeout=1) as server:
            for start in range(0, cycles, 200):
                clients = await collectors(server.port, 150, batch=150)
                raws = [await raw_subscriber(server.port) for _ in range(50)]
                await wait_for(lambda: len(refs) == start + 200, 10, "the batch's subscriptions")
                assert len(topics.subscribers("all")) == 200
                assert topics.publish("all", f"batch {start}").sent == 200
                await wait_for(lambda: all(len(got(c)) == 1 for c in clients), 5, "the batch's message")
                for i, client in enumerate(clients):
                    if i % 2:
                        client.abort()
                await asyncio.gather(*(c.close() for i, c in enumerate(clients) if not i % 2))
                for sock in raws:
                    sock.close()
                await wait_for(lambda: len(topics) == 0, 10, "every subscriber of the batch to be gone")
        assert topics.topics == frozenset() and topics._topics == {} and topics._subscribers == {}
        assert sorted(added) == sorted(removed) and len(added) == cycles + cycles // 100 + cycles // 200

    run(main(), timeout=50)
    gc.collect()
    alive = [r() for r in refs if r() is not None]
    assert alive == [], f"{len(alive)} closed connections still referenced"


def test_subscribing_a_closed_connection_does_nothing(run: Any) -> None:
    topics = Topics()

    async def main() -> None:
        async with one_connection() as (ws, client):
            await client.close()
            await ws.wait_closed()
            assert not topics.subscribe(ws, "late")
            assert topics.subscribers("late") == frozenset() and topics.topics_of(ws) == frozenset()
            assert ws._close_callbacks is None

    run(main())


def test_a_failing_hook_on_close_is_logged_and_the_hub_stays_consistent(
    run: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(topic: str) -> None:
        raise RuntimeError(f"relay down for {topic}")

    topics = Topics(on_topic_removed=fail)

    async def main() -> None:
        hub = hub_class()
        async with fastws.serve(hub, HOST, 0, ping_interval=None) as server:
            clients = await collectors(server.port, 2)
            await wait_for(lambda: len(hub.open) == 2, 5, "2 connections")
            x, y = hub.open
            topics.subscribe(x, "t")
            topics.subscribe(y, "t")
            topics.subscribe(x, "only-x")
            with caplog.at_level(logging.ERROR, logger="fastws"):
                x.abort()
                await x.wait_closed()
                await asyncio.sleep(0)
            assert "on_topic_removed('only-x') failed" in caplog.text and "relay down for only-x" in caplog.text
            assert topics.subscribers("t") == {y} and topics.topics_of(x) == frozenset()
            assert "only-x" not in topics  # removed before the hook raised
            assert topics.publish("t", "still works").sent == 1
            await wait_for(lambda: ["still works"] in (got(clients[0]), got(clients[1])), 5, "y's message")
            with pytest.raises(RuntimeError, match="relay down for t"):
                topics.unsubscribe(y, "t")  # the caller sees the hook's error; the change stands
            assert len(topics) == 0 and topics.topics_of(y) == frozenset() and y._close_callbacks == []
            await asyncio.gather(*(c.close() for c in clients))

    run(main())


def test_publish_with_the_close_policy_drops_slow_subscribers(run: Any) -> None:
    topics = Topics(slow="close", close_code=1013, max_buffered=32 * 1024)

    async def main() -> None:
        hub = hub_class(sndbuf=16 * 1024)
        async with fastws.serve(hub, HOST, 0, compression=None, ping_interval=None, close_timeout=0.3) as server:
            sock = await raw_subscriber(server.port)
            [reader] = await collectors(server.port, 1)
            await wait_for(lambda: len(hub.open) == 2, 5, "2 connections")
            slow = server_side(hub, sock)
            for ws in list(hub.open):
                topics.subscribe(ws, "feed")
            closed = 0
            for i in range(40):
                closed += topics.publish("feed", bytes(16 * 1024)).closed
                await asyncio.sleep(0.001)
            assert closed == 1
            await wait_for(lambda: slow.closed and topics.subscribers("feed") == {next(iter(hub.open))}, 5, "the drop")
            await wait_for(lambda: len(got(reader)) == 40, 5, "the reader's messages")
            sock.close()
            await reader.close()

    run(main())


def test_close_callbacks(run: Any) -> None:
    """The hook Topics relies on: called once CLOSED, in order; at once on a closed connection."""
    calls: list[tuple[str, Any]] = []

    async def main() -> None:
        async with one_connection() as (ws, client):

            def first(w: Any) -> None:
                calls.append(("first", w.state))

            def second(w: Any) -> None:
                calls.append(("second", w.state))

            def removed(w: Any) -> None:
                calls.append(("removed", w.state))

            ws.add_close_callback(first)
            ws.add_close_callback(removed)
            ws.add_close_callback(second)
            assert ws.remove_close_callback(removed) and not ws.remove_close_callback(removed)
            await client.close()
            await ws.wait_closed()
            assert calls == [("first", fastws.State.CLOSED), ("second", fastws.State.CLOSED)]
            ws.add_close_callback(first)  # already closed: called at once
            assert calls[-1] == ("first", fastws.State.CLOSED) and len(calls) == 3

    run(main())


def test_server_shutdown_empties_the_hub_while_a_publisher_runs(run: Any) -> None:
    """server.close() (1001 to everyone) while a task publishes: the publisher never raises,
    its counts shrink to nothing, and every subscription is gone; cancelling it is clean."""
    topics = Topics()
    counts: list[BroadcastResult] = []

    class Subscriber(fastws.Listener):
        def on_open(self, ws: fastws.WebSocket) -> None:
            topics.subscribe(ws, "ticker")

    async def publisher() -> None:
        i = 0
        while True:
            counts.append(topics.publish("ticker", f"tick {i} " * 30))
            i += 1
            await asyncio.sleep(0.001)

    async def main() -> None:
        server = await fastws.serve(Subscriber, HOST, 0, ping_interval=None, close_timeout=1)
        clients = await collectors(server.port, 50)
        await wait_for(lambda: len(topics.subscribers("ticker")) == 50, 5, "50 subscribers")
        task = asyncio.ensure_future(publisher())
        await wait_for(lambda: len(counts) >= 20, 5, "some ticks")
        server.close()
        await server.wait_closed()
        assert len(topics) == 0 and topics._topics == {}
        await wait_for(lambda: counts[-1] == BroadcastResult(0, 0, 0, 0, 0, 0, 0), 5, "publishes to nobody")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert all(r.sent + r.not_open == 50 for r in counts if r.sent + r.not_open) and counts[0].sent == 50
        assert all(c.close_code == 1001 for c in clients)
        n = len(got(clients[0]))
        assert n >= 20 and got(clients[0]) == [f"tick {i} " * 30 for i in range(n)]

    run(main())
