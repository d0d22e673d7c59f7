"""Test-side helpers: a hand-written reference frame encoder, feeding helpers and
the shared vectors.  Nothing here uses the code under test, so it can describe
frames (valid or not) independently of it.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from fastws.constants import OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT
from fastws.exceptions import ProtocolError

__all__ = [
    "CHUNK_SIZES",
    "CONTROL_OPCODES",
    "DATA_OPCODES",
    "RESERVED_OPCODES",
    "TEST_KEY",
    "assert_outcome",
    "close_payload",
    "encode_frame",
    "expected",
    "feed_all",
    "feed_chunks",
    "frame_for",
    "frame_tuple",
    "load_vectors",
    "outcome",
    "ref_mask",
    "spec_bytes",
]

CONTROL_OPCODES = (OP_CLOSE, OP_PING, OP_PONG)
DATA_OPCODES = (OP_TEXT, OP_BINARY)
RESERVED_OPCODES = (0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF)
ALL_OPCODES = (OP_CONTINUATION, *DATA_OPCODES, *CONTROL_OPCODES)

#: the masking key of the RFC 6455 §5.7 examples
TEST_KEY = bytes.fromhex("37fa213d")

#: chunk sizes every parser case is fed with (None: the whole input in one call)
CHUNK_SIZES = (1, 2, 3, 7, None)

VECTORS_PATH = Path(__file__).parent / "vectors" / "frames.json"


# -- reference encoding ---------------------------------------------------------


def ref_mask(data, key) -> bytes:
    """XOR ``data`` with the 4-byte ``key``, one byte at a time (slow, obviously right)."""
    key = bytes(key)
    return bytes(b ^ key[i % 4] for i, b in enumerate(bytes(data)))


def encode_frame(
    opcode: int,
    payload: bytes | str = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    key: bytes | None = None,
    length: int | None = None,
    length_form: int | None = None,
) -> bytes:
    """Encode one frame by hand, valid or not.

    ``key``: mask the payload with it (None: unmasked).  ``length``: the length
    written in the header (default: the payload's).  ``length_form``: 7, 16 or 64
    to force that length encoding (default: the shortest).
    """
    if isinstance(payload, str):
        payload = payload.encode()
    payload = bytes(payload)
    n = len(payload) if length is None else length
    if length_form is None:
        length_form = 7 if n <= 125 else 16 if n <= 0xFFFF else 64
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | (0x20 if rsv2 else 0) | (0x10 if rsv3 else 0) | opcode
    mask_bit = 0x80 if key is not None else 0
    if length_form == 7:
        header = bytes([b0, mask_bit | n])
    elif length_form == 16:
        header = bytes([b0, mask_bit | 126]) + struct.pack("!H", n)
    elif length_form == 64:
        header = bytes([b0, mask_bit | 127]) + struct.pack("!Q", n)
    else:
        raise AssertionError(f"bad length_form {length_form}")
    if key is not None:
        header += bytes(key)
        payload = ref_mask(payload, key)
    return header + payload


def frame_for(client: bool, opcode: int, payload: bytes | str = b"", **kwargs) -> bytes:
    """A frame as the peer sends it to a parser with this ``client`` flag.

    A client parser receives from a server (unmasked); a server parser receives
    from a client (masked).
    """
    kwargs.setdefault("key", None if client else TEST_KEY)
    return encode_frame(opcode, payload, **kwargs)


def close_payload(code: int, reason: bytes | str = b"") -> bytes:
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


# -- feeding ----------------------------------------------------------------------


def frame_tuple(frame) -> tuple:
    """Everything observable about a Frame, payload type included."""
    return (
        frame.opcode,
        frame.fin,
        frame.rsv1,
        frame.rsv2,
        frame.rsv3,
        type(frame.payload).__name__,
        frame.payload,
    )


def expected(opcode: int, payload: bytes | str = b"", *, fin: bool = True, rsv1: bool = False) -> tuple:
    """The frame_tuple a correct parser returns for this frame or message."""
    return (opcode, fin, rsv1, False, False, type(payload).__name__, payload)


def feed_chunks(parser, chunks) -> tuple[list, int | None]:
    """Feed each chunk; return (all frames returned, close code of the error or None).

    The frames completed in the failing call (``exc.frames``) are included, so
    the result does not depend on how the input was cut.
    """
    frames: list = []
    try:
        for chunk in chunks:
            frames.extend(parser.feed(chunk))
    except ProtocolError as exc:
        frames.extend(exc.frames)
        return frames, exc.code
    return frames, None


def split(data: bytes, chunk: int | None) -> list[bytes]:
    if chunk is None:
        return [data]
    return [data[i : i + chunk] for i in range(0, len(data), chunk)]


def feed_all(parser, data, chunk: int | None = None) -> tuple[list, int | None]:
    """Feed ``data`` in pieces of ``chunk`` bytes (None: at once); see feed_chunks."""
    return feed_chunks(parser, split(bytes(data), chunk))


def outcome(codec, data, client: bool, chunk: int | None = None, **options) -> tuple[list, int | None]:
    """(frame tuples, error code or None) of a fresh parser fed ``data``."""
    parser = codec.FrameParser(client, **options)
    frames, code = feed_all(parser, data, chunk)
    return [frame_tuple(f) for f in frames], code


def assert_outcome(codec, data, client: bool, *, frames=None, code=None, **options) -> None:
    """Check the outcome (error ``code``, and ``frames`` unless None) for every chunk size."""
    results = {chunk: outcome(codec, data, client, chunk, **options) for chunk in CHUNK_SIZES}
    for chunk, (got_frames, got_code) in results.items():
        where = f"fed in chunks of {chunk or 'all'} bytes"
        assert got_code == code, f"close code {got_code}, expected {code}, {where}"
        if frames is not None:
            assert got_frames == frames, where
    # Whatever the expectation, the cut must not change the result.
    whole = results[None]
    for chunk, result in results.items():
        assert result == whole, f"chunks of {chunk} bytes differ from feeding at once"


# -- vectors ------------------------------------------------------------------------


def spec_bytes(spec) -> bytes:
    """Bytes of a vector field: a hex string, {"hex"}, {"text"} or {"repeat", "times"}, or a list of these."""
    if isinstance(spec, list):
        return b"".join(spec_bytes(part) for part in spec)
    if isinstance(spec, str):
        return bytes.fromhex(spec)
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    if "text" in spec:
        return spec["text"].encode()
    if "repeat" in spec:
        return bytes.fromhex(spec["repeat"]) * spec["times"]
    raise AssertionError(f"bad byte spec {spec!r}")


def load_vectors() -> dict:
    with VECTORS_PATH.open(encoding="utf-8") as f:
        return json.load(f)
