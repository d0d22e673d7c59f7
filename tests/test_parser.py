"""FrameParser: every RFC 6455 rule with its close code, for both roles.

Unless a test is about feeding in pieces, each case goes through
``assert_outcome``, which feeds the input at once and in chunks of 1, 2, 3 and 7
bytes and requires the same frames and the same close code every time.
"""

from __future__ import annotations

import pytest
from codec_helpers import (
    CHUNK_SIZES,
    CONTROL_OPCODES,
    DATA_OPCODES,
    RESERVED_OPCODES,
    TEST_KEY,
    assert_outcome,
    close_payload,
    encode_frame,
    expected,
    frame_for,
    frame_tuple,
    load_vectors,
    outcome,
    spec_bytes,
)

from fastws.constants import (
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_MESSAGE_SIZE,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
)
from fastws.exceptions import ProtocolError

VECTORS = load_vectors()

PROTOCOL_ERROR = 1002
INVALID_DATA = 1007
TOO_BIG = 1009

# Close codes a peer may not send (RFC 6455 §7.4.1, §7.4.2) and ones it may.
INVALID_CLOSE_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
VALID_CLOSE_CODES = [*range(1000, 1004), *range(1007, 1015), 3000, 3999, 4000, 4999]

INVALID_UTF8 = {
    "overlong": b"\xc0\x80",
    "overlong-3": b"\xe0\x80\x80",
    "surrogate": b"\xed\xa0\x80",
    "above-max": b"\xf4\x90\x80\x80",
    "lead-F5": b"\xf5\x80\x80\x80",
    "byte-FF": b"\xff",
    "lone-continuation": b"a\x80b",
    "truncated": b"ab\xe2\x82",
}

OPCODE_IDS = {OP_TEXT: "text", OP_BINARY: "binary", OP_CLOSE: "close", OP_PING: "ping", OP_PONG: "pong"}


@pytest.fixture(params=[True, False], ids=["client", "server"])
def client(request):
    """The parser's ``client`` flag: a client parser gets unmasked frames, a server parser masked ones."""
    return request.param


def op_id(opcode: int) -> str:
    return OPCODE_IDS.get(opcode, f"0x{opcode:X}")


def control_payload(opcode: int) -> bytes:
    """A valid payload for a control frame (a close frame needs a code)."""
    return close_payload(1000, "bye") if opcode == OP_CLOSE else b"ping!"


def raises_on_feed(parser, data) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parser.feed(data)
    return info.value


# -- shared vectors -------------------------------------------------------------------


def vector_input(v: dict) -> bytes:
    return spec_bytes(v["wire"]) + spec_bytes(v.get("trailing", ""))


def vector_frame(v: dict, assembled: bool) -> tuple:
    payload = spec_bytes(v["payload"])
    if assembled and v["opcode"] == OP_TEXT:
        payload = payload.decode()
    return expected(v["opcode"], payload, fin=v.get("fin", True), rsv1=v.get("rsv1", False))


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=[v["name"] for v in VECTORS["valid"]])
def test_valid_vector_frames(codec, vector):
    assert_outcome(
        codec,
        vector_input(vector),
        vector["client"],
        frames=[vector_frame(f, False) for f in vector["frames"]],
        assemble=False,
        **vector.get("options", {}),
    )


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=[v["name"] for v in VECTORS["valid"]])
def test_valid_vector_messages(codec, vector):
    assert_outcome(
        codec,
        vector_input(vector),
        vector["client"],
        frames=[vector_frame(f, True) for f in vector["messages"]],
        **vector.get("options", {}),
    )


@pytest.mark.parametrize("vector", VECTORS["errors"], ids=[v["name"] for v in VECTORS["errors"]])
def test_error_vector(codec, vector):
    assert_outcome(
        codec,
        spec_bytes(vector["wire"]),
        vector["client"],
        frames=[vector_frame(f, True) for f in vector["frames"]],
        code=vector["code"],
        **vector.get("options", {}),
    )



# -- feed_buffer: a lent, shared read buffer ----------------------------------------------


def feed_through_buffer(parser, data: bytes, chunk: int | None, wrap) -> tuple[list, int | None]:
    """Feed ``data`` through one reused buffer, larger than any read and full of junk past ``nbytes``."""
    size = len(data) if chunk is None else chunk
    buffer = bytearray(b"\xee" * (size + 64))
    frames: list = []
    try:
        for start in range(0, len(data), size):
            piece = data[start : start + size]
            buffer[: len(piece)] = piece
            frames.extend(parser.feed_buffer(wrap(buffer), len(piece)))
            buffer[:] = b"\xdd" * len(buffer)  # the next read overwrites it: nothing may refer to it
    except ProtocolError as exc:
        frames.extend(exc.frames)
        return [frame_tuple(f) for f in frames], exc.code
    return [frame_tuple(f) for f in frames], None


ALL_VECTORS = VECTORS["valid"] + VECTORS["errors"]


@pytest.mark.parametrize("wrap", [bytearray, memoryview], ids=["bytearray", "memoryview"])
@pytest.mark.parametrize("assemble", [True, False], ids=["messages", "frames"])
@pytest.mark.parametrize("vector", ALL_VECTORS, ids=[v["name"] for v in ALL_VECTORS])
def test_feed_buffer_is_feed_of_the_first_nbytes(codec, vector, assemble, wrap):
    data = vector_input(vector)
    options = {**vector.get("options", {}), "assemble": assemble}
    for chunk in CHUNK_SIZES:
        parser = codec.FrameParser(vector["client"], **options)
        got = feed_through_buffer(parser, data, chunk, wrap)
        assert got == outcome(codec, data, vector["client"], chunk, **options), f"chunks of {chunk}"
        assert got[1] == vector.get("code")


