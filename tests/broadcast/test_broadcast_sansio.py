"""fastws.broadcast on sans-IO connections: both builds of the core, each with the codec and
deflate kernels of its own kind, in this process.

What is checked here, byte by byte: one frame object shared by every server connection,
masked frames per client connection, what is skipped and counted (not open, sending
fragments, slow consumers), message kinds and their errors, and permessage-deflate
encode-once: the shared compressed payload and the connection's own messages after it
inflate correctly on a peer that keeps its context (Python's zlib), while the same
sequence without the compressor reset does not (the reset is what makes it correct).
"""

from __future__ import annotations

import array
import importlib
import zlib
from typing import Any

import pytest

import fastws
from fastws import _codec_py
from fastws.broadcasting import BroadcastResult, broadcast
from fastws.constants import OP_BINARY, OP_CLOSE, OP_TEXT
from fastws.deflate import PerMessageDeflate
from fastws.options import Options

broadcast_module = importlib.import_module("fastws.broadcasting")
BUILDS = {
    "c": ("fastws._connection_c", "fastws._codec_c"),
    "python": ("fastws._connection_py", "fastws._codec_py"),
}
TAIL = b"\x00\x00\xff\xff"


@pytest.fixture(params=sorted(BUILDS))
def build(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The connection module of one build; broadcast runs that build's loop, on its codec."""
    module_name, codec_name = BUILDS[request.param]
    module = importlib.import_module(module_name)
    codec = importlib.import_module(codec_name)
    monkeypatch.setattr(module, "codec", codec)
    monkeypatch.setattr(broadcast_module, "codec", codec)
    monkeypatch.setattr(broadcast_module, "_core", module)  # its fan_out() loop
    module.kind = request.param
    return module


def recording_sink(build: Any) -> Any:
    class Sink(build.MemorySink):
        """A MemorySink that also keeps each object written (to check they are shared)."""

        def __init__(self) -> None:
            super().__init__()
            self.objects: list[Any] = []

        def write(self, data: Any) -> None:
            self.objects.append(data)
            super().write(data)

    return Sink()


def open_conn(build: Any, *, client: bool = False, deflate: Any = None, **options: Any) -> Any:
    options.setdefault("ping_interval", None)
    conn = build.Connection(client, Options(**options), recording_sink(build))
    conn.start(deflate)
    return conn


def frames_of(conn: Any) -> list[Any]:
    """What the connection wrote since the last call, parsed as its peer does (assembled messages)."""
    parser = _codec_py.FrameParser(not conn.client, allow_rsv1=True, decode_text=False)
    return parser.feed(conn.data_to_send())


def deflate_session(build: Any, **params: Any) -> Any:
    extension = PerMessageDeflate(threshold=params.pop("threshold", 0), implementation=build.kind, **params)
    return extension.make_session([], is_client=False)


class Peer:
    """The other end's inflater with context takeover, as browsers and libraries keep it."""

    def __init__(self, bits: int = 15) -> None:
        self.inflater = zlib.decompressobj(-bits)

    def read(self, frame: Any) -> bytes:
        if not frame.rsv1:
            return bytes(frame.payload)
        return self.inflater.decompress(bytes(frame.payload) + TAIL)


# --------------------------------------------------------------------------- plain frames


def test_one_frame_object_for_every_server_connection(build: Any) -> None:
    conns = [open_conn(build) for _ in range(50)]
    result = broadcast(conns, "hello, all")
    assert result == BroadcastResult(sent=50, compressed=0, not_open=0, busy=0, skipped=0, closed=0, frames_built=1)
    first = conns[0].sink.objects[0]
    assert all(len(c.sink.objects) == 1 and c.sink.objects[0] is first for c in conns)
    for conn in conns:
        [frame] = frames_of(conn)
        assert (frame.opcode, frame.fin, frame.rsv1, frame.payload) == (OP_TEXT, True, False, b"hello, all")


def test_message_kinds(build: Any) -> None:
    conn = open_conn(build)
    broadcast([conn], b"\x00\xff binary")
    broadcast([conn], "text \u00e9")
    broadcast([conn], "as binary \u00e9", text=False)
    broadcast([conn], "caf\u00e9".encode(), text=True)
    broadcast([conn], bytearray(b"array"))
    broadcast([conn], memoryview(b"xxview")[2:])
    broadcast([conn], b"")
    got = [(f.opcode, f.payload) for f in frames_of(conn)]
    assert got == [
        (OP_BINARY, b"\x00\xff binary"),
        (OP_TEXT, "text \u00e9".encode()),
        (OP_BINARY, "as binary \u00e9".encode()),
        (OP_TEXT, "caf\u00e9".encode()),
        (OP_BINARY, b"array"),
        (OP_BINARY, b"view"),
        (OP_BINARY, b""),
    ]


def test_the_message_is_a_snapshot(build: Any) -> None:
    conns = [open_conn(build), open_conn(build)]
    data = bytearray(b"before")
    broadcast(conns, data)
    data[:] = b"AFTER!"
    assert [f.payload for c in conns for f in frames_of(c)] == [b"before", b"before"]


@pytest.mark.parametrize(
    "message, text, error, match",
    [
        (b"\xff\xfe not utf-8", True, ValueError, "text=True but the message is not valid UTF-8"),
        (b"cut \xe2\x82", True, ValueError, "not valid UTF-8"),
        (b"\xed\xa0\x80 surrogate", True, ValueError, "not valid UTF-8"),
        (12, None, TypeError, "message must be str or bytes-like, not int"),
        (None, None, TypeError, "not NoneType"),
        (["list"], None, TypeError, "not list"),
    ],
)
def test_bad_messages_send_nothing(build: Any, message: Any, text: Any, error: type, match: str) -> None:
    conns = [open_conn(build), open_conn(build)]
    with pytest.raises(error, match=match):
        broadcast(conns, message, text=text)
    assert all(c.data_to_send() == b"" for c in conns)


def test_a_str_that_is_not_unicode_text_sends_nothing(build: Any) -> None:
    conn = open_conn(build)
    with pytest.raises(UnicodeEncodeError, match="surrogates not allowed"):
        broadcast([conn], "lone \ud800 surrogate")
    assert conn.data_to_send() == b""


def test_not_a_connection_is_a_type_error(build: Any) -> None:
    conn = open_conn(build)
    with pytest.raises((TypeError, AttributeError), match="str|_state"):
        broadcast([conn, "not a connection"], "m")


def test_fastws_broadcast_is_the_function_after_fastws_topics_is_imported() -> None:
    importlib.import_module("fastws.topics")
    assert fastws.broadcast is broadcast
    assert fastws.broadcast([], "x") == BroadcastResult(0, 0, 0, 0, 0, 0, 0)
    assert fastws.BroadcastResult is BroadcastResult


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"slow": "wait"}, "slow must be 'skip' or 'close', got 'wait'"),
        ({"max_buffered": -1}, "max_buffered must be None or an int >= 0, got -1"),
        ({"max_buffered": 1.5}, "max_buffered must be None or an int >= 0, got 1.5"),
        ({"slow": "close", "close_code": 1005}, "1005"),
        ({"slow": "close", "close_code": 999}, "999"),
        ({"slow": "close", "close_reason": "x" * 124}, "123"),
    ],
)
def test_bad_policy_is_refused_before_anything_is_sent(build: Any, kwargs: Any, match: str) -> None:
    conn = open_conn(build)
    with pytest.raises(ValueError, match=match):
        broadcast([conn], "m", **kwargs)
    assert conn.data_to_send() == b""


