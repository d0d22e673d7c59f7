"""The UTF-8 validator, whole and incremental, against Python's own strict decoder.

Input: chunk seed, then the bytes. ``validate_utf8`` (C, pure) must equal
``bytes.decode`` succeeding; ``Utf8Validator.feed`` must answer, after every piece,
whether the bytes so far can still start valid UTF-8 (fail-fast, RFC 6455 §8.1),
as Python's incremental decoder does, and ``finish`` whether all of it is valid.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator

from ..common import Reader, Writer, chunks, same
from ..impls import CODECS

# Enough continuations to complete any viable tail: E0 needs A0.., F0 90.., ED and F4 80..
COMPLETIONS = [bytes([first]) + b"\x80" * more for first in (0x80, 0x90, 0xA0) for more in range(3)]


def completable(tail: bytes) -> bool:
    """Whether a started sequence (what Python's decoder holds back) can still end well."""
    return not tail or any(whole(tail + end) for end in COMPLETIONS)


def reference(pieces: list[bytes]) -> tuple[list[bool], bool]:
    # Python's incremental decoder raises for what is invalid already, but holds back a
    # started sequence even when no continuation could make it valid (ED A0: a surrogate);
    # the fail-fast answer also needs that tail to be completable.
    decoder = codecs.getincrementaldecoder("utf-8")()
    fed, alive = [], True
    for piece in pieces:
        if alive:
            try:
                decoder.decode(piece, final=False)
                alive = completable(decoder.getstate()[0])
            except UnicodeDecodeError:
                alive = False
        fed.append(alive)
    if alive:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return fed, False
    return fed, alive


def incremental(codec: object, pieces: list[bytes]) -> tuple[list[bool], bool]:
    validator = codec.Utf8Validator()  # type: ignore[attr-defined]
    fed = [validator.feed(piece) for piece in pieces]
    result = (fed, validator.finish())
    validator.reset()  # and a reset validator is as good as new
    fed = [validator.feed(piece) for piece in pieces]
    same("Utf8Validator after reset", result, (fed, validator.finish()), ("first", "after reset"))
    return result


def whole(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_one_input(data: bytes) -> None:
    r = Reader(data)
    seed = r.byte()
    text = r.rest()
    valid = whole(text)
    for name, codec in CODECS.items():
        same(f"validate_utf8 ({name})", codec.validate_utf8(text), valid, (name, "str.decode"))
        same(f"validate_utf8 of a memoryview ({name})", codec.validate_utf8(memoryview(text)), valid,
             (name, "str.decode"))  # fmt: skip
    pieces = chunks(text, seed)
    expected = reference(pieces)
    for name, codec in CODECS.items():
        same(
            f"Utf8Validator seed={seed}", incremental(codec, pieces), expected, (name, "incremental decoder")
        )


def seeds() -> Iterator[bytes]:
    samples = [b"", b"Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!",
               "κόσμε wsé€𝄞".encode(), b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\xe0\x80\xaf",
               b"\xf0\x8f\xbf\xbf", b"\xef\xbf\xbf", b"\xf4\x8f\xbf\xbf", b"\xce\xba\xe1\xbd",
               b"a" * 64 + "€".encode() * 20 + b"\x80"]  # fmt: skip
    from .. import corpus

    for _, data in corpus.vector_streams():
        samples.append(data)
    for seed in (0, 1, 5, 16):
        for sample in samples:
            yield Writer().byte(seed).raw(sample).bytes()