def test_feed_buffer_keeps_nothing_of_the_buffer(codec, client):
    buffer = bytearray(1024)
    wire = frame_for(client, OP_TEXT, "x" * 300)
    parser = codec.FrameParser(client)
    buffer[:100] = wire[:100]  # a header and part of a payload: both wait for the next read
    assert parser.feed_buffer(buffer, 100) == []
    buffer.extend(b"resizable: no export is left")  # BufferError if the parser still held a view
    view = memoryview(buffer)
    view[: len(wire) - 100] = wire[100:]
    [frame] = parser.feed_buffer(view, len(wire) - 100)
    view.release()  # BufferError if an export of the view were left
    assert frame.payload == "x" * 300


def test_feed_buffer_nbytes_zero_and_out_of_range(codec, client):
    parser = codec.FrameParser(client)
    assert parser.feed_buffer(bytearray(8), 0) == []
    for nbytes in (-1, 9):
        with pytest.raises(ValueError):
            parser.feed_buffer(bytearray(8), nbytes)
    wire = frame_for(client, OP_PING, b"hi")
    [frame] = parser.feed_buffer(wire + b"\x81", len(wire))  # a read-only buffer; the byte past nbytes is not read
    assert frame_tuple(frame) == expected(OP_PING, b"hi")
    assert parser.feed_buffer(b"", 0) == []  # no partial header was kept
    assert [frame_tuple(f) for f in parser.feed(frame_for(client, OP_PONG))] == [expected(OP_PONG)]


# -- payloads spanning feeds --------------------------------------------------------------


def spanning_input(client: bool) -> tuple[bytes, list]:
    """A fragmented text message, a ping between its fragments and a binary frame, all a few KB."""
    text = "données-€-𝄞-" * 120
    raw = text.encode()
    binary = bytes(range(256)) * 9
    data = (
        frame_for(client, OP_TEXT, raw[:1001], fin=False)  # cuts a multi-byte character
        + frame_for(client, OP_PING, b"ping")
        + frame_for(client, OP_CONTINUATION, raw[1001:])
        + frame_for(client, OP_BINARY, binary)
    )
    return data, [expected(OP_PING, b"ping"), expected(OP_TEXT, text), expected(OP_BINARY, binary)]


def test_split_at_every_position(codec, client):
    data, frames = spanning_input(client)
    for cut in range(len(data) + 1):
        parser = codec.FrameParser(client)
        got = [frame_tuple(f) for f in parser.feed(data[:cut]) + parser.feed(data[cut:])]
        assert got == frames, f"cut at {cut}"


def test_split_in_three_at_many_positions(codec, client):
    data, frames = spanning_input(client)
    for first in range(0, len(data), 97):
        for second in range(first, len(data), 389):
            parser = codec.FrameParser(client)
            got = parser.feed(data[:first]) + parser.feed(data[first:second]) + parser.feed(data[second:])
            assert [frame_tuple(f) for f in got] == frames, f"cuts at {first} and {second}"


# -- opcodes and reserved bits ----------------------------------------------------------


@pytest.mark.parametrize("opcode", RESERVED_OPCODES, ids=op_id)
def test_reserved_opcode(codec, client, opcode):
    assert_outcome(codec, frame_for(client, opcode, b"x"), client, frames=[], code=PROTOCOL_ERROR)


@pytest.mark.parametrize("opcode", RESERVED_OPCODES, ids=op_id)
def test_reserved_opcode_during_fragmented_message(codec, client, opcode):
    data = frame_for(client, OP_TEXT, "a", fin=False) + frame_for(client, opcode, b"x")
    assert_outcome(codec, data, client, code=PROTOCOL_ERROR)


@pytest.mark.parametrize("bit", ["rsv1", "rsv2", "rsv3"])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY, *CONTROL_OPCODES], ids=op_id)
def test_reserved_bit_without_extension(codec, client, opcode, bit):
    data = frame_for(
        client, opcode, control_payload(opcode) if opcode in CONTROL_OPCODES else b"abc", **{bit: True}
    )
    assert_outcome(codec, data, client, frames=[], code=PROTOCOL_ERROR)


@pytest.mark.parametrize("opcode", DATA_OPCODES, ids=op_id)
def test_allow_rsv1_accepts_rsv1_on_data_frame(codec, client, opcode):
    data = frame_for(client, opcode, b"abc", rsv1=True)
    assert_outcome(
        codec, data, client, frames=[expected(opcode, b"abc", rsv1=True)], allow_rsv1=True, assemble=False
    )


def test_allow_rsv1_does_not_require_it(codec, client):
    data = frame_for(client, OP_BINARY, b"abc")
    assert_outcome(codec, data, client, frames=[expected(OP_BINARY, b"abc")], allow_rsv1=True)


def test_allow_rsv1_assembled_message_has_rsv1_of_first_fragment(codec, client):
    data = frame_for(client, OP_BINARY, b"ab", fin=False, rsv1=True) + frame_for(
        client, OP_CONTINUATION, b"cd"
    )
    assert_outcome(codec, data, client, frames=[expected(OP_BINARY, b"abcd", rsv1=True)], allow_rsv1=True)


