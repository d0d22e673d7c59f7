"""Type stub of the compiled codec (``fastws._codec_c``, built from ``src/_codec_c.pyx``).

The pure-Python twin ``fastws._codec_py`` has exactly this API and behaviour;
``fastws.codec`` re-exports whichever is active.
"""

from typing import Final, Optional, Union

from typing_extensions import Buffer

IMPLEMENTATION: Final[str]  # "c" here, "python" in the twin

def mask(data: Buffer, key: Buffer) -> bytes:
    """Return ``data`` XORed with the 4-byte ``key`` (RFC 6455 §5.3), as new bytes."""

def mask_inplace(buf: Buffer, key: Buffer) -> None:
    """XOR a writable buffer (bytearray, writable memoryview) with the 4-byte key, in place."""

def validate_utf8(data: Buffer) -> bool:
    """True when ``data`` is complete, well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF)."""

class Utf8Validator:
    """Incremental UTF-8 validator; state is carried across ``feed`` calls.

    ``feed`` returns False as soon as the bytes seen so far cannot start a valid
    string (fail-fast, RFC 6455 §8.1); once False, it stays False until ``reset``.
    """

    def __init__(self) -> None: ...
    def feed(self, data: Buffer) -> bool: ...
    def finish(self) -> bool:
        """True when everything fed so far is valid and no sequence is left truncated."""
    def reset(self) -> None: ...

class Frame:
    """A received frame, or (when the parser assembles) a whole message.

    For an assembled text message ``payload`` is ``str`` (``bytes`` with
    ``decode_text=False``); otherwise ``bytes``.
    A compressed message (RSV1, permessage-deflate) keeps ``bytes`` and is not
    UTF-8-checked by the parser: that happens after decompression.
    """

    opcode: int
    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool
    payload: Union[bytes, str]

class FrameParser:
    """Sans-IO RFC 6455 frame parser.

    ``client=True`` means this parser runs in a client, so it expects unmasked frames;
    a server-side parser (``client=False``) requires every frame to be masked.

    ``feed(data)`` takes any chunk of bytes and returns the frames it completed,
    in order.  With ``assemble=True`` (default) fragmented data messages are joined
    and returned as one Frame (opcode TEXT or BINARY, fin True, rsv1 of the first
    fragment, payload str for text / bytes for binary); control frames are returned
    as they arrive, even between fragments.  With ``assemble=False`` every frame is
    returned as received (payload bytes), still fully validated.
    ``decode_text=False`` keeps assembled text messages as ``bytes``: validated
    UTF-8, not decoded (for applications that parse bytes, e.g. a JSON parser).

    Size limits below 125 bytes (the largest control frame) raise ValueError.

    Any violation raises ``fastws.exceptions.ProtocolError`` (``.code``, ``.reason``);
    the frames completed earlier in the same call are on the exception as
    ``.frames``.  After an error the parser stays failed and re-raises it.
    After a close frame has been returned, further input is ignored.
    """

    max_frame_size: int
    max_message_size: int
    def __init__(
        self,
        client: bool,
        *,
        max_frame_size: int = ...,
        max_message_size: int = ...,
        allow_rsv1: bool = False,
        assemble: bool = True,
        decode_text: bool = True,
    ) -> None: ...
    def feed(self, data: Buffer) -> list[Frame]: ...
    def feed_buffer(self, buffer: Buffer, nbytes: int) -> list[Frame]:
        """``feed(memoryview(buffer)[:nbytes])`` without the slice: the first ``nbytes`` bytes, read in place.

        For a read buffer lent by the caller (one per thread, reused): nothing of it
        is kept after the call.  ValueError unless ``0 <= nbytes <= len(buffer)`` (in bytes).
        """

class FrameBuilder:
    """Encodes frames.  ``client=True`` masks every frame with a fresh random key."""

    def __init__(self, client: bool) -> None: ...
    def build(
        self, opcode: int, payload: Union[str, Buffer] = b"", fin: bool = True, rsv1: bool = False
    ) -> bytes:
        """Header and (masked) payload in one bytes object.

        ValueError for a reserved opcode, or a control frame that is fragmented,
        longer than 125 bytes or has RSV1 set.
        """
    def build_parts(
        self, opcode: int, payload: Union[str, Buffer] = b"", fin: bool = True, rsv1: bool = False
    ) -> tuple[bytes, Buffer]:
        """Header and payload as two buffers, for ``transport.writelines``.

        A server returns the caller's payload object untouched (no copy); a client
        returns a masked copy.
        """
    def build_close(self, code: Optional[int] = 1000, reason: str = "") -> bytes:
        """A close frame; validates the code and that the reason fits (<= 123 bytes UTF-8)."""

def build_close_payload(code: Optional[int] = 1000, reason: str = "") -> bytes:
    """Close frame payload; ValueError for a code that may not be sent or a reason too long.

    ``code=None`` gives the empty payload (a close frame without a status code).
    """

def parse_close_payload(payload: Buffer) -> tuple[int, str]:
    """(code, reason) of a received close payload; (1005, "") when empty.

    Raises ProtocolError: 1002 for a 1-byte payload or an invalid code, 1007 for a
    reason that is not valid UTF-8.
    """
