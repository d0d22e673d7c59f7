"""fastws load clients: the callback API (fastest path, the load client for every
WebSocket server) and the awaitable API (``await ws.send`` / ``await ws.recv``)."""

from __future__ import annotations

import asyncio
import time

from ..common import MAX_SIZE
from ._base import Recorder, ws_url


def _listener_class():
    from fastws.protocol import Listener

    class LoadListener(Listener):
        """Sends the payload again from ``on_message``: no task, no future per message."""

        def __init__(self, recorder: Recorder, done: asyncio.Future) -> None:
            self.rec = recorder
            self.done = done
            self.size = recorder.size
            self.payload = recorder.payload
            self.append = recorder.latencies.append
            self.sent = 0
            self.unchecked = True

        def go(self, ws) -> None:  # type: ignore[no-untyped-def]
            self.rec.begin()
            self.sent = time.perf_counter_ns()
            ws.send(self.payload)

        def on_message(self, ws, message) -> None:  # type: ignore[no-untyped-def]
            now = time.perf_counter_ns()
            self.append(now - self.sent)
            try:
                if len(message) != self.size:
                    raise self.rec.wrong_size(len(message))
                if self.unchecked:
                    self.rec.check(message)
                    self.unchecked = False
                if now >= self.rec.deadline and not self.rec.advance(now):
                    self.rec.check(message)
                    self.done.set_result(None)
                    return
            except Exception as exc:
                if not self.done.done():
                    self.done.set_exception(exc)
                return
            self.sent = time.perf_counter_ns()
            ws.send(self.payload)

        def on_close(self, ws, code, reason) -> None:  # type: ignore[no-untyped-def]
            if not self.done.done():
                self.done.set_exception(ConnectionError(f"connection closed: {code} {reason}"))

    return LoadListener


async def run_callback(command: dict) -> dict:
    from fastws.client import connect

    loop = asyncio.get_running_loop()
    recorder = Recorder(command)
    done = loop.create_future()
    listener = _listener_class()(recorder, done)
    ws = await connect(
        ws_url(command), listener=lambda: listener, max_size=MAX_SIZE, ping_interval=None, compression=None
    )
    try:
        listener.go(ws)
        await done
    finally:
        await _close(ws)
    return recorder.result()


async def run_await(command: dict) -> dict:
    from fastws.client import connect

    recorder = Recorder(command)
    payload, size = recorder.payload, recorder.size
    append = recorder.latencies.append
    perf = time.perf_counter_ns
    ws = await connect(ws_url(command), max_size=MAX_SIZE, ping_interval=None, compression=None)
    try:
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
    finally:
        await _close(ws)
    return recorder.result()


async def _close(ws) -> None:  # type: ignore[no-untyped-def]
    try:
        await asyncio.wait_for(ws.close(), 5)
    except Exception:
        ws.abort()
