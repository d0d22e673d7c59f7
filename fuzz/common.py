"""What every fuzz target shares: reading structured choices from the fuzzer's bytes,
cutting input into chunks, and reporting a C-vs-pure disagreement."""

from __future__ import annotations

import random
from typing import Any, Callable


class Disagreement(AssertionError):
    """The two implementations (or two feedings of one) gave different results."""


def same(what: str, a: Any, b: Any, names: tuple[str, str] = ("c", "python")) -> None:
    if a != b:
        raise Disagreement(f"{what}: {names[0]} {_short(a)} != {names[1]} {_short(b)}")


def _short(value: Any, limit: int = 600) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


class Reader:
    """Takes choices off the front of the fuzzer's input; past its end every read is zero/empty.

    Seeds are written with :class:`Writer`, so a seed means what it was built to mean.
    """

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self) -> int:
        return self.byte() << 8 | self.byte()

    def take(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        self.pos += len(chunk)
        return chunk

    def block(self) -> bytes:
        """A length-prefixed (u16) piece."""
        return self.take(self.u16())

    def rest(self) -> bytes:
        return self.take(len(self.data) - self.pos)

    def __bool__(self) -> bool:
        return self.pos < len(self.data)


class Writer:
    """Builds seeds in :class:`Reader`'s format."""

    def __init__(self) -> None:
        self.out = bytearray()

    def byte(self, value: int) -> Writer:
        self.out.append(value & 0xFF)
        return self

    def u16(self, value: int) -> Writer:
        return self.byte(value >> 8).byte(value)

    def raw(self, data: bytes) -> Writer:
        self.out += data
        return self

    def block(self, data: bytes) -> Writer:
        data = data[:0xFFFF]
        return self.u16(len(data)).raw(data)

    def bytes(self) -> bytes:
        return bytes(self.out)


def chunks(data: bytes, seed: int) -> list[bytes]:
    """``data`` cut at points chosen by ``seed`` (0: whole; small seeds: tiny pieces)."""
    if seed == 0 or not data:
        return [data]
    rng = random.Random(seed)
    top = 1 + (seed % 16) ** 2  # 1..226 bytes per piece: byte-at-a-time up to a few frames
    out, pos = [], 0
    while pos < len(data):
        n = rng.randint(0, top)  # empty pieces too: a read of nothing must change nothing
        out.append(data[pos : pos + n])
        pos += n
    return out


def outcome(call: Callable[[], Any], *errors: type[BaseException]) -> tuple[str, Any]:
    """("ok", result) or ("error", (exception type name, code/status if any)) for the expected ``errors``."""
    try:
        return ("ok", call())
    except errors as exc:
        return ("error", (type(exc).__name__, getattr(exc, "code", getattr(exc, "status", None))))
