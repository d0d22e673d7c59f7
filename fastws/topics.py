"""Topics: named groups of connections, published to with one encode-once broadcast.

In the spirit of uWebSockets' pub/sub::

    topics = fastws.Topics()

    async def handler(ws):
        topics.subscribe(ws, "room:1")
        async for message in ws:
            topics.publish("room:1", message)     # to every subscriber, sender included

A connection is unsubscribed from all its topics when it closes (through
:meth:`fastws.WebSocket.add_close_callback`), so a hub never holds a closed
connection. ``publish`` is synchronous and cheap (one :func:`fastws.broadcast`):
a backend that relays messages from elsewhere (Redis) delivers them locally by
calling it. ``on_topic_added`` / ``on_topic_removed`` tell such a backend when a
topic gets its first local subscriber and loses its last one.

Not thread-safe, like asyncio itself: use a hub from the thread that runs its
connections' event loop (one hub per loop). Within that thread any order of calls
is safe, including subscribing and unsubscribing from a listener callback or
while a publish is running.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Union

from .broadcasting import BroadcastResult, broadcast
from .constants import CLOSE_POLICY_VIOLATION

if TYPE_CHECKING:
    from .protocol import WebSocket

__all__ = ["Topics"]

logger = logging.getLogger("fastws")

_CLOSED = 3  # Connection._state when closed (fastws.connection.State.CLOSED)


class Topics:
    """A hub of topics: which connections subscribe to which topic names.

    ``slow``, ``max_buffered``, ``close_code``, ``close_reason``: the slow-consumer
    policy of every :meth:`publish` (see :func:`fastws.broadcast`; by default a
    subscriber over its ``write_limit`` misses the message).
    ``on_topic_added(topic)`` / ``on_topic_removed(topic)``: called when a topic
    gets its first subscriber / loses its last one, after the hub is updated (an
    exception propagates to the caller of subscribe/unsubscribe, the change stands;
    when a connection closes, it is logged and every topic is still cleaned up).
    """

    def __init__(
        self,
        *,
        slow: str = "skip",
        max_buffered: Optional[int] = None,
        close_code: int = CLOSE_POLICY_VIOLATION,
        close_reason: str = "slow consumer",
        on_topic_added: Optional[Callable[[str], None]] = None,
        on_topic_removed: Optional[Callable[[str], None]] = None,
    ) -> None:
        # Checked now: a bad policy must not wait for the first publish to show.
        broadcast((), b"", slow=slow, max_buffered=max_buffered, close_code=close_code, close_reason=close_reason)
        self._policy: dict[str, Any] = {
            "slow": slow,
            "max_buffered": max_buffered,
            "close_code": close_code,
            "close_reason": close_reason,
        }
        self.on_topic_added = on_topic_added
        self.on_topic_removed = on_topic_removed
        self._subscribers: dict[str, set[WebSocket]] = {}
        self._topics: dict[WebSocket, set[str]] = {}

    def __repr__(self) -> str:
        return f"<fastws.Topics {len(self._subscribers)} topics, {len(self._topics)} connections>"

    # --- subscriptions ---------------------------------------------------------------

    def subscribe(self, ws: WebSocket, topic: str) -> bool:
        """Subscribe ``ws`` to ``topic``; False if it already was, or if ``ws`` is closed
        (a closed connection is never added: nothing would remove it)."""
        _check_topic(topic)
        if ws._state == _CLOSED:
            return False
        topics = self._topics.get(ws)
        if topics is None:
            ws.add_close_callback(self._closed)
            topics = self._topics[ws] = set()
        elif topic in topics:
            return False
        topics.add(topic)
        subscribers = self._subscribers.get(topic)
        if subscribers is None:
            self._subscribers[topic] = {ws}
            if self.on_topic_added is not None:
                self.on_topic_added(topic)
        else:
            subscribers.add(ws)
        return True

    def unsubscribe(self, ws: WebSocket, topic: str) -> bool:
        """Unsubscribe ``ws`` from ``topic``; False if it was not subscribed."""
        _check_topic(topic)
        topics = self._topics.get(ws)
        if topics is None or topic not in topics:
            return False
        topics.discard(topic)
        if not topics:
            del self._topics[ws]
            ws.remove_close_callback(self._closed)
        self._removed(self._drop(ws, (topic,)), log=False)
        return True

    def unsubscribe_all(self, ws: WebSocket) -> int:
        """Unsubscribe ``ws`` from every topic; returns how many it was subscribed to."""
        topics = self._topics.pop(ws, None)
        if topics is None:
            return 0
        ws.remove_close_callback(self._closed)
        self._removed(self._drop(ws, topics), log=False)
        return len(topics)

    def _closed(self, ws: WebSocket) -> None:
        topics = self._topics.pop(ws, None)
        if topics:
            self._removed(self._drop(ws, topics), log=True)

    def _drop(self, ws: WebSocket, topics: Iterable[str]) -> list[str]:
        """Take ``ws`` out of ``topics``; the topics left without subscribers."""
        emptied = []
        for topic in topics:
            subscribers = self._subscribers[topic]
            subscribers.discard(ws)
            if not subscribers:
                del self._subscribers[topic]
                emptied.append(topic)
        return emptied

    def _removed(self, emptied: list[str], log: bool) -> None:
        """Call on_topic_removed for each topic, all of them even if one raises (the hub is
        consistent already); then re-raise the first error, or log them (``log``: on close)."""
        hook = self.on_topic_removed
        if hook is None:
            return
        error: Optional[BaseException] = None
        for topic in emptied:
            try:
                hook(topic)
            except Exception as exc:
                if log:
                    logger.exception("on_topic_removed(%r) failed", topic)
                elif error is None:
                    error = exc
        if error is not None:
            raise error

    # --- queries -------------------------------------------------------------------------

    def subscribers(self, topic: str) -> frozenset[WebSocket]:
        """The connections subscribed to ``topic`` (a snapshot; empty if none)."""
        return frozenset(self._subscribers.get(topic, ()))

    def topics_of(self, ws: WebSocket) -> frozenset[str]:
        """The topics ``ws`` is subscribed to (a snapshot; empty if none)."""
        return frozenset(self._topics.get(ws, ()))

    def is_subscribed(self, ws: WebSocket, topic: str) -> bool:
        topics = self._topics.get(ws)
        return topics is not None and topic in topics

    @property
    def topics(self) -> frozenset[str]:
        """Every topic with at least one subscriber."""
        return frozenset(self._subscribers)

    def __len__(self) -> int:
        """The number of topics with at least one subscriber."""
        return len(self._subscribers)

    def __contains__(self, topic: object) -> bool:
        return topic in self._subscribers

    # --- publishing ----------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        message: Union[str, bytes, bytearray, memoryview],
        *,
        text: Optional[bool] = None,
        compress: bool = True,
        exclude: Optional[WebSocket] = None,
    ) -> BroadcastResult:
        """Send ``message`` to every subscriber of ``topic`` (one :func:`fastws.broadcast`);
        ``exclude``: one connection to leave out (the sender, say). A topic without
        subscribers costs nothing (the message is still checked: TypeError/ValueError)."""
        _check_topic(topic)
        subscribers = self._subscribers.get(topic)
        targets: Iterable[WebSocket]
        if subscribers is None:
            targets = ()
        elif exclude is not None and exclude in subscribers:
            targets = [ws for ws in subscribers if ws is not exclude]
        else:
            targets = tuple(subscribers)  # a snapshot: a policy close must not change the set under us
        return broadcast(targets, message, text=text, compress=compress, **self._policy)


def _check_topic(topic: object) -> None:
    if not isinstance(topic, str):
        raise TypeError(f"a topic is a str, not {type(topic).__name__}")
