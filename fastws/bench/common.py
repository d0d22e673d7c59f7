"""Constants and helpers shared by servers, clients and the runner (standard library only)."""

from __future__ import annotations

import random
import re

# Every server and client raises its message / frame limit to this (the largest
# benchmarked message is 1 MiB; the brief asks for >= 2 MiB everywhere).
MAX_SIZE = 16 * 1024 * 1024

DEFAULT_SIZES = (256, 8 * 1024, 100 * 1024, 1024 * 1024)
HOST = "127.0.0.1"
PAYLOAD_SEED = 0x5EED_EC40


def make_payload(size: int) -> bytes:
    """The message body for ``size``: the same pseudo-random bytes in every process.

    Random rather than constant bytes, so no library can benefit from a
    degenerate payload; seeded, so every server and client sends the same bytes.
    """
    return random.Random(PAYLOAD_SEED ^ size).randbytes(size)


KINDS = ("binary", "text")

# Characters of the text payload: mostly ASCII (as in chat or JSON), with some 2- and
# 3-byte UTF-8 characters so every library's UTF-8 validation leaves its ASCII fast path.
_TEXT_ASCII = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,;:!?-"
_TEXT_WIDE = "éèàüößçñøå€…–“”"


def make_text(size: int) -> str:
    """The text message for ``size``: a ``str`` whose UTF-8 encoding is exactly ``size`` bytes.

    Seeded like :func:`make_payload`; about one character in 16 is not ASCII.
    """
    rng = random.Random(PAYLOAD_SEED ^ size ^ 0x7E47)
    chars: list[str] = []
    left = size
    while left > 0:
        c = rng.choice(_TEXT_WIDE) if rng.random() < 1 / 16 else rng.choice(_TEXT_ASCII)
        n = len(c.encode())
        if n > left:
            c, n = "x", 1
        chars.append(c)
        left -= n
    return "".join(chars)


def make_message(size: int, kind: str) -> bytes | str:
    """The payload of a ``kind`` ("binary" or "text") message of ``size`` bytes on the wire."""
    return make_text(size) if kind == "text" else make_payload(size)


_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024, "g": 1024 * 1024 * 1024}


def parse_size(text: str) -> int:
    """'256' -> 256, '8K' / '8KiB' / '8kb' -> 8192, '1M' -> 1048576 (binary units)."""
    match = _SIZE_RE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (examples: 256, 8K, 100KiB, 1M)")
    number, unit, _ = match.groups()
    value = float(number) * _UNITS[unit.lower()]
    if value != int(value) or value <= 0:
        raise ValueError(f"not a whole, positive number of bytes: {text!r}")
    return int(value)


def format_size(size: int) -> str:
    """256 -> '256 B', 8192 -> '8 KiB', 1048576 -> '1 MiB'."""
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} B"
