"""FrameBuilder, build_close_payload: encoding frames (RFC 6455 §5.2)."""

from __future__ import annotations

import struct

import pytest
from codec_helpers import (
    CONTROL_OPCODES,
    RESERVED_OPCODES,
    expected,
    frame_tuple,
    load_vectors,
    ref_mask,
    spec_bytes,
)

from fastws.constants import OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT

VECTORS = load_vectors()
UNMASKED_VECTORS = [v for v in VECTORS["valid"] if v["client"]]

INVALID_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]
VALID_CLOSE_CODES = [*range(1000, 1004), *range(1007, 1015), 3000, 3999, 4000, 4999]


def split_header(frame: bytes) -> tuple[int, int, bool, int, bytes | None, bytes]:
    """Decode a frame the test-side way: (byte 0, payload length, masked, header length, key, payload)."""
    b0, b1 = frame[0], frame[1]
    n = b1 & 0x7F
    pos = 2
    if n == 126:
        (n,) = struct.unpack_from("!H", frame, 2)
        pos = 4
    elif n == 127:
        (n,) = struct.unpack_from("!Q", frame, 2)
        pos = 10
    key = None
    if b1 & 0x80:
        key = frame[pos : pos + 4]
        pos += 4
    payload = frame[pos:]
    assert len(payload) == n
    return b0, n, key is not None, pos, key, ref_mask(payload, key) if key else payload


# -- shared vectors ---------------------------------------------------------------------


@pytest.mark.parametrize("vector", UNMASKED_VECTORS, ids=[v["name"] for v in UNMASKED_VECTORS])
def test_server_builds_vector_byte_for_byte(codec, vector):
    builder = codec.FrameBuilder(False)
    built = b"".join(
        builder.build(f["opcode"], spec_bytes(f["payload"]), fin=f["fin"], rsv1=f["rsv1"])
        for f in vector["frames"]
    )
    assert built == spec_bytes(vector["wire"])


def test_rfc_examples_exactly(codec):
    builder = codec.FrameBuilder(False)
    assert builder.build(OP_TEXT, "Hello") == bytes.fromhex("810548656c6c6f")
    assert builder.build(OP_TEXT, "Hel", fin=False) == bytes.fromhex("010348656c")
    assert builder.build(OP_CONTINUATION, "lo") == bytes.fromhex("80026c6f")
    assert builder.build(OP_PING, b"Hello") == bytes.fromhex("890548656c6c6f")
    assert builder.build(OP_BINARY, bytes(256))[:4] == bytes.fromhex("827e0100")
    assert builder.build(OP_BINARY, bytes(65536))[:10] == bytes.fromhex("827f0000000000010000")


# -- length forms ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "length_bytes"),
    [
        (0, "00"),
        (1, "01"),
        (125, "7d"),
        (126, "7e 00 7e"),
        (127, "7e 00 7f"),
        (65535, "7e ff ff"),
        (65536, "7f 00 00 00 00 00 01 00 00"),
        (1 << 20, "7f 00 00 00 00 00 10 00 00"),
    ],
)
def test_server_uses_shortest_length_form(codec, size, length_bytes):
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    frame = codec.FrameBuilder(False).build(OP_BINARY, payload)
    header = bytes([0x82]) + bytes.fromhex(length_bytes)
    assert frame == header + payload


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_client_uses_shortest_length_form(codec, size):
    payload = bytes(size)
    frame = codec.FrameBuilder(True).build(OP_BINARY, payload)
    b0, n, masked, header_len, _key, unmasked = split_header(frame)
    assert (b0, n, masked, unmasked) == (0x82, size, True, payload)
    assert header_len == {0: 6, 125: 6, 126: 8, 65535: 8, 65536: 14}[size]