def test_allow_rsv1_fragments_not_assembled(codec, client):
    data = frame_for(client, OP_BINARY, b"ab", fin=False, rsv1=True) + frame_for(
        client, OP_CONTINUATION, b"cd"
    )
    frames = [expected(OP_BINARY, b"ab", fin=False, rsv1=True), expected(OP_CONTINUATION, b"cd")]
    assert_outcome(codec, data, client, frames=frames, allow_rsv1=True, assemble=False)


@pytest.mark.parametrize("opcode", CONTROL_OPCODES, ids=op_id)
def test_allow_rsv1_rejects_rsv1_on_control_frame(codec, client, opcode):
    data = frame_for(client, opcode, control_payload(opcode), rsv1=True)
    assert_outcome(codec, data, client, frames=[], code=PROTOCOL_ERROR, allow_rsv1=True)


@pytest.mark.parametrize("assemble", [True, False])
def test_allow_rsv1_rejects_rsv1_on_continuation(codec, client, assemble):
    data = frame_for(client, OP_BINARY, b"ab", fin=False, rsv1=True) + frame_for(
        client, OP_CONTINUATION, b"cd", rsv1=True
    )
    assert_outcome(codec, data, client, code=PROTOCOL_ERROR, allow_rsv1=True, assemble=assemble)


@pytest.mark.parametrize("bit", ["rsv2", "rsv3"])
@pytest.mark.parametrize("opcode", DATA_OPCODES, ids=op_id)
def test_allow_rsv1_still_rejects_rsv2_rsv3(codec, client, opcode, bit):
    data = frame_for(client, opcode, b"abc", **{bit: True})
    assert_outcome(codec, data, client, frames=[], code=PROTOCOL_ERROR, allow_rsv1=True)


# RFC 7692 §7.2.3.1: "Hello" compressed with permessage-deflate.  The payload is
# deflate data, not UTF-8: UTF-8 applies to the decompressed message, which the
# codec never sees (the spec is silent here; this is what RFC 7692 requires).
DEFLATED_HELLO = bytes.fromhex("f248cdc9c90700")


def test_rsv1_text_frame_payload_is_not_utf8_validated(codec, client):
    data = frame_for(client, OP_TEXT, DEFLATED_HELLO, rsv1=True)
    assert_outcome(
        codec,
        data,
        client,
        frames=[expected(OP_TEXT, DEFLATED_HELLO, rsv1=True)],
        allow_rsv1=True,
        assemble=False,
    )


def test_rsv1_text_message_is_assembled_as_bytes(codec, client):
    """A compressed text message cannot be decoded by the codec: its payload stays bytes."""
    data = frame_for(client, OP_TEXT, DEFLATED_HELLO[:3], fin=False, rsv1=True) + frame_for(
        client, OP_CONTINUATION, DEFLATED_HELLO[3:]
    )
    assert_outcome(
        codec, data, client, frames=[expected(OP_TEXT, DEFLATED_HELLO, rsv1=True)], allow_rsv1=True
    )


# -- control frames -----------------------------------------------------------------


@pytest.mark.parametrize("opcode", CONTROL_OPCODES, ids=op_id)
def test_control_frame_not_final(codec, client, opcode):
    data = frame_for(client, opcode, control_payload(opcode), fin=False)
    assert_outcome(codec, data, client, frames=[], code=PROTOCOL_ERROR)


@pytest.mark.parametrize("opcode", CONTROL_OPCODES, ids=op_id)
def test_control_frame_126_bytes(codec, client, opcode):
    data = frame_for(client, opcode, close_payload(1000, "x" * 124))
    assert_outcome(codec, data, client, frames=[], code=PROTOCOL_ERROR)


@pytest.mark.parametrize("opcode", CONTROL_OPCODES, ids=op_id)
def test_control_frame_64_bit_length(codec, client, opcode):
    data = frame_for(client, opcode, close_payload(1000, "x" * 69998))
    assert data[1] & 0x7F == 127
    assert_outcome(codec, data, client, frames=[], code=PROTOCOL_ERROR)


@pytest.mark.parametrize("opcode", CONTROL_OPCODES, ids=op_id)
def test_control_frame_16_bit_form_of_small_length(codec, client, opcode):
    data = frame_for(client, opcode, control_payload(opcode), length_form=16)
    assert_outcome(codec, data, client, frames=[], code=PROTOCOL_ERROR)


@pytest.mark.parametrize("opcode", CONTROL_OPCODES, ids=op_id)
def test_control_frame_125_bytes(codec, client, opcode):
    payload = close_payload(1000, "x" * 123)
    assert_outcome(codec, frame_for(client, opcode, payload), client, frames=[expected(opcode, payload)])


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG], ids=op_id)
def test_ping_pong_payload_is_not_utf8_validated(codec, client, opcode):
    data = frame_for(client, opcode, b"\xff\xc0\x80")
    assert_outcome(codec, data, client, frames=[expected(opcode, b"\xff\xc0\x80")])


# -- masking ------------------------------------------------------------------------


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY, *CONTROL_OPCODES], ids=op_id)
def test_server_rejects_unmasked_frame(codec, opcode):
    data = encode_frame(opcode, control_payload(opcode))
    assert_outcome(codec, data, False, frames=[], code=PROTOCOL_ERROR)


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY, *CONTROL_OPCODES], ids=op_id)
def test_client_rejects_masked_frame(codec, opcode):
    data = encode_frame(opcode, control_payload(opcode), key=TEST_KEY)
    assert_outcome(codec, data, True, frames=[], code=PROTOCOL_ERROR)


