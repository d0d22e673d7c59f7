"""fastws load clients: the callback API (fastest path, the load client for every
WebSocket server) and the awaitable API (``await ws.send`` / ``await ws.recv``).

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
from ._base import Recorder, ws_url


def _listener_class():
    from fastws.protocol import Listener

    class LoadListener(Listener):
        """Sends the payload again from ``on_message``: no task, no future per message."""

        def __init__(self, recorder: Recorder, done: asyncio.Future) -> None:
            self.rec = recorder
            self.done = done
            self.size = recorder.length
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
    payload = recorder.payload
    append = recorder.latencies.append
    perf = time.perf_counter_ns
    ws = await connect(ws_url(command), max_size=MAX_SIZE, ping_interval=None, compression=None)
    size = recorder.length
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


def _window_listener_class():
    from fastws.protocol import Listener

    class WindowListener(Listener):
        """Keeps ``window`` messages in flight; many of these may share one recorder.

        The echo stream is in order, so each echo's latency is measured from the
        oldest send still outstanding on its connection.
        """

        def __init__(self, recorder: Recorder, done: asyncio.Future, window: int) -> None:
            self.rec = recorder
            self.done = done
            self.window = window
            self.size = recorder.length
            self.payload = recorder.payload
            self.append = recorder.latencies.append
            self.sent_at: collections.deque[int] = collections.deque()
            self.unchecked = True

        def go(self, ws) -> None:  # type: ignore[no-untyped-def]
            for _ in range(self.window):
                self.sent_at.append(time.perf_counter_ns())
                ws.send(self.payload)

        def on_message(self, ws, message) -> None:  # type: ignore[no-untyped-def]
            now = time.perf_counter_ns()
            if self.done.done():
                return  # in flight when the window closed
            self.append(now - self.sent_at.popleft())
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
            self.sent_at.append(time.perf_counter_ns())
            ws.send(self.payload)

        def on_close(self, ws, code, reason) -> None:  # type: ignore[no-untyped-def]
            if not self.done.done():
                self.done.set_exception(ConnectionError(f"connection closed: {code} {reason}"))

    return WindowListener


DEFAULT_WINDOW = 16
DEFAULT_CONNECTIONS = 256
CONNECT_AT_ONCE = 32  # handshakes in progress at a time: stays under every server's listen backlog


async def _run_windows(command: dict, connections: int, window: int) -> dict:
    from fastws.client import connect

    loop = asyncio.get_running_loop()
    recorder = Recorder(command)
    done = loop.create_future()
    cls = _window_listener_class()
    listeners = [cls(recorder, done, window) for _ in range(connections)]
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
        await done
    finally:
        await asyncio.gather(*(_close(ws) for ws in sockets))
    result = recorder.result()
    result["window"] = window
    result["connections"] = connections
    return result


async def run_pipelined(command: dict) -> dict:
    return await _run_windows(command, 1, int(command.get("window") or DEFAULT_WINDOW))


async def run_connections(command: dict) -> dict:
    return await _run_windows(command, int(command.get("connections") or DEFAULT_CONNECTIONS), 1)


async def _close(ws) -> None:  # type: ignore[no-untyped-def]
    try:
        await asyncio.wait_for(ws.close(), 5)
    except Exception:
        ws.abort()
