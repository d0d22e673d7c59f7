"""Pure-Python codec: the twin of ``src/_codec_c.pyx``, same API, same behaviour.

Keep the two files the same shape (same classes, methods and order of checks)
so a reader can diff them; ``tests/`` runs every codec test against both.
"""

from __future__ import annotations

import codecs
import io
import os
from typing import Union

from .constants import (
    DEFAULT_MAX_FRAME_SIZE,
    DEFAULT_MAX_MESSAGE_SIZE,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
)
from .exceptions import ProtocolError

IMPLEMENTATION = "python"

_utf8_decode = codecs.utf_8_decode
_Utf8Decoder = codecs.getincrementaldecoder("utf-8")
_KNOWN_OPCODES = frozenset((OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG))
_KEY_BATCH = 4096  # random bytes fetched per os.urandom call: 1024 mask keys


# --- masking ---------------------------------------------------------------


def _key_bytes(key: object) -> bytes:
    key = bytes(key)  # type: ignore[call-overload]
    if len(key) != 4:
        raise ValueError("mask key must be 4 bytes")
    return key


_XOR_TABLES: list[bytes | None] = [None] * 256  # byte -> translate table XORing with it, built on demand
_TRANSLATE_FROM = 4096  # below this, the big-int XOR is faster (measured: 2.2x either way at the ends)


def _xor_table(k: int) -> bytes:
    table = _XOR_TABLES[k]
    if table is None:
        table = _XOR_TABLES[k] = bytes(b ^ k for b in range(256))
    return table


def _xor(data: object, key: bytes, phase: int) -> bytes:
    """``data`` XOR the key repeated, starting at key byte ``phase``."""
    n = len(data)  # type: ignore[arg-type]
    if n == 0:
        return b""
    if phase:
        key = key[phase:] + key[:phase]
    if n < _TRANSLATE_FROM:
        # One big-int XOR: a few C loops and no Python loop, cheapest for short payloads.
        stream = (key * ((n >> 2) + 1))[:n]
        x = int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")  # type: ignore[arg-type]
        return x.to_bytes(n, "little")
    # Long payloads: translate every 4th byte through the table of its key byte (~1.1 GB/s).
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)  # type: ignore[call-overload]  # memoryview has no translate()
    out = bytearray(n)
    for i in range(4):
        out[i::4] = data[i::4].translate(_xor_table(key[i]))  # type: ignore[index]
    return bytes(out)


def mask(data: object, key: object) -> bytes:
    return _xor(memoryview(data).cast("B"), _key_bytes(key), 0)  # type: ignore[arg-type]


def mask_inplace(buf: object, key: object) -> None:
    view = memoryview(buf).cast("B")  # type: ignore[arg-type]
    if view.readonly:
        raise TypeError("mask_inplace needs a writable buffer")
    view[:] = _xor(view, _key_bytes(key), 0)


# --- UTF-8 -----------------------------------------------------------------


def _valid_prefix(pending: bytes) -> bool:
    """Can the truncated sequence ``pending`` (1–3 bytes) still complete validly?

    CPython's incremental decoder already rejects most dead prefixes, but not a
    surrogate start such as ED A0; RFC 6455 §8.1 wants the failure now.
    """
    lead = pending[0]
    if not 0xC2 <= lead <= 0xF4:
        return False
    if len(pending) >= 2:
        second = pending[1]
        if lead == 0xE0:
            low, high = 0xA0, 0xBF
        elif lead == 0xED:
            low, high = 0x80, 0x9F
        elif lead == 0xF0:
            low, high = 0x90, 0xBF
        elif lead == 0xF4:
            low, high = 0x80, 0x8F
        else:
            low, high = 0x80, 0xBF
        if not low <= second <= high:
            return False
    return all(0x80 <= b <= 0xBF for b in pending[2:])


def validate_utf8(data: object) -> bool:
    try:
        _utf8_decode(data, "strict", True)  # type: ignore[arg-type]
    except UnicodeDecodeError:
        return False
    return True


