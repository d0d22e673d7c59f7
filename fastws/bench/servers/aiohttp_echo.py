"""aiohttp echo server: ``web.WebSocketResponse`` in a plain handler, on an AppRunner.

``--deflate`` (either preset: aiohttp has nothing to tune): ``compress=True``.
aiohttp then compresses at level 1 (Z_BEST_SPEED, fixed in its writer) with
zlib's default memLevel 8 (not configurable), with the window the client asks
for in ``server_max_window_bits`` (15 otherwise), and hands messages over
16 KiB to its default executor (a thread) for compression.
"""

from __future__ import annotations

from typing import Optional

from ..common import MAX_SIZE
from ._common import main, version


async def start(host: str, port: int, deflate: Optional[str] = None):
    from aiohttp import WSMsgType, web

    compress = bool(deflate)

    async def echo(request):  # type: ignore[no-untyped-def]
        ws = web.WebSocketResponse(compress=compress, max_msg_size=MAX_SIZE, heartbeat=None)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
            elif msg.type == WSMsgType.TEXT:
                await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", echo)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()

    try:
        from aiohttp._websocket import reader_c  # noqa: F401

        reader = "C reader"
    except ImportError:
        reader = "pure-Python reader"
    bound_port = runner.addresses[0][1]
    info = {"impl": f"aiohttp web.WebSocketResponse ({reader})", "aiohttp": version("aiohttp")}
    if deflate:
        import zlib

        from aiohttp._websocket.writer import WEBSOCKET_MAX_SYNC_CHUNK_SIZE
        from aiohttp.compression_utils import ZLibBackend

        info["deflate"] = {
            "preset": deflate,
            "level": ZLibBackend.Z_BEST_SPEED,
            "mem_level": zlib.DEF_MEM_LEVEL,
            "server_max_window_bits": "as offered (else 15)",
            "threshold": 0,
            "executor_above": WEBSOCKET_MAX_SYNC_CHUNK_SIZE,
            "zlib_backend": getattr(ZLibBackend, "name", "zlib"),
        }
    return bound_port, info, runner.cleanup


if __name__ == "__main__":
    main("aiohttp_echo", start)
