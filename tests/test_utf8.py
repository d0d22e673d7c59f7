"""validate_utf8 and Utf8Validator against Python's strict UTF-8 decoder."""

from __future__ import annotations

import functools
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

# -- reference ----------------------------------------------------------------------


def ref_valid(data: bytes) -> bool:
    """Complete, well-formed UTF-8, by Python's strict decoder."""
    try:
        bytes(data).decode("utf-8", "strict")
    except UnicodeDecodeError:
        return False
    return True


# Any completion of an unfinished sequence consists of 1..3 continuation bytes.
# Which continuation bytes are allowed right after a lead byte depends only on
# these ranges: 80-8F, 90-9F, A0-BF (E0: A0-BF, ED: 80-9F, F0: 90-BF, F4: 80-8F),
# so two bytes from each range stand for all of them.
_CONTINUATION_REPRESENTATIVES = (0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF)
_COMPLETIONS = [b""] + [
    bytes(c) for m in (1, 2, 3) for c in itertools.product(_CONTINUATION_REPRESENTATIVES, repeat=m)
]


def viable(prefix: bytes) -> bool:
    """True when some continuation of ``prefix`` is valid UTF-8."""
    return any(ref_valid(prefix + c) for c in _COMPLETIONS)


def viability_by_byte(data: bytes) -> list[bool]:
    """What a fail-fast validator must answer after each single byte of ``data``."""
    return [viable(data[: i + 1]) for i in range(len(data))]


# -- cases --------------------------------------------------------------------------

VALID = {
    "empty": b"",
    "ascii": b"Hello, world",
    "nul": b"\x00",
    "del": b"\x7f",
    "U+0080": "\u0080".encode(),
    "U+07FF": "\u07ff".encode(),
    "U+0800": "\u0800".encode(),
    "U+D7FF": "\ud7ff".encode(),
    "U+E000": "\ue000".encode(),
    "U+FFFD": "\ufffd".encode(),
    "U+FFFF": "\uffff".encode(),
    "U+10000": "\U00010000".encode(),
    "U+10FFFF": "\U0010ffff".encode(),
    "mixed": "κόσμε €𝄞 ascii".encode(),
}

INVALID = {
    "overlong-2-C0-80": b"\xc0\x80",
    "overlong-2-C1-BF": b"\xc1\xbf",
    "overlong-3-E0-80-80": b"\xe0\x80\x80",
    "overlong-3-E0-9F-BF": b"\xe0\x9f\xbf",
    "overlong-4-F0-80-80-80": b"\xf0\x80\x80\x80",
    "overlong-4-F0-8F-BF-BF": b"\xf0\x8f\xbf\xbf",
    "surrogate-ED-A0-80": b"\xed\xa0\x80",
    "surrogate-ED-AF-BF": b"\xed\xaf\xbf",
    "surrogate-ED-B0-80": b"\xed\xb0\x80",
    "surrogate-ED-BF-BF": b"\xed\xbf\xbf",
    "surrogate-pair": b"\xed\xa0\xbd\xed\xb2\xa9",
    "above-max-F4-90-80-80": b"\xf4\x90\x80\x80",
    "above-max-F4-BF-BF-BF": b"\xf4\xbf\xbf\xbf",
    **{f"lead-{b:02X}": bytes([b, 0x80, 0x80, 0x80]) for b in range(0xF5, 0x100)},
    "lone-continuation-80": b"\x80",
    "lone-continuation-BF": b"\xbf",
    "continuation-after-ascii": b"a\x80",
    "continuation-after-char": "é".encode() + b"\x80",
    "missing-continuation-2": b"\xc2A",
    "missing-continuation-3": b"\xe2\x82A",
    "missing-continuation-4": b"\xf0\x9f\x98A",
    "lead-after-lead": b"\xe2\xe2\x82\xac",
    "truncated-2": b"\xc2",
    "truncated-3-of-1": b"\xe2",
    "truncated-3-of-2": b"\xe2\x82",
    "truncated-4-of-3": b"\xf0\x9f\x98",
    "truncated-after-text": b"Hello \xf0\x9f",
    "error-after-text": "Hello κόσμε".encode() + b"\xed\xa0\x80 world",
}

CASES = {**{f"valid-{k}": v for k, v in VALID.items()}, **{f"invalid-{k}": v for k, v in INVALID.items()}}
CASE_IDS = list(CASES)