class Utf8Validator:
    """Incremental, fail-fast UTF-8 validator (see the stub for the contract)."""

    __slots__ = ("_decoder", "_failed")

    def __init__(self) -> None:
        self._decoder = _Utf8Decoder("strict")
        self._failed = False

    def feed(self, data: object) -> bool:
        if self._failed:
            return False
        try:
            self._decoder.decode(data, False)
        except UnicodeDecodeError:
            self._failed = True
            return False
        pending = self._decoder.getstate()[0]
        if pending and not _valid_prefix(pending):
            self._failed = True
            return False
        return True

    def finish(self) -> bool:
        return not self._failed and not self._decoder.getstate()[0]

    def reset(self) -> None:
        self._decoder.reset()
        self._failed = False


# --- close frames ----------------------------------------------------------


def _valid_close_code(code: int) -> bool:
    # RFC 6455 §7.4: 1004-1006 and 1015 are reserved, 1016-2999 unassigned.
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def build_close_payload(code: int | None = 1000, reason: str = "") -> bytes:
    if code is None:
        if reason:
            raise ValueError("a close reason needs a close code")
        return b""
    if not 1000 <= code <= 4999 or not _valid_close_code(code):
        raise ValueError(f"close code {code} may not be sent")
    encoded = reason.encode("utf-8")
    if len(encoded) > 123:
        raise ValueError(f"close reason is {len(encoded)} bytes in UTF-8; at most 123 fit")
    return code.to_bytes(2, "big") + encoded


def parse_close_payload(payload: object) -> tuple[int, str]:
    data = bytes(payload)  # type: ignore[call-overload]
    n = len(data)
    if n == 0:
        return 1005, ""
    if n == 1:
        raise ProtocolError(1002, "close frame with a 1-byte payload")
    code = (data[0] << 8) | data[1]
    if not _valid_close_code(code):
        raise ProtocolError(1002, f"invalid close code {code}")
    try:
        reason = _utf8_decode(data[2:], "strict", True)[0]
    except UnicodeDecodeError:
        raise ProtocolError(1007, "close reason is not valid UTF-8") from None
    return code, reason


# --- frames ----------------------------------------------------------------


class Frame:
    """A received frame, or an assembled message (see the stub)."""

    __slots__ = ("opcode", "fin", "rsv1", "rsv2", "rsv3", "payload")

    def __init__(
        self, opcode: int, fin: bool, rsv1: bool, rsv2: bool, rsv3: bool, payload: Union[bytes, str]
    ) -> None:
        self.opcode = opcode
        self.fin = fin
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3
        self.payload = payload

    def __repr__(self) -> str:
        rsv = "".join(str(i) for i, bit in enumerate((self.rsv1, self.rsv2, self.rsv3), 1) if bit)
        return (
            f"Frame(opcode={self.opcode:#x}, fin={self.fin}, rsv={rsv or '-'}, "
            f"{len(self.payload)} {'chars' if isinstance(self.payload, str) else 'bytes'})"
        )


_NEED_MORE = -1


