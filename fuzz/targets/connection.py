"""The sans-IO connection: the compiled core (fastws._connection_c, C codec and deflate)
against the pure one (fastws._connection_py, pure codec and deflate), each writing
into a MemorySink, driven by the same random bytes and calls.

Input: a flags byte (role, listener, deflate, small limits), then operations:
peer bytes (raw, or a frame built from the input, compressed or not, through
``data_received`` or the lent buffer), send, send_fragment, send_ping, close, fail,
pause/resume reading and writing, timer_fired, next_message, connection_lost and
clock steps. The whole script runs on one core, then on the other, with the same
"random" bytes (os.urandom is replaced for the run), and every step's result,
exception, frames written (unmasked, inflated), sink actions, state, close code,
timers and listener events must be the same.
"""

from __future__ import annotations

import os
import random
import zlib
from collections.abc import Iterator
from typing import Any

from fastws.deflate import PerMessageDeflate
from fastws.listener import Listener
from fastws.options import Options

from ..common import Reader, Writer, same
from ..impls import CODEC_PY, CONNECTION_C, CONNECTION_PY

CLIENT, LISTENER, DEFLATE, SMALL, ECHO = 1, 2, 4, 8, 16
KEY = b"\x37\xfa\x21\x3d"
OPCODES = (0, 1, 2, 8, 9, 10, 3, 11)
CLOSE_CODES = (1000, 1001, 1002, 1005, 1006, 1011, 1015, 2999, 3000, 4999, 5000, 0)
TIMERS = ("keepalive", "close", "linger", "other", "turn")


class Recorder(Listener):
    def __init__(self, echo: bool) -> None:
        self.events: list = []
        self.echo = echo

    def on_open(self, ws: Any) -> None:
        self.events.append(("open",))

    def on_message(self, ws: Any, message: Any) -> None:
        self.events.append(("message", message))
        if self.echo and ws.open and not ws.sending_fragments:
            ws.send(message)

    def on_ping(self, ws: Any, payload: bytes) -> None:
        self.events.append(("ping", payload))

    def on_pong(self, ws: Any, payload: bytes) -> None:
        self.events.append(("pong", payload))

    def on_close(self, ws: Any, code: int, reason: str) -> None:
        self.events.append(("close", code, reason))

    def on_error(self, ws: Any, exc: BaseException) -> None:
        self.events.append(("error", type(exc).__name__, str(exc)))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class WireReader:
    """What a connection wrote, as its peer reads it: frames unmasked, compressed ones inflated."""

    def __init__(self, client: bool) -> None:
        self.parser = CODEC_PY.FrameParser(not client, assemble=False, allow_rsv1=True)
        self.inflater = zlib.decompressobj(-15)
        self.compressed = False

    def read(self, data: bytes) -> list:
        try:
            frames = self.parser.feed(data)
        except Exception as exc:  # the connection wrote something invalid: that is a finding of its own
            raise AssertionError(f"the connection wrote an invalid frame: {exc!r}") from None
        out = []
        for f in frames:
            payload = f.payload
            if f.opcode < 8 and (f.rsv1 or (f.opcode == 0 and self.compressed)):
                self.compressed = not f.fin
                payload = (
                    "inflated",
                    self.inflater.decompress(payload + (b"\0\0\xff\xff" if f.fin else b"")),
                )
            elif f.opcode < 8:
                self.compressed = False
            out.append((f.opcode, f.fin, f.rsv1, payload))
        return out


def _random_bytes(seed: int) -> Any:
    rng = random.Random(seed)
    return lambda n: rng.randbytes(n)


def _state(conn: Any, sink: Any, wire: WireReader, listener: Any) -> tuple:
    return (
        wire.read(sink.data_to_send()),
        (sink.reading, sink.closed, sink.aborted),
        int(conn.state), conn.close_code, conn.close_reason, conn.close_received, conn.writing_paused,
        conn.sending_fragments, conn.latency, dict(conn.timers or {}), len(conn.messages),
        listener.events[:] if listener is not None else None,
    )  # fmt: skip


def _peer_frame(r: Reader, client: bool, peer_deflate: Any) -> bytes:
    head = r.byte()
    opcode = OPCODES[head & 7]
    fin, rsv1 = not head & 8, bool(head & 16)
    payload = r.block() if head & 32 else r.take(r.byte() & 15)
    if rsv1 and head & 64:  # really compressed, as a permessage-deflate peer sends it
        payload = peer_deflate.compress(payload) + peer_deflate.flush(zlib.Z_SYNC_FLUSH)
        payload = payload[:-4] if fin else payload
    n = len(payload)
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if head & 128 and not rsv1 else 0) | opcode
    length = bytes([n]) if n < 126 else bytes([126]) + n.to_bytes(2, "big")
    if client:  # the peer is a server: unmasked
        return bytes([b0, length[0]]) + length[1:] + payload
    masked = bytes(b ^ KEY[i & 3] for i, b in enumerate(payload))
    return bytes([b0, 0x80 | length[0]]) + length[1:] + KEY + masked


