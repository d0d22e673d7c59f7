"""Typed use of the public API: mypy --strict must accept it (tests/test_typing.py)."""

from __future__ import annotations

import fastws
from fastws import Listener, WebSocket


async def handler(ws: WebSocket) -> None:
    async for message in ws:
        await ws.send(message)
    rtt: float = await ws.ping()
    code: int | None = ws.close_code
    state: fastws.State = ws.state
    print(rtt, code, state)


class Echo(Listener):
    def on_message(self, ws: WebSocket, message: str | bytes) -> None:
        ws.send(message)


async def main() -> None:
    async with fastws.serve(handler, "127.0.0.1", 0) as server:
        async with fastws.connect(f"ws://127.0.0.1:{server.port}/", listener=Echo) as ws:
            await ws.send("hello")
            await ws.close()