# ASCII padding around a case, so fast ASCII paths (word or vector at a time)
# meet the interesting bytes at every position in their block.
PADDINGS = [0, 1, 3, 7, 8, 15, 16, 31, 32, 63, 64]


def test_reference_sanity():
    assert all(ref_valid(v) for v in VALID.values())
    assert not any(ref_valid(v) for v in INVALID.values())
    assert viable(b"\xe2\x82") and not viable(b"\xed\xa0") and not viable(b"\xc0")
    assert viable(b"\xf4\x8f") and not viable(b"\xf4\x90") and viable(b"\xf0\x90")


# -- validate_utf8 ------------------------------------------------------------------


@pytest.mark.parametrize("name", CASE_IDS)
def test_validate_utf8(codec, name):
    data = CASES[name]
    assert codec.validate_utf8(data) is ref_valid(data)


@pytest.mark.parametrize("name", CASE_IDS)
def test_validate_utf8_with_ascii_around(codec, name):
    data = CASES[name]
    for before, after in itertools.product(PADDINGS, [0, 1, 9, 33]):
        padded = b"a" * before + data + b"z" * after
        assert codec.validate_utf8(padded) is ref_valid(padded), (before, after)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_validate_utf8_input_types(codec, kind):
    assert codec.validate_utf8(kind("κόσμε".encode())) is True
    assert codec.validate_utf8(kind(b"ab\xed\xa0\x80")) is False


def test_validate_utf8_memoryview_slice(codec):
    """Only the bytes inside the view count."""
    buf = b"\xff" + "€".encode() + b"\xff"
    assert codec.validate_utf8(memoryview(buf)[1:-1]) is True
    assert codec.validate_utf8(memoryview(buf)[1:-2]) is False


def test_validate_utf8_long_valid(codec):
    data = ("ascii " * 1000 + "κόσμε€𝄞" * 1000).encode()
    assert codec.validate_utf8(data) is True
    assert codec.validate_utf8(data + b"\x80") is False
    assert codec.validate_utf8(b"\x80" + data) is False


@functools.cache
def every_scalar_value() -> bytes:
    return "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF).encode()


def test_validate_utf8_every_code_point(codec):
    """All scalar values, encoded by Python, in one buffer."""
    assert codec.validate_utf8(every_scalar_value()) is True


def test_validate_utf8_every_surrogate(codec):
    for c in range(0xD800, 0xE000, 7):
        assert codec.validate_utf8(b"x" + chr(c).encode("utf-8", "surrogatepass")) is False, hex(c)


_INTERESTING_BYTES = [
    bytes([b])
    for b in (
        0x00,
        0x41,
        0x7F,
        0x80,
        0x8F,
        0x90,
        0x9F,
        0xA0,
        0xBF,
        0xC0,
        0xC1,
        0xC2,
        0xDF,
        0xE0,
        0xE1,
        0xED,
        0xEE,
        0xEF,
        0xF0,
        0xF1,
        0xF4,
        0xF5,
        0xF8,
        0xFE,
        0xFF,
    )
]

utf8ish = st.lists(
    st.one_of(
        st.text(max_size=6).map(lambda s: s.encode("utf-8", "surrogatepass")),
        st.sampled_from(_INTERESTING_BYTES),
        st.binary(max_size=4),
    ),
    max_size=10,
).map(b"".join)


@given(data=utf8ish)
def test_validate_utf8_random(codec, data):
    assert codec.validate_utf8(data) is ref_valid(data)


@given(text=st.text())
def test_validate_utf8_random_text(codec, text):
    data = text.encode("utf-8", "surrogatepass")
    assert codec.validate_utf8(data) is ref_valid(data)


# -- Utf8Validator ------------------------------------------------------------------


@pytest.mark.parametrize("name", CASE_IDS)
def test_validator_whole(codec, name):
    data = CASES[name]
    v = codec.Utf8Validator()
    assert v.feed(data) is viable(data)
    assert v.finish() is ref_valid(data)


@pytest.mark.parametrize("name", CASE_IDS)
def test_validator_with_ascii_around(codec, name):
    data = CASES[name]
    for before, after in itertools.product([0, 7, 16, 33, 64], [0, 9]):
        padded = b"a" * before + data + b"z" * after
        v = codec.Utf8Validator()
        assert v.feed(padded) is viable(padded), (before, after)
        assert v.finish() is ref_valid(padded), (before, after)


