"""The sans-IO connection, driven by bytes and calls alone: no socket, no event loop.

Every test runs on both builds of the one source: the compiled core with the C
codec ("c") and the plain-Python core with the pure codec ("python"). The peer's
frames come from the suite's own reference encoder (codec_helpers.encode_frame),
and what the connection writes is read back with the reference-shaped pure parser.
"""

from __future__ import annotations

import importlib
import os
import zlib

import pytest
from codec_helpers import close_payload, encode_frame

from fastws import _codec_py, _connection_py
from fastws.constants import OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT
from fastws.deflate import PerMessageDeflate
from fastws.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidState
from fastws.listener import Listener
from fastws.options import Options

BUILDS = {
    "c": ("fastws._connection_c", "fastws._codec_c"),
    "python": ("fastws._connection_py", "fastws._codec_py"),
}
KEY = b"\x01\x02\x03\x04"
NO_EXTENSIONS = os.environ.get("FASTWS_NO_EXTENSIONS") == "1"


@pytest.fixture(params=sorted(BUILDS))
def build(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """The connection module of one build, using the codec of the same kind."""
    module_name, codec_name = BUILDS[request.param]
    try:
        module = importlib.import_module(module_name)
        codec = importlib.import_module(codec_name)
    except ImportError as exc:
        if request.param == "c" and NO_EXTENSIONS:
            pytest.skip("FASTWS_NO_EXTENSIONS=1: the compiled core is deliberately not built")
        pytest.fail(f"cannot import the {request.param} build: {exc!r}", pytrace=False)
    assert module.IMPLEMENTATION == request.param
    monkeypatch.setattr(module, "codec", codec)
    return module


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def open_conn(build, *, client: bool = False, listener=None, deflate=None, **options):
    conn = build.Connection(client, Options(**options), listener=listener)
    conn.clock = Clock()
    conn.start(deflate)
    return conn


def peer_frame(conn, opcode: int, payload: bytes | str = b"", **kw) -> bytes:
    """A frame as the other side sends it (masked when it is the client)."""
    return encode_frame(opcode, payload, key=None if conn.client else KEY, **kw)


def sent(conn, allow_rsv1: bool = False) -> list:
    """The frames the connection wrote since the last call (unassembled)."""
    parser = _codec_py.FrameParser(not conn.client, assemble=False, allow_rsv1=allow_rsv1)
    return parser.feed(conn.data_to_send())


def deflate_pair(threshold: int = 0):
    """(server session, client session) of one permessage-deflate agreement."""
    extension = PerMessageDeflate(threshold=threshold)
    return extension.make_session([], is_client=False), extension.make_session([], is_client=True)


# --- state ------------------------------------------------------------------------


def test_starts_connecting_and_refuses_to_send(build) -> None:
    conn = build.Connection(False, Options())
    assert conn.state == build.State.CONNECTING
    with pytest.raises(InvalidState, match="handshake is not done"):
        conn.send("too early")
    with pytest.raises(InvalidState):
        conn.send_ping()
    conn.start()
    assert conn.state == build.State.OPEN and conn.open
    conn.send("now")
    assert [(f.opcode, f.payload) for f in sent(conn)] == [(OP_TEXT, b"now")]


def test_messages_are_queued_in_order(build) -> None:
    conn = open_conn(build)
    conn.data_received(peer_frame(conn, OP_TEXT, "é") + peer_frame(conn, OP_BINARY, b"\x00\x01"))
    assert conn.next_message() == "é"
    assert conn.next_message() == b"\x00\x01"
    assert conn.next_message() is None


# --- closing handshake ---------------------------------------------------------------


@pytest.mark.parametrize("client", [False, True])
def test_peer_close_is_echoed(build, client: bool) -> None:
    conn = open_conn(build, client=client, close_timeout=3.0)
    conn.data_received(peer_frame(conn, OP_CLOSE, close_payload(4001, "bye")))
    [echo] = sent(conn)
    assert echo.opcode == OP_CLOSE and echo.payload == close_payload(4001)
    assert conn.state == build.State.CLOSING
    assert (conn.close_code, conn.close_reason) == (4001, "bye")
    # The server closes TCP first; the client waits for it, close_timeout at most.
    assert conn.sink.closed is (not client)
    assert conn.timers["close"] == 3.0
    with pytest.raises(ConnectionClosed):
        conn.send("late")
    conn.connection_lost()
    assert conn.state == build.State.CLOSED and "close" not in conn.timers


def test_empty_close_is_echoed_empty(build) -> None:
    conn = open_conn(build)
    conn.data_received(peer_frame(conn, OP_CLOSE))
    assert [(f.opcode, f.payload) for f in sent(conn)] == [(OP_CLOSE, b"")]
    assert conn.close_code == 1005
    assert isinstance(conn.closed_exception(), ConnectionClosedOK)


def test_application_close_then_peer_reply(build) -> None:
    conn = open_conn(build)
    conn.close(1001, "going")
    assert [(f.opcode, f.payload) for f in sent(conn)] == [(OP_CLOSE, close_payload(1001, "going"))]
    assert conn.state == build.State.CLOSING
    # Data after our close frame is dropped; the reply completes the handshake.
    conn.data_received(peer_frame(conn, OP_TEXT, "ignored") + peer_frame(conn, OP_CLOSE, close_payload(1001)))
    assert conn.next_message() is None
    assert sent(conn) == []  # nothing echoed: our close was already sent
    assert conn.sink.closed
    assert conn.close_code == 1001


def test_close_timeout_aborts(build) -> None:
    conn = open_conn(build)
    conn.close()
    assert "close" in conn.timers
    conn.timer_fired("close")
    assert conn.sink.aborted


def test_abort_drops_the_transport_and_refuses_sends(build) -> None:
    """abort(): CLOSING at once (sends raise 1006) without answering frames held back;
    CLOSED with 1006 once the transport reports the loss."""
    conn = open_conn(build)
    conn.abort()
    assert conn.sink.aborted and conn.data_to_send() == b""
    assert conn.state == build.State.CLOSING
    with pytest.raises(ConnectionClosed) as info:
        conn.send("after abort")
    assert info.value.code == 1006 and conn.data_to_send() == b""
    conn.connection_lost(None)
    assert conn.state == build.State.CLOSED and conn.close_code == 1006


def test_close_before_open_closes_the_transport(build) -> None:
    conn = build.Connection(False, Options())
    conn.close()
    assert conn.sink.closed and conn.data_to_send() == b""


def test_protocol_error_fails_with_its_code_and_lingers(build) -> None:
    errors = []

    class Errors(Listener):
        def on_error(self, ws, exc) -> None:
            errors.append(exc)

    conn = open_conn(build, listener=Errors())
    conn.data_received(peer_frame(conn, 0x3, b"reserved"))
    [close] = sent(conn)
    assert close.opcode == OP_CLOSE and close.payload[:2] == (1002).to_bytes(2, "big")
    assert conn.state == build.State.CLOSING and conn.close_code == 1002
    assert [e.code for e in errors] == [1002]
    # Lingering: what the peer still sends is read and dropped, then TCP is closed.
    assert set(conn.timers) >= {"linger", "close"}
    conn.data_received(peer_frame(conn, OP_TEXT, "more"))
    assert sent(conn) == [] and conn.next_message() is None
    assert not conn.sink.reading  # one read per linger check: a flood costs little
    conn.clock.now += 1.0
    conn.timer_fired("linger")  # reads again (what came meanwhile), looks again later
    assert conn.sink.reading and not conn.sink.closed
    conn.clock.now += 1.0
    conn.timer_fired("linger")
    assert conn.sink.closed


def test_fail_truncates_a_long_reason_at_a_character(build) -> None:
    conn = open_conn(build)
    conn.fail(1011, "é" * 100)
    [close] = sent(conn)
    assert len(close.payload) <= 125
    close.payload[2:].decode("utf-8")  # whole characters only


# --- ping, pong, keepalive ------------------------------------------------------------


def test_pong_acknowledges_its_ping_and_earlier_ones(build) -> None:
    acked = []

    class Recording(build.Connection):
        def _on_pongs(self, pairs) -> None:
            acked.extend(payload for payload, _ in pairs)

    conn = Recording(False, Options())
    conn.clock = Clock()
    conn.start()
    first, second = conn.send_ping(b"1"), conn.send_ping()
    assert [(f.opcode, f.payload) for f in sent(conn)] == [(OP_PING, b"1"), (OP_PING, second)]
    with pytest.raises(ValueError, match="already waiting"):
        conn.send_ping(b"1")
    conn.clock.now += 0.25
    conn.data_received(peer_frame(conn, OP_PONG, b"unsolicited"))
    assert acked == [] and conn.latency is None
    conn.data_received(peer_frame(conn, OP_PONG, second))
    assert acked == [first, second]
    assert conn.latency == pytest.approx(0.25)


def test_ping_is_answered(build) -> None:
    conn = open_conn(build)
    conn.data_received(peer_frame(conn, OP_PING, b"hi"))
    assert [(f.opcode, f.payload) for f in sent(conn)] == [(OP_PONG, b"hi")]


def test_keepalive_pings_then_fails_without_pong(build) -> None:
    conn = open_conn(build, ping_interval=10.0, ping_timeout=5.0)
    assert conn.timers["keepalive"] == 10.0
    conn.clock.now += 10.0
    conn.timer_fired("keepalive")
    [ping] = sent(conn)
    assert ping.opcode == OP_PING and conn.timers["keepalive"] == 5.0
    # The pong comes: the next tick sends the next ping.
    conn.data_received(peer_frame(conn, OP_PONG, ping.payload))
    conn.clock.now += 5.0
    conn.timer_fired("keepalive")
    [ping] = sent(conn)
    assert ping.opcode == OP_PING
    # No pong within ping_timeout: 1011 and the transport is dropped.
    conn.clock.now += 5.0
    conn.timer_fired("keepalive")
    [close] = sent(conn)
    assert close.payload == close_payload(1011, "keepalive ping timeout")
    assert conn.sink.aborted and conn.close_code == 1011


def test_keepalive_on_by_default() -> None:
    options = Options()
    assert (options.ping_interval, options.ping_timeout) == (20.0, 20.0)


# --- flow control ------------------------------------------------------------------------


def test_full_queue_pauses_and_resumes_reading(build) -> None:
    conn = open_conn(build, max_queue=4)
    conn.data_received(b"".join(peer_frame(conn, OP_BINARY, bytes([i])) for i in range(4)))
    assert not conn.sink.reading
    for i in range(3):
        assert conn.next_message() == bytes([i])
    assert conn.sink.reading  # down to a quarter of max_queue


def test_full_queue_holds_back_frames_uninflated(build) -> None:
    """B3: a read of many compressed frames inflates only what the queue can take."""
    server, client = deflate_pair()
    max_size = 1 << 20
    conn = open_conn(build, max_queue=2, max_size=max_size, deflate=server)
    bomb = client.compress(bytes(max_size))  # 1 MiB of zeros: a few KiB on the wire
    assert len(bomb) < 8192
    # 20 MiB inflated, in one read of under 160 KiB.
    conn.data_received(b"".join(peer_frame(conn, OP_BINARY, bomb, rsv1=True) for _ in range(20)))
    assert len(conn.messages) <= 2  # and at most INFLATE_PER_TURN's worth per turn
    assert not conn.sink.reading
    received = 0
    while True:
        message = conn.next_message()
        if message is None:  # the rest waits for the loop's next turn (INFLATE_PER_TURN): run it
            if conn.timers is None or conn.timers.pop("turn", None) is None:
                break
            conn.timer_fired("turn")
            continue
        assert message == bytes(max_size)
        received += 1
        assert len(conn.messages) <= 2
    assert received == 20
    assert conn.sink.reading


def test_error_behind_held_back_frames_comes_after_them(build) -> None:
    conn = open_conn(build, max_queue=1)
    conn.data_received(
        peer_frame(conn, OP_TEXT, "a") + peer_frame(conn, OP_TEXT, "b") + peer_frame(conn, 0x3)
    )
    assert conn.state == build.State.OPEN and sent(conn) == []
    assert conn.next_message() == "a"
    assert conn.next_message() == "b"
    [close] = sent(conn)
    assert close.payload[:2] == (1002).to_bytes(2, "big")


def test_user_pause_is_not_undone_by_taking_messages(build) -> None:
    conn = open_conn(build, max_queue=2)
    conn.pause_reading()
    assert not conn.sink.reading
    conn.data_received(peer_frame(conn, OP_TEXT, "a") + peer_frame(conn, OP_TEXT, "b"))
    assert conn.next_message() == "a" and conn.next_message() == "b"
    assert not conn.sink.reading  # the queue's pause ended; the user's did not
    conn.resume_reading()
    assert conn.sink.reading


def test_close_resumes_reading_and_reads_what_was_held_back(build) -> None:
    """B8: with a full queue, close() must still read the peer's close frame."""
    conn = open_conn(build, max_queue=1)
    conn.data_received(
        peer_frame(conn, OP_TEXT, "kept")
        + peer_frame(conn, OP_TEXT, "dropped")
        + peer_frame(conn, OP_CLOSE, close_payload(1000))
    )
    assert not conn.sink.reading and conn.close_code is None
    conn.close()
    assert conn.sink.reading
    assert conn.close_code == 1000 and conn.sink.closed  # the held-back close frame was read
    assert conn.next_message() == "kept" and conn.next_message() is None


def test_pongs_coalesce_while_writing_is_paused(build) -> None:
    """B4: a peer that pings and never reads gets one pong, for its latest ping."""
    conn = open_conn(build)
    conn.pause_writing()
    per_read = _connection_py.MAX_CONTROL_PER_READ  # more in one read is a flood: 1008
    for start in range(0, 10_000, per_read):
        pings = range(start, min(start + per_read, 10_000))
        conn.data_received(b"".join(peer_frame(conn, OP_PING, str(i).encode()) for i in pings))
    assert conn.data_to_send() == b""
    conn.resume_writing()
    assert [(f.opcode, f.payload) for f in sent(conn)] == [(OP_PONG, b"9999")]


def test_send_while_writing_is_paused_returns_the_drain_awaitable(build) -> None:
    marker = object()

    class Draining(build.Connection):
        def _drain(self):
            return marker

    conn = Draining(False, Options())
    conn.start()
    assert conn.send(b"x") is not marker
    conn.pause_writing()
    assert conn.send(b"x") is marker
    assert conn.send_fragment(b"x") is marker


# --- fragmented sends -----------------------------------------------------------------------


def test_fragmented_send_blocks_other_sends_and_fail_ends_it(build) -> None:
    """B5: the connection knows a message is half sent; failing it is the only way out."""
    conn = open_conn(build)
    conn.send_fragment("ab")
    assert conn.sending_fragments
    with pytest.raises(RuntimeError, match="fragmented"):
        conn.send("other")
    with pytest.raises(TypeError, match="all fragments"):
        conn.send_fragment(b"bytes")
    conn.fail(1011, "fragmented message interrupted")
    frames = sent(conn)
    assert [(f.opcode, f.fin) for f in frames] == [(OP_TEXT, False), (OP_CLOSE, True)]
    assert frames[1].payload[:2] == (1011).to_bytes(2, "big")
    assert not conn.sending_fragments and conn.state == build.State.CLOSING


def test_fragmented_send_with_compression(build) -> None:
    server, client = deflate_pair()
    conn = open_conn(build, deflate=server)
    for part, final in (("hello ", False), ("world", False), ("", True)):
        conn.send_fragment(part, final)
    frames = sent(conn, allow_rsv1=True)
    assert [(f.opcode, f.rsv1, f.fin) for f in frames] == [
        (OP_TEXT, True, False), (OP_CONTINUATION, False, False), (OP_CONTINUATION, False, True),
    ]  # fmt: skip
    assert client.decompress(b"".join(f.payload for f in frames), None) == b"hello world"


# --- listener --------------------------------------------------------------------------------


def test_listener_failure_closes_with_1011_without_the_applications_close(build) -> None:
    """B10's root: the connection's own close is not a subclass's (application) close()."""
    calls = []

    class App(build.Connection):
        def close(self, code=1000, reason=""):
            calls.append(code)
            return super().close(code, reason)

    class Broken(Listener):
        def on_message(self, ws, message) -> None:
            raise RuntimeError("bug")

    conn = App(False, Options(), listener=Broken())
    conn.start()
    conn.data_received(peer_frame(conn, OP_TEXT, "boom"))
    [close] = sent(conn)
    assert close.payload == close_payload(1011, "internal error")
    assert calls == []


def test_listener_echo_is_corked_into_one_write(build) -> None:
    class Echo(Listener):
        def on_message(self, ws, message) -> None:
            ws.send(message)

    conn = open_conn(build, listener=Echo())
    writes = []
    write = conn.sink.write
    conn.sink.write = lambda data: (writes.append(len(data)), write(data))
    conn.data_received(b"".join(peer_frame(conn, OP_BINARY, bytes(10)) for _ in range(5)))
    assert len(writes) == 1
    assert [f.payload for f in sent(conn)] == [bytes(10)] * 5


def test_decode_text_false_gives_validated_bytes(build) -> None:
    got = []

    class Raw(Listener):
        decode_text = False

        def on_text(self, ws, data) -> None:
            got.append(data)

    conn = open_conn(build, listener=Raw())
    conn.data_received(peer_frame(conn, OP_TEXT, "é"))
    assert got == ["é".encode()]
    conn.data_received(peer_frame(conn, OP_TEXT, b"\xff"))
    assert conn.close_code == 1007


def test_compressed_text_is_inflated_and_checked(build) -> None:
    server, client = deflate_pair()
    conn = open_conn(build, deflate=server)
    conn.data_received(peer_frame(conn, OP_TEXT, client.compress("ünïcode"), rsv1=True))
    assert conn.next_message() == "ünïcode"
    raw = zlib.compressobj(1, zlib.DEFLATED, -15)
    invalid = raw.compress(b"\xff\xfe") + raw.flush(zlib.Z_SYNC_FLUSH)
    conn.data_received(peer_frame(conn, OP_TEXT, invalid[:-4], rsv1=True))
    assert conn.close_code == 1007


def test_reads_from_the_lent_buffer(build) -> None:
    conn = open_conn(build)
    buffer = conn.get_buffer(-1)
    data = peer_frame(conn, OP_BINARY, os.urandom(1000))
    buffer[: len(data)] = data
    conn.buffer_updated(len(data))
    assert len(conn.next_message()) == 1000


@pytest.mark.parametrize("flow_control", [True, False])
def test_listener_flow_control_pauses_reading_while_writes_wait(build, flow_control: bool) -> None:
    """A message that comes while the peer reads nothing of what we send stops reading (B4)."""

    class Echo(Listener):
        def on_message(self, ws, message) -> None:
            ws.send(message)

    Echo.flow_control = flow_control
    conn = open_conn(build, listener=Echo())
    conn.data_received(peer_frame(conn, OP_BINARY, b"1"))
    assert conn.sink.reading  # writing was not paused: nothing to hold back
    conn.pause_writing()
    conn.data_received(peer_frame(conn, OP_BINARY, b"2"))
    assert conn.sink.reading is not flow_control
    assert [f.payload for f in sent(conn)] == [b"1", b"2"]  # what was read is still answered
    conn.resume_writing()
    assert conn.sink.reading
