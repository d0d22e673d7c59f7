"""Raw TCP load client for the floor: asyncio.Protocol on uvloop, counts bytes.

A message is complete when another ``size`` bytes came back.  ``run`` keeps
one message in flight (round trip), ``run_pipelined`` ``command["window"]``
(the floor of the pipelined table).  The first echo is compared byte for byte,
every other one by its length.
"""

from __future__ import annotations

import asyncio
import collections
import time

from ._base import Recorder

DEFAULT_WINDOW = 16


class _Load(asyncio.Protocol):
    def __init__(self, recorder: Recorder, window: int) -> None:
        self.rec = recorder
        self.done = recorder.done
        self.window = window
        self.size = recorder.size
        self.payload = recorder.payload
        self.append = recorder.latencies.append
        self.got = 0  # bytes of the message being received
        self.keep: bytearray | None = bytearray()  # the first echo, compared in full
        self.sent_at: collections.deque[int] = collections.deque()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def go(self) -> None:
        self.rec.begin()
        for _ in range(self.window):
            self.sent_at.append(time.perf_counter_ns())
            self.transport.write(self.payload)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return  # in flight when the window closed
        got = self.got + len(data)
        if self.keep is not None:
            self.keep += data
        if got < self.size:
            self.got = got
            return
        now = time.perf_counter_ns()
        rec = self.rec
        complete, self.got = divmod(got, self.size)
        for _ in range(complete):
            self.append(now - self.sent_at.popleft())
        if self.keep is not None:  # the first echo, compared byte for byte
            message, self.keep = self.keep[: self.size], None
            if not rec.on_echo(message, now):
                return
        elif now >= rec.deadline and not rec.at_deadline(now):
            return
        for _ in range(complete):
            self.sent_at.append(time.perf_counter_ns())
            self.transport.write(self.payload)  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self.rec.fail(ConnectionError(f"connection lost: {exc}"))


async def _run(command: dict, window: int) -> dict:
    loop = asyncio.get_running_loop()
    recorder = Recorder({**command, "kind": "binary"})  # bytes are bytes: no text floor
    transport, proto = await loop.create_connection(
        lambda: _Load(recorder, window), command["host"], command["port"]
    )
    try:
        proto.go()
        await recorder.done
    finally:
        transport.close()
    result = recorder.result()
    result["window"] = window
    return result


async def run(command: dict) -> dict:
    return await _run(command, 1)


async def run_pipelined(command: dict) -> dict:
    return await _run(command, int(command.get("window") or DEFAULT_WINDOW))
