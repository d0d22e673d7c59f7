"""How each library is driven, one function per (operation, implementation).

Every driver returns a :class:`Bench`: the callable that pytest-benchmark times,
its arguments, and the entry point used (recorded in ``extra_info``).  Where the
library's own API is a plain C function (masking, UTF-8, most builders) the
callable *is* that function, so the timing holds no Python wrapper; the parsers
are driven through a small closure, which is noise next to parsing a 1 MiB buffer.

Each driver checks its output once against a reference before it is timed, so a
benchmark can't silently measure a mis-driven library.

fastws itself is never skipped: if ``fastws._codec_c`` (or ``fastws._codec_py``)
can't be imported, the benchmark fails with the reason.  Peers that can't be
imported are skipped (``pytest.importorskip``).
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import functools
import gc
import importlib
import logging
import operator
import socket
from typing import Any, Callable, NamedTuple

import pytest

from ._payloads import (
    OP_BINARY,
    OP_TEXT,
    client_stream,
    decode_single_frame,
    payload,
    xor_mask,
)

MAX_SIZE = 16 * 1024 * 1024  # frame / message limit handed to every parser


class Bench(NamedTuple):
    fn: Callable[..., Any]
    args: tuple
    api: str
    notes: str = ""


# --- loading ---------------------------------------------------------------------


@functools.cache
def _fastws_or_error(impl: str) -> tuple[Any, str]:
    name = {"c": "fastws._codec_c", "python": "fastws._codec_py"}[impl]
    try:
        mod = importlib.import_module(name)
    except ImportError as exc:
        hint = " (build it: `pip install -e .` in the repo root)" if impl == "c" else ""
        return None, f"{name} is not importable: {exc}{hint}"
    got = getattr(mod, "IMPLEMENTATION", None)
    if got != impl:
        return None, f"{name}.IMPLEMENTATION is {got!r}, expected {impl!r}"
    if impl == "c" and not str(getattr(mod, "__file__", "")).endswith((".so", ".pyd")):
        return None, f"{name} was loaded from {mod.__file__!r}, not a compiled extension"
    return mod, ""


def fastws(impl: str) -> Any:
    """The fastws codec module; a missing one FAILS the benchmark (never skips)."""
    mod, error = _fastws_or_error(impl)
    if mod is None:
        pytest.fail(error, pytrace=False)
    return mod


def fastws_problem(impl: str) -> str:
    """Empty when the implementation loads, else why not (for the session summary)."""
    return _fastws_or_error(impl)[1]


def _peer(module: str) -> Any:
    """Import a peer library, or skip the benchmark saying why (also when it is
    installed but broken, e.g. a compiled module built for another Python)."""
    return pytest.importorskip(module, exc_type=ImportError)


def _check(got: Any, want: Any, what: str) -> None:
    if got != want:
        raise AssertionError(f"{what}: driver self-check failed")


def with_gc(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with the garbage collector enabled while it runs (pytest-benchmark's
    ``--benchmark-disable-gc`` turns it off around the timed loop)."""

    def run(*args: Any) -> Any:
        was_enabled = gc.isenabled()
        gc.enable()
        try:
            return fn(*args)
        finally:
            if not was_enabled:
                gc.disable()

    return run


# --- shared fakes ----------------------------------------------------------------

_LOOP: asyncio.AbstractEventLoop | None = None
_SOCKETS: list[socket.socket] = []


def _loop() -> asyncio.AbstractEventLoop:
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
    return _LOOP


@atexit.register
def _cleanup() -> None:
    for sock in _SOCKETS:
        sock.close()
    if _LOOP is not None:
        _LOOP.close()


def _quiet_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.setLevel(logging.ERROR)
    return logger


class _SinkTransport:
    """Just enough of an asyncio transport for picows and aiohttp.

    ``write``/``writelines`` are a C-level discard (a ``deque(maxlen=0)``), or a
    list append when ``capture`` is set (for the self-checks).
    ``get_write_buffer_size`` answers 1 so picows never takes its direct
    ``send(2)`` fast path: it hands its frame to ``write`` as ``bytes`` instead,
    the same kind of object the other builders return.
    """

    def __init__(self, capture: list | None = None) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # never connected
        _SOCKETS.append(sock)
        self._extra = {
            "socket": sock,
            "peername": ("127.0.0.1", 50001),
            "sockname": ("127.0.0.1", 50000),
            "ssl_object": None,
        }
        if capture is None:
            sink = collections.deque(maxlen=0)
            self.write = sink.append
            self.writelines = sink.append
        else:
            self.write = capture.append
            self.writelines = lambda parts: capture.append(b"".join(parts))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def get_write_buffer_size(self) -> int:
        return 1

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


