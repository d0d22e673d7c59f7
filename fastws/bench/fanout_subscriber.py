"""A subscriber process of the fan-out benchmark: ``python -m fastws.bench.fanout_subscriber``.

It reads one JSON command on stdin (host, port, protocol "ws" or "tcp",
connections, size, compression, warmup), opens its connections (fastws's
callback client: cheap per message, so the server is what the run measures;
plain asyncio sockets for the raw TCP floor), and answers on stdout, one line each:

* ``{"ready": N}`` once every connection is open;
* ``a <seq>`` when message ``seq`` has reached every one of its connections
  (the publisher sends the next message only when every process acked);
* after ``stop <last seq>`` on stdin (``abort <last seq>``: the same without checking
  that every connection got every message, some may still be on their way): ``{"ok": true, ...}`` with the latency histogram of
  the measured messages (seq >= warmup), its CPU time and the deliveries;
  ``{"ok": false, "error": ...}`` on the first lost, reordered, altered or
  duplicated message, or a connection closed under it (then it exits).

Every delivery is checked: the sequence number is the one expected on that
connection and the body is byte for byte the one the publisher built.
"""

from __future__ import annotations

import array
import asyncio
import json
import math
import os
import sys
import time
from typing import Any, Callable, Optional

from .common import MAX_SIZE
from .payloads import json_pool

HEADER = 25  # "%08x%016x|": sequence number, send time (CLOCK_MONOTONIC ns), separator
SMALL_BODY_SOURCE = 256  # bodies under this are cut from chat documents of this size
CONNECT_AT_ONCE = 64  # handshakes in flight: stays under every server's listen backlog
BUCKET = math.log(1.01)  # latency histogram: 1% wide buckets


def bodies(size: int) -> list[bytes]:
    """The bodies message ``seq`` cycles through (``seq % len``): chat-like JSON text, ASCII."""
    if size <= HEADER:
        raise ValueError(f"a fan-out message needs more than {HEADER} bytes, not {size}")
    n = size - HEADER
    return [doc.encode()[:n] for doc in json_pool(max(n, SMALL_BODY_SOURCE))]


def message(seq: int, body: bytes, now_ns: int) -> bytes:
    return b"%08x%016x|" % (seq, now_ns) + body


def bucket_of(latency_ns: int) -> int:
    return int(math.log(max(latency_ns, 1)) / BUCKET)


def percentile(histogram: dict[int, int], q: float) -> Optional[float]:
    """The ``q`` quantile (0..1) of a merged histogram, in µs (bucket midpoint; ±0.5%)."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = q * (total - 1)
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen > rank:
            return math.exp((bucket + 0.5) * BUCKET) / 1000
    return None  # not reached


class Tally:
    """What every connection of this process shares: expected bodies, counts per message, latencies."""

    def __init__(self, size: int, connections: int, warmup: int, ack: Callable[[int], None]) -> None:
        self.size = size
        self.bodies = bodies(size)
        self.pool = len(self.bodies)
        self.connections = connections
        self.warmup = warmup
        self.ack = ack
        self.counts: dict[int, int] = {}
        self.latencies = array.array("q")
        self.deliveries = 0
        self.error: Optional[str] = None

    def receive(self, index: int, expected: int, data: bytes, now: int) -> int:
        """Check one delivery on connection ``index``; returns the next expected sequence number."""
        if self.error is not None:
            return expected
        try:
            seq = int(data[:8], 16)
            sent = int(data[8:24], 16)
        except ValueError:
            seq = sent = -1
        if len(data) != self.size or seq < 0 or data[24:25] != b"|":
            return self.fail(f"connection {index}: malformed message of {len(data)} bytes: {bytes(data[:40])!r}")
        if expected < 0 and (seq < self.warmup or seq == 0):
            expected = seq  # a server may register a connection a little after its handshake: during
            # the warm-up a connection may start late; from the first measured message on, none is missed
        if expected < 0:
            return self.fail(f"connection {index}: its first message is {seq}, after the warm-up ({self.warmup}): lost")
        if seq != expected:
            what = "lost" if seq > expected else "duplicated or reordered"
            return self.fail(f"connection {index}: expected message {expected}, got {seq} ({what})")
        if data[HEADER:] != self.bodies[seq % self.pool]:
            return self.fail(f"connection {index}: message {seq} altered (body differs)")
        self.deliveries += 1
        if seq >= self.warmup:
            self.latencies.append(now - sent)
        count = self.counts.get(seq, 0) + 1
        if count == self.connections:
            self.counts.pop(seq, None)
            self.ack(seq)
        else:
            self.counts[seq] = count
        return seq + 1

    def fail(self, error: str) -> int:
        if self.error is None:
            self.error = error
            self.ack(-1)  # wakes the publisher: it reads the error line
        return -1

    def histogram(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        log, width = math.log, BUCKET
        for value in self.latencies:
            b = int(log(value if value > 0 else 1) / width)
            counts[b] = counts.get(b, 0) + 1
        return counts


def _ws_listener(tally: Tally, index: int) -> Any:
    from fastws.listener import Listener

    class Subscriber(Listener):
        decode_text = False  # bodies are compared as bytes

        def __init__(self) -> None:
            self.expected = -1  # nothing yet
            self.closed = False

        def on_text(self, ws: Any, data: bytes) -> None:
            self.expected = tally.receive(index, self.expected, data, time.monotonic_ns())

        def on_message(self, ws: Any, message: Any) -> None:
            tally.fail(f"connection {index}: a binary message, expected text")

        def on_close(self, ws: Any, code: int, reason: str) -> None:
            if not self.closed:
                tally.fail(f"connection {index}: closed by the server ({code} {reason!r})")

    return Subscriber()


class _TcpSubscriber(asyncio.Protocol):
    """Raw TCP floor: the stream is cut into messages of the known size."""

    def __init__(self, tally: Tally, index: int) -> None:
        self.tally = tally
        self.index = index
        self.buffer = bytearray()
        self.expected = -1  # nothing yet
        self.closed = False
        self.transport: Optional[asyncio.Transport] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        buffer = self.buffer
        buffer += data
        size = self.tally.size
        while len(buffer) >= size:
            self.expected = self.tally.receive(self.index, self.expected, bytes(buffer[:size]), now)
            del buffer[:size]

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if not self.closed:
            self.tally.fail(f"connection {self.index}: closed by the server ({exc!r})")


def compression_options() -> dict[str, Any]:
    """The client's permessage-deflate offer: 12-bit windows both ways, level 1 (as the echo bench)."""
    return {"client_max_window_bits": 12, "server_max_window_bits": 12, "level": 1, "mem_level": 5}


