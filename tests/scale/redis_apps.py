"""A topic relay served over Redis: ``ws://host:port/TOPIC?last=ID``.

Every message a client sends is published to TOPIC through the RedisHub; every
subscriber receives ``"<stream id> <message>"`` (text). ``last`` resumes after
that id. (Worker processes over Redis are tested with examples/chat.)
"""

from __future__ import annotations

import fastws
from fastws.backends.redis import BackendError, Message, RedisHub


def encode(message: Message) -> str:
    return f"{message.id} {message.message!s}"


def make_handler(hub: RedisHub):  # type: ignore[no-untyped-def]
    async def handler(ws: fastws.WebSocket) -> None:
        request = ws.request
        topic = request.path_without_query.strip("/") or "default"
        last = request.query.get("last", [None])[0]
        try:
            await hub.join(ws, topic, last)
        except BackendError:
            await ws.close(1013, "Redis unavailable, try again later")
            return
        async for message in ws:
            await hub.publish(topic, message)

    return handler