def test_empty_and_generators(build: Any) -> None:
    assert broadcast([], "x") == BroadcastResult(0, 0, 0, 0, 0, 0, 0)
    assert broadcast(iter(()), b"x" * 100_000) == BroadcastResult(0, 0, 0, 0, 0, 0, 0)
    conns = [open_conn(build) for _ in range(3)]
    assert broadcast((c for c in conns), "g").sent == 3


def test_not_open_connections_are_skipped_and_counted(build: Any) -> None:
    connecting = build.Connection(False, Options(), recording_sink(build))  # handshake not done
    closing = open_conn(build)
    closing.close()
    closed = open_conn(build)
    closed.connection_lost(None)
    failed = open_conn(build)
    failed.fail(1002, "bad")
    ok = open_conn(build)
    for conn in (closing, failed):
        conn.data_to_send()
    result = broadcast([connecting, closing, closed, failed, ok], "m")
    assert (result.sent, result.not_open) == (1, 4)
    assert connecting.sink.buffer == closing.sink.buffer == closed.sink.buffer == failed.sink.buffer == b""
    assert [f.payload for f in frames_of(ok)] == [b"m"]


def test_a_connection_dropped_by_keepalive_is_skipped_before_connection_lost(build: Any) -> None:
    conn = open_conn(build, ping_interval=1.0, ping_timeout=1.0)
    now = [100.0]
    conn.clock = lambda: now[0]
    conn.timer_fired("keepalive")  # ping sent
    now[0] += 2
    conn.timer_fired("keepalive")  # no pong: close frame (1011), transport aborted
    assert conn.sink.aborted and conn.state == fastws.State.OPEN  # until connection_lost comes
    before = conn.data_to_send()
    assert broadcast([conn], "after the close frame").not_open == 1
    assert conn.data_to_send() == b"" and before.endswith(b"keepalive ping timeout")


