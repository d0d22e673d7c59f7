"""fastws load clients: the callback API (fastest path, the load client for every
WebSocket server) and the awaitable API (``await ws.send`` / ``await ws.recv``).

All three callback clients are one listener class with a window of messages
in flight, on one or more connections:

* ``run_callback``: one connection, one message in flight (round trip).
* ``run_pipelined``: one connection, ``command["window"]`` messages in flight.
* ``run_connections``: ``command["connections"]`` connections, one message in
  flight on each, one shared measured window (total messages/s).

Messages are binary, or text when ``command["kind"] == "text"``.
"""

from __future__ import annotations

import asyncio
import collections
import time

from ..common import MAX_SIZE
from ._base import Recorder, await_loop, ws_url


def _listener_class():
    from fastws.protocol import Listener

    class LoadListener(Listener):
        """Keeps ``window`` messages in flight, sending the payload again from ``on_message``
        (no task, no future per message); many of these may share one recorder.

        The echo stream is in order, so each echo's latency is measured from the
        oldest send still outstanding on its connection.
        """

        def __init__(self, recorder: Recorder, window: int) -> None:
            self.rec = recorder
            self.done = recorder.done
            self.on_echo = recorder.on_echo
            self.window = window
            self.payload = recorder.payload
            self.append = recorder.latencies.append
            self.sent_at: collections.deque[int] = collections.deque()

        def go(self, ws) -> None:  # type: ignore[no-untyped-def]
            for _ in range(self.window):
                self.sent_at.append(time.perf_counter_ns())
                ws.send(self.payload)

        def on_message(self, ws, message) -> None:  # type: ignore[no-untyped-def]
            now = time.perf_counter_ns()
            if self.done.done():
                return  # in flight when the window closed
            self.append(now - self.sent_at.popleft())
            if self.on_echo(message, now):
                self.sent_at.append(time.perf_counter_ns())
                ws.send(self.payload)

        def on_close(self, ws, code, reason) -> None:  # type: ignore[no-untyped-def]
            self.rec.fail(ConnectionError(f"connection closed: {code} {reason}"))

    return LoadListener


async def run_callback(command: dict) -> dict:
    return await _run_windows(command, 1, 1)


async def run_await(command: dict) -> dict:
    from fastws.client import connect

    recorder = Recorder(command)
    ws = await connect(ws_url(command), max_size=MAX_SIZE, ping_interval=None, compression=None)
    try:
        await await_loop(recorder, ws.send, ws.recv)
    finally:
        await close(ws)
    return recorder.result()


DEFAULT_WINDOW = 16
DEFAULT_CONNECTIONS = 256
CONNECT_AT_ONCE = 32  # handshakes in progress at a time: stays under every server's listen backlog


async def _run_windows(command: dict, connections: int, window: int) -> dict:
    from fastws.client import connect

    recorder = Recorder(command)
    cls = _listener_class()
    listeners = [cls(recorder, window) for _ in range(connections)]
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)

    async def open_one(listener):  # type: ignore[no-untyped-def]
        async with gate:
            return await connect(
                ws_url(command),
                listener=lambda: listener,
                max_size=MAX_SIZE,
                ping_interval=None,
                compression=None,
            )

    results = await asyncio.gather(*(open_one(lst) for lst in listeners), return_exceptions=True)
    sockets = [r for r in results if not isinstance(r, BaseException)]
    try:
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise ConnectionError(f"{len(failed)} of {connections} connections failed: {failed[0]!r}")
        recorder.begin()  # connecting is not measured: the warm-up starts with every connection open
        for listener, ws in zip(listeners, sockets):
            listener.go(ws)
        await recorder.done
    finally:
        await asyncio.gather(*(close(ws) for ws in sockets))
    return recorder.result()


async def run_pipelined(command: dict) -> dict:
    window = int(command.get("window") or DEFAULT_WINDOW)
    return {**await _run_windows(command, 1, window), "window": window, "connections": 1}


async def run_connections(command: dict) -> dict:
    connections = int(command.get("connections") or DEFAULT_CONNECTIONS)
    return {**await _run_windows(command, connections, 1), "window": 1, "connections": connections}


async def close(ws) -> None:  # type: ignore[no-untyped-def]
    try:
        await asyncio.wait_for(ws.close(), 5)
    except Exception:
        ws.abort()
