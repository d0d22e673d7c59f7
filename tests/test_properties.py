"""Property tests: build -> parse round trips, and the two implementations agreeing
on arbitrary (mostly invalid) input."""

from __future__ import annotations

import struct

from codec_helpers import TEST_KEY, encode_frame, expected, feed_chunks, frame_tuple
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastws.constants import OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT

# -- strategies ---------------------------------------------------------------------


def cut(data: bytes, sizes: list[int]) -> list[bytes]:
    """``data`` in consecutive pieces whose sizes cycle through ``sizes``."""
    pieces, pos, i = [], 0, 0
    while pos < len(data):
        pieces.append(data[pos : pos + sizes[i % len(sizes)]])
        pos += sizes[i % len(sizes)]
        i += 1
    return pieces


chunk_sizes = st.lists(st.integers(1, 80), min_size=1, max_size=8)

control_frames = st.tuples(st.sampled_from([OP_PING, OP_PONG]), st.binary(max_size=125))


@st.composite
def messages(draw):
    """("message", opcode, fragments, controls) or ("control", opcode, payload).

    ``controls[i]`` are the control frames sent after fragment i.  Text is cut at
    byte level, so characters are split across fragments too.
    """
    if draw(st.integers(0, 3)) == 0:
        return ("control", *draw(control_frames))
    opcode = draw(st.sampled_from([OP_TEXT, OP_BINARY]))
    if opcode == OP_TEXT:
        value = draw(st.text(max_size=60))
        raw = value.encode()
    else:
        value = raw = draw(st.binary(max_size=400))
    cuts = sorted(draw(st.lists(st.integers(0, len(raw)), max_size=4)))
    bounds = [0, *cuts, len(raw)]
    fragments = [raw[a:b] for a, b in zip(bounds, bounds[1:])]
    controls = [draw(st.lists(control_frames, max_size=2)) for _ in fragments[:-1]] + [[]]
    return ("message", opcode, fragments, controls, value)


close_frames = st.one_of(
    st.none(),
    st.tuples(
        st.sampled_from([1000, 1001, 1003, 1011, 3000, 4999]),
        st.text(max_size=30).filter(lambda r: len(r.encode()) <= 123),
    ),
)


@st.composite
def conversations(draw):
    return draw(st.lists(messages(), max_size=6)), draw(close_frames)


def build_stream(builder, conversation) -> bytes:
    items, close = conversation
    out = []
    for item in items:
        if item[0] == "control":
            out.append(builder.build(item[1], item[2]))
            continue
        _, opcode, fragments, controls, _value = item
        for i, (fragment, after) in enumerate(zip(fragments, controls)):
            op = opcode if i == 0 else OP_CONTINUATION
            out.append(builder.build(op, fragment, fin=i == len(fragments) - 1))
            out.extend(builder.build(op_c, payload) for op_c, payload in after)
    if close is not None:
        out.append(builder.build_close(*close))
    return b"".join(out)


def expected_frames(conversation, assemble: bool) -> list[tuple]:
    items, close = conversation
    out = []
    for item in items:
        if item[0] == "control":
            out.append(expected(item[1], item[2]))
            continue
        _, opcode, fragments, controls, value = item
        if assemble:
            out.extend(expected(op_c, payload) for after in controls for op_c, payload in after)
            out.append(expected(opcode, value))
            continue
        for i, (fragment, after) in enumerate(zip(fragments, controls)):
            op = opcode if i == 0 else OP_CONTINUATION
            out.append(expected(op, fragment, fin=i == len(fragments) - 1))
            out.extend(expected(op_c, payload) for op_c, payload in after)
    if close is not None:
        code, reason = close
        out.append(expected(OP_CLOSE, struct.pack("!H", code) + reason.encode()))
    return out


# -- round trips ----------------------------------------------------------------------


@given(conversation=conversations(), client=st.booleans(), assemble=st.booleans(), sizes=chunk_sizes)
def test_round_trip(codec, conversation, client, assemble, sizes):
    """What the peer's builder sends, the parser returns, however the stream is cut."""
    stream = build_stream(codec.FrameBuilder(not client), conversation)
    parser = codec.FrameParser(client, assemble=assemble)
    frames, code = feed_chunks(parser, cut(stream, sizes))
    assert code is None
    assert [frame_tuple(f) for f in frames] == expected_frames(conversation, assemble)


@given(
    opcode=st.sampled_from([OP_TEXT, OP_BINARY, OP_CONTINUATION, OP_PING, OP_PONG]),
    payload=st.one_of(
        st.binary(max_size=300),
        st.integers(0, 70000).map(lambda n: bytes(i * 7 & 0xFF for i in range(n))),
    ),
    fin=st.booleans(),
    rsv1=st.booleans(),
    client=st.booleans(),
)
@settings(max_examples=50, suppress_health_check=[HealthCheck.large_base_example])
def test_single_frame_header_round_trip(codec, opcode, payload, fin, rsv1, client):
    """The builder's header encodes exactly its arguments; masking round-trips."""
    if opcode in (OP_PING, OP_PONG):
        payload, fin, rsv1 = payload[:125], True, False
    frame = codec.FrameBuilder(client).build(opcode, payload, fin=fin, rsv1=rsv1)
    if client:
        key = frame[len(frame) - len(payload) - 4 : len(frame) - len(payload)]
        reference = encode_frame(opcode, payload, fin=fin, rsv1=rsv1, key=key)
    else:
        reference = encode_frame(opcode, payload, fin=fin, rsv1=rsv1)
    assert frame == reference


