"""Corking: frames sent while one read of several frames is dispatched go out in one write.

A pipelining peer puts many frames in one TCP read; echoing each with its own
``transport.write`` costs a syscall per message. The connection core collects
what ``send()`` builds during that dispatch and writes it once at the end, and
any other frame (pong, close) first flushes what was collected, so the order on
the wire is the order of the calls. A read of one frame is not corked.

These tests drive a server-side connection with a recording transport (no
socket); the C and pure connection cores are both covered because
``test_pure_core.py`` reruns this directory with ``FASTWS_PURE=1``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from codec_helpers import close_payload, encode_frame

from fastws import codec
from fastws.constants import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT
from fastws.protocol import Listener, Options, WebSocket

KEY = b"\x01\x02\x03\x04"


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def writelines(self, parts: Any) -> None:
        self.writes.append(b"".join(bytes(p) for p in parts))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def abort(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 50000) if name == "peername" else default

    def set_write_buffer_limits(self, high: Any = None, low: Any = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Echo(Listener):
    def on_message(self, ws: WebSocket, message: Any) -> None:
        ws.send(message)


class Server(WebSocket):
    def _handshake_data(self, data: bytes) -> None:  # never reached: opened by hand
        raise AssertionError("handshake bytes in a test without a handshake")


@pytest.fixture
def server() -> Any:
    loop = asyncio.new_event_loop()
    ws = Server(False, Options(max_size=None), loop)
    ws.listener = Echo()
    ws.connection_made(RecordingTransport())
    ws._open()
    yield ws
    loop.close()


def frames_of(data: bytes) -> list[tuple[int, bytes]]:
    parser = codec.implementation("python").FrameParser(True, max_message_size=1 << 30)
    return [(f.opcode, f.payload) for f in parser.feed(data)]


def masked(opcode: int, payload: bytes | str = b"") -> bytes:
    return encode_frame(opcode, payload, key=KEY)


def test_one_read_of_many_frames_is_one_write(server: Any) -> None:
    messages = [f"message {i}".encode() for i in range(10)]
    server.data_received(b"".join(masked(OP_BINARY, m) for m in messages))
    assert len(server.transport.writes) == 1
    assert frames_of(server.transport.writes[0]) == [(OP_BINARY, m) for m in messages]
    assert server._corked is None


def test_one_frame_per_read_is_written_at_once(server: Any) -> None:
    for i in range(3):
        server.data_received(masked(OP_TEXT, f"text {i}"))
        assert len(server.transport.writes) == i + 1  # not held back
    assert [frames_of(w) for w in server.transport.writes] == [
        [(OP_TEXT, f"text {i}")] for i in range(3)  # the parser decodes text
    ]


def test_pong_and_close_keep_their_place(server: Any) -> None:
    data = (
        masked(OP_BINARY, b"one")
        + masked(OP_PING, b"p")
        + masked(OP_BINARY, b"two")
        + masked(OP_CLOSE, close_payload(1000))
        + masked(OP_BINARY, b"after close")  # ignored: RFC 6455 §1.4
    )
    server.data_received(data)
    sent = frames_of(b"".join(server.transport.writes))
    assert sent == [
        (OP_BINARY, b"one"),
        (OP_PONG, b"p"),
        (OP_BINARY, b"two"),
        (OP_CLOSE, close_payload(1000)),
    ]
    assert server.transport.closed  # the server closes TCP after the closing handshake


def test_protocol_error_flushes_the_echoes_before_the_close(server: Any) -> None:
    data = masked(OP_BINARY, b"a") + masked(OP_BINARY, b"b") + masked(0x3, b"reserved opcode")
    server.data_received(data)
    sent = frames_of(b"".join(server.transport.writes))
    assert sent[:2] == [(OP_BINARY, b"a"), (OP_BINARY, b"b")]
    assert sent[2][0] == OP_CLOSE and sent[2][1][:2] == (1002).to_bytes(2, "big")
    assert len(sent) == 3


def test_large_message_flushes_the_corked_ones_first(server: Any) -> None:
    big = bytes(range(256)) * 512  # 128 KiB: written as header + payload, not corked
    server.data_received(masked(OP_BINARY, b"small") + masked(OP_BINARY, big) + masked(OP_BINARY, b"end"))
    sent = frames_of(b"".join(server.transport.writes))
    assert sent == [(OP_BINARY, b"small"), (OP_BINARY, big), (OP_BINARY, b"end")]


def test_a_failing_listener_does_not_leave_the_connection_corked(server: Any) -> None:
    class Boom(Listener):
        def on_message(self, ws: WebSocket, message: Any) -> None:
            ws.send(message)
            if message == b"boom":
                raise RuntimeError("listener bug")

    server.listener = Boom()
    server.data_received(masked(OP_BINARY, b"x") + masked(OP_BINARY, b"boom"))
    assert server._corked is None
    sent = frames_of(b"".join(server.transport.writes))
    assert sent[:2] == [(OP_BINARY, b"x"), (OP_BINARY, b"boom")]
    assert sent[2][0] == OP_CLOSE and sent[2][1][:2] == (1011).to_bytes(2, "big")