def test_server_rejects_unmasked_continuation(codec):
    data = encode_frame(OP_TEXT, "ab", fin=False, key=TEST_KEY) + encode_frame(OP_CONTINUATION, "cd")
    assert_outcome(codec, data, False, code=PROTOCOL_ERROR)


@pytest.mark.parametrize("key", ["00000000", "ffffffff", "01020304"])
def test_server_unmasks_with_any_key(codec, key):
    data = encode_frame(OP_BINARY, bytes(range(50)), key=bytes.fromhex(key))
    assert_outcome(codec, data, False, frames=[expected(OP_BINARY, bytes(range(50)))])


def test_server_unmasks_each_frame_with_its_own_key(codec):
    data = encode_frame(OP_BINARY, b"abcde", key=bytes.fromhex("01020304")) + encode_frame(
        OP_BINARY, b"fghij", key=bytes.fromhex("a0b0c0d0")
    )
    assert_outcome(codec, data, False, frames=[expected(OP_BINARY, b"abcde"), expected(OP_BINARY, b"fghij")])


# -- payload length ---------------------------------------------------------------------


@pytest.mark.parametrize("length", [1 << 63, (1 << 63) + 5, (1 << 64) - 1], ids=hex)
def test_64_bit_length_with_msb_set(codec, client, length):
    header = frame_for(client, OP_BINARY, b"", length=length, length_form=64)
    assert_outcome(codec, header, client, frames=[], code=PROTOCOL_ERROR)


@pytest.mark.parametrize(
    ("form", "size"),
    [(16, 0), (16, 5), (16, 125), (64, 0), (64, 125), (64, 200), (64, 65535)],
    ids=lambda x: str(x),
)
def test_non_minimal_length_rejected(codec, client, form, size):
    data = frame_for(client, OP_BINARY, bytes(size), length_form=form)
    assert_outcome(codec, data, client, frames=[], code=PROTOCOL_ERROR)


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 100_000])
def test_minimal_lengths_accepted(codec, client, size):
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    parser = codec.FrameParser(client)
    frames = parser.feed(frame_for(client, OP_BINARY, payload))
    assert [frame_tuple(f) for f in frames] == [expected(OP_BINARY, payload)]


# -- fragmentation ------------------------------------------------------------------------


@pytest.mark.parametrize("assemble", [True, False])
@pytest.mark.parametrize("fin", [True, False])
def test_continuation_without_message(codec, client, fin, assemble):
    data = frame_for(client, OP_CONTINUATION, b"lo", fin=fin)
    assert_outcome(codec, data, client, frames=[], code=PROTOCOL_ERROR, assemble=assemble)


@pytest.mark.parametrize("assemble", [True, False])
def test_continuation_after_finished_message(codec, client, assemble):
    data = frame_for(client, OP_TEXT, "Hel") + frame_for(client, OP_CONTINUATION, "lo")
    frames = [expected(OP_TEXT, "Hel" if assemble else b"Hel")]
    assert_outcome(codec, data, client, frames=frames, code=PROTOCOL_ERROR, assemble=assemble)


@pytest.mark.parametrize("assemble", [True, False])
@pytest.mark.parametrize("second", DATA_OPCODES, ids=op_id)
@pytest.mark.parametrize("first", DATA_OPCODES, ids=op_id)
def test_new_data_frame_during_fragmented_message(codec, client, first, second, assemble):
    data = frame_for(client, first, b"ab", fin=False) + frame_for(client, second, b"cd")
    frames = [] if assemble else [expected(first, b"ab", fin=False)]
    assert_outcome(codec, data, client, frames=frames, code=PROTOCOL_ERROR, assemble=assemble)


def fragmented_with_controls(client: bool) -> bytes:
    return b"".join(
        [
            frame_for(client, OP_TEXT, "Hel", fin=False),
            frame_for(client, OP_PING, b"1"),
            frame_for(client, OP_CONTINUATION, "l", fin=False),
            frame_for(client, OP_PONG, b"2"),
            frame_for(client, OP_PING, b"3"),
            frame_for(client, OP_CONTINUATION, "o"),
        ]
    )


def test_control_frames_between_fragments_come_first(codec, client):
    frames = [
        expected(OP_PING, b"1"),
        expected(OP_PONG, b"2"),
        expected(OP_PING, b"3"),
        expected(OP_TEXT, "Hello"),
    ]
    assert_outcome(codec, fragmented_with_controls(client), client, frames=frames)


def test_control_frames_between_fragments_not_assembled(codec, client):
    frames = [
        expected(OP_TEXT, b"Hel", fin=False),
        expected(OP_PING, b"1"),
        expected(OP_CONTINUATION, b"l", fin=False),
        expected(OP_PONG, b"2"),
        expected(OP_PING, b"3"),
        expected(OP_CONTINUATION, b"o"),
    ]
    assert_outcome(codec, fragmented_with_controls(client), client, frames=frames, assemble=False)


def test_close_between_fragments_ends_parsing(codec, client):
    data = (
        frame_for(client, OP_BINARY, b"ab", fin=False)
        + frame_for(client, OP_CLOSE, close_payload(1001))
        + frame_for(client, OP_CONTINUATION, b"cd")
    )
    assert_outcome(codec, data, client, frames=[expected(OP_CLOSE, close_payload(1001))])


