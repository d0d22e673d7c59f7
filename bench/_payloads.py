"""Deterministic inputs for the codec benchmarks.

Everything here is built with plain Python (not with the fastws codec, nor a peer library), so the
inputs do not depend on the code under test.  All randomness is seeded: two runs
benchmark the same bytes.
"""

from __future__ import annotations

import functools
import random
import struct

from fastws.bench.common import format_size as size_label  # 16 -> '16 B', 1024 -> '1 KiB'
from fastws.testing.conformance.wire import mask as xor_mask  # reference masking, no fastws codec

KiB = 1024
MiB = 1024 * KiB

OP_TEXT = 0x1
OP_BINARY = 0x2

#: Sizes of the masking group.
MASK_SIZES = (16, 125, KiB, 64 * KiB, MiB, 16 * MiB)
#: Frame payload sizes of the parse and build groups.
FRAME_SIZES = (16, 125, KiB, 64 * KiB)
#: Parse buffers hold about this many bytes ...
PARSE_BUFFER_BYTES = MiB
#: ... and never fewer than this many frames.
PARSE_MIN_FRAMES = 64
#: Size of the UTF-8 validation inputs.
UTF8_BYTES = MiB


def size_id(n: int) -> str:
    """Test-id form of :func:`size_label` ('1KiB')."""
    return size_label(n).replace(" ", "")


def frame_header(opcode: int, length: int, *, masked: bool, fin: bool = True) -> bytes:
    b0 = (0x80 if fin else 0) | opcode
    mbit = 0x80 if masked else 0
    if length < 126:
        return struct.pack("!BB", b0, mbit | length)
    if length < 65536:
        return struct.pack("!BBH", b0, mbit | 126, length)
    return struct.pack("!BBQ", b0, mbit | 127, length)


def encode_frame(opcode: int, payload: bytes, key: bytes | None = None) -> bytes:
    """One complete frame; masked with ``key`` when it is given (client -> server)."""
    head = frame_header(opcode, len(payload), masked=key is not None)
    if key is None:
        return head + payload
    return head + key + xor_mask(payload, key)


def decode_single_frame(data: bytes) -> tuple[int, bool, bytes]:
    """(opcode, masked, unmasked payload) of a buffer holding exactly one frame."""
    b0, b1 = data[0], data[1]
    masked = bool(b1 & 0x80)
    n = b1 & 0x7F
    pos = 2
    if n == 126:
        (n,) = struct.unpack_from("!H", data, pos)
        pos += 2
    elif n == 127:
        (n,) = struct.unpack_from("!Q", data, pos)
        pos += 8
    if masked:
        key = bytes(data[pos : pos + 4])
        pos += 4
    payload = bytes(data[pos:])
    if len(payload) != n:
        raise AssertionError(f"frame declares {n} payload bytes, carries {len(payload)}")
    if masked:
        payload = xor_mask(payload, key)
    return b0 & 0x0F, masked, payload


@functools.cache
def binary_payload(size: int) -> bytes:
    return random.Random(size).randbytes(size)


_JSONISH = (
    '{"type":"tick","symbol":"BTC-USD","seq":1234567,"bid":"64321.50","ask":"64321.75",'
    '"qty":"0.0425","ts":1732550400123,"venue":"example","flags":["a","b"]}\n'
)


@functools.cache
def text_payload(size: int) -> bytes:
    """ASCII, JSON-looking text (what most WebSocket text traffic is)."""
    return (_JSONISH * (size // len(_JSONISH) + 1)).encode("ascii")[:size]


def payload(kind: str, size: int) -> bytes:
    return text_payload(size) if kind == "text" else binary_payload(size)


def parse_frame_count(size: int) -> int:
    per_frame = len(frame_header(OP_BINARY, size, masked=True)) + 4 + size
    return max(PARSE_MIN_FRAMES, PARSE_BUFFER_BYTES // per_frame)


@functools.cache
def client_stream(kind: str, size: int) -> tuple[bytes, int]:
    """(buffer, frame count): masked client frames, one fresh key per frame."""
    opcode = OP_TEXT if kind == "text" else OP_BINARY
    body = payload(kind, size)
    count = parse_frame_count(size)
    rng = random.Random(0x5EED ^ size)
    head = frame_header(opcode, size, masked=True)
    parts = []
    for _ in range(count):
        key = rng.randbytes(4)
        parts.append(head + key + xor_mask(body, key))
    return b"".join(parts), count


MASK_KEY = b"\x37\xfa\x21\x3d"


@functools.cache
def mask_input(size: int) -> bytes:
    return random.Random(~size).randbytes(size)


# --- UTF-8 inputs ------------------------------------------------------------

# Latin-1 accents (2 bytes), Cyrillic (2 bytes), CJK (3 bytes), emoji (4 bytes).
_LATIN = "àáâãäåçèéêëìíîïñòóôõöùúûüýÿßœæ"
_CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЖЗИЙКЛМН"
_CJK = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过"
_EMOJI = "😀😂🥲😍🤔👍🙏🔥🎉🚀🌍💡📦✅"
_WORDS = (
    ("latin", _LATIN),
    ("cyrillic", _CYRILLIC),
    ("cjk", _CJK),
    ("emoji", _EMOJI),
)


@functools.cache
def utf8_input(kind: str, size: int = UTF8_BYTES) -> bytes:
    """Exactly ``size`` bytes of valid UTF-8.

    ``ascii``: JSON-looking ASCII.  ``mixed``: short words of ASCII, Latin-1
    accents, Cyrillic, CJK and emoji, interleaved so that no script runs for long
    (the hard case for validators with an ASCII fast path).
    """
    if kind == "ascii":
        return text_payload(size)
    rng = random.Random(0xC0DE)
    out: list[bytes] = []
    total = 0
    while total < size:
        _, alphabet = rng.choice(_WORDS)
        word = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
        chunk = (word + rng.choice(" ,. ") + "ascii"[: rng.randint(0, 5)]).encode("utf-8")
        out.append(chunk)
        total += len(chunk)
    data = b"".join(out)[:size]
    # Cut back to a character boundary and pad with ASCII to the exact size.
    while True:
        try:
            data.decode("utf-8")
            break
        except UnicodeDecodeError:
            data = data[:-1]
    data += b" " * (size - len(data))
    assert len(data) == size
    data.decode("utf-8")
    return data
