"""The masker at every alignment and length, against a byte-by-byte XOR.

Input: offset of the data in its buffer (0..31), offset of the key, the 4-byte key,
then the data. ``mask`` and ``mask_inplace`` (C, pure) must equal the reference and
``mask_inplace`` must not touch a byte outside the view it was given.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..common import Reader, Writer, same
from ..impls import CODECS


def reference(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i & 3] for i, b in enumerate(data))


def test_one_input(data: bytes) -> None:
    r = Reader(data)
    offset, key_offset = r.byte() & 31, r.byte() & 7
    key = r.take(4).ljust(4, b"\0")
    payload = r.rest()
    expected = reference(payload, key)
    guard = b"\xa5" * 32
    key_view = memoryview(b"\x00" * key_offset + key)[key_offset:]  # a key not on its own alignment
    for name, codec in CODECS.items():
        backing = bytearray(b"\x5a" * offset + payload + guard)
        view = memoryview(backing)[offset : offset + len(payload)]
        same(
            f"mask at offset {offset} len {len(payload)}",
            codec.mask(view, key_view),
            expected,
            (name, "reference"),
        )
        codec.mask_inplace(view, key_view)
        same(f"mask_inplace at offset {offset} len {len(payload)}", bytes(backing),
             b"\x5a" * offset + expected + guard, (name, "reference"))  # fmt: skip
        whole = bytearray(payload)
        codec.mask_inplace(whole, key)
        same(f"mask_inplace on a bytearray, len {len(payload)}", bytes(whole), expected, (name, "reference"))


def seeds() -> Iterator[bytes]:
    for length in (0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 1000):
        for offset in (0, 1, 3, 7, 8, 13):
            yield (
                Writer()
                .byte(offset)
                .byte(offset + 1)
                .raw(b"\x37\xfa\x21\x3d")
                .raw(bytes(range(256)) * 4)
                .bytes()[: 6 + length]
            )
