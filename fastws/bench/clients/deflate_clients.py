"""Load clients of the permessage-deflate mode (``fastws bench --compression``).

They send text messages: the chat-like JSON documents of ``payloads.py``, a
pool of distinct documents in turn, and compare every echo with what was sent
(the echo of a compressed message went through two inflates and two deflates).
Every client offers permessage-deflate with the same settings, those of the
servers' "equal" preset: it asks for a 12-bit server window
(``server_max_window_bits=12``), promises a 12-bit window of its own
(``client_max_window_bits=12``), and compresses at level 1, memLevel 5.  So
every server compresses with a 12-bit window (aiohttp included, which would use
15 otherwise), and every server inflates the same client output.

* ``run_fastws``: fastws callback client, one message in flight (the load client).
* ``run_fastws_pipelined``: the same with ``command["window"]`` messages in
  flight (default 16): throughput rather than round trips.
* ``run_websockets``: websockets' client, one message in flight, to show the
  load client is not what limits the comparison.

Byte counters from /proc/<pid>/io are read at the window boundaries, so the
result holds the bytes each side wrote per message: the compressed size on
the wire (frame headers included).
"""

from __future__ import annotations

import collections
import time
from typing import Any

from ..common import MAX_SIZE
from ..payloads import json_pool
from ._base import EchoMismatch, Recorder, ws_url
from .fastws_clients import close

WINDOW_BITS = 12
LEVEL = 1
MEM_LEVEL = 5
DEFAULT_WINDOW = 16


class TextRecorder(Recorder):
    """A Recorder for a pool of text documents, with byte counters."""

    io = True

    def __init__(self, command: dict) -> None:
        self.pool: tuple[str, ...] = json_pool(command["size"])
        self.extension = "?"  # the agreed permessage-deflate parameters, as the client saw them
        self.pool_size = len(self.pool)
        self.received = 0  # echoes so far: the one expected next is pool[received % pool_size]
        super().__init__(command)

    def on_echo(self, message: Any, now: int) -> bool:
        """Every echo is compared with the document sent (they are all different)."""
        index = self.received
        self.received += 1
        if message != self.pool[index % self.pool_size]:
            self.fail(self.mismatch(message, index))
            return False
        self.checked += 1
        return now < self.deadline or self.at_deadline(now)

    def mismatch(self, got: Any, index: int) -> EchoMismatch:
        what = f"{len(got)} characters" if isinstance(got, str) else f"a {type(got).__name__}"
        return EchoMismatch(f"echo #{index} ({what}) differs from document {index % len(self.pool)} sent")

    def result(self) -> dict:
        out = super().result()
        count = out["messages"]
        for side in ("server", "client"):
            for kind in ("wchar", "rchar"):
                key = f"{side}_{kind}"
                if key in out and count:
                    out[f"{key}_per_msg"] = out[key] / count
        if out.get("server_wchar_per_msg"):
            out["wire_ratio_out"] = self.size / out["server_wchar_per_msg"]
        if out.get("server_rchar_per_msg"):
            out["wire_ratio_in"] = self.size / out["server_rchar_per_msg"]
        out["extension"] = self.extension
        out["pool"] = len(self.pool)
        out["text"] = True
        return out


# --- fastws -------------------------------------------------------------------


def _fastws_listener_class():
    from fastws.protocol import Listener

    class DeflateLoadListener(Listener):
        """Sends the next document from ``on_message``; ``window`` messages in flight."""

        def __init__(self, recorder: TextRecorder, window: int) -> None:
            self.rec = recorder
            self.done = recorder.done
            self.on_echo = recorder.on_echo
            self.window = window
            self.pool = recorder.pool
            self.n = len(recorder.pool)
            self.append = recorder.latencies.append
            self.sent_at: collections.deque[int] = collections.deque()
            self.next_send = 0

        def go(self, ws) -> None:  # type: ignore[no-untyped-def]
            self.rec.begin()
            for _ in range(self.window):
                self._send(ws)

        def _send(self, ws) -> None:  # type: ignore[no-untyped-def]
            self.sent_at.append(time.perf_counter_ns())
            ws.send(self.pool[self.next_send % self.n])
            self.next_send += 1

        def on_message(self, ws, message) -> None:  # type: ignore[no-untyped-def]
            now = time.perf_counter_ns()
            if self.done.done():
                return  # in flight when the window closed
            self.append(now - self.sent_at.popleft())
            if self.on_echo(message, now):
                self._send(ws)

        def on_close(self, ws, code, reason) -> None:  # type: ignore[no-untyped-def]
            self.rec.fail(ConnectionError(f"connection closed: {code} {reason}"))

    return DeflateLoadListener


async def _run_fastws(command: dict, window: int) -> dict:
    from fastws.client import connect

    recorder = TextRecorder(command)
    listener = _fastws_listener_class()(recorder, window)
    ws = await connect(
        ws_url(command),
        listener=lambda: listener,
        max_size=MAX_SIZE,
        ping_interval=None,
        compression="deflate",
        compression_options={
            "client_max_window_bits": WINDOW_BITS,
            "server_max_window_bits": WINDOW_BITS,
            "level": LEVEL,
            "mem_level": MEM_LEVEL,
        },
    )
    session = ws._deflate
    recorder.extension = (
        "; ".join(k if v is None else f"{k}={v}" for k, v in session.params) or "(no parameters)"
        if session is not None
        else "none (not negotiated)"
    )
    try:
        listener.go(ws)
        await recorder.done
    finally:
        await close(ws)
    result = recorder.result()
    result["window"] = window
    return result


async def run_fastws(command: dict) -> dict:
    return await _run_fastws(command, 1)


async def run_fastws_pipelined(command: dict) -> dict:
    return await _run_fastws(command, int(command.get("window") or DEFAULT_WINDOW))


# --- websockets -----------------------------------------------------------------


async def run_websockets(command: dict) -> dict:
    from websockets.asyncio.client import connect
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

    recorder = TextRecorder(command)
    pool, n = recorder.pool, len(recorder.pool)
    append = recorder.latencies.append
    on_echo = recorder.on_echo
    perf = time.perf_counter_ns
    factory = ClientPerMessageDeflateFactory(
        server_max_window_bits=WINDOW_BITS,
        client_max_window_bits=WINDOW_BITS,
        compress_settings={"level": LEVEL, "memLevel": MEM_LEVEL},
    )
    async with connect(
        ws_url(command),
        compression=None,
        extensions=[factory],
        max_size=MAX_SIZE,
        ping_interval=None,
        proxy=None,
    ) as ws:
        agreed = next((e for e in ws.protocol.extensions if e.name == "permessage-deflate"), None)
        recorder.extension = repr(agreed) if agreed is not None else "none (not negotiated)"
        recorder.begin()
        i = 0
        while True:
            expected = pool[i % n]
            sent = perf()
            await ws.send(expected)
            message = await ws.recv()
            now = perf()
            append(now - sent)
            i += 1
            if not on_echo(message, now):
                break
    await recorder.done
    return recorder.result()