def test_fragmented_binary_message(codec, client):
    data = (
        frame_for(client, OP_BINARY, b"\x00\x01", fin=False)
        + frame_for(client, OP_CONTINUATION, b"", fin=False)
        + frame_for(client, OP_CONTINUATION, b"\xff")
    )
    assert_outcome(codec, data, client, frames=[expected(OP_BINARY, b"\x00\x01\xff")])


def test_empty_fragments(codec, client):
    data = (
        frame_for(client, OP_TEXT, b"", fin=False)
        + frame_for(client, OP_CONTINUATION, b"", fin=False)
        + frame_for(client, OP_CONTINUATION, b"")
    )
    assert_outcome(codec, data, client, frames=[expected(OP_TEXT, "")])


def test_messages_after_fragmented_message(codec, client):
    data = (
        frame_for(client, OP_TEXT, "a", fin=False)
        + frame_for(client, OP_CONTINUATION, "b")
        + frame_for(client, OP_BINARY, b"c", fin=False)
        + frame_for(client, OP_CONTINUATION, b"d")
        + frame_for(client, OP_TEXT, "e")
    )
    frames = [expected(OP_TEXT, "ab"), expected(OP_BINARY, b"cd"), expected(OP_TEXT, "e")]
    assert_outcome(codec, data, client, frames=frames)


def test_many_fragments(codec, client):
    text = "fragment-€-" * 50
    raw = text.encode()
    data = b"".join(
        frame_for(client, OP_TEXT if i == 0 else OP_CONTINUATION, raw[i : i + 1], fin=i == len(raw) - 1)
        for i in range(len(raw))
    )
    assert_outcome(codec, data, client, frames=[expected(OP_TEXT, text)])


# -- UTF-8 in text messages --------------------------------------------------------------


@pytest.mark.parametrize("assemble", [True, False])
@pytest.mark.parametrize("name", list(INVALID_UTF8))
def test_invalid_utf8_in_text_frame(codec, client, name, assemble):
    data = frame_for(client, OP_TEXT, b"ok " + INVALID_UTF8[name])
    assert_outcome(codec, data, client, frames=[], code=INVALID_DATA, assemble=assemble)


def test_invalid_utf8_only_visible_in_second_fragment(codec, client):
    # E2 82 is a valid start of U+20AC; only the '(' in fragment 2 breaks it.
    data = frame_for(client, OP_TEXT, b"ab\xe2\x82", fin=False) + frame_for(client, OP_CONTINUATION, b"(cd")
    assert_outcome(codec, data, client, frames=[], code=INVALID_DATA)


def test_invalid_utf8_in_second_fragment_not_assembled(codec, client):
    data = frame_for(client, OP_TEXT, b"ab\xe2\x82", fin=False) + frame_for(client, OP_CONTINUATION, b"(cd")
    frames = [expected(OP_TEXT, b"ab\xe2\x82", fin=False)]
    assert_outcome(codec, data, client, frames=frames, code=INVALID_DATA, assemble=False)


def test_first_fragment_of_valid_prefix_is_accepted(codec, client):
    parser = codec.FrameParser(client)
    assert parser.feed(frame_for(client, OP_TEXT, b"ab\xe2\x82", fin=False)) == []


def test_utf8_error_raised_on_first_fragment(codec, client):
    """Fail fast (RFC 6455 §8.1): ED A0 can only start a surrogate, so fragment 1 already fails."""
    parser = codec.FrameParser(client)
    exc = raises_on_feed(parser, frame_for(client, OP_TEXT, b"ab\xed\xa0", fin=False))
    assert exc.code == INVALID_DATA


def test_utf8_error_raised_before_frame_is_complete(codec, client):
    """Fail fast inside one frame: the first part of its payload is enough."""
    frame = frame_for(client, OP_TEXT, b"ab\xc0\x80" + b"c" * 20)
    header_len = 2 if client else 6
    parser = codec.FrameParser(client)
    exc = raises_on_feed(parser, frame[: header_len + 4])
    assert exc.code == INVALID_DATA


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_valid_char_split_across_fragments(codec, client, cut):
    raw = "a𝄞b".encode()  # 61 F0 9D 84 9E 62
    data = frame_for(client, OP_TEXT, raw[: 1 + cut], fin=False) + frame_for(
        client, OP_CONTINUATION, raw[1 + cut :]
    )
    assert_outcome(codec, data, client, frames=[expected(OP_TEXT, "a𝄞b")])


def test_text_message_ending_mid_character(codec, client):
    data = frame_for(client, OP_TEXT, b"ab\xe2\x82")
    assert_outcome(codec, data, client, frames=[], code=INVALID_DATA)


def test_fragmented_text_message_ending_mid_character(codec, client):
    data = frame_for(client, OP_TEXT, b"ab\xe2", fin=False) + frame_for(client, OP_CONTINUATION, b"\x82")
    assert_outcome(codec, data, client, frames=[], code=INVALID_DATA)


def test_binary_payload_is_not_utf8_validated(codec, client):
    data = frame_for(client, OP_BINARY, b"\xff\xed\xa0\x80")
    assert_outcome(codec, data, client, frames=[expected(OP_BINARY, b"\xff\xed\xa0\x80")])