# --- masking ---------------------------------------------------------------------


def mask(impl: str, data: bytes, key: bytes) -> Bench:
    want = xor_mask(data, key)
    if impl in ("fastws-c", "fastws-python"):
        mod = fastws(impl.split("-")[1])
        _check(mod.mask(data, key), want, impl)
        return Bench(mod.mask, (data, key), f"{mod.__name__}.mask (copy)")
    if impl in ("fastws-c (inplace)", "fastws-python (inplace)"):
        mod = fastws(impl.split()[0].split("-")[1])
        probe = bytearray(data)
        mod.mask_inplace(probe, key)
        _check(bytes(probe), want, impl)
        return Bench(mod.mask_inplace, (bytearray(data), key), f"{mod.__name__}.mask_inplace")
    if impl == "websockets":
        speedups = _peer("websockets.speedups")
        _check(speedups.apply_mask(data, key), want, impl)
        return Bench(speedups.apply_mask, (data, key), "websockets.speedups.apply_mask (copy)")
    if impl == "aiohttp (inplace)":
        mask_mod = _peer("aiohttp._websocket.mask")
        fn = mask_mod._websocket_mask_cython
        probe = bytearray(data)
        fn(key, probe)
        _check(bytes(probe), want, impl)
        return Bench(fn, (key, bytearray(data)), "aiohttp._websocket.mask._websocket_mask_cython (in place)")
    if impl == "wsaccel":
        xormask = _peer("wsaccel.xormask")
        _check(xormask.XorMaskerSimple(key).process(data), want, impl)
        masker = xormask.XorMaskerSimple(key)
        return Bench(
            masker.process,
            (data,),
            "wsaccel.xormask.XorMaskerSimple(key).process (copy)",
            "one masker reused; its key phase carries across calls",
        )
    if impl == "memcpy (into buffer)":
        dst = memoryview(bytearray(len(data)))
        return Bench(
            operator.setitem,
            (dst, slice(None), data),
            "memoryview(dst)[:] = src",
            "physical reference: one read + one write pass, no allocation",
        )
    if impl == "(call overhead)":
        return Bench(
            operator.is_,
            (data, key),
            "operator.is_(data, key)",
            "harness floor: the benchmark loop + one 2-argument C call doing nothing",
        )
    if impl == "memcpy (alloc+copy)":
        return Bench(bytearray, (data,), "bytearray(src)", "physical reference: allocation + copy")
    raise KeyError(impl)


MASK_IMPLS = (
    "fastws-c",
    "fastws-c (inplace)",
    "fastws-python",
    "fastws-python (inplace)",
    "websockets",
    "aiohttp (inplace)",
    "wsaccel",
    "memcpy (into buffer)",
    "memcpy (alloc+copy)",
)


# --- parsing (server side: masked client frames) ------------------------------------

# (whether text payloads are UTF-8 validated, what a "frame" is handed back as)
PARSE_SEMANTICS = {
    "fastws-c": (True, "list of Frame, payload bytes / str"),
    "fastws-python": (True, "list of Frame, payload bytes / str"),
    "picows": (False, "WSFrame pointing into the read buffer; listener only counts"),
    "picows (+payload)": (True, "listener calls get_payload_as_bytes / _as_utf8_text"),
    "aiohttp": (True, "WSMessage tuples in its data queue, text decoded to str"),
    "websockets": (False, "Frame events; Protocol does not decode text (its asyncio layer does)"),
    "wsproto": (True, "Frame tuples, text decoded to str"),
}


def parse(impl: str, kind: str, size: int) -> Bench:
    _, count = client_stream(kind, size)
    bench = _PARSERS[impl](kind, size)
    got = bench.fn(*bench.args)
    if got != count:
        raise AssertionError(f"{impl}: parsed {got} frames, expected {count}")
    return bench


