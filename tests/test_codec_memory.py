"""FrameParser memory: what the parser holds follows the bytes received, not what headers announce.

Measured with tracemalloc, which sees both twins' buffers (the compiled parser
allocates its bytes objects through Python's allocator).  Every test runs
against both implementations (the ``codec`` fixture).
"""

from __future__ import annotations

import tracemalloc

import pytest
from codec_helpers import encode_frame, frame_for

from fastws.constants import OP_BINARY, OP_CONTINUATION, OP_TEXT
from fastws.exceptions import ProtocolError

KiB = 1 << 10
MiB = 1 << 20


class Traced:
    """Calling it gives the bytes allocated since ``mark()`` and still alive."""

    def __init__(self) -> None:
        self.base = 0

    def mark(self) -> None:
        self.base = tracemalloc.get_traced_memory()[0]

    def __call__(self) -> int:
        return tracemalloc.get_traced_memory()[0] - self.base


@pytest.fixture
def traced():
    tracemalloc.start()
    yield Traced()
    tracemalloc.stop()


def data_frame(client: bool, opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """frame_for() without its byte-at-a-time masking: a server parser gets the all-zero key."""
    header = encode_frame(opcode, fin=fin, length=len(payload), key=None if client else bytes(4))
    return header + payload


@pytest.mark.parametrize("client", [True, False], ids=["client", "server"])
def test_header_alone_commits_no_memory(codec, traced, client):
    announced = 8 * MiB
    payload = bytes(range(256)) * (announced // 256)
    wire = memoryview(data_frame(client, OP_BINARY, payload))
    header = len(wire) - announced
    parser = codec.FrameParser(client, max_frame_size=announced, max_message_size=announced)
    traced.mark()
    held = []
    fed = header + 1000
    assert parser.feed(wire[:fed]) == []
    held.append(traced())
    assert held[-1] < 16 * KiB, held  # not the announced 8 MiB (at most 8x what arrived)
    for end in (fed + 100_000, fed + MiB, fed + 3 * MiB):
        assert parser.feed(wire[fed:end]) == []
        fed = end
        held.append(traced())
        assert held[-1] < 8 * (fed - header) + 16 * KiB, held  # grows with what arrived
    [frame] = parser.feed(wire[fed:])
    assert frame.payload == payload


def test_many_connections_announcing_large_frames(codec, traced):
    # 200 peers each send a header announcing 1 MiB and one byte of payload.
    wire = encode_frame(OP_BINARY, length=MiB, key=b"\x01\x02\x03\x04")[:14] + b"x"
    parsers = [codec.FrameParser(False) for _ in range(200)]
    traced.mark()
    for parser in parsers:
        assert parser.feed(wire) == []
    assert traced() < 200 * 2 * KiB  # was 200 MiB


@pytest.mark.parametrize("client", [True, False], ids=["client", "server"])
def test_flood_of_empty_continuation_frames(codec, traced, client):
    # Each empty fragment passes the byte limit; none may cost memory.
    parser = codec.FrameParser(client, max_frame_size=1024, max_message_size=1024)
    assert parser.feed(frame_for(client, OP_TEXT, "x", fin=False)) == []
    empties = frame_for(client, OP_CONTINUATION, b"", fin=False) * 10_000
    traced.mark()
    for _ in range(5):  # 50,000 empty fragments (a list of them: 400 KB)
        assert parser.feed(empties) == []
    assert traced() < 8 * KiB
    [message] = parser.feed(frame_for(client, OP_CONTINUATION, "y"))
    assert message.payload == "xy"


@pytest.mark.parametrize("opcode", [OP_BINARY, OP_TEXT], ids=["binary", "text"])
def test_flood_of_one_byte_fragments(codec, traced, opcode):
    count = 20_000
    parser = codec.FrameParser(False, max_frame_size=MiB, max_message_size=MiB)
    assert parser.feed(frame_for(False, opcode, b"a", fin=False)) == []
    ones = frame_for(False, OP_CONTINUATION, b"b", fin=False) * 1000
    traced.mark()
    for _ in range(count // 1000):
        assert parser.feed(ones) == []
    held = traced()
    assert held < 3 * count + 16 * KiB, held  # one buffer of the message size (was ~40 bytes per byte)
    [message] = parser.feed(frame_for(False, OP_CONTINUATION, b"c"))
    expected = b"a" + b"b" * count + b"c"
    assert message.payload == (expected.decode() if opcode == OP_TEXT else expected)
    assert message.opcode == opcode and message.fin


def test_failed_parser_drops_its_buffers(codec, traced):
    parser = codec.FrameParser(False, max_frame_size=MiB, max_message_size=MiB)
    first = data_frame(False, OP_TEXT, b"a" * 300_000, fin=False)
    wire = memoryview(data_frame(False, OP_CONTINUATION, b"a" * 200_000 + b"\xff" + b"a" * 1000))
    traced.mark()
    parser.feed(first)
    parser.feed(wire[:200_000])  # the message so far, and a payload spanning feeds
    assert traced() > 400_000
    with pytest.raises(ProtocolError) as info:
        parser.feed(wire[200_000:])
    assert info.value.code == 1007
    del info
    assert traced() < 16 * KiB
