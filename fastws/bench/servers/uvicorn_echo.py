"""An ASGI echo app under uvicorn (one worker, in this process), with the WebSocket
implementation named by ``FASTWS_BENCH_UVICORN_WS``: ``fastws`` (``fastws.asgi:WebSocketProtocol``)
or one of uvicorn's own ``--ws`` choices (``websockets``, ``websockets-sansio``, ``wsproto``,
``auto``).  The app is plain ASGI (no framework), so only the WebSocket layer differs;
keepalive pings and permessage-deflate are off, as for the other echo servers.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from ..common import MAX_SIZE
from ._common import main, version

WS = {"fastws": "fastws.asgi:WebSocketProtocol"}


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        await send({"type": "websocket.send", "bytes": message.get("bytes"), "text": message.get("text")})


async def start(host: str, port: int):  # type: ignore[no-untyped-def]
    import uvicorn

    name = os.environ.get("FASTWS_BENCH_UVICORN_WS", "fastws")
    config = uvicorn.Config(
        echo,
        host=host,
        port=port,
        ws=WS.get(name, name),
        ws_max_size=MAX_SIZE,
        ws_ping_interval=None,
        ws_per_message_deflate=False,
        lifespan="off",
        log_level="warning",
        access_log=False,
    )
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    await server.startup()
    ticker = asyncio.ensure_future(server.main_loop())  # the date header, as `uvicorn` runs it

    async def stop() -> None:
        server.should_exit = True
        await ticker
        await server.shutdown()

    bound = server.servers[0].sockets[0].getsockname()[1]
    protocol = config.ws_protocol_class
    impl = f"uvicorn --ws {name} ({protocol.__module__}.{protocol.__qualname__})"  # type: ignore[union-attr]
    return bound, {"impl": impl, "uvicorn": version("uvicorn")}, stop


if __name__ == "__main__":
    main("uvicorn_echo", start)
