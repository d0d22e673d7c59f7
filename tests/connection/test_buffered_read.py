"""Reads go through asyncio.BufferedProtocol into one buffer per thread, shared by its connections.

The buffer is lent to the transport by ``get_buffer`` and parsed by ``buffer_updated``
before the next read; the parser keeps nothing of it. These tests check that the lent
buffer is writable, per thread, and that connections on loops in two threads at once,
with messages that span many reads, never see each other's bytes. The pure core is
covered by ``test_pure_core.py`` rerunning this directory with ``FASTWS_PURE=1``.
"""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any

import pytest

import fastws
from fastws.echo import EchoListener
from fastws.protocol import Options, WebSocket
from fastws.runner import new_event_loop

pytestmark = pytest.mark.timeout(60)


def lent_buffer() -> memoryview:
    ws = WebSocket(False, Options(), asyncio.new_event_loop())
    try:
        return ws.get_buffer(-1)
    finally:
        ws.loop.close()


def test_lent_buffer_is_writable_and_per_thread() -> None:
    first, again = lent_buffer(), lent_buffer()
    assert isinstance(first, memoryview) and not first.readonly and len(first) >= 64 * 1024
    assert first.obj is again.obj  # shared by the connections of this thread
    other: list[Any] = []
    thread = threading.Thread(target=lambda: other.append(lent_buffer()))
    thread.start()
    thread.join()
    assert other[0].obj is not first.obj


def test_sliced_buffer_is_a_view() -> None:
    """asyncio's SSL transport reads into ``buf[offset:]``: that must write into the buffer."""
    buf = lent_buffer()
    buf[10:][:3] = b"abc"
    assert bytes(buf[10:13]) == b"abc"


async def echo_many(seed: int, count: int) -> int:
    rng = random.Random(seed)
    messages = [rng.randbytes(rng.choice([0, 1, 125, 126, 4000, 70_000, 300_000])) for _ in range(count)]
    async with await fastws.serve(EchoListener, "127.0.0.1", 0, compression=None, max_size=1 << 20) as srv:
        async with fastws.connect(f"ws://127.0.0.1:{srv.port}/", compression=None, max_size=1 << 20) as ws:
            for i in range(0, count, 8):  # a few in flight: reads hold several frames and parts of frames
                batch = messages[i : i + 8]
                for message in batch:
                    await ws.send(message)
                for message in batch:
                    assert await ws.recv() == message
    return count


@pytest.mark.parametrize("loop_kind", ["asyncio", "uvloop"])
def test_two_threads_share_nothing(loop_kind: str) -> None:
    if loop_kind == "uvloop":
        pytest.importorskip("uvloop")
    results: dict[int, Any] = {}

    def worker(seed: int) -> None:
        loop = new_event_loop(loop_kind)
        try:
            results[seed] = loop.run_until_complete(asyncio.wait_for(echo_many(seed, 200), 45))
        except BaseException as exc:  # reported by the assertion below
            results[seed] = exc
        finally:
            loop.close()

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(55)
    assert results == {1: 200, 2: 200}


def test_buffer_updated_parses_the_buffer_it_lent() -> None:
    """Another thread may take its buffer while this read is in progress (the GIL is free during
    the read syscall), and a dead thread's id may be reused: buffer_updated must still parse
    exactly the buffer get_buffer lent."""
    from codec_helpers import encode_frame
    from test_corking import Echo, RecordingTransport, Server, frames_of

    from fastws.constants import OP_BINARY

    def dead_thread_takes_a_buffer() -> None:
        lent_buffer()

    seen: list[Any] = []

    def reader() -> None:
        loop = asyncio.new_event_loop()
        try:
            ws = Server(False, Options(), loop)
            ws.listener = Echo()
            ws.connection_made(RecordingTransport())
            ws._open()
            buf = ws.get_buffer(-1)
            frame = encode_frame(OP_BINARY, b"hello", key=b"\x01\x02\x03\x04")
            buf[: len(frame)] = frame
            other = threading.Thread(target=dead_thread_takes_a_buffer)  # "during the read"
            other.start()
            other.join()
            ws.buffer_updated(len(frame))
            seen.extend(frames_of(b"".join(ws.transport.writes)))
        finally:
            loop.close()

    for _ in range(3):  # thread ids are often reused: a reader may inherit a dead thread's id
        first = threading.Thread(target=dead_thread_takes_a_buffer)
        first.start()
        first.join()
        thread = threading.Thread(target=reader)
        thread.start()
        thread.join()
    assert seen == [(OP_BINARY, b"hello")] * 3


def opened_server() -> Any:
    from test_corking import Echo, RecordingTransport, Server

    ws = Server(False, Options(max_size=None), asyncio.new_event_loop())
    ws.listener = Echo()
    ws.connection_made(RecordingTransport())
    ws._open()
    return ws


def read_like_a_transport(ws: Any, data: bytes, chunk: int) -> None:
    """Feed ``data`` through get_buffer/buffer_updated, at most ``chunk`` bytes per read."""
    pos = 0
    while pos < len(data):
        buf = ws.get_buffer(-1)
        n = min(len(buf), chunk, len(data) - pos)
        buf[:n] = data[pos : pos + n]
        ws.buffer_updated(n)
        pos += n


@pytest.mark.parametrize("chunk", [1000, 65536, 300_000, 2_000_000])
def test_large_payloads_over_many_reads(chunk: int) -> None:
    """Whatever the reads, each message arrives whole and unmasked, then the next."""
    from codec_helpers import encode_frame
    from test_corking import frames_of

    from fastws.constants import OP_BINARY, OP_TEXT

    rng = random.Random(chunk)
    big = rng.randbytes(1_000_003)
    text = ("é" * 100_000).encode()
    data = (
        encode_frame(OP_BINARY, big, key=b"\x01\x02\x03\x04")
        + encode_frame(OP_TEXT, text, key=b"\x05\x06\x07\x08")
        + encode_frame(OP_BINARY, b"small", key=b"\x09\x0a\x0b\x0c")
    )
    ws = opened_server()
    try:
        read_like_a_transport(ws, data, chunk)
        assert frames_of(b"".join(ws.transport.writes)) == [
            (OP_BINARY, big),
            (OP_TEXT, text.decode()),
            (OP_BINARY, b"small"),
        ]
    finally:
        ws.loop.close()


def test_invalid_utf8_over_many_reads_fails_fast() -> None:
    from codec_helpers import encode_frame
    from test_corking import frames_of

    from fastws.constants import OP_CLOSE, OP_TEXT

    payload = b"a" * 150_000 + b"\xed\xa0\x80" + b"b" * 150_000
    frame = encode_frame(OP_TEXT, payload, key=b"\x01\x02\x03\x04")
    ws = opened_server()
    try:
        read_like_a_transport(ws, frame[: 8 + 160_000], 70_000)  # up to just past the bad bytes
        sent = frames_of(b"".join(ws.transport.writes))
        assert [op for op, _ in sent] == [OP_CLOSE]
        assert sent[0][1][:2] == (1007).to_bytes(2, "big")
    finally:
        ws.loop.close()
