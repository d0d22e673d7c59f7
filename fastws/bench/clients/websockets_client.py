"""websockets load client: ``websockets.asyncio.client``, ``await send`` / ``await recv``."""

from __future__ import annotations

import time

from ..common import MAX_SIZE
from ._base import Recorder, ws_url


async def run(command: dict) -> dict:
    from websockets.asyncio.client import connect

    recorder = Recorder(command)
    payload, size = recorder.payload, recorder.length  # str for text: sent as a text message
    append = recorder.latencies.append
    perf = time.perf_counter_ns
    async with connect(
        ws_url(command),
        compression=None,
        max_size=MAX_SIZE,
        ping_interval=None,
        proxy=None,
    ) as ws:
        recorder.begin()
        sent = perf()
        await ws.send(payload)
        message = await ws.recv()
        append(perf() - sent)
        recorder.check(message)
        while True:
            sent = perf()
            await ws.send(payload)
            message = await ws.recv()
            now = perf()
            append(now - sent)
            if len(message) != size:
                raise recorder.wrong_size(len(message))
            if now >= recorder.deadline and not recorder.advance(now):
                recorder.check(message)
                break
    return recorder.result()