def test_utf8_state_resets_between_messages(codec, client):
    data = frame_for(client, OP_TEXT, "é") + frame_for(client, OP_TEXT, "€")
    assert_outcome(codec, data, client, frames=[expected(OP_TEXT, "é"), expected(OP_TEXT, "€")])


# -- decode_text=False: text messages stay validated bytes ---------------------------------


@pytest.mark.parametrize("cut", [None, 1, 2, 3])
def test_decode_text_false_gives_text_as_bytes(codec, client, cut):
    raw = "a𝄞b €".encode()
    if cut is None:
        data = frame_for(client, OP_TEXT, raw)
    else:  # the 4-byte character split across fragments
        data = frame_for(client, OP_TEXT, raw[: 1 + cut], fin=False) + frame_for(
            client, OP_CONTINUATION, raw[1 + cut :]
        )
    assert_outcome(codec, data, client, frames=[expected(OP_TEXT, raw)], decode_text=False)


@pytest.mark.parametrize("name", list(INVALID_UTF8))
def test_decode_text_false_still_validates(codec, client, name):
    data = frame_for(client, OP_TEXT, b"ok " + INVALID_UTF8[name])
    assert_outcome(codec, data, client, frames=[], code=INVALID_DATA, decode_text=False)
    fragmented = frame_for(client, OP_TEXT, b"ok ", fin=False) + frame_for(
        client, OP_CONTINUATION, INVALID_UTF8[name]
    )
    assert_outcome(codec, fragmented, client, frames=[], code=INVALID_DATA, decode_text=False)


def test_decode_text_false_fails_fast(codec, client):
    parser = codec.FrameParser(client, decode_text=False)
    exc = raises_on_feed(parser, frame_for(client, OP_TEXT, b"ab\xed\xa0", fin=False))
    assert exc.code == INVALID_DATA


def test_decode_text_false_leaves_binary_and_control_frames_alone(codec, client):
    data = frame_for(client, OP_BINARY, b"\xff") + frame_for(client, OP_PING, b"p")
    frames = [expected(OP_BINARY, b"\xff"), expected(OP_PING, b"p")]
    assert_outcome(codec, data, client, frames=frames, decode_text=False)


# -- close frames -----------------------------------------------------------------------


def test_close_frame_empty(codec, client):
    assert_outcome(codec, frame_for(client, OP_CLOSE), client, frames=[expected(OP_CLOSE, b"")])


def test_close_frame_one_byte(codec, client):
    assert_outcome(codec, frame_for(client, OP_CLOSE, b"\x03"), client, frames=[], code=PROTOCOL_ERROR)


@pytest.mark.parametrize("code", INVALID_CLOSE_CODES)
def test_close_frame_invalid_code(codec, client, code):
    data = frame_for(client, OP_CLOSE, close_payload(code))
    assert_outcome(codec, data, client, frames=[], code=PROTOCOL_ERROR)


@pytest.mark.parametrize("code", VALID_CLOSE_CODES)
def test_close_frame_valid_code(codec, client, code):
    payload = close_payload(code, "bye")
    assert_outcome(codec, frame_for(client, OP_CLOSE, payload), client, frames=[expected(OP_CLOSE, payload)])


@pytest.mark.parametrize("name", list(INVALID_UTF8))
def test_close_frame_reason_not_utf8(codec, client, name):
    data = frame_for(client, OP_CLOSE, close_payload(1000, INVALID_UTF8[name]))
    assert_outcome(codec, data, client, frames=[], code=INVALID_DATA)


def test_close_frame_utf8_reason(codec, client):
    payload = close_payload(1001, "au revoir €")
    assert_outcome(codec, frame_for(client, OP_CLOSE, payload), client, frames=[expected(OP_CLOSE, payload)])


def test_parse_close_payload_empty(codec):
    assert codec.parse_close_payload(b"") == (1005, "")


@pytest.mark.parametrize("code", VALID_CLOSE_CODES)
def test_parse_close_payload_valid(codec, code):
    assert codec.parse_close_payload(close_payload(code, "bye €")) == (code, "bye €")


def test_parse_close_payload_code_only(codec):
    assert codec.parse_close_payload(b"\x03\xe8") == (1000, "")


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_parse_close_payload_input_types(codec, kind):
    assert codec.parse_close_payload(kind(close_payload(4000, "x"))) == (4000, "x")


def test_parse_close_payload_one_byte(codec):
    with pytest.raises(ProtocolError) as info:
        codec.parse_close_payload(b"\x03")
    assert info.value.code == PROTOCOL_ERROR


@pytest.mark.parametrize("code", INVALID_CLOSE_CODES)
def test_parse_close_payload_invalid_code(codec, code):
    with pytest.raises(ProtocolError) as info:
        codec.parse_close_payload(close_payload(code, "x"))
    assert info.value.code == PROTOCOL_ERROR


@pytest.mark.parametrize("name", list(INVALID_UTF8))
def test_parse_close_payload_reason_not_utf8(codec, name):
    with pytest.raises(ProtocolError) as info:
        codec.parse_close_payload(close_payload(1000, INVALID_UTF8[name]))
    assert info.value.code == INVALID_DATA


# -- size limits --------------------------------------------------------------------------
# Limits below 125 bytes (the largest control frame) are refused by both
# implementations, so these tests use limits of a few hundred bytes.

FRAME_LIMIT = 200
MESSAGE_LIMIT = 300


def test_default_limits(codec):
    parser = codec.FrameParser(True)
    assert parser.max_frame_size == DEFAULT_MAX_FRAME_SIZE
    assert parser.max_message_size == DEFAULT_MAX_MESSAGE_SIZE


