"""Type stub of the compiled permessage-deflate kernels (``fastws._deflate_c``, built from ``src/_deflate_c.pyx``).

The pure-Python twin ``fastws._deflate_py`` has exactly this API and behaviour
(and produces byte-identical output, level 0 aside, when this module compresses
with zlib; built with ISA-L it compresses with igzip: same wire format, other
bytes); ``fastws.deflate`` picks whichever is active.
"""

from typing import Final, Optional, Union

from typing_extensions import Buffer

IMPLEMENTATION: Final[str]  # "c" here, "python" in the twin
COMPRESSION_BACKEND: Final[str]  # "isal" (built with ISA-L: levels other than 0) or "zlib"; always "zlib" in the twin

class Compressor:
    """Raw-deflate compressor for one direction of one connection (RFC 7692 §7.2.1).

    ``window_bits`` 8..15 (zlib: 8 runs as 9, whose matches stay within 250 bytes,
    so the output still fits an 8-bit window; ISA-L: 8 as is), ``level`` -1..9,
    ``mem_level`` 1..9; ValueError otherwise.  zlib's (or ISA-L's) state is
    created on first use.
    """

    window_bits: int
    no_context_takeover: bool
    level: int
    mem_level: int
    def __init__(
        self, window_bits: int = 15, no_context_takeover: bool = False, level: int = 1, mem_level: int = 8
    ) -> None: ...
    def compress(self, data: Union[str, Buffer]) -> bytes:
        """One whole message (str as UTF-8): sync flush, trailing 00 00 ff ff removed.

        With ``no_context_takeover`` the stream is reset afterwards.
        """
    def compress_fragment(self, data: Union[str, Buffer], final: bool) -> bytes:
        """One frame of a fragmented message, sync-flushed so the peer can inflate it at once.

        Only the ``final`` fragment has its 00 00 ff ff removed (and resets the
        stream with ``no_context_takeover``).  The frames' payloads, concatenated,
        are the compressed message.
        """
    def reset(self) -> None:
        """Forget the context (the next message starts a new stream)."""

class Decompressor:
    """Raw-deflate decompressor for one direction of one connection (RFC 7692 §7.2.2)."""

    window_bits: int
    no_context_takeover: bool
    def __init__(self, window_bits: int = 15, no_context_takeover: bool = False) -> None: ...
    def decompress(self, data: Buffer, max_size: Optional[int]) -> bytes:
        """One whole compressed message: 00 00 ff ff appended, inflated (``start`` then ``inflate(0)``).

        ``ProtocolError(1009)`` as soon as the output exceeds ``max_size``
        (``None``: no limit; at most ``max_size + 1`` bytes are ever produced, so a
        rejected message costs about ``max_size``; an accepted one is held once),
        ``ProtocolError(1007, "invalid compressed data: ...")`` for corrupt data.
        Bytes after a final (BFINAL) block are ignored and the stream restarts.
        After an error the stream is reset; the connection is expected to fail.
        """
    pending: bool
    """A message was started and is not all inflated yet."""
    produced: int
    """Output bytes of the last ``inflate()`` call (also when it raised)."""
    def start(self, data: Buffer, max_size: Optional[int]) -> None:
        """Begin a compressed message, to be inflated piecewise by ``inflate()``.

        ``data`` is held (not copied) until the message is done.  RuntimeError
        if one is pending; ValueError for a negative ``max_size``.
        """
    def inflate(self, budget: int) -> Optional[bytes]:
        """Inflate the started message: the whole of it (``decompress``'s result), or None
        once ``budget`` more bytes were produced before its end (0: no budget).

        So a large message can be inflated a slice at a time (the connection does
        this once per turn of the event loop) with the same result and the same
        errors, raised as soon as the output shows them (then the stream is reset).
        """
    def reset(self) -> None:
        """Forget the context (the next message starts a new stream) and any pending message."""