@pytest.mark.parametrize("name", CASE_IDS)
def test_validator_every_split(codec, name):
    data = b"ab" + CASES[name] + b"cd"
    for i in range(len(data) + 1):
        v = codec.Utf8Validator()
        assert v.feed(data[:i]) is viable(data[:i]), f"first part {data[:i]!r}"
        assert v.feed(data[i:]) is viable(data), f"split at {i}"
        assert v.finish() is ref_valid(data), f"split at {i}"


@pytest.mark.parametrize("name", CASE_IDS)
def test_validator_byte_by_byte_fails_fast(codec, name):
    """False from the first byte after which no continuation can be valid, and from then on."""
    data = b"ab" + CASES[name] + "€cd".encode()
    v = codec.Utf8Validator()
    got = [v.feed(data[i : i + 1]) for i in range(len(data))]
    assert got == viability_by_byte(data)
    assert v.finish() is ref_valid(data)


@pytest.mark.parametrize(
    ("data", "fail_at"),
    [
        (b"\xc0\x80", 0),  # C0 can never start a valid sequence
        (b"\xe0\x80\x80", 1),  # E0 80 is already an overlong
        (b"\xed\xa0\x80", 1),  # ED A0 is already a surrogate
        (b"\xf4\x90\x80\x80", 1),  # F4 90 is already above U+10FFFF
        (b"\xf0\x80\x80\x80", 1),
        (b"\xf5\x80", 0),
        (b"ab\x80", 2),
        (b"\xe2\x82\x28", 2),
        (b"\xf0\x9f\x98\x41", 3),
    ],
)
def test_validator_fail_fast_examples(codec, data, fail_at):
    """Hand-checked positions, so the viability reference is itself tested."""
    assert viability_by_byte(data).index(False) == fail_at
    v = codec.Utf8Validator()
    results = [v.feed(data[i : i + 1]) for i in range(len(data))]
    assert results.index(False) == fail_at


def test_validator_stays_false(codec):
    v = codec.Utf8Validator()
    assert v.feed(b"\xc0") is False
    assert v.feed(b"abc") is False
    assert v.feed(b"") is False
    assert v.feed("é".encode()) is False
    assert v.finish() is False


def test_validator_truncated_input(codec):
    v = codec.Utf8Validator()
    assert v.feed(b"abc\xf0\x9f\x98") is True
    assert v.finish() is False


def test_validator_truncated_then_completed(codec):
    v = codec.Utf8Validator()
    assert v.feed(b"abc\xf0\x9f") is True
    assert v.feed(b"\x98\x80") is True
    assert v.finish() is True


def test_validator_empty(codec):
    v = codec.Utf8Validator()
    assert v.feed(b"") is True
    assert v.finish() is True


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_validator_input_types(codec, kind):
    v = codec.Utf8Validator()
    assert v.feed(kind(b"\xe2\x82")) is True
    assert v.feed(kind(b"\xac")) is True
    assert v.finish() is True


def test_validator_reset_after_failure(codec):
    v = codec.Utf8Validator()
    assert v.feed(b"\xff") is False
    v.reset()
    assert v.feed("€".encode()) is True
    assert v.finish() is True


def test_validator_reset_clears_pending_sequence(codec):
    v = codec.Utf8Validator()
    assert v.feed(b"\xe2\x82") is True
    v.reset()
    # Without the reset, 'A' would break the pending sequence.
    assert v.feed(b"A") is True
    assert v.finish() is True


def test_validator_reset_after_truncated(codec):
    v = codec.Utf8Validator()
    v.feed(b"\xf0")
    assert v.finish() is False
    v.reset()
    assert v.finish() is True


def test_validators_are_independent(codec):
    a, b = codec.Utf8Validator(), codec.Utf8Validator()
    assert a.feed(b"\xe2") is True
    assert b.feed(b"A") is True
    assert a.feed(b"\x82\xac") is True
    assert a.finish() is True and b.finish() is True


@given(data=utf8ish, cuts=st.lists(st.integers(0, 64), max_size=6))
def test_validator_random_chunks(codec, data, cuts):
    points = sorted({min(c, len(data)) for c in cuts} | {len(data)})
    v = codec.Utf8Validator()
    start = 0
    for end in points:
        assert v.feed(data[start:end]) is viable(data[:end]), f"after {end} bytes"
        start = end
    assert v.finish() is ref_valid(data)