def test_limits_are_exposed(codec):
    parser = codec.FrameParser(False, max_frame_size=FRAME_LIMIT, max_message_size=4567)
    assert parser.max_frame_size == FRAME_LIMIT
    assert parser.max_message_size == 4567


@pytest.mark.parametrize("option", ["max_frame_size", "max_message_size"])
def test_limits_below_largest_control_frame_rejected(codec, option):
    with pytest.raises(ValueError):
        codec.FrameParser(True, **{option: 124})
    codec.FrameParser(True, **{option: 125})


@pytest.mark.parametrize("size", [FRAME_LIMIT + 1, 65535, 65536, 1 << 40], ids=str)
def test_frame_too_big_from_header_alone(codec, client, size):
    header = frame_for(client, OP_BINARY, b"", length=size)
    parser = codec.FrameParser(client, max_frame_size=FRAME_LIMIT)
    exc = raises_on_feed(parser, header)
    assert exc.code == TOO_BIG


def test_frame_too_big_default_limit(codec, client):
    header = frame_for(client, OP_BINARY, b"", length=DEFAULT_MAX_FRAME_SIZE + 1)
    exc = raises_on_feed(codec.FrameParser(client), header)
    assert exc.code == TOO_BIG


def test_frame_at_max_frame_size(codec, client):
    payload = b"x" * FRAME_LIMIT
    data = frame_for(client, OP_BINARY, payload)
    assert_outcome(codec, data, client, frames=[expected(OP_BINARY, payload)], max_frame_size=FRAME_LIMIT)


@pytest.mark.parametrize("assemble", [True, False])
def test_frame_too_big_fed_whole(codec, client, assemble):
    data = frame_for(client, OP_TEXT, "x" * (FRAME_LIMIT + 1))
    assert_outcome(
        codec, data, client, frames=[], code=TOO_BIG, max_frame_size=FRAME_LIMIT, assemble=assemble
    )


def test_message_too_big_across_fragments(codec, client):
    data = frame_for(client, OP_BINARY, b"x" * 200, fin=False) + frame_for(
        client, OP_CONTINUATION, b"y" * 101
    )
    assert_outcome(codec, data, client, frames=[], code=TOO_BIG, max_message_size=MESSAGE_LIMIT)


def test_message_too_big_from_overflowing_fragment_header(codec, client):
    parser = codec.FrameParser(client, max_message_size=MESSAGE_LIMIT)
    assert parser.feed(frame_for(client, OP_BINARY, b"x" * 200, fin=False)) == []
    exc = raises_on_feed(parser, frame_for(client, OP_CONTINUATION, b"", length=101))
    assert exc.code == TOO_BIG


def test_message_at_max_message_size(codec, client):
    data = frame_for(client, OP_TEXT, "x" * 200, fin=False) + frame_for(client, OP_CONTINUATION, "y" * 100)
    frames = [expected(OP_TEXT, "x" * 200 + "y" * 100)]
    assert_outcome(codec, data, client, frames=frames, max_message_size=MESSAGE_LIMIT)


def test_single_frame_message_too_big(codec, client):
    data = frame_for(client, OP_BINARY, b"x" * (MESSAGE_LIMIT + 1))
    assert_outcome(codec, data, client, frames=[], code=TOO_BIG, max_message_size=MESSAGE_LIMIT)


def test_control_frames_do_not_count_towards_message_size(codec, client):
    data = (
        frame_for(client, OP_BINARY, b"x" * 150, fin=False)
        + frame_for(client, OP_PING, b"p" * 125)
        + frame_for(client, OP_CONTINUATION, b"y" * 150)
    )
    frames = [expected(OP_PING, b"p" * 125), expected(OP_BINARY, b"x" * 150 + b"y" * 150)]
    assert_outcome(codec, data, client, frames=frames, max_message_size=MESSAGE_LIMIT)


def test_message_size_counts_per_message(codec, client):
    data = frame_for(client, OP_BINARY, b"x" * 250) + frame_for(client, OP_BINARY, b"y" * 250)
    frames = [expected(OP_BINARY, b"x" * 250), expected(OP_BINARY, b"y" * 250)]
    assert_outcome(codec, data, client, frames=frames, max_message_size=MESSAGE_LIMIT)


# -- errors and the end of the stream ---------------------------------------------------------


def test_error_is_a_protocol_error_with_reason(codec, client):
    exc = raises_on_feed(codec.FrameParser(client), frame_for(client, 0x3))
    assert isinstance(exc, ProtocolError)
    assert exc.code == PROTOCOL_ERROR
    assert isinstance(exc.reason, str) and exc.reason


@pytest.mark.parametrize("code", [PROTOCOL_ERROR, INVALID_DATA, TOO_BIG])
def test_error_is_sticky(codec, client, code):
    bad = {
        PROTOCOL_ERROR: frame_for(client, 0x3),
        INVALID_DATA: frame_for(client, OP_TEXT, b"\xff"),
        TOO_BIG: frame_for(client, OP_BINARY, b"x" * 201),
    }[code]
    parser = codec.FrameParser(client, max_frame_size=200)
    assert raises_on_feed(parser, bad).code == code
    assert raises_on_feed(parser, frame_for(client, OP_PING, b"ok")).code == code
    assert raises_on_feed(parser, b"").code == code


