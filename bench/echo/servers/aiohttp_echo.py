"""aiohttp echo server: ``web.WebSocketResponse`` in a plain handler, on an AppRunner."""

from __future__ import annotations

from ..common import MAX_SIZE
from ._common import main, version


async def start(host: str, port: int):
    from aiohttp import WSMsgType, web

    async def echo(request):  # type: ignore[no-untyped-def]
        ws = web.WebSocketResponse(compress=False, max_msg_size=MAX_SIZE, heartbeat=None)
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
    return (
        bound_port,
        {"impl": f"aiohttp web.WebSocketResponse ({reader})", "aiohttp": version("aiohttp")},
        runner.cleanup,
    )


if __name__ == "__main__":
    main("aiohttp_echo", start)
