"""A topic relay served over Redis: ``ws://host:port/TOPIC?last=ID``.

Every message a client sends is published to TOPIC through the RedisHub; every
subscriber receives ``"<stream id> <message>"`` (text). ``last`` resumes after
that id. Used in-process by test_redis_hub.py and as ``redis_apps:app`` by
worker processes (REDIS_URL / REDIS_CLUSTER from the environment).
"""

from __future__ import annotations

import os

import fastws
from fastws.backends.redis import BackendError, Message, RedisHub
from fastws.workers import WorkerApp


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


class _Worker:
    hub: RedisHub

    async def startup(self) -> None:
        self.hub = RedisHub(
            fastws.Topics(slow="close"),
            os.environ["REDIS_URL"],
            cluster=os.environ.get("REDIS_CLUSTER") == "1",
            encode=encode,
        )
        await self.hub.start()

    async def shutdown(self) -> None:
        await self.hub.close()

    async def handler(self, ws: fastws.WebSocket) -> None:
        await make_handler(self.hub)(ws)


_worker = _Worker()
app = WorkerApp(handler=_worker.handler, on_startup=_worker.startup, on_shutdown=_worker.shutdown)