@given(data=st.binary(max_size=2000), key=st.binary(min_size=4, max_size=4))
def test_mask_is_involution(codec, data, key):
    assert codec.mask(codec.mask(data, key), key) == data


# -- the two implementations agree -------------------------------------------------------

parser_options = st.fixed_dictionaries(
    {
        "client": st.booleans(),
        "assemble": st.booleans(),
        "allow_rsv1": st.booleans(),
        "decode_text": st.booleans(),
        "max_frame_size": st.sampled_from([125, 300, 1 << 20]),
        "max_message_size": st.sampled_from([125, 500, 1 << 20]),
    }
)


def run(codec, options: dict, chunks: list[bytes]):
    options = dict(options)
    parser = codec.FrameParser(options.pop("client"), **options)
    frames, code = feed_chunks(parser, chunks)
    return [frame_tuple(f) for f in frames], code


def assert_agree(both_codecs, options, data: bytes, sizes: list[int]) -> None:
    c, py = both_codecs
    chunks = cut(data, sizes)
    assert run(c, options, chunks) == run(py, options, chunks)


@given(options=parser_options, data=st.binary(max_size=300), sizes=chunk_sizes)
def test_agree_on_random_bytes(both_codecs, options, data, sizes):
    assert_agree(both_codecs, options, data, sizes)


interesting_lengths = st.one_of(
    st.sampled_from(
        [0, 1, 2, 125, 126, 127, 200, 300, 301, 65535, 65536, 1 << 20, (1 << 20) + 1, 1 << 63, (1 << 64) - 1]
    ),
    st.integers(0, 1000),
)


@st.composite
def random_frame(draw, masked: bool):
    """A frame with random header fields, a random (often wrong) length and a short payload.

    Mostly masked as the parser expects (``masked``), so parsing gets past the mask bit.
    """
    if draw(st.integers(0, 3)) == 0:
        b0 = draw(st.integers(0, 255))
    else:
        b0 = draw(
            st.sampled_from([0x00, 0x01, 0x02, 0x80, 0x81, 0x82, 0x88, 0x89, 0x8A, 0xC1, 0xC2, 0x41, 0xC0])
        )
    length = draw(interesting_lengths)
    form = draw(st.sampled_from([None, None, None, None, 7, 16, 64]))  # None: the shortest form
    if form == 7 and length > 125 or form == 16 and length > 0xFFFF:
        form = None
    # The payload may be shorter than announced (the parser waits) or longer
    # (the rest is read as the next header).
    size = min(length, 300) + draw(st.integers(0, 4))
    return encode_frame(
        b0 & 0x0F,
        draw(st.binary(min_size=size, max_size=size)),
        fin=bool(b0 & 0x80),
        rsv1=bool(b0 & 0x40),
        rsv2=bool(b0 & 0x20),
        rsv3=bool(b0 & 0x10),
        key=TEST_KEY if masked != (draw(st.integers(0, 9)) == 0) else None,
        length=length,
        length_form=form,
    )


@given(options=parser_options, data=st.data(), sizes=chunk_sizes)
def test_agree_on_random_headers(both_codecs, options, data, sizes):
    frames = data.draw(st.lists(random_frame(masked=not options["client"]), min_size=1, max_size=4))
    assert_agree(both_codecs, options, b"".join(frames), sizes)


@given(
    options=parser_options,
    conversation=conversations(),
    flips=st.lists(st.integers(0, 1 << 20), min_size=1, max_size=3),
    sizes=chunk_sizes,
)
def test_agree_on_corrupted_streams(both_codecs, options, conversation, flips, sizes):
    """A valid stream (from the test's own encoder, masked as the parser expects) with a few bits flipped."""
    stream = bytearray(build_stream(ReferenceBuilder(masked=not options["client"]), conversation))
    if not stream:
        stream = bytearray(b"\x81\x00")
    for flip in flips:
        stream[(flip >> 3) % len(stream)] ^= 1 << (flip & 7)
    assert_agree(both_codecs, options, bytes(stream), sizes)


@given(options=parser_options, conversation=conversations(), sizes=chunk_sizes)
def test_agree_on_valid_streams(both_codecs, options, conversation, sizes):
    stream = build_stream(ReferenceBuilder(masked=not options["client"]), conversation)
    assert_agree(both_codecs, options, stream, sizes)


class ReferenceBuilder:
    """The test's own encoder with a FrameBuilder-like interface, for the agreement tests."""

    def __init__(self, masked: bool) -> None:
        self.key = TEST_KEY if masked else None

    def build(self, opcode, payload=b"", fin=True, rsv1=False):
        return encode_frame(opcode, payload, fin=fin, rsv1=rsv1, key=self.key)

    def build_close(self, code, reason=""):
        return self.build(OP_CLOSE, struct.pack("!H", code) + reason.encode())
