"""aiohttp load client: ``ClientSession.ws_connect``, ``send_bytes`` / ``receive``."""

from __future__ import annotations

import time

from ..common import MAX_SIZE
from ._base import Recorder, ws_url


async def run(command: dict) -> dict:
    import aiohttp

    binary = aiohttp.WSMsgType.BINARY
    recorder = Recorder(command)
    payload, size = recorder.payload, recorder.size
    append = recorder.latencies.append
    perf = time.perf_counter_ns
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(
            ws_url(command), compress=0, max_msg_size=MAX_SIZE, heartbeat=None, autoping=True
        ) as ws:
            recorder.begin()
            sent = perf()
            await ws.send_bytes(payload)
            msg = await ws.receive()
            append(perf() - sent)
            if msg.type != binary:
                raise ConnectionError(f"expected a binary message, got {msg.type!r}")
            recorder.check(msg.data)
            while True:
                sent = perf()
                await ws.send_bytes(payload)
                msg = await ws.receive()
                now = perf()
                append(now - sent)
                if msg.type != binary:
                    raise ConnectionError(f"expected a binary message, got {msg.type!r}")
                if len(msg.data) != size:
                    raise recorder.wrong_size(len(msg.data))
                if now >= recorder.deadline and not recorder.advance(now):
                    recorder.check(msg.data)
                    break
    return recorder.result()
