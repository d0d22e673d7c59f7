"""websockets load client: ``websockets.asyncio.client``, ``await send`` / ``await recv``."""

from __future__ import annotations

from ..common import MAX_SIZE
from ._base import Recorder, await_loop, ws_url


async def run(command: dict) -> dict:
    from websockets.asyncio.client import connect

    recorder = Recorder(command)  # str payload for text: sent as a text message
    async with connect(
        ws_url(command),
        compression=None,
        max_size=MAX_SIZE,
        ping_interval=None,
        proxy=None,
    ) as ws:
        await await_loop(recorder, ws.send, ws.recv)
    return recorder.result()
