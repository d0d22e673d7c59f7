"""Topics across worker processes and hosts through Redis (redis-py's asyncio client, hiredis).

Each process runs one :class:`RedisHub` next to its :class:`fastws.Topics`::

    topics = fastws.Topics()
    hub = RedisHub(topics, "redis://127.0.0.1:6379/0")
    await hub.start()

    async def handler(ws):
        await hub.join(ws, "room:1", last_id=ws.request.query.get("last", [None])[0])
        async for message in ws:
            await hub.publish("room:1", message)

How it works: :meth:`RedisHub.publish` runs one Lua script that appends the
message to the topic's stream (``XADD`` with ``MAXLEN``: the retention) and
publishes ``id + message`` on the topic's channel, atomically, so the live
order is the stream's order. Every process whose connections subscribe to a
topic subscribes to its channel and hands what arrives to ``topics.publish``
(one encode-once broadcast to its local subscribers). On Redis Cluster
(``cluster=True``) the channel is a sharded one (``SSUBSCRIBE``/``SPUBLISH``,
Redis >= 7) on the node that owns the topic's stream: both are named
``{prefix}{topic}`` and hash to the same slot.

Delivery guarantees, per topic:

* ``publish`` returns the message's stream id once Redis has stored it, or
  raises :class:`BackendError`: never a silent loss. After an error the
  message may or may not be stored (the reply was lost): a publisher that
  retries can cause a duplicate with a new id.
* Each process delivers a topic's messages in stream-id order, each id at most
  once. If its Pub/Sub connection drops (Redis restarted, network cut), it
  reconnects with exponential backoff and jitter, resubscribes, and replays
  from the stream everything after the last id it delivered before taking
  live messages again (duplicates dropped by id): nothing is lost while the
  missed entries are within ``maxlen``. Entries trimmed before they could be
  replayed are reported (log warning, ``stats.gaps``), never silently skipped.
* :meth:`RedisHub.join` with ``last_id`` (the id of the last message a client
  saw, e.g. after a reconnect to another worker) sends that client every
  retained entry after it, then the live ones, in order, with nothing twice:
  the hub subscribes first, buffers live messages while the history is read,
  and drops ids already sent. ``JoinResult.complete`` is False when entries
  after ``last_id`` may have been trimmed.
* Between topics there is no ordering. A local subscriber that
  ``Topics``' slow-consumer policy skips misses that message; use
  ``Topics(slow="close")`` so a slow client is closed and resumes with its
  last id instead.
* Durability is Redis's: with ``appendonly yes`` / ``appendfsync always`` a
  stored message survives a Redis restart; without persistence a restart
  empties the streams (live delivery goes on; older history is gone).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Union

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import NoScriptError, RedisError

if TYPE_CHECKING:
    from ..protocol import WebSocket
    from ..topics import Topics

__all__ = ["BackendError", "JoinResult", "Message", "RedisHub", "HubStats"]

logger = logging.getLogger("fastws.backends.redis")

StreamId = tuple[int, int]

# KEYS[1]: the stream, also the channel's name. ARGV: maxlen, data, text flag ("1"/"0"), publish command.
_PUBLISH_LUA = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 'd', ARGV[2], 't', ARGV[3])
redis.call(ARGV[4], KEYS[1], id .. '\\n' .. ARGV[3] .. ARGV[2])
return id
"""


class BackendError(Exception):
    """Redis could not be reached (or refused) within the hub's timeout: the operation did not happen
    as far as this process knows."""


class Message(NamedTuple):
    """A message as Redis carries it: its topic, its stream id, its payload."""

    topic: str
    id: str
    data: bytes
    text: bool

    @property
    def message(self) -> Union[str, bytes]:
        """The payload as published: str for text, bytes for binary."""
        return self.data.decode("utf-8") if self.text else self.data


class JoinResult(NamedTuple):
    replayed: int
    """History entries sent before going live (those after ``last_id``)."""
    complete: bool
    """False when entries after ``last_id`` were trimmed before they could be sent."""


