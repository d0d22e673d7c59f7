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


class CountingDecompressor:
    """The session's decompressor, with each inflate() call's output recorded."""

    def __init__(self, real) -> None:
        self.real = real
        self.calls: list[int] = []

    def start(self, data, max_size) -> None:
        self.real.start(data, max_size)

    def inflate(self, budget: int):
        try:
            return self.real.inflate(budget)
        finally:
            self.calls.append(self.real.produced)

    def reset(self) -> None:
        self.real.reset()

    def __getattr__(self, name: str):
        return getattr(self.real, name)


def counted(session) -> CountingDecompressor:
    session.decompressor = counting = CountingDecompressor(session.decompressor)
    return counting


def run_turns(conn, counting: CountingDecompressor, listener: Recorder) -> list[tuple[int, int]]:
    """Fire the "turn" timer while one is asked for: (bytes inflated, messages delivered) per turn."""
    turns = []
    while conn.timers and conn.timers.pop("turn", None) is not None:
        calls, delivered = len(counting.calls), len(listener.messages)
        conn.timer_fired("turn")
        turns.append((sum(counting.calls[calls:]), len(listener.messages) - delivered))
    return turns


def test_inflation_per_turn_is_bounded_within_a_message(build) -> None:
    """Deflated zeros: ~1 KiB on the wire, 1 MiB to inflate. Each turn of the loop inflates
    at most INFLATE_PER_TURN, resuming the message where the last turn stopped."""
    server, client = deflate_pair()
    max_size, budget = 1 << 20, _connection_py.INFLATE_PER_TURN
    assert budget < max_size // 4  # a bomb takes several turns
    listener = Recorder()
    conn = open_conn(build, max_size=max_size, deflate=server, listener=listener)
    counting = counted(server)
    bombs = [client.compress(bytes([i]) * max_size) for i in range(5)]
    conn.data_received(b"".join(peer_frame(conn, OP_BINARY, b, rsv1=True) for b in bombs))
    assert sum(counting.calls) == budget and listener.messages == []
    assert conn.timers["turn"] == 0 and not conn.sink.reading  # the rest waits, the first bomb started
    turns = run_turns(conn, counting, listener)
    assert listener.messages == [bytes([i]) * max_size for i in range(5)]
    assert all(inflated <= budget for inflated, _ in turns)
    assert len(turns) == -(-5 * max_size // budget)  # every turn but the last inflated the whole budget
    assert conn.sink.reading and conn.state == build.State.OPEN


def test_many_small_compressed_messages_share_a_turn(build) -> None:
    server, client = deflate_pair()
    listener = Recorder()
    conn = open_conn(build, deflate=server, listener=listener)
    counting = counted(server)
    budget = _connection_py.INFLATE_PER_TURN
    size = budget // 8 + 1  # eight and a bit per turn
    messages = [bytes([i]) * size for i in range(20)]
    conn.data_received(b"".join(peer_frame(conn, OP_BINARY, client.compress(m), rsv1=True) for m in messages))
    assert len(listener.messages) == 7  # the eighth is cut by the budget, 7 bytes short
    turns = run_turns(conn, counting, listener)
    assert listener.messages == messages
    assert [n for n, _ in turns] == [budget] * (len(turns) - 1) + [20 * size - budget * len(turns)]
    assert all(delivered >= 7 for _, delivered in turns[:-1])


def test_closing_drops_a_message_inflated_across_turns(build) -> None:
    server, client = deflate_pair()
    listener = Recorder()
    conn = open_conn(build, deflate=server, listener=listener)
    bomb = client.compress(bytes(1 << 20))
    conn.data_received(peer_frame(conn, OP_BINARY, bomb, rsv1=True) * 3)
    assert listener.messages == [] and server.decompressor.pending  # the first bomb, started
    conn.close(1000)
    assert listener.messages == []  # our close is sent: the held-back data is ignored
    assert not server.decompressor.pending  # and the partly inflated message freed
    assert conn.sink.reading  # closing reads, for the peer's close frame
    conn.data_received(peer_frame(conn, OP_CLOSE, (1000).to_bytes(2, "big")))
    assert conn.close_code == 1000


def test_failing_drops_a_message_inflated_across_turns(build) -> None:
    server, client = deflate_pair()
    conn = open_conn(build, deflate=server, listener=Recorder())
    conn.data_received(peer_frame(conn, OP_BINARY, client.compress(bytes(1 << 20)), rsv1=True))
    assert server.decompressor.pending
    conn.fail(1008, "policy")
    assert not server.decompressor.pending and conn.close_code == 1008


def test_bomb_past_max_size_fails_across_turns(build) -> None:
    server, client = deflate_pair()
    max_size = 1 << 20
    listener = Recorder()
    conn = open_conn(build, max_size=max_size, deflate=server, listener=listener)
    conn.data_received(peer_frame(conn, OP_BINARY, client.compress(bytes(2 * max_size)), rsv1=True))
    turns = 0
    while conn.timers and conn.timers.pop("turn", None) is not None:
        conn.timer_fired("turn")
        turns += 1
    assert turns == max_size // _connection_py.INFLATE_PER_TURN  # 1009 within the turn that passes max_size
    assert conn.close_code == 1009 and not server.decompressor.pending
    assert [type(e).__name__ for e in listener.errors] == ["ProtocolError"]
    assert close_code(sent(conn)) == 1009


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
