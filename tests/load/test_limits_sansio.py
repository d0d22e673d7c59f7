"""The connection's limits against hostile peers, sans I/O, on both builds (compiled and pure).

Each limit bounds work or memory that a few bytes from the peer could otherwise buy:
control frames per read (1008), the wire size of one message (1009), and inflation per
turn of the loop (the rest of the read waits for the "turn" timer).
"""

from __future__ import annotations

import pytest
from test_connection import deflate_pair, open_conn, peer_frame, sent

from fastws import _connection_py
from fastws.constants import OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT
from fastws.listener import Listener

# ``build`` (both builds of the connection core) is test_connection.py's fixture, via conftest.py.
pytestmark = pytest.mark.load

PER_READ = _connection_py.MAX_CONTROL_PER_READ


class Recorder(Listener):
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.errors: list[BaseException] = []

    def on_message(self, ws, message) -> None:
        self.messages.append(message)

    def on_error(self, ws, exc) -> None:
        self.errors.append(exc)


def close_code(frames) -> int:
    [close] = [f for f in frames if f.opcode == OP_CLOSE]
    return int.from_bytes(close.payload[:2], "big")


def test_control_frames_up_to_the_limit_are_answered(build) -> None:
    conn = open_conn(build)
    conn.data_received(b"".join(peer_frame(conn, OP_PING, b"%d" % i) for i in range(PER_READ)))
    pongs = sent(conn)
    assert [f.opcode for f in pongs] == [OP_PONG] * PER_READ
    assert conn.state == build.State.OPEN


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG])
def test_control_flood_in_one_read_fails_with_1008(build, opcode: int) -> None:
    listener = Recorder()
    conn = open_conn(build, listener=listener)
    conn.data_received(b"".join(peer_frame(conn, opcode, b"x") for _ in range(10_000)))
    frames = sent(conn)
    assert close_code(frames) == 1008
    assert sum(f.opcode == OP_PONG for f in frames) <= PER_READ  # the rest was never answered
    assert conn.close_code == 1008
    assert conn.close_reason == f"more than {PER_READ} control frames in one read"
    assert [e.code for e in listener.errors] == [1008]
    # What the flooder still sends is dropped unparsed, without error.
    conn.data_received(peer_frame(conn, OP_PING, b"x") * 1000)
    assert sent(conn) == []


def test_a_close_frame_after_many_control_frames_is_still_honoured(build) -> None:
    conn = open_conn(build)
    data = b"".join(peer_frame(conn, OP_PING, b"p") for _ in range(PER_READ))
    conn.data_received(data + peer_frame(conn, OP_CLOSE, (1000).to_bytes(2, "big")))
    assert conn.close_code == 1000 and close_code(sent(conn)) == 1000


def test_endless_empty_fragments_fail_with_1009(build) -> None:
    """One message of empty continuation frames never reaches max_size: it is cut by its wire size."""
    max_size = 65536
    conn = open_conn(build, max_size=max_size)
    first = peer_frame(conn, OP_TEXT, b"", fin=False)
    conn.data_received(first)
    chunk = peer_frame(conn, OP_CONTINUATION, b"", fin=False) * 4096  # 24 KiB a read
    fed = len(first)
    while conn.state == build.State.OPEN and fed < 10 * max_size:
        conn.data_received(chunk)
        fed += len(chunk)
    assert conn.close_code == 1009
    assert conn.close_reason == "message framing exceeds the size limit"
    limit = max_size + max_size // _connection_py.WIRE_SHARE + _connection_py.WIRE_SLACK
    assert limit < fed <= limit + len(chunk)
    assert close_code(sent(conn)) == 1009


def test_a_finely_fragmented_message_at_max_size_passes(build) -> None:
    """64-byte fragments (9% framing) with pings between them: within the wire limit."""
    max_size = 1 << 20
    listener = Recorder()
    conn = open_conn(build, max_size=max_size, listener=listener)
    data = bytes(range(64)) * (max_size // 64)
    frames = []
    for i in range(0, max_size, 64):
        opcode = OP_BINARY if i == 0 else OP_CONTINUATION
        frames.append(peer_frame(conn, opcode, data[i : i + 64], fin=i + 64 == max_size))
        if i % 65536 == 0:
            frames.append(peer_frame(conn, OP_PING, b"keepalive"))
    wire = b"".join(frames)
    for i in range(0, len(wire), 262144):
        conn.data_received(wire[i : i + 262144])
    assert listener.messages == [data] and not listener.errors
    assert conn.state == build.State.OPEN
    # The count starts again with the next message.
    conn.data_received(peer_frame(conn, OP_BINARY, b"next"))
    assert listener.messages[-1] == b"next"


def test_inflation_per_read_is_bounded_then_continues_next_turn(build) -> None:
    """Deflated zeros: ~1 KiB on the wire, 1 MiB to inflate. A listener gets one per turn."""
    server, client = deflate_pair()
    max_size = 1 << 20
    listener = Recorder()
    conn = open_conn(build, max_size=max_size, deflate=server, listener=listener)
    bombs = [client.compress(bytes([i]) * max_size) for i in range(5)]
    conn.data_received(b"".join(peer_frame(conn, OP_BINARY, b, rsv1=True) for b in bombs))
    per_turn = -(-_connection_py.INFLATE_PER_TURN // max_size)
    assert len(listener.messages) == per_turn
    assert conn.timers["turn"] == 0 and not conn.sink.reading  # the rest waits, still compressed
    turns = 0
    while conn.timers and conn.timers.pop("turn", None) is not None:
        conn.timer_fired("turn")
        turns += 1
    assert listener.messages == [bytes([i]) * max_size for i in range(5)]
    assert turns == 5 - per_turn
    assert conn.sink.reading and conn.state == build.State.OPEN


def test_closing_drops_compressed_frames_held_for_the_next_turn(build) -> None:
    server, client = deflate_pair()
    listener = Recorder()
    conn = open_conn(build, deflate=server, listener=listener)
    bomb = client.compress(bytes(1 << 20))
    conn.data_received(peer_frame(conn, OP_BINARY, bomb, rsv1=True) * 3)
    assert len(listener.messages) == 1
    conn.close(1000)
    assert len(listener.messages) == 1  # our close is sent: the held-back data is ignored
    assert conn.sink.reading  # closing reads, for the peer's close frame
    conn.data_received(peer_frame(conn, OP_CLOSE, (1000).to_bytes(2, "big")))
    assert conn.close_code == 1000


def test_a_failed_connection_reads_a_flood_once_per_linger_check(build) -> None:
    """Lingering after a failure keeps reading, but one read per LINGER_QUIET: a peer that goes on
    flooding costs a read every 50 ms until close_timeout, not as much as it cares to send."""
    conn = open_conn(build)
    conn.data_received(b"".join(peer_frame(conn, OP_PING, b"x") for _ in range(PER_READ + 1)))
    assert conn.close_code == 1008 and conn.sink.reading
    conn.data_received(b"junk" * 1000)
    assert not conn.sink.reading  # dropped; nothing more until the linger check
    conn.timers.pop("linger")
    conn.timer_fired("linger")
    assert conn.sink.reading and "linger" in conn.timers and not conn.sink.closed
    conn.clock.now += 1  # the peer has gone quiet
    conn.timers.pop("linger")
    conn.timer_fired("linger")
    assert conn.sink.closed and not conn.sink.aborted
