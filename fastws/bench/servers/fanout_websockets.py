"""websockets fan-out server: every message a connection sends goes to every other
connection through ``websockets.asyncio.server.broadcast`` (which compresses for each
connection when permessage-deflate is on).  ``--deflate``: as in websockets_echo.py.
"""

from __future__ import annotations

from typing import Any, Optional

from ..common import MAX_SIZE
from ._common import main, version
from .websockets_echo import _deflate_factory


async def start(host: str, port: int, deflate: Optional[str] = None) -> tuple[int, dict[str, Any], Any]:
    from websockets.asyncio.server import broadcast, serve

    async def fan_out(ws):  # type: ignore[no-untyped-def]
        async for message in ws:
            broadcast([c for c in server.connections if c is not ws], message)

    extensions = [_deflate_factory(deflate)[0]] if deflate else None
    server = await serve(
        fan_out, host, port, compression=None, extensions=extensions, max_size=MAX_SIZE, ping_interval=None,
        backlog=1024,
    )  # fmt: skip

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    port = next(iter(server.sockets)).getsockname()[1]
    return port, {"impl": "websockets.asyncio broadcast()", "websockets": version("websockets")}, stop


if __name__ == "__main__":
    main("fanout_websockets", start)