# -- masking --------------------------------------------------------------------------------


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY, OP_CONTINUATION, OP_PING, OP_PONG, OP_CLOSE])
def test_server_frames_are_unmasked(codec, opcode):
    frame = codec.FrameBuilder(False).build(opcode, b"abc" if opcode != OP_TEXT else "abc")
    assert frame[1] & 0x80 == 0
    assert frame[2:] == b"abc"


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY, OP_CONTINUATION, OP_PING, OP_PONG, OP_CLOSE])
def test_client_frames_are_masked(codec, opcode):
    frame = codec.FrameBuilder(True).build(opcode, b"\x03\xe8abc")
    b0, n, masked, header_len, key, payload = split_header(frame)
    assert masked and header_len == 6 and n == 5
    assert b0 == 0x80 | opcode
    assert payload == b"\x03\xe8abc"


def test_client_mask_key_changes_per_frame(codec):
    builder = codec.FrameBuilder(True)
    keys = [split_header(builder.build(OP_BINARY, b"x"))[4] for _ in range(64)]
    assert len(set(keys)) > 1
    # A fresh random 32-bit key per frame hardly ever repeats within 64 frames.
    assert len(set(keys)) >= 60


def test_client_mask_keys_differ_between_builders(codec):
    keys = {split_header(codec.FrameBuilder(True).build(OP_BINARY, b"x"))[4] for _ in range(16)}
    assert len(keys) > 1


def test_client_frames_parse_back(codec):
    builder = codec.FrameBuilder(True)
    messages = [(OP_TEXT, "hello €"), (OP_BINARY, bytes(range(256)) * 300), (OP_PING, b"p"), (OP_TEXT, "")]
    data = b"".join(builder.build(op, payload) for op, payload in messages)
    frames = codec.FrameParser(False, max_frame_size=1 << 20).feed(data)
    assert [frame_tuple(f) for f in frames] == [expected(op, payload) for op, payload in messages]


def test_server_frames_parse_back(codec):
    builder = codec.FrameBuilder(False)
    messages = [(OP_TEXT, "hello €"), (OP_BINARY, bytes(range(256)) * 300), (OP_PONG, b"p")]
    data = b"".join(builder.build(op, payload) for op, payload in messages)
    frames = codec.FrameParser(True).feed(data)
    assert [frame_tuple(f) for f in frames] == [expected(op, payload) for op, payload in messages]


def test_client_build_does_not_modify_the_payload(codec):
    payload = bytearray(b"do not touch")
    codec.FrameBuilder(True).build(OP_BINARY, payload)
    codec.FrameBuilder(True).build_parts(OP_BINARY, payload)
    codec.FrameBuilder(True).build(OP_BINARY, memoryview(payload))
    assert payload == b"do not touch"


# -- build_parts ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_server_build_parts_returns_the_same_payload_object(codec, kind):
    payload = kind(b"x" * 300)
    header, body = codec.FrameBuilder(False).build_parts(OP_BINARY, payload)
    assert body is payload


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65536])
def test_server_build_parts_equals_build(codec, size):
    builder = codec.FrameBuilder(False)
    payload = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    header, body = builder.build_parts(OP_BINARY, payload)
    assert type(header) is bytes
    assert header + bytes(body) == builder.build(OP_BINARY, payload)


@pytest.mark.parametrize(("fin", "rsv1"), [(False, False), (True, True), (False, True)])
def test_server_build_parts_flags(codec, fin, rsv1):
    builder = codec.FrameBuilder(False)
    header, body = builder.build_parts(OP_BINARY, b"abc", fin=fin, rsv1=rsv1)
    assert header + bytes(body) == builder.build(OP_BINARY, b"abc", fin=fin, rsv1=rsv1)


