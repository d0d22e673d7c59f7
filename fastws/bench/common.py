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