class FrameParser:
    """Sans-IO frame parser (see the stub for the contract)."""

    __slots__ = (
        "_client", "max_frame_size", "max_message_size", "_allow_rsv1", "_assemble", "_decode_text",
        "_header", "_in_payload", "_opcode", "_fin", "_rsv1", "_rsv2", "_rsv3", "_length", "_key",
        "_payload", "_received", "_msg_opcode", "_msg_rsv1", "_msg_size", "_message", "_utf8",
        "_streamed", "_error", "_closed",
    )  # fmt: skip

    def __init__(
        self,
        client: bool,
        *,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
        allow_rsv1: bool = False,
        assemble: bool = True,
        decode_text: bool = True,
    ) -> None:
        if max_frame_size < 125 or max_message_size < 125:
            raise ValueError("size limits must be at least 125 bytes (the largest control frame)")
        self._client = bool(client)
        self.max_frame_size = max_frame_size
        self.max_message_size = max_message_size
        self._allow_rsv1 = bool(allow_rsv1)
        self._assemble = bool(assemble)
        self._decode_text = bool(decode_text)
        self._header = bytearray()  # a header split across feeds (< 14 bytes)
        # The frame being received (valid once the header is complete).
        self._in_payload = False
        self._opcode = 0
        self._fin = self._rsv1 = self._rsv2 = self._rsv3 = False
        self._length = 0
        self._key = b""
        # A payload that spans feeds, grown as it arrives (never from the announced length alone).
        self._payload: io.BytesIO | None = None
        self._received = 0
        self._streamed = False  # this text frame was validated as it arrived
        # The data message being received.
        self._msg_opcode = 0  # 0: none in progress
        self._msg_rsv1 = False
        self._msg_size = 0
        self._message: io.BytesIO | None = None  # the fragments so far, in one growing buffer
        self._utf8 = Utf8Validator()
        self._error: ProtocolError | None = None
        self._closed = False

    def feed(self, data: object) -> list[Frame]:
        return self._feed_view(memoryview(data).cast("B"))  # type: ignore[arg-type]

    def feed_buffer(self, buffer: object, nbytes: int) -> list[Frame]:
        view = memoryview(buffer).cast("B")  # type: ignore[arg-type]
        if not 0 <= nbytes <= len(view):
            raise ValueError(f"nbytes must be between 0 and {len(view)}, got {nbytes}")
        return self._feed_view(view[:nbytes])

    def _feed_view(self, view: memoryview) -> list[Frame]:
        """feed() from a byte view the caller owns (nothing of it is kept after the call)."""
        if self._error is not None:
            raise self._error
        frames: list[Frame] = []
        if self._closed:
            return frames
        end = len(view)
        pos = 0
        try:
            while True:
                if not self._in_payload:
                    pos = self._read_header(view, pos, end)
                    if pos == _NEED_MORE:
                        break
                length = self._length
                if self._payload is None and end - pos >= length:
                    # Fast path: the whole payload is in this chunk.
                    payload = _xor(view[pos : pos + length], self._key, 0) if self._key else bytes(view[pos : pos + length])
                    pos += length
                else:
                    if pos == end and length:
                        break
                    pos = self._read_partial_payload(view, pos, end)
                    if self._received < length:
                        break
                    payload = self._payload.getvalue()  # type: ignore[union-attr]  # exactly sized: no copy
                    self._payload = None
                self._in_payload = False
                self._frame_done(payload, frames)
                if self._closed:
                    break
        except ProtocolError as exc:
            exc.frames = frames
            self._error = exc
            self._payload = self._message = None  # a failed parser holds no buffers
            raise
        return frames

    def _read_header(self, view: memoryview, pos: int, end: int) -> int:
        """Parse the header at ``pos``; return the position after it, or _NEED_MORE."""
        header = self._header
        if header:  # complete a header split across feeds
            held = len(header)
            header += view[pos : pos + min(14 - held, end - pos)]
            size = self._parse_header(header, 0, len(header))
            if size == _NEED_MORE:
                return _NEED_MORE
            del header[:]
            return pos + size - held
        size = self._parse_header(view, pos, end)
        if size == _NEED_MORE:
            header += view[pos:end]
            return _NEED_MORE
        return pos + size

    def _parse_header(self, buf: object, pos: int, end: int) -> int:
        """Check and decode a header in ``buf[pos:end]``; return its size or _NEED_MORE.

        Rules that need only the first two bytes are checked as soon as they are
        there, so a violation is reported at the same byte however input is split.
        """
        if end - pos < 2:
            return _NEED_MORE
        b0 = buf[pos]  # type: ignore[index]
        b1 = buf[pos + 1]  # type: ignore[index]
        fin = b0 & 0x80 != 0
        rsv1 = b0 & 0x40 != 0
        opcode = b0 & 0x0F
        masked = b1 & 0x80 != 0
        length = b1 & 0x7F
        if opcode not in _KNOWN_OPCODES:
            raise ProtocolError(1002, f"reserved opcode {opcode:#x}")
        if b0 & 0x20:
            raise ProtocolError(1002, "RSV2 set without a negotiated extension")
        if b0 & 0x10:
            raise ProtocolError(1002, "RSV3 set without a negotiated extension")
        if rsv1:
            if not self._allow_rsv1:
                raise ProtocolError(1002, "RSV1 set without a negotiated extension")
            if opcode >= OP_CLOSE:
                raise ProtocolError(1002, "RSV1 set on a control frame")
            if opcode == OP_CONTINUATION:
                raise ProtocolError(1002, "RSV1 set on a continuation frame")
        if opcode >= OP_CLOSE:
            if not fin:
                raise ProtocolError(1002, "fragmented control frame")
            if length > 125:
                raise ProtocolError(1002, "control frame payload longer than 125 bytes")
        elif opcode == OP_CONTINUATION:
            if not self._msg_opcode:
                raise ProtocolError(1002, "continuation frame without a message in progress")
        elif self._msg_opcode:
            raise ProtocolError(1002, "new data frame while a fragmented message is in progress")
        if masked != (not self._client):
            raise ProtocolError(1002, "unmasked frame from a client" if not self._client else "masked frame from a server")
        size = 2
        if length == 126:
            if end - pos < 4:
                return _NEED_MORE
            length = (buf[pos + 2] << 8) | buf[pos + 3]  # type: ignore[index]
            if length < 126:
                raise ProtocolError(1002, "non-minimal 16-bit payload length")
            size = 4
        elif length == 127:
            if end - pos < 10:
                return _NEED_MORE
            length = int.from_bytes(buf[pos + 2 : pos + 10], "big")  # type: ignore[index]
            if length >> 63:
                raise ProtocolError(1002, "64-bit payload length with the most significant bit set")
            if length < 65536:
                raise ProtocolError(1002, "non-minimal 64-bit payload length")
            size = 10
        if opcode < OP_CLOSE:
            if length > self.max_frame_size:
                raise ProtocolError(1009, f"frame of {length} bytes exceeds the limit of {self.max_frame_size}")
            total = length if opcode != OP_CONTINUATION else self._msg_size + length
            if total > self.max_message_size:
                raise ProtocolError(1009, f"message of {total} bytes exceeds the limit of {self.max_message_size}")
        if masked:
            if end - pos < size + 4:
                return _NEED_MORE
            self._key = bytes(buf[pos + size : pos + size + 4])  # type: ignore[index]
            size += 4
        else:
            self._key = b""
        # Header complete: commit the frame and message state.
        self._opcode = opcode
        self._fin = fin
        self._rsv1 = rsv1
        self._rsv2 = self._rsv3 = False
        self._length = length
        self._received = 0
        self._streamed = False
        self._in_payload = True
        if opcode < OP_CLOSE:
            if opcode != OP_CONTINUATION:
                self._msg_opcode = opcode
                self._msg_rsv1 = rsv1
                self._msg_size = 0
            self._msg_size += length
        return size

    def _read_partial_payload(self, view: memoryview, pos: int, end: int) -> int:
        """Copy (and unmask) the part of a payload that is in this chunk.

        The buffer grows with the bytes received (BytesIO: geometrically), so a
        header announcing a large payload commits no memory by itself.
        """
        if self._payload is None:
            self._payload = io.BytesIO()
        received = self._received
        taken = min(end - pos, self._length - received)
        chunk = view[pos : pos + taken]
        if self._key:
            chunk = _xor(chunk, self._key, received & 3)  # type: ignore[assignment]
        self._payload.write(chunk)
        self._received = received + taken
        if self._msg_opcode == OP_TEXT and not self._msg_rsv1 and self._opcode < OP_CLOSE:
            # Fail fast (RFC 6455 §8.1): validate text as it arrives.
            self._streamed = True
            if not self._utf8.feed(chunk):
                raise ProtocolError(1007, "invalid UTF-8 in text message")
        return pos + taken

    def _frame_done(self, payload: bytes, frames: list[Frame]) -> None:
        opcode = self._opcode
        if opcode >= OP_CLOSE:
            if opcode == OP_CLOSE:
                parse_close_payload(payload)
                self._closed = True
            frames.append(Frame(opcode, True, False, False, False, payload))
            return
        fin = self._fin
        kind = self._msg_opcode
        # A compressed (RSV1) message is validated after decompression, not here.
        text = kind == OP_TEXT and not self._msg_rsv1
        decoded: str | None = None
        if text:
            if fin and opcode != OP_CONTINUATION and not self._streamed:
                # Whole message in one frame: decoding is the validation.
                if self._assemble and self._decode_text:
                    try:
                        decoded = _utf8_decode(payload, "strict", True)[0]
                    except UnicodeDecodeError:
                        raise ProtocolError(1007, "invalid UTF-8 in text message") from None
                elif not validate_utf8(payload):
                    raise ProtocolError(1007, "invalid UTF-8 in text message")
            else:
                if not self._streamed and not self._utf8.feed(payload):
                    raise ProtocolError(1007, "invalid UTF-8 in text message")
                if fin and not self._utf8.finish():
                    raise ProtocolError(1007, "text message ends inside a UTF-8 sequence")
        if fin:
            self._msg_opcode = 0
            self._utf8.reset()
        if not self._assemble:
            frames.append(Frame(opcode, fin, self._rsv1, False, False, payload))
            return
        # Fragments go into one growing buffer: an empty fragment costs nothing.
        if not fin:
            if self._message is None:
                self._message = io.BytesIO()
            self._message.write(payload)
            return
        if self._message is not None:
            self._message.write(payload)
            payload = self._message.getvalue()  # exactly sized: no copy
            self._message = None
        message: Union[bytes, str] = payload
        if text and self._decode_text:
            # Already validated: this decode cannot fail.
            message = decoded if decoded is not None else _utf8_decode(payload, "strict", True)[0]
        frames.append(Frame(kind, True, self._msg_rsv1, False, False, message))