@dataclass
class HubStats:
    published: int = 0  # publish() calls that Redis stored
    publish_errors: int = 0  # publish() calls that raised BackendError
    delivered: int = 0  # messages handed to the local topics (live + recovered)
    recovered: int = 0  # of those, replayed from the stream after a resubscription
    duplicates: int = 0  # live messages dropped because their id was already delivered
    reconnects: int = 0  # Pub/Sub connections re-established after a failure
    gaps: int = 0  # resubscriptions that found entries trimmed before they were replayed
    replayed: int = 0  # history entries sent to joining connections


def parse_id(value: Union[str, bytes]) -> StreamId:
    """``"1700000000000-3"`` as (1700000000000, 3); ``"0"`` is (0, 0). ValueError otherwise."""
    text = value.decode() if isinstance(value, bytes) else value
    ms, _, seq = text.partition("-")
    try:
        parsed = (int(ms), int(seq or 0))
    except ValueError:
        raise ValueError(f"not a stream id: {text!r}") from None
    if parsed[0] < 0 or parsed[1] < 0:
        raise ValueError(f"not a stream id: {text!r}")
    return parsed


def _format_id(sid: StreamId) -> str:
    return f"{sid[0]}-{sid[1]}"


class _TopicState:
    __slots__ = ("last", "ready", "pending")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.last: Optional[StreamId] = None  # the last id delivered locally (None: not subscribed yet)
        self.ready: asyncio.Future[None] = loop.create_future()  # set once the subscription is live
        self.pending: list[list[Message]] = []  # buffers of joins replaying history