def run(module: Any, data: bytes) -> list:
    r = Reader(data)
    flags = r.byte()
    client = bool(flags & CLIENT)
    options = (
        Options(max_size=300, max_queue=2, write_limit=100, ping_timeout=5.0) if flags & SMALL else Options()
    )
    listener = Recorder(bool(flags & ECHO)) if flags & LISTENER else None
    conn = module.Connection(client, options, listener=listener)
    conn.clock = clock = Clock()
    if flags & SMALL:
        conn._inflate_per_turn = 64  # messages inflated across turns
    sink, wire = conn.sink, WireReader(client)
    peer_deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflate = None
    if flags & DEFLATE:
        impl = "c" if module is CONNECTION_C else "python"
        deflate = PerMessageDeflate(threshold=0, implementation=impl).make_session([], is_client=client)
    trace: list = []

    def step(name: str, call: Any) -> None:
        try:
            result = call()
            result = result if isinstance(result, (bytes, str, type(None))) else type(result).__name__
        except Exception as exc:
            result = ("raised", type(exc).__name__, str(exc))
        trace.append((name, result, _state(conn, sink, wire, listener)))

    step("start", lambda: conn.start(deflate, r.take(r.byte() & 7)))
    while r:
        op = r.byte() % 16
        if op in (0, 1, 2):
            frames = b"".join(_peer_frame(r, client, peer_deflate) for _ in range(1 + op))
            step("frames", lambda: conn.data_received(frames))
        elif op == 3:
            raw = r.block()
            step("bytes", lambda: conn.data_received(raw))
        elif op == 4:
            raw = r.block()

            def lent() -> None:
                buffer = conn.get_buffer(len(raw))
                buffer[: len(raw)] = raw[: len(buffer)]
                conn.buffer_updated(min(len(raw), len(buffer)))

            step("lent buffer", lent)
        elif op in (5, 6):
            kind = r.byte()
            body = r.block()
            message: Any = body.decode("utf-8", "replace") if kind & 1 else body
            if kind & 4 and isinstance(message, bytes):  # text=True takes UTF-8 on trust (documented)
                message = message.decode("utf-8", "replace").encode()
            step("send", lambda: conn.send(message, compress=bool(kind & 2), text=bool(kind & 4)))
        elif op == 7:
            kind = r.byte()
            part = r.take(r.byte() & 31)
            fragment = part.decode("latin-1") if kind & 1 else part
            step(
                "send_fragment",
                lambda: conn.send_fragment(fragment, final=bool(kind & 2), compress=bool(kind & 4)),
            )
        elif op == 8:
            size = r.byte()
            payload = None if size == 0 else r.take(size & 127)
            step("send_ping", lambda: conn.send_ping(payload))
        elif op == 9:
            code = CLOSE_CODES[r.byte() % len(CLOSE_CODES)]
            reason = "x" * (r.byte() & 127)
            step("close", lambda: conn.close(code, reason))
        elif op == 10:
            code = CLOSE_CODES[r.byte() % len(CLOSE_CODES)]
            step("fail", lambda: conn.fail(code, "failed " * (r.byte() & 31)))
        elif op == 11:
            which = r.byte() & 3
            step(
                "pause/resume",
                [conn.pause_reading, conn.resume_reading, conn.pause_writing, conn.resume_writing][which],
            )
        elif op == 12:
            name = TIMERS[r.byte() % len(TIMERS)]
            step(f"timer {name}", lambda: conn.timer_fired(name))
        elif op == 13:
            step("next_message", conn.next_message)
        elif op == 14:
            clock.now += r.byte() / 8
        else:
            step(
                "connection_lost",
                lambda: conn.connection_lost(None if r.byte() & 1 else ConnectionResetError()),
            )
    return trace


def test_one_input(data: bytes) -> None:
    urandom, active_codec = os.urandom, CONNECTION_PY.codec
    CONNECTION_PY.codec = CODEC_PY  # the pure core on the pure codec (it imports the active one)
    try:
        results = []
        for module in (CONNECTION_C, CONNECTION_PY):
            os.urandom = _random_bytes(len(data))  # type: ignore[assignment]
            results.append(run(module, data))
    finally:
        os.urandom, CONNECTION_PY.codec = urandom, active_codec
    c, py = results
    for i, (a, b) in enumerate(zip(c, py)):
        same(f"connection step {i} ({a[0]}), flags={data[:1].hex()}", a, b)
    same("connection steps", len(c), len(py))


def seeds() -> Iterator[bytes]:
    from .. import corpus

    for flags in (0, CLIENT, LISTENER | ECHO, DEFLATE | CLIENT, DEFLATE | LISTENER | SMALL, SMALL | CLIENT):
        ops = Writer().byte(flags).byte(0)
        ops.byte(5).byte(1).block(b"hello").byte(8).byte(4).raw(b"ping")
        ops.byte(0).byte(0x21 | 0x40 * bool(flags & DEFLATE) | 0x10 * bool(flags & DEFLATE)).block(
            b"abc" * 50
        )
        ops.byte(1).byte(9).byte(0).byte(2 | 8).byte(3).raw(b"abc").byte(0).byte(3).raw(b"def")
        ops.byte(13).byte(7).byte(1).byte(3).raw(b"xyz").byte(7).byte(3).byte(2).raw(b"!!")
        ops.byte(12).byte(0).byte(14).byte(200).byte(12).byte(0).byte(9).byte(0).byte(3)
        ops.byte(0).byte(8).byte(2).raw(b"\x03\xe8").byte(12).byte(1).byte(15).byte(0)
        yield ops.bytes()
        client = bool(flags & CLIENT)
        for stream_client, stream in list(corpus.frame_streams())[::7]:
            if stream_client == client and len(stream) < 4096:
                yield (
                    Writer()
                    .byte(flags)
                    .byte(0)
                    .byte(3)
                    .block(stream)
                    .byte(13)
                    .byte(9)
                    .byte(0)
                    .byte(0)
                    .bytes()
                )