async def _open(command: dict[str, Any], tally: Tally) -> list[Any]:
    host, port = command["host"], command["port"]
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    loop = asyncio.get_running_loop()

    async def one(index: int) -> Any:
        async with gate:
            if command["protocol"] == "tcp":
                _, proto = await loop.create_connection(lambda: _TcpSubscriber(tally, index), host, port)
                return proto
            from fastws.client import connect

            listener = _ws_listener(tally, index)
            compressed = bool(command.get("compression"))
            ws = await connect(
                f"ws://{host}:{port}{command.get('path', '/')}",
                listener=lambda: listener,
                max_size=MAX_SIZE,
                ping_interval=None,
                compression="deflate" if compressed else None,
                compression_options=compression_options() if compressed else None,
                open_timeout=60,
            )
            if compressed and ws._deflate is None:
                raise ConnectionError("the server did not accept permessage-deflate")
            return (listener, ws)

    results = await asyncio.gather(*(one(i) for i in range(command["connections"])), return_exceptions=True)
    opened = [r for r in results if not isinstance(r, BaseException)]
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        await _close(opened)
        raise ConnectionError(f"{len(failed)} of {len(results)} connections failed: {failed[0]!r}")
    return opened


async def _close(opened: list[Any]) -> None:
    for item in opened:
        if isinstance(item, _TcpSubscriber):
            item.closed = True
            if item.transport is not None:
                item.transport.close()
        else:
            item[0].closed = True
            item[1].abort()  # the run is over: no close handshake x N to wait for
    await asyncio.sleep(0)


def _check_complete(opened: list[Any], tally: Tally, last: int) -> None:
    """Every connection got every message up to ``last`` (a message dropped for one connection
    only shows here: nothing comes after it while the publisher waits for its ack)."""
    for index, item in enumerate(opened):
        expected = item.expected if isinstance(item, _TcpSubscriber) else item[0].expected
        if expected != last + 1:
            first = max(expected, tally.warmup)
            tally.fail(f"connection {index}: message {first} never arrived (lost; {last} was the last sent)")
            return


async def run(command: dict[str, Any], out: Any) -> int:
    loop = asyncio.get_running_loop()

    def ack(seq: int) -> None:
        out.write(f"a {seq}\n")
        out.flush()

    tally = Tally(command["size"], command["connections"], command.get("warmup", 0), ack)
    opened = await _open(command, tally)
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    try:
        cpu0 = time.process_time()
        out.write(json.dumps({"ready": len(opened), "pid": os.getpid()}) + "\n")
        out.flush()
        line = await stdin.readline()  # "stop <last seq sent>", or EOF: the runner is gone
        cpu = time.process_time() - cpu0
        words = line.split()
        if tally.error is None and len(words) == 2 and words[0] == b"stop":
            _check_complete(opened, tally, int(words[1]))
        if tally.error is not None:
            result: dict[str, Any] = {"ok": False, "error": tally.error}
        elif len(words) != 2 or words[0] not in (b"stop", b"abort"):
            result = {"ok": False, "error": f"stopped by {line!r}"}
        else:
            result = {
                "ok": True,
                "deliveries": tally.deliveries,
                "measured": len(tally.latencies),
                "histogram": tally.histogram(),
                "cpu_s": cpu,
                "pending": len(tally.counts),
            }
    finally:
        await _close(opened)
    out.write(json.dumps(result) + "\n")
    out.flush()
    return 0 if result["ok"] else 1


def main() -> int:
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")  # the protocol channel; prints go to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    command = json.loads(sys.stdin.readline())
    import uvloop

    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(run(command, out))
    except Exception as exc:  # reported on the protocol channel, then a failure status
        out.write(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}) + "\n")
        out.flush()
        return 1
    finally:
        loop.close()


if __name__ == "__main__":
    sys.exit(main())