# --- building --------------------------------------------------------------


def _as_bytes_view(payload: object) -> tuple[object, object]:
    """(object to send, byte view of it): str is encoded, buffers pass untouched."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    if isinstance(payload, (bytes, bytearray)):
        return payload, payload
    return payload, memoryview(payload).cast("B")  # type: ignore[arg-type]


class FrameBuilder:
    """Encodes frames; a client masks each with a fresh random key."""

    __slots__ = ("_client", "_keys", "_key_pos")

    def __init__(self, client: bool) -> None:
        self._client = bool(client)
        self._keys = b""
        self._key_pos = _KEY_BATCH

    def _next_key(self) -> bytes:
        pos = self._key_pos
        if pos >= _KEY_BATCH:
            # One syscall per 1024 frames instead of one per frame.
            self._keys = os.urandom(_KEY_BATCH)
            pos = 0
        self._key_pos = pos + 4
        return self._keys[pos : pos + 4]

    def _header(self, opcode: int, length: int, fin: bool, rsv1: bool) -> bytes:
        if opcode not in _KNOWN_OPCODES:
            raise ValueError(f"reserved opcode {opcode:#x}")
        if opcode >= OP_CLOSE:
            if not fin:
                raise ValueError("control frames cannot be fragmented")
            if length > 125:
                raise ValueError("control frame payload longer than 125 bytes")
            if rsv1:
                raise ValueError("RSV1 cannot be set on a control frame")
        b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
        mask_bit = 0x80 if self._client else 0
        if length < 126:
            return bytes((b0, mask_bit | length))
        if length < 65536:
            return bytes((b0, mask_bit | 126, length >> 8, length & 0xFF))
        return bytes((b0, mask_bit | 127)) + length.to_bytes(8, "big")

    def build(self, opcode: int, payload: object = b"", fin: bool = True, rsv1: bool = False) -> bytes:
        header, data = self.build_parts(opcode, payload, fin, rsv1)
        return header + data  # type: ignore[operator]

    # What the connection core calls (in the compiled twin, a C method with the same arguments).
    _build = build

    def build_parts(
        self, opcode: int, payload: object = b"", fin: bool = True, rsv1: bool = False
    ) -> tuple[bytes, object]:
        payload, data = _as_bytes_view(payload)
        header = self._header(opcode, len(data), fin, rsv1)  # type: ignore[arg-type]
        if not self._client:
            # A server hands the caller's object back untouched: no copy.
            return header, payload
        key = self._next_key()
        return header + key, _xor(data, key, 0)

    def build_close(self, code: int | None = 1000, reason: str = "") -> bytes:
        return self.build(OP_CLOSE, build_close_payload(code, reason))
