"""Pure-Python permessage-deflate kernels: the twin of ``src/_deflate_c.pyx``, same API, same behaviour.

Keep the two files the same shape (same classes, methods and order of checks)
so a reader can diff them; ``tests/test_deflate.py`` runs every test against both.
Both drive the same zlib (Python's ``zlib`` module links the system libz, as
the compiled twin does) with the same sequence of calls, so they produce
byte-identical compressed output, unless the compiled twin was built with
ISA-L (``COMPRESSION_BACKEND == "isal"``: igzip compresses, same wire format,
other bytes); the one exception is level 0, whose stored
blocks end where zlib's output space does, which depends on each twin's
buffer sizes (same content, possibly split differently).

One difference in memory, not behaviour: Python's zlib objects cannot be reset,
so with no context takeover this twin drops them after each message and makes
new ones for the next (holding nothing in between, allocating per message);
the compiled twin keeps its zlib state and resets it.

Wire format (RFC 7692 §7.2): a message is compressed as raw DEFLATE (no zlib
header) ended by a sync flush, whose trailing empty stored block
``00 00 ff ff`` is removed before sending and appended again before inflating.

Window bits 8: zlib >= 1.2.9 refuses a raw-deflate *compressor* with an 8-bit
window (madler/zlib#171), so the compressor uses 9 when 8 is agreed.  This
still honours the agreement: zlib never emits a match distance larger than
``w_size - MIN_LOOKAHEAD`` = 512 - 262 = 250 bytes with a 9-bit window, which
fits the peer's 256-byte window (tests/test_deflate.py checks it by inflating
with an 8-bit window).  The *decompressor* accepts 8 as is.
"""

from __future__ import annotations

import io
import zlib

from .exceptions import ProtocolError

IMPLEMENTATION = "python"
COMPRESSION_BACKEND = "zlib"  # the compiled twin's may be "isal" (its docstring)

_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 §7.2.1: the empty stored block that ends a sync flush
_MIN_COMPRESS_WINDOW = 9  # see the module docstring
_CHUNK = 65536  # input fed and output taken per zlib call when decompressing
_INFLATE_OK = 0  # the input is inflated, the stream goes on (the next message keeps the context)
_INFLATE_END = 1  # the sender ended the stream (BFINAL)
_INFLATE_PAUSED = 2  # the budget was spent before the message's end


def _check_window_bits(window_bits: int) -> None:
    if not 8 <= window_bits <= 15:
        raise ValueError(f"window_bits must be between 8 and 15, got {window_bits}")


def _as_bytes(data: object) -> object:
    """Text is compressed as its UTF-8 encoding; anything else must be bytes-like."""
    if isinstance(data, str):
        return data.encode("utf-8")
    return data


def _zlib_reason(exc: zlib.error) -> str:
    # Python words it "Error -3 while decompressing data: <zlib's msg>"; keep zlib's msg,
    # which is what the compiled twin reports.
    text = str(exc)
    return text.split(": ", 1)[1] if ": " in text else text


class Compressor:
    """Compresses messages for one direction of one connection (see the stub for the contract)."""

    __slots__ = ("_zobj", "level", "mem_level", "no_context_takeover", "window_bits")

    def __init__(
        self, window_bits: int = 15, no_context_takeover: bool = False, level: int = 1, mem_level: int = 8
    ) -> None:
        _check_window_bits(window_bits)
        if not -1 <= level <= 9:
            raise ValueError(f"level must be between -1 and 9, got {level}")
        if not 1 <= mem_level <= 9:
            raise ValueError(f"mem_level must be between 1 and 9, got {mem_level}")
        self.window_bits = window_bits
        self.no_context_takeover = bool(no_context_takeover)
        self.level = level
        self.mem_level = mem_level
        self._zobj = None  # created on first use: an idle connection holds no zlib state

    def _stream(self):
        if self._zobj is None:
            wbits = max(self.window_bits, _MIN_COMPRESS_WINDOW)
            self._zobj = zlib.compressobj(self.level, zlib.DEFLATED, -wbits, self.mem_level)
        return self._zobj

    def compress(self, data: object) -> bytes:
        return self.compress_fragment(data, True)

    def compress_fragment(self, data: object, final: bool) -> bytes:
        zobj = self._stream()
        # All input without flushing, then a sync flush: exactly the zlib calls the compiled twin makes.
        out = zobj.compress(_as_bytes(data)) + zobj.flush(zlib.Z_SYNC_FLUSH)
        if final:
            if out.endswith(_TAIL):
                out = out[:-4]
            if self.no_context_takeover:
                self._zobj = None  # Python's zlib has no deflateReset: start a fresh stream next time
        return out

    def reset(self) -> None:
        self._zobj = None


