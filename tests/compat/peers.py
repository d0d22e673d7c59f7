"""Subprocess entry points running wsproto users on fastws.compat.wsproto (install() first).

    python peers.py hypercorn PORT      hypercorn serving an ASGI echo app
    python peers.py trio-server PORT    trio-websocket echo server
    python peers.py trio-client URL     trio-websocket client: a scripted exchange, JSON on stdout

Each prints which wsproto it runs on (``wsproto-module: ...``) before anything else.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import fastws.compat

fastws.compat.install()

import wsproto  # noqa: E402

print("wsproto-module:", wsproto.__name__, flush=True)

MESSAGES: list[Any] = ["hello", b"\x00\x01binary\xff", "é" * 5000, bytes(range(256)) * 300, ""]


async def asgi_echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        return
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        event = await receive()
        if event["type"] == "websocket.disconnect":
            return
        if event.get("text") is not None:
            await send({"type": "websocket.send", "text": event["text"]})
        else:
            await send({"type": "websocket.send", "bytes": event["bytes"]})


def run_hypercorn(port: int) -> None:
    import asyncio

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.websocket_ping_interval = None
    asyncio.run(serve(asgi_echo, config))  # type: ignore[arg-type]


def run_trio_server(port: int) -> None:
    import trio
    from trio_websocket import ConnectionClosed, serve_websocket

    async def handler(request: Any) -> None:
        ws = await request.accept()
        try:
            while True:
                await ws.send_message(await ws.get_message())
        except ConnectionClosed:
            pass

    trio.run(serve_websocket, handler, "127.0.0.1", port, None)


def run_trio_client(url: str) -> None:
    import trio
    from trio_websocket import ConnectionClosed, open_websocket_url

    async def main() -> dict[str, Any]:
        echoed = []
        async with open_websocket_url(url) as ws:
            for message in MESSAGES:
                await ws.send_message(message)
                echoed.append(await ws.get_message() == message)
            await ws.aclose(code=1000, reason="done")
            try:
                await ws.get_message()
            except ConnectionClosed as exc:
                close = [exc.reason.code, exc.reason.reason]
        return {"echoed": echoed, "close": close}

    print(json.dumps(trio.run(main)), flush=True)


if __name__ == "__main__":
    mode, arg = sys.argv[1], sys.argv[2]
    if mode == "hypercorn":
        run_hypercorn(int(arg))
    elif mode == "trio-server":
        run_trio_server(int(arg))
    else:
        run_trio_client(arg)