def test_server_build_parts_str_payload(codec):
    header, body = codec.FrameBuilder(False).build_parts(OP_TEXT, "κόσμε")
    assert header + bytes(body) == bytes([0x81, 10]) + "κόσμε".encode()


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_client_build_parts_masks_a_copy(codec, kind):
    payload = kind(b"abcdefgh" * 40)
    header, body = codec.FrameBuilder(True).build_parts(OP_BINARY, payload)
    assert body is not payload
    assert bytes(payload) == b"abcdefgh" * 40
    b0, n, masked, header_len, key, unmasked = split_header(header + bytes(body))
    assert (b0, n, masked, header_len) == (0x82, 320, True, 8)
    assert unmasked == b"abcdefgh" * 40


def test_client_build_parts_parse_back(codec):
    builder = codec.FrameBuilder(True)
    parts = [builder.build_parts(OP_TEXT, "part €", fin=False), builder.build_parts(OP_CONTINUATION, " two")]
    data = b"".join(header + bytes(body) for header, body in parts)
    frames = codec.FrameParser(False).feed(data)
    assert [frame_tuple(f) for f in frames] == [expected(OP_TEXT, "part € two")]


# -- payload, flags -------------------------------------------------------------------------


def test_str_payload_is_utf8(codec):
    assert codec.FrameBuilder(False).build(OP_TEXT, "€") == b"\x81\x03\xe2\x82\xac"


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_buffer_payload_types(codec, kind):
    assert codec.FrameBuilder(False).build(OP_BINARY, kind(b"\x00\xff")) == b"\x82\x02\x00\xff"


def test_memoryview_slice_payload(codec):
    view = memoryview(b"__abc__")[2:5]
    assert codec.FrameBuilder(False).build(OP_BINARY, view) == b"\x82\x03abc"


def test_default_payload_is_empty(codec):
    assert codec.FrameBuilder(False).build(OP_PING) == b"\x89\x00"


def test_build_returns_bytes(codec):
    assert type(codec.FrameBuilder(False).build(OP_BINARY, bytearray(b"x"))) is bytes
    assert type(codec.FrameBuilder(True).build(OP_BINARY, bytearray(b"x"))) is bytes


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_rsv1_flag(codec, opcode):
    assert codec.FrameBuilder(False).build(opcode, b"x", rsv1=True)[0] == 0xC0 | opcode


def test_rsv1_flag_client(codec):
    frame = codec.FrameBuilder(True).build(OP_BINARY, b"x", rsv1=True)
    assert frame[0] == 0xC2


@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY, OP_CONTINUATION])
def test_fin_false(codec, opcode):
    assert codec.FrameBuilder(False).build(opcode, b"x", fin=False)[0] == opcode


def test_continuation_opcode(codec):
    assert codec.FrameBuilder(False).build(OP_CONTINUATION, b"x") == b"\x80\x01x"


# -- invalid frames ---------------------------------------------------------------------------


@pytest.mark.parametrize("client", [True, False], ids=["client", "server"])
@pytest.mark.parametrize("opcode", CONTROL_OPCODES)
def test_control_frame_over_125_bytes(codec, client, opcode):
    builder = codec.FrameBuilder(client)
    builder.build(opcode, b"\x03\xe8" + b"x" * 123)  # 125 is fine
    with pytest.raises(ValueError):
        builder.build(opcode, b"\x03\xe8" + b"x" * 124)
    with pytest.raises(ValueError):
        builder.build_parts(opcode, b"\x03\xe8" + b"x" * 124)


@pytest.mark.parametrize("client", [True, False], ids=["client", "server"])
@pytest.mark.parametrize("opcode", CONTROL_OPCODES)
def test_control_frame_not_final(codec, client, opcode):
    builder = codec.FrameBuilder(client)
    with pytest.raises(ValueError):
        builder.build(opcode, b"", fin=False)
    with pytest.raises(ValueError):
        builder.build_parts(opcode, b"", fin=False)


@pytest.mark.parametrize("client", [True, False], ids=["client", "server"])
@pytest.mark.parametrize("opcode", CONTROL_OPCODES)
def test_control_frame_with_rsv1(codec, client, opcode):
    """The parser refuses RSV1 on control frames (RFC 7692 §6), so the builder does not make them."""
    with pytest.raises(ValueError):
        codec.FrameBuilder(client).build(opcode, b"", rsv1=True)