def test_a_connection_sending_fragments_is_skipped(build: Any) -> None:
    busy, ok = open_conn(build), open_conn(build)
    busy.send_fragment("part 1, ")
    result = broadcast([busy, ok], "broadcast")
    assert (result.sent, result.busy) == (1, 1)
    busy.send_fragment("part 2", final=True)
    assert [(f.opcode, f.payload) for f in frames_of(busy)] == [(OP_TEXT, b"part 1, part 2")]


def test_client_connections_mask_each_frame(build: Any) -> None:
    clients = [open_conn(build, client=True) for _ in range(4)]
    server = open_conn(build)
    result = broadcast([*clients, server], "to a server")
    assert (result.sent, result.frames_built) == (5, 5)  # 4 masked frames + the shared unmasked one
    raw = [c.sink.objects[0] for c in clients]
    assert len({bytes(r) for r in raw}) == 4  # each masked with its own key
    for conn in (*clients, server):
        [frame] = frames_of(conn)  # the parser checks the mask bit for each side
        assert frame.payload == b"to a server"


def test_broadcast_from_a_listener_keeps_order(build: Any) -> None:
    """A listener that sends then broadcasts while a read of several frames is dispatched
    (its frames are corked): the broadcast goes after what it sent before."""
    others = [open_conn(build) for _ in range(2)]

    class Relay(fastws.Listener):
        def on_message(self, ws: Any, message: Any) -> None:
            ws.send("ack " + message)
            broadcast([ws, *others], "all: " + message)

    conn = build.Connection(False, Options(ping_interval=None), recording_sink(build), Relay())
    conn.start(None)
    two = _codec_py.FrameBuilder(True)
    conn.data_received(two.build(OP_TEXT, b"one") + two.build(OP_TEXT, b"two"))
    assert [f.payload for f in frames_of(conn)] == [b"ack one", b"all: one", b"ack two", b"all: two"]
    assert [f.payload for f in frames_of(others[0])] == [b"all: one", b"all: two"]


# --------------------------------------------------------------------------- slow consumers


def test_slow_consumers_skip(build: Any) -> None:
    slow, ok = open_conn(build), open_conn(build)
    slow.pause_writing()  # its transport's buffer went over write_limit
    result = broadcast([slow, ok], "m")
    assert (result.sent, result.skipped, result.closed) == (1, 1, 0)
    assert slow.data_to_send() == b""
    slow.resume_writing()
    assert broadcast([slow, ok], "n").sent == 2


def test_slow_consumers_close(build: Any) -> None:
    slow, ok = open_conn(build), open_conn(build)
    slow.pause_writing()
    result = broadcast([slow, ok], "m", slow="close", close_code=1013, close_reason="too slow")
    assert (result.sent, result.skipped, result.closed) == (1, 0, 1)
    [frame] = frames_of(slow)
    assert frame.opcode == OP_CLOSE and frame.payload == (1013).to_bytes(2, "big") + b"too slow"
    assert slow.state == fastws.State.CLOSING
    assert broadcast([slow], "later").not_open == 1


def test_max_buffered_reads_the_sink(build: Any) -> None:
    class SizedSink(build.MemorySink):
        def get_write_buffer_size(self) -> int:
            return len(self.buffer)

    conns = []
    for _ in range(2):
        conn = build.Connection(False, Options(ping_interval=None), SizedSink())
        conn.start(None)
        conns.append(conn)
    for _ in range(3):
        broadcast(conns[:1], b"x" * 1000)  # the first one's peer reads nothing
    result = broadcast(conns, b"y" * 1000, max_buffered=2500)
    assert (result.sent, result.skipped) == (1, 1)
    assert len(conns[0].sink.buffer) < 2500 + 1000 + 16  # bounded: the limit plus one message


