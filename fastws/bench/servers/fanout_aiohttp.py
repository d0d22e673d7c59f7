"""aiohttp fan-out server: every message a connection sends goes to every other one, a
loop of ``await send_str`` / ``send_bytes``.  ``--deflate``: ``compress=True`` (level 1,
the window the client asks for: 12 bits here), compressed for each connection."""

from __future__ import annotations

from typing import Any, Optional

from ..common import MAX_SIZE
from ._common import main, version


async def start(host: str, port: int, deflate: Optional[str] = None) -> tuple[int, dict[str, Any], Any]:
    from aiohttp import WSMsgType, web

    peers: set[Any] = set()

    async def fan_out(request):  # type: ignore[no-untyped-def]
        ws = web.WebSocketResponse(compress=bool(deflate), max_msg_size=MAX_SIZE, heartbeat=None)
        await ws.prepare(request)
        peers.add(ws)
        try:
            async for msg in ws:
                others = [p for p in peers if p is not ws]
                if msg.type == WSMsgType.TEXT:
                    for peer in others:
                        await peer.send_str(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    for peer in others:
                        await peer.send_bytes(msg.data)
        finally:
            peers.discard(ws)
        return ws

    app = web.Application()
    app.router.add_get("/", fan_out)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    return runner.addresses[0][1], {"impl": "aiohttp, a loop of send_str", "aiohttp": version("aiohttp")}, runner.cleanup


if __name__ == "__main__":
    main("fanout_aiohttp", start)
