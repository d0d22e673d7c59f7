"""Raw TCP load client for the floor: asyncio.Protocol on uvloop, counts bytes.

A round trip is complete when as many bytes came back as were sent.  The first
echo is compared byte for byte, every other one by its length.
"""

from __future__ import annotations

import asyncio
import time

from ._base import Recorder

NAME = "raw-tcp"
DISTRIBUTION = "uvloop"


class _Load(asyncio.Protocol):
    def __init__(self, recorder: Recorder, done: asyncio.Future) -> None:
        self.rec = recorder
        self.done = done
        self.size = recorder.size
        self.payload = recorder.payload
        self.append = recorder.latencies.append
        self.got = 0
        self.keep: bytearray | None = bytearray()  # the first echo, compared in full
        self.sent = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def go(self) -> None:
        self.rec.begin()
        self.sent = time.perf_counter_ns()
        self.transport.write(self.payload)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        got = self.got + len(data)
        if self.keep is not None:
            self.keep += data
        if got < self.size:
            self.got = got
            return
        now = time.perf_counter_ns()
        self.append(now - self.sent)
        rec = self.rec
        try:
            if got != self.size:
                raise rec.wrong_size(got)
            if self.keep is not None:
                rec.check(self.keep)
                self.keep = None
            self.got = 0
            if now >= rec.deadline and not rec.advance(now):
                self.done.set_result(None)
                return
        except Exception as exc:
            if not self.done.done():
                self.done.set_exception(exc)
            return
        self.sent = time.perf_counter_ns()
        self.transport.write(self.payload)  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"connection lost: {exc}"))


async def run(command: dict) -> dict:
    loop = asyncio.get_running_loop()
    recorder = Recorder(command)
    done = loop.create_future()
    transport, proto = await loop.create_connection(
        lambda: _Load(recorder, done), command["host"], command["port"]
    )
    try:
        proto.go()
        await done
    finally:
        transport.close()
    return recorder.result()