def test_frames_before_error_are_on_the_exception(codec, client):
    data = (
        frame_for(client, OP_PING, b"1")
        + frame_for(client, OP_TEXT, "two")
        + frame_for(client, OP_BINARY, b"x", fin=False)
        + frame_for(client, OP_TEXT, "bad")
    )
    exc = raises_on_feed(codec.FrameParser(client), data)
    assert exc.code == PROTOCOL_ERROR
    assert [frame_tuple(f) for f in exc.frames] == [expected(OP_PING, b"1"), expected(OP_TEXT, "two")]


def test_frames_of_earlier_calls_are_not_on_the_exception(codec, client):
    parser = codec.FrameParser(client)
    assert len(parser.feed(frame_for(client, OP_PING, b"1"))) == 1
    exc = raises_on_feed(parser, frame_for(client, 0x3))
    assert exc.frames == []


def test_bytes_after_close_are_ignored(codec, client):
    parser = codec.FrameParser(client)
    data = frame_for(client, OP_CLOSE, close_payload(1000)) + frame_for(client, OP_TEXT, "late")
    assert [frame_tuple(f) for f in parser.feed(data)] == [expected(OP_CLOSE, close_payload(1000))]
    assert parser.feed(frame_for(client, OP_TEXT, "later")) == []
    assert parser.feed(b"\xff\xff garbage") == []


def test_garbage_after_close_is_ignored(codec, client):
    data = frame_for(client, OP_CLOSE) + bytes([0x83, 0xFF, 0xFF, 0xFF])
    assert_outcome(codec, data, client, frames=[expected(OP_CLOSE, b"")])


# -- results and input --------------------------------------------------------------------


def test_text_message_payload_is_str(codec, client):
    (frame,) = codec.FrameParser(client).feed(frame_for(client, OP_TEXT, "κόσμε"))
    assert type(frame.payload) is str and frame.payload == "κόσμε"
    assert (frame.opcode, frame.fin, frame.rsv1, frame.rsv2, frame.rsv3) == (
        OP_TEXT,
        True,
        False,
        False,
        False,
    )


def test_binary_message_payload_is_bytes(codec, client):
    (frame,) = codec.FrameParser(client).feed(frame_for(client, OP_BINARY, b"\x00\xff"))
    assert type(frame.payload) is bytes and frame.payload == b"\x00\xff"


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE], ids=op_id)
def test_control_payload_is_bytes(codec, client, opcode):
    (frame,) = codec.FrameParser(client).feed(frame_for(client, opcode, control_payload(opcode)))
    assert type(frame.payload) is bytes and frame.payload == control_payload(opcode)


def test_text_frame_payload_is_bytes_when_not_assembled(codec, client):
    (frame,) = codec.FrameParser(client, assemble=False).feed(frame_for(client, OP_TEXT, "é"))
    assert type(frame.payload) is bytes and frame.payload == "é".encode()


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_input_types(codec, client, kind):
    data = frame_for(client, OP_TEXT, "hi") + frame_for(client, OP_BINARY, b"yo")
    frames = codec.FrameParser(client).feed(kind(data))
    assert [frame_tuple(f) for f in frames] == [expected(OP_TEXT, "hi"), expected(OP_BINARY, b"yo")]


def test_memoryview_slice_input(codec, client):
    data = b"\xff\xff" + frame_for(client, OP_BINARY, b"yo") + b"\xff"
    frames = codec.FrameParser(client).feed(memoryview(data)[2:-1])
    assert [frame_tuple(f) for f in frames] == [expected(OP_BINARY, b"yo")]


def test_many_frames_in_one_chunk(codec, client):
    payloads = [bytes([i]) * i for i in range(200)]
    data = b"".join(frame_for(client, OP_BINARY, p) for p in payloads)
    frames = codec.FrameParser(client).feed(data)
    assert [frame_tuple(f) for f in frames] == [expected(OP_BINARY, p) for p in payloads]


def test_empty_and_partial_input_return_nothing(codec, client):
    data = frame_for(client, OP_BINARY, b"abc")
    parser = codec.FrameParser(client)
    assert parser.feed(b"") == []
    assert parser.feed(data[:1]) == []
    assert parser.feed(data[1:-1]) == []
    assert [frame_tuple(f) for f in parser.feed(data[-1:])] == [expected(OP_BINARY, b"abc")]


def test_parser_does_not_keep_the_callers_buffer(codec, client):
    """A reused receive buffer may be overwritten after feed returns."""
    data = frame_for(client, OP_BINARY, b"abcdef")
    buf = bytearray(data[:-3])
    parser = codec.FrameParser(client)
    assert parser.feed(buf) == []
    buf[:] = b"\x00" * len(buf)
    frames = parser.feed(bytearray(data[-3:]))
    assert [frame_tuple(f) for f in frames] == [expected(OP_BINARY, b"abcdef")]


def test_returned_payload_does_not_alias_the_input(codec, client):
    buf = bytearray(frame_for(client, OP_BINARY, b"abcdef"))
    (frame,) = codec.FrameParser(client).feed(buf)
    buf[:] = b"\x00" * len(buf)
    assert frame.payload == b"abcdef"


@pytest.mark.parametrize("client_flag", [True, False])
def test_client_flag_is_positional(codec, client_flag):
    # FrameParser(client, *, ...): the limits and flags are keyword-only.
    with pytest.raises(TypeError):
        codec.FrameParser(client_flag, 100)
