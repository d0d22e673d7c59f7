"""picows load client: a WSListener that sends the payload again from ``on_ws_frame``.

Like the picows echo server it takes the payload with ``get_payload_as_bytes()``,
so every client hands the application a ``bytes`` object.  Text messages are
sent as TEXT frames of the UTF-8 bytes and read back as bytes: picows leaves
decoding (and UTF-8 validation) to the application, so it does none here.  Runs on uvloop's
transport (``use_aiofastnet=False``), like every other client.
"""

from __future__ import annotations

import asyncio
import time

from ..common import MAX_SIZE
from ._base import Recorder, ws_url


async def run(command: dict) -> dict:
    from picows import WSCloseCode, WSListener, WSMsgType, ws_connect

    recorder = Recorder(command, text_as_bytes=True)
    msg_type = WSMsgType.TEXT if recorder.text else WSMsgType.BINARY

    class LoadListener(WSListener):
        def __init__(self, recorder: Recorder) -> None:
            super().__init__()
            self.rec = recorder
            self.on_echo = recorder.on_echo
            self.payload = recorder.payload  # the UTF-8 bytes for text
            self.append = recorder.latencies.append
            self.sent = 0
            self.transport = None

        def on_ws_connected(self, transport) -> None:  # type: ignore[no-untyped-def]
            self.transport = transport

        def go(self) -> None:
            self.rec.begin()
            self.sent = time.perf_counter_ns()
            self.transport.send(msg_type, self.payload)  # type: ignore[union-attr]

        def on_ws_frame(self, transport, frame) -> None:  # type: ignore[no-untyped-def]
            now = time.perf_counter_ns()
            if frame.msg_type != msg_type:
                if frame.msg_type == WSMsgType.CLOSE:
                    self.rec.fail(ConnectionError("server closed the connection"))
                return
            self.append(now - self.sent)
            if self.on_echo(frame.get_payload_as_bytes(), now):
                self.sent = time.perf_counter_ns()
                transport.send(msg_type, self.payload)

        def on_ws_disconnected(self, transport) -> None:  # type: ignore[no-untyped-def]
            self.rec.fail(ConnectionError("disconnected"))

    transport, listener = await ws_connect(
        lambda: LoadListener(recorder),
        ws_url(command),
        enable_auto_ping=False,
        max_frame_size=MAX_SIZE,
        use_aiofastnet=False,
    )
    try:
        listener.go()
        await recorder.done
    finally:
        try:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()
            await asyncio.wait_for(transport.wait_disconnected(), 5)
        except Exception:
            transport.disconnect(graceful=False)
    return recorder.result()