def _parse_fastws(impl: str) -> Callable[[str, int], Bench]:
    def make(kind: str, size: int) -> Bench:
        mod = fastws(impl.split("-")[1])
        buf, count = client_stream(kind, size)
        parser = mod.FrameParser(False, max_frame_size=MAX_SIZE, max_message_size=MAX_SIZE)
        frames = parser.feed(buf)
        # Content check of the first and last frames.
        body = payload(kind, size)
        expect = body.decode("ascii") if kind == "text" else body
        _check((len(frames), frames[0].payload, frames[-1].payload), (count, expect, expect), impl)
        _check(frames[0].opcode, OP_TEXT if kind == "text" else OP_BINARY, impl)

        def run(data: bytes, feed: Callable = parser.feed) -> int:
            return len(feed(data))

        return Bench(run, (buf,), f"{mod.__name__}.FrameParser(client=False).feed")

    return make


def _parse_picows(materialize: bool) -> Callable[[str, int], Bench]:
    def make(kind: str, size: int) -> Bench:
        picows = _peer("picows")
        from picows.picows import WSProtocol

        buf, _ = client_stream(kind, size)
        text = kind == "text"

        class CountingListener(picows.WSListener):
            def __init__(self) -> None:
                super().__init__()
                self.frames = 0

            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                self.frames += 1

        class PayloadListener(picows.WSListener):
            def __init__(self) -> None:
                super().__init__()
                self.frames = 0
                self.out: list = []

            if text:

                def on_ws_frame(self, transport: Any, frame: Any) -> None:
                    self.frames += 1
                    self.out.append(frame.get_payload_as_utf8_text())

            else:

                def on_ws_frame(self, transport: Any, frame: Any) -> None:
                    self.frames += 1
                    self.out.append(frame.get_payload_as_bytes())

        listener = PayloadListener() if materialize else CountingListener()

        async def build() -> Any:
            return WSProtocol(
                None,
                None,
                False,  # host_port, ws_path, is_client_side
                lambda request: listener,  # listener factory
                _quiet_logger("bench.picows"),
                True,  # disconnect_on_exception
                None,  # handshake timeout
                False,
                20,
                20,  # auto ping off
                picows.WSAutoPingStrategy.PING_WHEN_IDLE,
                False,  # auto pong off
                MAX_SIZE,  # max_frame_size
                None,  # extra headers
                2 * len(buf) + 65536,  # read buffer: the whole stream fits at once
            )

        proto = _loop().run_until_complete(build())
        proto.connection_made(_SinkTransport())

        def push(data: bytes) -> None:
            view = memoryview(data)
            pos, end = 0, len(data)
            while pos < end:
                dst = proto.get_buffer(-1)
                n = min(len(dst), end - pos)
                dst[:n] = view[pos : pos + n]
                proto.buffer_updated(n)
                pos += n

        push(
            b"GET / HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        if proto.listener is not listener:
            raise AssertionError("picows: handshake did not complete")

        if materialize:

            def run(data: bytes) -> int:
                listener.out = []
                before = listener.frames
                push(data)
                return listener.frames - before

            api = "picows.picows.WSProtocol get_buffer/buffer_updated -> on_ws_frame + get_payload_as_*"
        else:

            def run(data: bytes) -> int:
                before = listener.frames
                push(data)
                return listener.frames - before

            api = "picows.picows.WSProtocol get_buffer/buffer_updated -> WSListener.on_ws_frame (count)"

        # Content check (first frame of a fresh copy of the stream).
        if materialize:
            run(buf)
            body = payload(kind, size)
            _check(listener.out[0], body.decode("ascii") if text else body, "picows (+payload)")
        return Bench(
            run,
            (buf,),
            api,
            "includes one memcpy of the input into picows' read buffer (its recv_into)",
        )

    return make


def _parse_aiohttp(kind: str, size: int) -> Bench:
    reader_mod = _peer("aiohttp._websocket.reader")
    Queue, Reader = reader_mod.WebSocketDataQueue, reader_mod.WebSocketReader
    buf, _ = client_stream(kind, size)

    class Protocol:  # what WebSocketDataQueue touches on its protocol
        _reading_paused = False

        def pause_reading(self) -> None:
            self._reading_paused = True

        def resume_reading(self) -> None:
            self._reading_paused = False

    proto, loop = Protocol(), _loop()

    def run(data: bytes) -> int:
        # A fresh queue + reader per call: the compiled queue's byte counter is
        # read-only from Python and only drains through its async read().
        queue = Queue(proto, 1 << 30, loop=loop)
        reader = Reader(queue, MAX_SIZE, False, True)  # max_msg_size, compress, decode_text
        reader.feed_data(data)
        if queue.exception() is not None:
            raise queue.exception()
        return len(queue._buffer)

    return Bench(
        run,
        (buf,),
        f"aiohttp._websocket.reader.{Reader.__module__.rsplit('.', 1)[-1]}.WebSocketReader.feed_data",
        "new WebSocketDataQueue+WebSocketReader per call (~µs)",
    )


def _parse_websockets(kind: str, size: int) -> Bench:
    protocol = _peer("websockets.protocol")
    proto = protocol.Protocol(protocol.Side.SERVER, state=protocol.State.OPEN, max_size=MAX_SIZE)
    buf, _ = client_stream(kind, size)

    def run(data: bytes) -> int:
        proto.receive_data(data)
        events = proto.events_received()
        if proto.parser_exc is not None:
            raise proto.parser_exc
        return len(events)

    return Bench(run, (buf,), "websockets.protocol.Protocol(SERVER).receive_data + events_received")


def _parse_wsproto(kind: str, size: int) -> Bench:
    fp_mod = _peer("wsproto.frame_protocol")
    proto = fp_mod.FrameProtocol(client=False, extensions=[])
    buf, _ = client_stream(kind, size)

    def run(data: bytes) -> int:
        proto.receive_bytes(data)
        n = 0
        for _ in proto.received_frames():
            n += 1
        return n

    return Bench(
        run, (buf,), "wsproto.frame_protocol.FrameProtocol(client=False).receive_bytes + received_frames"
    )


_PARSERS: dict[str, Callable[[str, int], Bench]] = {
    "fastws-c": _parse_fastws("fastws-c"),
    "fastws-python": _parse_fastws("fastws-python"),
    "picows": _parse_picows(materialize=False),
    "picows (+payload)": _parse_picows(materialize=True),
    "aiohttp": _parse_aiohttp,
    "websockets": _parse_websockets,
    "wsproto": _parse_wsproto,
}
PARSE_IMPLS = tuple(_PARSERS)


# --- building (one frame per call) ------------------------------------------------


def build(impl: str, side: str, body: bytes) -> Bench:
    client = side == "client"
    bench, check = _BUILDERS[impl](client, body)
    out = check()
    opcode, masked, got = decode_single_frame(out)
    _check((opcode, masked, got), (OP_BINARY, client, body), impl)
    return bench


def _build_fastws(impl: str, parts: bool = False) -> Callable:
    def make(client: bool, body: bytes) -> tuple[Bench, Callable[[], bytes]]:
        mod = fastws(impl.split("-")[1])
        builder = mod.FrameBuilder(client)
        if parts:
            bench = Bench(builder.build_parts, (OP_BINARY, body), f"{mod.__name__}.FrameBuilder.build_parts")
            return bench, lambda: b"".join(bytes(p) for p in builder.build_parts(OP_BINARY, body))
        bench = Bench(builder.build, (OP_BINARY, body), f"{mod.__name__}.FrameBuilder.build")
        return bench, lambda: builder.build(OP_BINARY, body)

    return make


def _build_picows(client: bool, body: bytes) -> tuple[Bench, Callable[[], bytes]]:
    picows = _peer("picows")
    logger = _quiet_logger("bench.picows")
    captured: list = []
    probe = picows.WSTransport(client, _SinkTransport(captured), logger, _loop())
    transport = picows.WSTransport(client, _SinkTransport(), logger, _loop())

    def check() -> bytes:
        captured.clear()
        probe.send(picows.WSMsgType.BINARY, body)
        return b"".join(bytes(p) for p in captured)

    note = "output handed to a discarding fake transport as bytes"
    if not client and len(body) > 8192:
        note = "payload > 8 KiB: writelines([header, payload]) without copy"
    return Bench(
        transport.send, (picows.WSMsgType.BINARY, body), "picows.WSTransport.send (fake transport)", note
    ), check


def _build_websockets(client: bool, body: bytes) -> tuple[Bench, Callable[[], bytes]]:
    frames = _peer("websockets.frames")
    Frame, BINARY = frames.Frame, frames.Opcode.BINARY

    def run(payload: bytes) -> bytes:
        return Frame(BINARY, payload).serialize(mask=client)

    return Bench(run, (body,), "websockets.frames.Frame(...).serialize"), lambda: run(body)


def _build_wsproto(client: bool, body: bytes) -> tuple[Bench, Callable[[], bytes]]:
    fp_mod = _peer("wsproto.frame_protocol")
    proto = fp_mod.FrameProtocol(client=client, extensions=[])
    return (
        Bench(proto.send_data, (body,), "wsproto.frame_protocol.FrameProtocol.send_data"),
        lambda: bytes(proto.send_data(body)),
    )


def _build_aiohttp(client: bool, body: bytes) -> tuple[Bench, Callable[[], bytes]]:
    writer_mod = _peer("aiohttp._websocket.writer")
    Writer = writer_mod.WebSocketWriter

    class Protocol:
        _paused = False

    captured: list = []
    probe = Writer(Protocol(), _SinkTransport(captured), use_mask=client)
    writer = Writer(Protocol(), _SinkTransport(), use_mask=client)

    def check() -> bytes:
        captured.clear()
        probe._write_websocket_frame(body, OP_BINARY, 0)
        return b"".join(bytes(p) for p in captured)

    return (
        Bench(
            writer._write_websocket_frame,
            (body, OP_BINARY, 0),
            "aiohttp._websocket.writer.WebSocketWriter._write_websocket_frame (fake transport)",
            "the synchronous core of the async send_frame(); private method",
        ),
        check,
    )


_BUILDERS: dict[str, Callable] = {
    "fastws-c": _build_fastws("fastws-c"),
    "fastws-c (build_parts)": _build_fastws("fastws-c", parts=True),
    "fastws-python": _build_fastws("fastws-python"),
    "picows": _build_picows,
    "websockets": _build_websockets,
    "wsproto": _build_wsproto,
    "aiohttp": _build_aiohttp,
}
BUILD_IMPLS = tuple(_BUILDERS)


# --- UTF-8 validation -------------------------------------------------------------


def utf8(impl: str, data: bytes) -> Bench:
    partial = _utf8(impl)  # args after the data
    bench = Bench(partial.fn, (data, *partial.args), partial.api, partial.notes)
    if not bench.fn(*bench.args):
        raise AssertionError(f"{impl}: rejected valid UTF-8")
    return bench


def _utf8(impl: str) -> Bench:
    if impl in ("fastws-c", "fastws-python"):
        mod = fastws(impl.split("-")[1])
        return Bench(mod.validate_utf8, (), f"{mod.__name__}.validate_utf8")
    if impl in ("fastws-c (Utf8Validator)", "fastws-python (Utf8Validator)"):
        mod = fastws(impl.split()[0].split("-")[1])
        validator = mod.Utf8Validator()

        def run(data: bytes, v: Any = validator) -> bool:
            v.reset()
            return v.feed(data) and v.finish()

        return Bench(run, (), f"{mod.__name__}.Utf8Validator reset+feed+finish", "whole input in one feed")
    if impl == "wsaccel":
        mod = _peer("wsaccel.utf8validator")
        validator = mod.Utf8Validator()

        def run(data: bytes, v: Any = validator) -> bool:
            v.reset()
            valid, complete, _, _ = v.validate(data)
            return valid and complete

        return Bench(run, (), "wsaccel.utf8validator.Utf8Validator reset+validate (incremental)")
    if impl == "bytes.decode":
        return Bench(bytes.decode, ("utf-8",), "bytes.decode('utf-8') (builds the str)")
    raise KeyError(impl)


UTF8_IMPLS = (
    "fastws-c",
    "fastws-c (Utf8Validator)",
    "fastws-python",
    "fastws-python (Utf8Validator)",
    "wsaccel",
    "bytes.decode",
)
