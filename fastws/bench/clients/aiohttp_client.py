"""aiohttp load client: ``ClientSession.ws_connect``, ``send_bytes`` (``send_str`` for text) / ``receive``."""

from __future__ import annotations

import time

from ..common import MAX_SIZE
from ._base import Recorder, ws_url


async def run(command: dict) -> dict:
    import aiohttp

    recorder = Recorder(command)
    payload, size = recorder.payload, recorder.length
    expected = aiohttp.WSMsgType.TEXT if recorder.text else aiohttp.WSMsgType.BINARY

    append = recorder.latencies.append
    perf = time.perf_counter_ns
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(
            ws_url(command), compress=0, max_msg_size=MAX_SIZE, heartbeat=None, autoping=True
        ) as ws:
            send = ws.send_str if recorder.text else ws.send_bytes
            recorder.begin()
            sent = perf()
            await send(payload)
            msg = await ws.receive()
            append(perf() - sent)
            if msg.type != expected:
                raise ConnectionError(f"expected a {recorder.kind} message, got {msg.type!r}")
            recorder.check(msg.data)
            while True:
                sent = perf()
                await send(payload)
                msg = await ws.receive()
                now = perf()
                append(now - sent)
                if msg.type != expected:
                    raise ConnectionError(f"expected a {recorder.kind} message, got {msg.type!r}")
                if len(msg.data) != size:
                    raise recorder.wrong_size(len(msg.data))
                if now >= recorder.deadline and not recorder.advance(now):
                    recorder.check(msg.data)
                    break
    return recorder.result()