@pytest.mark.parametrize("client", [True, False], ids=["client", "server"])
@pytest.mark.parametrize("opcode", RESERVED_OPCODES)
def test_reserved_opcode(codec, client, opcode):
    builder = codec.FrameBuilder(client)
    with pytest.raises(ValueError):
        builder.build(opcode, b"x")
    with pytest.raises(ValueError):
        builder.build_parts(opcode, b"x")


# -- close frames ---------------------------------------------------------------------------


def test_build_close_payload(codec):
    assert codec.build_close_payload(1000, "bye") == b"\x03\xe8bye"
    assert codec.build_close_payload(4999, "€") == b"\x13\x87\xe2\x82\xac"


def test_build_close_payload_defaults(codec):
    assert codec.build_close_payload() == b"\x03\xe8"


def test_build_close_payload_without_code(codec):
    assert codec.build_close_payload(None) == b""


def test_build_close_payload_reason_needs_code(codec):
    with pytest.raises(ValueError):
        codec.build_close_payload(None, "why")


@pytest.mark.parametrize("code", VALID_CLOSE_CODES)
def test_build_close_payload_valid_codes(codec, code):
    assert codec.build_close_payload(code) == struct.pack("!H", code)


@pytest.mark.parametrize("code", INVALID_CLOSE_CODES)
def test_build_close_payload_invalid_code(codec, code):
    with pytest.raises(ValueError):
        codec.build_close_payload(code)


@pytest.mark.parametrize("reason", ["x" * 123, "é" * 61 + "x", "€" * 41], ids=["ascii", "2-byte", "3-byte"])
def test_build_close_payload_longest_reason(codec, reason):
    assert codec.build_close_payload(1000, reason) == b"\x03\xe8" + reason.encode()


@pytest.mark.parametrize("reason", ["x" * 124, "é" * 62, "€" * 41 + "x"], ids=["ascii", "2-byte", "3-byte"])
def test_build_close_payload_reason_too_long(codec, reason):
    with pytest.raises(ValueError):
        codec.build_close_payload(1000, reason)


def test_build_close_server(codec):
    assert codec.FrameBuilder(False).build_close(1000, "bye") == b"\x88\x05\x03\xe8bye"


def test_build_close_default(codec):
    assert codec.FrameBuilder(False).build_close() == b"\x88\x02\x03\xe8"


def test_build_close_without_code(codec):
    assert codec.FrameBuilder(False).build_close(None) == b"\x88\x00"
    (frame,) = codec.FrameParser(False).feed(codec.FrameBuilder(True).build_close(None))
    assert frame_tuple(frame) == expected(OP_CLOSE, b"")


def test_build_close_client(codec):
    frame = codec.FrameBuilder(True).build_close(1001, "going")
    b0, n, masked, _header_len, _key, payload = split_header(frame)
    assert (b0, n, masked, payload) == (0x88, 7, True, b"\x03\xe9going")


@pytest.mark.parametrize("code", INVALID_CLOSE_CODES)
def test_build_close_invalid_code(codec, code):
    with pytest.raises(ValueError):
        codec.FrameBuilder(False).build_close(code)


def test_build_close_reason_too_long(codec):
    builder = codec.FrameBuilder(True)
    assert len(builder.build_close(1000, "x" * 123)) == 6 + 125
    with pytest.raises(ValueError):
        builder.build_close(1000, "x" * 124)


@pytest.mark.parametrize("code", VALID_CLOSE_CODES)
def test_built_close_parses_back(codec, code):
    (frame,) = codec.FrameParser(False).feed(codec.FrameBuilder(True).build_close(code, "r"))
    assert codec.parse_close_payload(frame.payload) == (code, "r")
