"""The frame parser in both roles, RSV1 allowed or not, assembling or not, fed in random chunkings.

Input: flags, chunk seed, limit, then the bytes on the wire. The C and pure parsers,
fed the same pieces, must return the same frames and fail with the same close code;
the C parser fed everything at once must agree with itself fed in pieces.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastws.exceptions import ProtocolError

from ..common import Reader, Writer, chunks, same
from ..impls import CODECS

CLIENT, RSV1, ASSEMBLE, DECODE_TEXT, LIMITS, FEED_BUFFER = 1, 2, 4, 8, 16, 32


def _frame(frame: object) -> tuple:
    f = frame
    return (f.opcode, f.fin, f.rsv1, f.rsv2, f.rsv3, type(f.payload).__name__, f.payload)  # type: ignore[attr-defined]


def run(codec: object, flags: int, limit: int, pieces: list[bytes]) -> tuple[list, int | None]:
    options: dict = {"allow_rsv1": bool(flags & RSV1), "assemble": bool(flags & ASSEMBLE),
                     "decode_text": bool(flags & DECODE_TEXT)}  # fmt: skip
    if flags & LIMITS:
        options["max_frame_size"] = 125 + limit * 3
        options["max_message_size"] = 125 + limit * 5
    parser = codec.FrameParser(bool(flags & CLIENT), **options)  # type: ignore[attr-defined]
    frames: list = []
    try:
        for piece in pieces:
            if flags & FEED_BUFFER:  # the read buffer lent by the connection: longer than the read
                buffer = bytearray(piece) + b"\xaa" * 7
                frames += parser.feed_buffer(buffer, len(piece))
            else:
                frames += parser.feed(piece)
    except ProtocolError as exc:
        frames += exc.frames
        code = exc.code
        try:  # a failed parser stays failed
            parser.feed(b"\x81")
        except ProtocolError as again:
            if again.code != code:
                raise AssertionError(f"failed parser re-raised {again.code}, first {code}") from None
        else:
            raise AssertionError("a failed parser accepted more input") from None
        return [_frame(f) for f in frames], code
    return [_frame(f) for f in frames], None


def test_one_input(data: bytes) -> None:
    r = Reader(data)
    flags, seed, limit = r.byte(), r.byte(), r.byte()
    wire = r.rest()
    pieces = chunks(wire, seed)
    c = run(CODECS["c"], flags, limit, pieces)
    same(f"parser flags={flags:#x} seed={seed}", c, run(CODECS["python"], flags, limit, pieces))
    same(f"parser flags={flags:#x}: chunked vs whole", c, run(CODECS["c"], flags, limit, [wire]),
         ("chunked", "whole"))  # fmt: skip


def seed(client: bool, wire: bytes, flags: int = ASSEMBLE | DECODE_TEXT, chunk_seed: int = 0) -> bytes:
    return Writer().byte(flags | (CLIENT if client else 0)).byte(chunk_seed).byte(0).raw(wire).bytes()


def seeds() -> Iterator[bytes]:
    from .. import corpus

    variants = (ASSEMBLE | DECODE_TEXT, RSV1, ASSEMBLE | RSV1 | FEED_BUFFER, ASSEMBLE | LIMITS)
    for client, wire in corpus.vector_streams():  # few and varied: every variant
        for flags in variants:
            yield seed(client, wire, flags, chunk_seed=0)
            yield seed(client, wire, flags, chunk_seed=3)
    seen = set()
    for i, (client, wire) in enumerate(corpus.frame_streams()):  # many alike: one variant each, in turn
        if (client, wire) not in seen:
            seen.add((client, wire))
            yield seed(client, wire, variants[i % 4], chunk_seed=i % 5)
