"""mask / mask_inplace (RFC 6455 §5.3) against a reference XOR."""

from __future__ import annotations

import pytest
from codec_helpers import ref_mask

KEY = bytes.fromhex("37fa213d")
LENGTHS = range(301)  # 0..300: every tail length around any word/vector width
OFFSETS = range(16)  # start of the data inside its buffer, so alignment varies


_BLOCK = bytes((i * 131 + 1) & 0xFF for i in range(251))  # 251 is prime: no period 4


def pattern(n: int) -> bytearray:
    """n bytes that are not periodic with period 4 (a wrong key rotation shows)."""
    return bytearray((_BLOCK * (n // len(_BLOCK) + 1))[:n])


def fast_ref_mask(data: bytes, key: bytes) -> bytes:
    """The same XOR as ref_mask via one big integer, fast enough for 16 MiB."""
    n = len(data)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def test_fast_reference_agrees_with_slow_one():
    data = bytes(pattern(1031))
    assert fast_ref_mask(data, KEY) == ref_mask(data, KEY)


def test_rfc_example(codec):
    """RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d."""
    assert codec.mask(b"Hello", KEY) == bytes.fromhex("7f9f4d5158")


# -- mask -------------------------------------------------------------------------


def as_input(kind: str, backing: bytearray, offset: int, n: int):
    """``n`` bytes at ``offset`` of ``backing``, as the given input type."""
    if kind == "bytes":
        return bytes(backing[offset : offset + n])
    if kind == "memoryview-of-bytes":
        return memoryview(bytes(backing))[offset : offset + n]
    if kind == "memoryview-of-bytearray":
        return memoryview(backing)[offset : offset + n]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["bytes", "memoryview-of-bytes", "memoryview-of-bytearray"])
@pytest.mark.parametrize("offset", OFFSETS)
def test_mask_every_length_and_offset(codec, kind, offset):
    backing = pattern(offset + max(LENGTHS) + 16)
    for n in LENGTHS:
        data = as_input(kind, backing, offset, n)
        expected = ref_mask(data, KEY)
        got = codec.mask(data, KEY)
        assert got == expected, f"length {n}"
        assert type(got) is bytes


def test_mask_bytearray_input(codec):
    data = pattern(77)
    assert codec.mask(data, KEY) == ref_mask(data, KEY)


def test_mask_does_not_modify_input(codec):
    data = pattern(100)
    before = bytes(data)
    codec.mask(data, KEY)
    codec.mask(memoryview(data)[3:], KEY)
    assert data == before


@pytest.mark.parametrize("key_type", [bytes, bytearray, memoryview])
def test_mask_key_types(codec, key_type):
    data = bytes(pattern(37))
    assert codec.mask(data, key_type(KEY)) == ref_mask(data, KEY)


def test_mask_key_as_memoryview_slice(codec):
    key_buffer = b"\x00\x00\x00" + KEY + b"\xff"
    data = bytes(pattern(37))
    assert codec.mask(data, memoryview(key_buffer)[3:7]) == ref_mask(data, KEY)


@pytest.mark.parametrize(
    "key", [bytes.fromhex("00000000"), bytes.fromhex("ffffffff"), bytes.fromhex("01020304")]
)
def test_mask_other_keys(codec, key):
    data = bytes(pattern(203))
    assert codec.mask(data, key) == ref_mask(data, key)


def test_mask_is_an_involution(codec):
    data = bytes(pattern(1000))
    assert codec.mask(codec.mask(data, KEY), KEY) == data


@pytest.mark.parametrize("size", [(1 << 20) + 7, 1 << 24], ids=["1MiB+7", "16MiB"])
def test_mask_large(codec, size):
    data = bytes(pattern(size))
    assert codec.mask(data, KEY) == fast_ref_mask(data, KEY)


@pytest.mark.parametrize("key", [b"", b"\x01\x02\x03", b"\x01\x02\x03\x04\x05", b"\x00" * 8])
def test_mask_wrong_key_length(codec, key):
    with pytest.raises(ValueError):
        codec.mask(b"hello", key)


# -- mask_inplace -----------------------------------------------------------------


@pytest.mark.parametrize("offset", OFFSETS)
def test_mask_inplace_every_length_and_offset(codec, offset):
    for n in LENGTHS:
        backing = pattern(offset + n + 8)
        original = bytes(backing)
        codec.mask_inplace(memoryview(backing)[offset : offset + n], KEY)
        assert backing[offset : offset + n] == ref_mask(original[offset : offset + n], KEY), f"length {n}"
        # bytes around the view are untouched
        assert backing[:offset] == original[:offset], f"length {n}"
        assert backing[offset + n :] == original[offset + n :], f"length {n}"


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 15, 16, 17, 63, 64, 65, 1000])
def test_mask_inplace_bytearray(codec, n):
    buf = pattern(n)
    original = bytes(buf)
    assert codec.mask_inplace(buf, KEY) is None
    assert buf == ref_mask(original, KEY)


@pytest.mark.parametrize("key_type", [bytes, bytearray, memoryview])
def test_mask_inplace_key_types(codec, key_type):
    buf = pattern(37)
    original = bytes(buf)
    codec.mask_inplace(buf, key_type(KEY))
    assert buf == ref_mask(original, KEY)


def test_mask_inplace_twice_restores(codec):
    buf = pattern(999)
    original = bytes(buf)
    codec.mask_inplace(buf, KEY)
    codec.mask_inplace(buf, KEY)
    assert buf == original


@pytest.mark.parametrize("size", [(1 << 20) + 7, 1 << 24], ids=["1MiB+7", "16MiB"])
def test_mask_inplace_large(codec, size):
    buf = pattern(size)
    expected = fast_ref_mask(bytes(buf), KEY)
    codec.mask_inplace(buf, KEY)
    assert buf == expected


def test_mask_inplace_large_at_odd_offset(codec):
    backing = pattern((1 << 20) + 64)
    expected = fast_ref_mask(bytes(backing[5:-3]), KEY)
    codec.mask_inplace(memoryview(backing)[5:-3], KEY)
    assert backing[5:-3] == expected


@pytest.mark.parametrize("key", [b"", b"\x01\x02\x03", b"\x01\x02\x03\x04\x05"])
def test_mask_inplace_wrong_key_length(codec, key):
    buf = bytearray(b"hello")
    with pytest.raises(ValueError):
        codec.mask_inplace(buf, key)
    assert buf == b"hello"


@pytest.mark.parametrize(
    "make", [lambda: b"hello", lambda: memoryview(b"hello")], ids=["bytes", "memoryview-of-bytes"]
)
def test_mask_inplace_read_only(codec, make):
    with pytest.raises((TypeError, BufferError)):
        codec.mask_inplace(make(), KEY)