class Decompressor:
    """Decompresses messages for one direction of one connection (see the stub for the contract)."""

    __slots__ = ("_final", "_input", "_limit", "_max_size", "_out", "_pos", "_tail", "_zobj",
                 "no_context_takeover", "pending", "produced", "window_bits")  # fmt: skip

    def __init__(self, window_bits: int = 15, no_context_takeover: bool = False) -> None:
        _check_window_bits(window_bits)
        self.window_bits = window_bits
        self.no_context_takeover = bool(no_context_takeover)
        self._zobj = None
        self.produced = 0  # output bytes of the last inflate() call
        self._drop_message()  # pending: a message was started and is not all inflated yet

    def _stream(self):
        if self._zobj is None:
            self._zobj = zlib.decompressobj(-self.window_bits)
        return self._zobj

    def decompress(self, data: object, max_size: int | None) -> bytes:
        self.start(data, max_size)
        return self.inflate(0)  # type: ignore[return-value]

    def start(self, data: object, max_size: int | None) -> None:
        # ``limit`` bytes of output prove the message is too big: zlib never produces more.
        if max_size is None:
            limit = 0  # no limit
        elif max_size < 0:
            raise ValueError("max_size must be >= 0 or None")
        else:
            limit = max_size + 1
        if self.pending:
            raise RuntimeError("a message is being inflated: inflate() it to the end, or reset()")
        self._stream()
        view = memoryview(data).cast("B")  # type: ignore[arg-type]
        self._input, self._pos, self._tail, self._final = view, 0, None, False
        # Output is taken in bounded chunks into one growing buffer, so at most about
        # max_size bytes are ever held (a bomb is stopped at the limit) and an accepted
        # message is held once: getvalue() hands over the buffer without a copy.
        self._out, self._limit, self._max_size = io.BytesIO(), limit, max_size
        self.pending = True

    def inflate(self, budget: int) -> bytes | None:
        if not self.pending:
            raise RuntimeError("no message to inflate: start() one")
        if budget < 0:
            raise ValueError("budget must be >= 0")
        out = self._out
        before = out.tell()
        try:
            state = self._inflate(budget)
        except BaseException as exc:
            self.produced = out.tell() - before
            self.reset()
            if isinstance(exc, zlib.error):
                raise ProtocolError(1007, f"invalid compressed data: {_zlib_reason(exc)}") from None
            raise
        self.produced = out.tell() - before
        if state == _INFLATE_PAUSED:
            return None
        # The sender ended the stream with a BFINAL block (RFC 7692 §7.2.3.3): whatever
        # follows it is ignored and the next message starts a new stream.
        if self.no_context_takeover or state == _INFLATE_END:
            self._zobj = None
        self._drop_message()
        return out.getvalue()

    def _inflate(self, budget: int) -> int:
        """Inflate the message's input, then the 00 00 ff ff tail, into ``_out``, up to
        ``_limit`` bytes (0: no limit) and ``budget`` more bytes (0: no budget); _INFLATE_* state."""
        zobj, out, limit = self._zobj, self._out, self._limit
        stop = out.tell() + budget if budget else 0
        while True:
            if self._tail is None:  # the last input is consumed and zlib holds no pending output
                if self._pos == len(self._input):
                    if self._final:
                        return _INFLATE_OK
                    self._input, self._pos, self._final = memoryview(_TAIL), 0, True
                # Bounded input: unconsumed_tail copies stay small.
                self._tail = self._input[self._pos : self._pos + _CHUNK]
                self._pos += len(self._tail)
            if stop and out.tell() >= stop:
                return _INFLATE_PAUSED
            room = _CHUNK if not limit else min(_CHUNK, limit - out.tell())
            if stop:
                room = min(room, stop - out.tell())
            chunk = zobj.decompress(self._tail, room)
            out.write(chunk)
            if limit and out.tell() >= limit:
                raise ProtocolError(1009, f"decompressed message exceeds {self._max_size} bytes")
            if zobj.eof:
                return _INFLATE_END
            self._tail = zobj.unconsumed_tail
            if not self._tail and len(chunk) < room:
                self._tail = None  # this input is consumed and zlib holds no pending output

    def _drop_message(self) -> None:
        self._input = self._tail = self._out = None  # _tail: input handed to zlib, or None
        self._pos = self._limit = 0
        self._final = False
        self._max_size = None
        self.pending = False

    def reset(self) -> None:
        self._zobj = None
        self._drop_message()
