"""The permessage-deflate inflater with a size limit: C Decompressor against the pure one.

Input: window bits / context flags, a size-limit and budget selector, then
length-prefixed messages. Each message is inflated a budget at a time (``start``,
then ``inflate(budget)`` until it returns it; budget 0: at once), as a connection
does across turns of its loop. For each message both must give the same bytes or
the same close code (1009 beyond the limit, 1007 for corrupt data) after the same
pieces, never more than ``max_size`` bytes nor a piece past the budget; after an
error both are reset (as a failing connection leaves them) and go on with the next
message. A message that inflated is also compressed again by each compressor and
must inflate back in the other implementation.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from fastws.exceptions import ProtocolError

from ..common import Reader, Writer, outcome, same
from ..impls import DEFLATES

LIMITS = (None, 0, 1, 16, 100, 1000, 4096, 65536)
BUDGETS = (0, 1, 7, 100, 4096, 16384, 16385, 65536)


def in_pieces(d: object, message: bytes, max_size: int | None, budget: int) -> tuple[bytes, list[int]]:
    """The message inflated ``budget`` bytes at a time: the result and each call's output size."""
    pieces: list[int] = []
    d.start(message, max_size)  # type: ignore[attr-defined]
    while True:
        try:
            result = d.inflate(budget)  # type: ignore[attr-defined]
        finally:
            pieces.append(d.produced)  # type: ignore[attr-defined]
            if budget and pieces[-1] > budget:
                raise AssertionError(f"a piece of {pieces[-1]} bytes past the budget of {budget}")
        if result is not None:
            return result, pieces
        if d.produced != budget:  # type: ignore[attr-defined]
            raise AssertionError(f"paused after {pieces[-1]} bytes, short of the budget of {budget}")


def test_one_input(data: bytes) -> None:
    r = Reader(data)
    flags, limit = r.byte(), r.byte()
    bits, reset = 8 + (flags & 7), bool(flags & 8)
    max_size = LIMITS[limit % len(LIMITS)]
    budget = BUDGETS[(limit >> 3) % len(BUDGETS)]
    inflaters = {name: mod.Decompressor(bits, reset) for name, mod in DEFLATES.items()}
    deflaters = {name: mod.Compressor(bits, reset, 1 + (flags >> 4) % 9) for name, mod in DEFLATES.items()}
    # each compressor's stream is read by the other implementation's decompressor
    checkers = {
        "c": DEFLATES["python"].Decompressor(bits, reset),
        "python": DEFLATES["c"].Decompressor(bits, reset),
    }
    while r:
        message = r.block()
        results = {name: outcome(lambda d=d: in_pieces(d, message, max_size, budget), ProtocolError)
                   for name, d in inflaters.items()}  # fmt: skip
        same(f"inflate bits={bits} reset={reset} max_size={max_size} budget={budget}", results["c"], results["python"])
        if any(d.pending for d in inflaters.values()):
            raise AssertionError("a message still pending after its end or its error")
        kind, value = results["c"]
        if kind == "error":
            for d in inflaters.values():
                d.reset()
            continue
        value = value[0]
        if max_size is not None and len(value) > max_size:
            raise AssertionError(f"inflated {len(value)} bytes past max_size={max_size}")
        for sender, receiver in (("c", "python"), ("python", "c")):
            packed = deflaters[sender].compress(value)
            same(f"compress ({sender}) then decompress ({receiver})", checkers[sender].decompress(packed, None), value,
                 ("inflated", "sent"))  # fmt: skip


def _raw_deflate(messages: list[bytes], bits: int) -> list[bytes]:
    z = zlib.compressobj(6, zlib.DEFLATED, -max(bits, 9))
    out = []
    for m in messages:
        packed = z.compress(m) + z.flush(zlib.Z_SYNC_FLUSH)
        out.append(packed[:-4])
    return out


def seeds() -> Iterator[bytes]:
    from .. import corpus

    texts = [b"Hello", b"", b"a" * 5000, bytes(range(256)) * 8, "wsé€𝄞".encode() * 100]
    texts += [data[:2000] for _, data in list(corpus.vector_streams())[:20]]
    for flags in (7, 8 | 1, 0x30 | 7):
        for limit in range(len(LIMITS)):
            w = Writer().byte(flags).byte(limit | (limit % len(BUDGETS)) << 3)
            for packed in _raw_deflate(texts, 8 + (flags & 7)):
                w.block(packed)
            yield w.bytes()
    yield Writer().byte(7).byte(0).block(b"\xff" * 10).block(_raw_deflate([b"x"], 15)[0]).bytes()