# --------------------------------------------------------------------------- permessage-deflate


def json_text(i: int) -> str:
    return '{"user": "alice", "room": "lobby", "seq": %d, "text": "hello hello hello everyone"}' % i


def test_deflate_encodes_once_per_window_size(build: Any) -> None:
    wide = [open_conn(build, deflate=deflate_session(build)) for _ in range(3)]
    narrow = [open_conn(build, deflate=deflate_session(build, server_max_window_bits=10)) for _ in range(2)]
    plain = [open_conn(build) for _ in range(2)]
    message = json_text(0) * 4
    result = broadcast([*wide, *narrow, *plain], message)
    assert result == BroadcastResult(7, 5, 0, 0, 0, 0, frames_built=3)
    assert wide[0].sink.objects[0] is wide[2].sink.objects[0]
    assert narrow[0].sink.objects[0] is narrow[1].sink.objects[0]
    assert plain[0].sink.objects[0] is plain[1].sink.objects[0]
    for conns, bits in ((wide, 15), (narrow, 10)):
        for conn in conns:
            [frame] = frames_of(conn)
            assert frame.rsv1 and len(frame.payload) < len(message) // 2
            assert Peer(bits).read(frame) == message.encode()
    assert [(f.rsv1, f.payload) for f in frames_of(plain[0])] == [(False, message.encode())]


def test_deflate_threshold_and_compress_false(build: Any) -> None:
    conn = open_conn(build, deflate=deflate_session(build, threshold=100))
    assert broadcast([conn], "short").compressed == 0
    assert broadcast([conn], "y" * 100).compressed == 1
    assert broadcast([conn], "z" * 200, compress=False).compressed == 0
    frames = frames_of(conn)
    assert [f.rsv1 for f in frames] == [False, True, False]
    peer = Peer()
    assert [peer.read(f) for f in frames] == [b"short", b"y" * 100, b"z" * 200]
    assert conn._compressor_stale  # the compressed one went out: the next own message starts afresh
    wide = memoryview(array.array("H", [0x4141] * 60))  # 60 items, 120 bytes: bytes are what counts
    assert broadcast([conn], wide).compressed == 1
    assert Peer().read(frames_of(conn)[0]) == b"A" * 120


@pytest.mark.parametrize("bits", [15, 9])
def test_own_messages_after_broadcasts_inflate_on_a_context_keeping_peer(build: Any, bits: int) -> None:
    conns = [open_conn(build, deflate=deflate_session(build, server_max_window_bits=bits)) for _ in range(3)]
    peers = [Peer(bits) for _ in conns]
    expected: list[list[bytes]] = [[] for _ in conns]
    for step in range(12):
        shared = json_text(step) * 3
        broadcast(conns, shared)
        for i, conn in enumerate(conns):
            expected[i].append(shared.encode())
            for j in range(step % 3 + i):  # own messages that repeat what went before: back-references
                own = json_text(step) + json_text(j)
                conn.send(own)
                expected[i].append(own.encode())
            if i == 1 and step % 4 == 0:
                conn.send_fragment(json_text(step))
                conn.send_fragment(json_text(step), final=True)
                expected[i].append((json_text(step) * 2).encode())
    for conn, peer, want in zip(conns, peers, expected):
        assert [peer.read(f) for f in frames_of(conn)] == want


def test_without_the_reset_the_peer_would_inflate_garbage(build: Any) -> None:
    """The control experiment: skip the compressor reset and the same peer fails."""
    conn = open_conn(build, deflate=deflate_session(build))
    peer = Peer()
    conn.send(json_text(1) * 3)
    assert peer.read(frames_of(conn)[0]) == (json_text(1) * 3).encode()
    broadcast([conn], "0123456789abcdef" * 40)
    peer.read(frames_of(conn)[0])
    conn._compressor_stale = False  # what a broadcast without the reset would leave
    conn.send(json_text(1) * 3)  # refers back to the first message, at a distance the peer no longer has
    try:
        got = peer.read(frames_of(conn)[0])
    except zlib.error:
        return
    assert got != (json_text(1) * 3).encode()