class RedisHub:
    """Relays :class:`fastws.Topics` messages between processes through Redis (see the module doc).

    ``topics``: this process's hub (the RedisHub hooks its ``on_topic_removed``,
    calling any previous hook too, to drop a channel when its last local subscriber leaves). ``url``: Redis
    (``redis://host:port/db``), or with ``cluster=True`` any node of a Redis
    Cluster. ``maxlen``: entries kept per topic stream (the resume window).
    ``encode(message)``: what local subscribers receive (default: the payload
    as published; a chat wraps it with its id so clients can resume).
    ``timeout``: seconds a publish or join waits for Redis before BackendError.
    ``reconnect_delay`` / ``max_reconnect_delay``: the Pub/Sub reconnection backoff.
    ``max_connections``: the command connections to Redis (per node on a cluster). On one
    Redis a command beyond them waits up to ``timeout`` for one; on a cluster, resuming joins
    queue for them and a publish beyond them raises BackendError. Either way many clients
    resuming at once queue, never fail.
    """

    def __init__(
        self,
        topics: Topics,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        cluster: bool = False,
        maxlen: int = 10_000,
        prefix: str = "fastws:",
        encode: Optional[Callable[[Message], Union[str, bytes]]] = None,
        timeout: float = 2.0,
        reconnect_delay: float = 0.05,
        max_reconnect_delay: float = 2.0,
        max_connections: int = 32,
    ) -> None:
        if not isinstance(maxlen, int) or maxlen < 1:
            raise ValueError(f"maxlen must be a positive int, not {maxlen!r}")
        if timeout <= 0 or reconnect_delay <= 0 or max_reconnect_delay < reconnect_delay:
            raise ValueError("timeout and reconnect delays must be positive, max_reconnect_delay >= reconnect_delay")
        if not isinstance(max_connections, int) or max_connections < 1:
            raise ValueError(f"max_connections must be a positive int, not {max_connections!r}")
        self.topics = topics
        self.url = url
        self.cluster = cluster
        self.maxlen = maxlen
        self.prefix = prefix
        self.encode = encode
        self.timeout = timeout
        self.reconnect_delay = reconnect_delay
        self.max_reconnect_delay = max_reconnect_delay
        self.max_connections = max_connections
        self._history_slots = asyncio.Semaphore(max(1, max_connections // 2))  # resumes leave room for publishes
        self.stats = HubStats()
        self._client: Any = None
        self._states: dict[str, _TopicState] = {}
        self._subscribers: dict[tuple[str, int], _Subscriber] = {}
        self._script_sha: Optional[str] = None
        self._publish_command = "SPUBLISH" if cluster else "PUBLISH"
        self._closed = False
        self._previous_on_topic_removed = topics.on_topic_removed  # still called, after ours
        topics.on_topic_removed = self._on_topic_removed

    def _client_options(self) -> dict[str, Any]:
        return {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            # No retries: a command resent after its connection broke may have run already (a publish
            # stored twice). A pooled connection that Redis closed is replaced when it is taken out.
            "retry": Retry(ExponentialBackoff(), 0),
        }

    async def start(self) -> RedisHub:
        """Connect the command client (the Pub/Sub connections open with the first join)."""
        if self._client is not None:
            raise RuntimeError("this RedisHub has already started")
        if self.cluster:
            self._client = aioredis.RedisCluster.from_url(
                self.url, max_connections=self.max_connections, **self._client_options()
            )
        else:
            # redis-py's default pool refuses a command past 100 connections ("Too many
            # connections"); the blocking pool makes it wait for one instead, up to ``timeout``.
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url, max_connections=self.max_connections, timeout=self.timeout, **self._client_options()
            )
            self._client = aioredis.Redis.from_pool(pool)
        try:
            await self._client.initialize() if self.cluster else await self._client.ping()
        except (RedisError, OSError) as exc:
            await self.close()
            raise BackendError(f"cannot reach Redis at {self.url}: {exc}") from exc
        return self

    async def close(self) -> None:
        """Stop the Pub/Sub readers and close every Redis connection."""
        self._closed = True
        for subscriber in list(self._subscribers.values()):
            await subscriber.stop()
        self._subscribers.clear()
        if self._client is not None:
            await self._client.aclose()
        for state in self._states.values():
            if not state.ready.done():
                state.ready.set_exception(BackendError("the hub is closed"))
                state.ready.exception()  # retrieved: nobody may be waiting
        self._states.clear()

    async def __aenter__(self) -> RedisHub:
        return await self.start()

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def key(self, topic: str) -> str:
        """The topic's stream key, also its channel: ``{prefix}{topic}`` placed by a hash tag on Cluster."""
        return f"{self.prefix}{{{topic}}}" if self.cluster else f"{self.prefix}{topic}"

    # --- publishing ------------------------------------------------------------------

    async def publish(self, topic: str, message: Union[str, bytes], *, text: Optional[bool] = None) -> str:
        """Store ``message`` in ``topic``'s stream and publish it to every process; returns its id.

        ``text``: send bytes as a text message (they must be UTF-8); default: str is text.
        Raises BackendError when Redis cannot be reached within ``timeout``.
        """
        if isinstance(message, str):
            data, is_text = message.encode("utf-8"), True if text is None else text
        elif isinstance(message, (bytes, bytearray, memoryview)):
            data, is_text = bytes(message), bool(text)
        else:
            raise TypeError(f"message must be str or bytes, not {type(message).__name__}")
        if self._client is None or self._closed:
            raise BackendError("the hub is not started" if not self._closed else "the hub is closed")
        key = self.key(topic)
        args = [str(self.maxlen), data, "1" if is_text else "0", self._publish_command]
        try:
            sid = await asyncio.wait_for(self._run_publish(key, args), self.timeout * 2)
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            self.stats.publish_errors += 1
            raise BackendError(f"publish to {topic!r} failed, Redis unreachable: {exc or type(exc).__name__}") from exc
        self.stats.published += 1
        return sid.decode() if isinstance(sid, bytes) else str(sid)

    async def _run_publish(self, key: str, args: list[Any]) -> Any:
        if self._script_sha is None:
            self._script_sha = await self._client.script_load(_PUBLISH_LUA)
        try:
            return await self._client.evalsha(self._script_sha, 1, key, *args)
        except NoScriptError:  # Redis restarted without its script cache
            return await self._client.eval(_PUBLISH_LUA, 1, key, *args)

    # --- history ---------------------------------------------------------------------

    async def history(self, topic: str, after: str = "0", *, count: Optional[int] = None) -> list[Message]:
        """The retained messages of ``topic`` with ids after ``after`` (oldest first)."""
        start = parse_id(after)
        entries: list[Message] = []
        key = self.key(topic)
        while count is None or len(entries) < count:
            page = 1000 if count is None else min(1000, count - len(entries))
            try:
                rows = await self._client.xrange(key, min="(" + _format_id(start), max="+", count=page)
            except (RedisError, OSError) as exc:
                raise BackendError(f"reading {topic!r}'s history failed: {exc}") from exc
            for sid, fields in rows:
                entries.append(Message(topic, sid.decode(), fields[b"d"], fields[b"t"] == b"1"))
            if len(rows) < page:
                break
            start = parse_id(rows[-1][0])
        return entries

    async def _trimmed_after(self, topic: str, after: StreamId) -> bool:
        """True when entries after ``after`` may have been trimmed: the stream has dropped entries
        (MAXLEN) and ``after`` is older than its oldest entry. (Redis does not keep the ids it
        trimmed, so a client whose last id was the very last one trimmed is told so too.)"""
        try:
            info = await self._client.xinfo_stream(self.key(topic))
        except RedisError as exc:
            if "no such key" in str(exc).lower():
                return False
            raise
        first = info.get("first-entry")
        if not first or int(info.get("entries-added", 0)) <= int(info.get("length", 0)):
            return False  # empty, or nothing was ever trimmed
        return parse_id(first[0]) > after

    async def _tail(self, topic: str) -> StreamId:
        rows = await self._client.xrevrange(self.key(topic), max="+", min="-", count=1)
        return parse_id(rows[0][0]) if rows else (0, 0)

    # --- joining -----------------------------------------------------------------------

    async def join(self, ws: WebSocket, topic: str, last_id: Optional[str] = None) -> JoinResult:
        """Subscribe ``ws`` to ``topic`` on every process's publishes.

        ``last_id``: the id of the last message this client saw: first send it
        every retained entry after that id (``"0"``: all retained), then the live
        ones, in order and without duplicates. None: live messages only.
        Raises BackendError when Redis is unreachable, ValueError for a bad id.
        """
        after = parse_id(last_id) if last_id is not None else None
        try:
            state = await self._ensure(topic)
        except BackendError:
            self._topic_removed(topic)  # unless someone else holds it: no channel kept for nobody
            raise
        if after is None:
            self.topics.subscribe(ws, topic)
            return JoinResult(0, True)
        buffer: list[Message] = []
        state.pending.append(buffer)
        sent = 0
        try:
            async with self._history_slots:
                entries = await self.history(topic, _format_id(after))
                complete = not await self._trimmed_after(topic, after) if after != (0, 0) else True
            last = after
            for entry in entries:
                sent += await self._send(ws, entry)
                last = parse_id(entry.id)
            # Live messages that came during the reads: only ids after the last one sent; the
            # subscription below follows the last of them with no await in between (no gap).
            while buffer:
                entry = buffer.pop(0)
                sid = parse_id(entry.id)
                if sid > last:
                    last = sid
                    self._send_now(ws, entry)
                    sent += 1
        except (RedisError, OSError) as exc:
            raise BackendError(f"join {topic!r}: {exc}") from exc
        finally:
            state.pending.remove(buffer)
        self.stats.replayed += sent
        if ws.open:
            self.topics.subscribe(ws, topic)
        elif not self.topics.subscribers(topic):
            self._topic_removed(topic)
        return JoinResult(sent, complete)

    async def _send(self, ws: WebSocket, entry: Message) -> int:
        if not ws.open:
            return 0
        waiter = self._send_now(ws, entry)
        if waiter is not None:
            await waiter  # flow control: the history of a big topic waits for the client to read
        return 1

    def _send_now(self, ws: WebSocket, entry: Message) -> Any:
        if not ws.open:
            return None
        payload = self.encode(entry) if self.encode is not None else entry.message
        return ws.send(payload, True, entry.text if isinstance(payload, bytes) else False)

    async def _ensure(self, topic: str) -> _TopicState:
        """The topic's state once this process's subscription to its channel is live."""
        if self._client is None or self._closed:
            raise BackendError("the hub is not started" if not self._closed else "the hub is closed")
        state = self._states.get(topic)
        if state is None:
            state = self._states[topic] = _TopicState(asyncio.get_running_loop())
            subscriber = await self._subscriber_for(topic)
            subscriber.add(topic)
        elif not state.ready.done():
            (await self._subscriber_for(topic)).retry_now()
        try:
            await asyncio.wait_for(asyncio.shield(state.ready), self.timeout * 2)
        except asyncio.TimeoutError:
            raise BackendError(f"subscribing to {topic!r} timed out: Redis unreachable") from None
        return state

    async def _subscriber_for(self, topic: str) -> _Subscriber:
        if self.cluster:
            node = self._client.get_node_from_key(self.key(topic))
            address = (node.host, int(node.port))
        else:
            address = ("", 0)
        subscriber = self._subscribers.get(address)
        if subscriber is None:
            subscriber = self._subscribers[address] = _Subscriber(self, address)
            subscriber.start()
        return subscriber

    def _on_topic_removed(self, topic: str) -> None:
        self._topic_removed(topic)
        if self._previous_on_topic_removed is not None:
            self._previous_on_topic_removed(topic)

    def _topic_removed(self, topic: str) -> None:
        """Topics' last local subscriber of ``topic`` left: stop receiving its channel."""
        state = self._states.get(topic)
        if state is None or state.pending or self.topics.subscribers(topic):
            return
        del self._states[topic]
        for subscriber in self._subscribers.values():
            subscriber.discard(topic)

    # --- what the Pub/Sub readers call -------------------------------------------------------

    def _new_pubsub_client(self, address: tuple[str, int]) -> Any:
        options = self._client_options()
        options["socket_timeout"] = None  # a Pub/Sub connection waits for messages; health checks find a dead one
        options["health_check_interval"] = max(1, int(self.timeout))
        if not self.cluster:
            return aioredis.Redis.from_url(self.url, **options)
        return aioredis.Redis(host=address[0], port=address[1], **options)

    async def _subscribed(self, topic: str) -> None:
        """The channel's subscription is live (again): catch up from the stream, then go live."""
        state = self._states.get(topic)
        if state is None:
            return
        if state.last is None:
            state.last = await self._tail(topic)
        else:
            if await self._trimmed_after(topic, state.last):
                self.stats.gaps += 1
                logger.warning("topic %r: entries after %s were trimmed before they could be replayed",
                               topic, _format_id(state.last))  # fmt: skip
            for entry in await self.history(topic, _format_id(state.last)):
                self.stats.recovered += 1
                self._dispatch(topic, entry)
        if not state.ready.done():
            state.ready.set_result(None)

    def _live(self, channel: bytes, payload: bytes) -> None:
        topic = channel.decode()[len(self.prefix):]
        if self.cluster:
            topic = topic[1:-1]  # the hash tag's braces
        sid, _, rest = payload.partition(b"\n")
        self._dispatch(topic, Message(topic, sid.decode(), rest[1:], rest[:1] == b"1"))

    def _dispatch(self, topic: str, entry: Message) -> None:
        state = self._states.get(topic)
        if state is None or state.last is None:
            return  # not (yet) subscribed here: _subscribed() starts from the stream's tail
        sid = parse_id(entry.id)
        if sid <= state.last:
            self.stats.duplicates += 1
            return
        state.last = sid
        for buffer in state.pending:
            buffer.append(entry)
        self.stats.delivered += 1
        if self.topics.subscribers(topic):
            try:
                payload = self.encode(entry) if self.encode is not None else entry.message
                self.topics.publish(topic, payload, text=entry.text if isinstance(payload, bytes) else None)
            except Exception:  # a bad encode() or message must not stop the reader (and every other topic)
                logger.exception("topic %r: message %s could not be delivered locally", topic, entry.id)


class _Subscriber:
    """One Pub/Sub connection (to the Redis, or to one Cluster node) and its reader task."""

    def __init__(self, hub: RedisHub, address: tuple[str, int]) -> None:
        self.hub = hub
        self.address = address
        self.topics: set[str] = set()
        self.pubsub: Any = None
        self.task: Optional[asyncio.Task[None]] = None
        self.wanted = asyncio.Event()
        self.kick = asyncio.Event()  # a join is waiting: cut the reconnection backoff short

    def channel(self, topic: str) -> str:
        return self.hub.key(topic)

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    def retry_now(self) -> None:
        self.kick.set()

    def add(self, topic: str) -> None:
        self.topics.add(topic)
        self.wanted.set()
        self.kick.set()
        if self.pubsub is not None:
            asyncio.get_running_loop().create_task(self._command("subscribe", topic))

    def discard(self, topic: str) -> None:
        if topic in self.topics:
            self.topics.discard(topic)
            if self.pubsub is not None:
                asyncio.get_running_loop().create_task(self._command("unsubscribe", topic))

    async def _command(self, name: str, topic: str) -> None:
        """(S)SUBSCRIBE or (S)UNSUBSCRIBE one channel on the live connection; a failure is the
        reader's to handle (it reconnects and subscribes to the wanted set)."""
        pubsub = self.pubsub
        if pubsub is None:
            return
        method = getattr(pubsub, ("s" + name) if self.hub.cluster else name)
        try:
            await method(self.channel(topic))
        except (RedisError, OSError) as exc:
            logger.debug("%s %r failed (the reader reconnects): %s", name, topic, exc)

    async def _run(self) -> None:
        delay = self.hub.reconnect_delay
        failed = False
        while not self.hub._closed:
            await self.wanted.wait()
            self.kick.clear()
            client = self.hub._new_pubsub_client(self.address)
            pubsub = client.pubsub(ignore_subscribe_messages=False)
            try:
                if not self.topics:  # every topic left while we were away
                    self.wanted.clear()
                    continue
                self.pubsub = pubsub  # first: a topic added while this subscribes is sent on its own
                subscribe = pubsub.ssubscribe if self.hub.cluster else pubsub.subscribe
                await subscribe(*(self.channel(t) for t in self.topics))
                if failed:
                    self.hub.stats.reconnects += 1
                    logger.info("Pub/Sub connection to %s re-established", self._where())
                failed = False
                delay = self.hub.reconnect_delay
                await self._read(pubsub)
            except (RedisError, OSError, BackendError, RuntimeError) as exc:  # RuntimeError: no subscription left
                if not failed:
                    logger.warning("Pub/Sub connection to %s lost (%s); reconnecting", self._where(), exc)
                failed = True
            except Exception:  # anything else: logged, and the reader goes on (a dead reader would be silent)
                logger.exception("Pub/Sub reader for %s failed; reconnecting", self._where())
                failed = True
            finally:
                self.pubsub = None
                await asyncio.gather(pubsub.aclose(), client.aclose(), return_exceptions=True)
            try:
                await asyncio.wait_for(self.kick.wait(), delay * random.uniform(0.5, 1.0))
            except asyncio.TimeoutError:
                pass
            self.kick.clear()
            delay = min(delay * 2, self.hub.max_reconnect_delay)

    async def _read(self, pubsub: Any) -> None:
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            kind = message["type"]
            if kind in ("message", "smessage"):
                self.hub._live(message["channel"], message["data"])
            elif kind in ("subscribe", "ssubscribe"):
                # Read inline: live messages wait in the socket meanwhile and come after, deduplicated.
                topic = message["channel"].decode()[len(self.hub.prefix):]
                await self.hub._subscribed(topic[1:-1] if self.hub.cluster else topic)

    def _where(self) -> str:
        return self.hub.url if not self.hub.cluster else f"{self.address[0]}:{self.address[1]}"
