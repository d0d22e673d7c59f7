"""``wsproto.connection``: the WebSocket connection after the handshake, on fastws's codec.

fastws's ``FrameParser`` (``assemble=False``) validates and unmasks every frame;
fastws's ``FrameBuilder`` writes them.  What wsproto adds on top is kept here:
a data frame whose payload has only partly arrived is delivered as far as it has
(``frame_finished=False``), text is decoded incrementally across frames, received
close frames are checked against wsproto's list of codes, and nothing answers on
the user's behalf (a received close or ping is only reported).
"""

from __future__ import annotations

import zlib
from codecs import getincrementaldecoder
from collections import deque
from enum import Enum
from typing import TYPE_CHECKING, Any, Generator, List, Optional, Union, cast

from fastws.codec import FrameBuilder, FrameParser, mask
from fastws.deflate import Compressor
from fastws.exceptions import ProtocolError

from .events import BytesMessage, CloseConnection, Event, Message, Ping, Pong, TextMessage, new_message
from .extensions import Extension, PerMessageDeflate
from .frame_protocol import LOCAL_ONLY_CLOSE_REASONS, CloseReason
from .utilities import LocalProtocolError

if TYPE_CHECKING:
    from fastws._codec_c import Frame
    from fastws._codec_c import FrameBuilder as Builder
    from fastws._codec_c import FrameParser as Parser


class ConnectionState(Enum):
    """RFC 6455 §4 connection states, with wsproto's values."""

    CONNECTING = 0
    OPEN = 1
    REMOTE_CLOSING = 2
    LOCAL_CLOSING = 3
    CLOSED = 4
    REJECTING = 5


class ConnectionType(Enum):
    CLIENT = 1
    SERVER = 2


CLIENT = ConnectionType.CLIENT
SERVER = ConnectionType.SERVER

_NO_LIMIT = 2**62  # wsproto bounds neither frames nor messages
_CLOSE_CODES = frozenset(int(code) for code in CloseReason)
_SYNC_TAIL = b"\x00\x00\xff\xff"
_Utf8Decoder = getincrementaldecoder("utf-8")
_HOOKS = ("frame_inbound_header", "frame_inbound_payload_data", "frame_inbound_complete", "frame_outbound")


class _Failed(Exception):
    """A violation found here rather than by the codec (wsproto's ParseFailed)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _deflate_of(extensions: List[Extension]) -> Optional[PerMessageDeflate]:
    deflate: Optional[PerMessageDeflate] = None
    for ext in extensions:
        if isinstance(ext, PerMessageDeflate):
            deflate = ext
        elif any(getattr(type(ext), hook) is not getattr(Extension, hook) for hook in _HOOKS):
            raise NotImplementedError(
                f"extension {ext.name!r} has frame hooks; fastws's wsproto API runs only "
                "permessage-deflate on frames"
            )
    return deflate


def _close_payload(code: Optional[int], reason: Optional[str]) -> bytes:
    """wsproto's outgoing close payload: local-only codes become 1000, the reason is cut at 123 bytes."""
    if code is CloseReason.NO_STATUS_RCVD:  # identity, as wsproto: a plain 1005 is sent as 1000
        code = None
    if code is None:
        if reason:
            raise TypeError("cannot specify a reason without a code")
        return b""
    if code in LOCAL_ONLY_CLOSE_REASONS:
        code = CloseReason.NORMAL_CLOSURE
    payload = code.to_bytes(2, "big")
    if reason is not None:
        raw = reason.encode("utf-8")
        if len(raw) > 123:  # cut on a character boundary
            raw = raw[:123].decode("utf-8", errors="ignore").encode("utf-8")
        payload += raw
    return payload


def _remote_close(payload: bytes) -> CloseConnection:
    """The event for a close frame the codec accepted, after wsproto's stricter code list."""
    if not payload:
        return CloseConnection(code=CloseReason.NO_STATUS_RCVD, reason="")
    code = int.from_bytes(payload[:2], "big")
    if code in _CLOSE_CODES:
        code = CloseReason(code)
    elif code <= 2999:  # the codec allows the unassigned 1014; wsproto does not
        raise _Failed(CloseReason.PROTOCOL_ERROR, "CLOSE with unknown reserved code")
    return CloseConnection(code=code, reason=payload[2:].decode("utf-8"))


class Connection:
    """A WebSocket connection after the handshake (wsproto's ``Connection``)."""

    def __init__(
        self,
        connection_type: ConnectionType,
        extensions: Optional[List[Extension]] = None,
        trailing_data: bytes = b"",
    ) -> None:
        self.client = client = connection_type is ConnectionType.CLIENT
        self._events: deque[Event] = deque()
        self._state = ConnectionState.OPEN
        active = [ext for ext in extensions or [] if ext.enabled()]
        deflate = self._deflate = _deflate_of(active)
        self._parser: Optional[Parser] = FrameParser(
            client,
            assemble=False,
            allow_rsv1=deflate is not None,
            max_frame_size=_NO_LIMIT,
            max_message_size=_NO_LIMIT,
        )
        self._builder: Builder = FrameBuilder(client)
        self._mask_len = 0 if client else 4  # a client reads unmasked frames
        self._inbox: List[bytes] = []
        self._tail = bytearray()  # the bytes of a frame the parser holds, incomplete
        self._shown = 0  # payload bytes of that frame already delivered
        self._done = False  # a close frame or a violation: the rest is ignored
        self._msg_opcode = 0  # of the message being received (0: none)
        self._decoder: Any = None  # incremental UTF-8 decoder of a text message in pieces
        self._compressed = False
        self._inflater: Any = None
        self._out_opcode = 0  # of the message being sent in fragments (0: none)
        self._compressor: Any = None
        if deflate is not None:
            bits = deflate.client_max_window_bits if client else deflate.server_max_window_bits
            takeover = deflate.client_no_context_takeover if client else deflate.server_no_context_takeover
            self._compressor = Compressor(window_bits=bits, no_context_takeover=takeover)
        self.receive_data(trailing_data)

    @property
    def state(self) -> ConnectionState:
        return self._state

    # ------------------------------------------------------------------ sending

    def send(self, event: Event) -> bytes:
        state = self._state
        if isinstance(event, Message) and state is ConnectionState.OPEN:
            return self._send_data(event.data, event.message_finished)
        if isinstance(event, Ping) and state is ConnectionState.OPEN:
            return self._builder.build(0x9, event.payload)
        if isinstance(event, Pong) and state is ConnectionState.OPEN:
            return self._builder.build(0xA, event.payload)
        if isinstance(event, CloseConnection) and (
            state is ConnectionState.OPEN or state is ConnectionState.REMOTE_CLOSING
        ):
            data = self._builder.build(0x8, _close_payload(event.code, event.reason))
            if state is ConnectionState.REMOTE_CLOSING:
                self._state = ConnectionState.CLOSED
            else:
                self._state = ConnectionState.LOCAL_CLOSING
            return data
        raise LocalProtocolError(f"Event {event} cannot be sent in state {state}.")

    def _send_data(self, payload: Union[bytes, bytearray, memoryview, str], fin: bool) -> bytes:
        if isinstance(payload, str):
            opcode = 0x1
        elif isinstance(payload, (bytes, bytearray, memoryview)):
            opcode = 0x2
        else:
            raise TypeError("Must provide bytes or text")
        first = self._out_opcode == 0
        if first:
            self._out_opcode = opcode
        elif self._out_opcode != opcode:
            raise TypeError("Data type mismatch inside message")
        if fin:
            self._out_opcode = 0
        compressor = self._compressor
        if compressor is None:
            return self._builder.build(opcode if first else 0x0, payload, fin)
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        if first and fin:
            payload = compressor.compress(payload)
        else:
            payload = compressor.compress_fragment(payload, fin)
        return self._builder.build(opcode if first else 0x0, payload, fin, first)

    # ---------------------------------------------------------------- receiving

    def receive_data(self, data: Optional[bytes]) -> None:
        if data is None:
            self._events.append(CloseConnection(code=CloseReason.ABNORMAL_CLOSURE))
            self._state = ConnectionState.CLOSED
            return
        state = self._state
        if state is ConnectionState.OPEN or state is ConnectionState.LOCAL_CLOSING:
            if data:
                self._inbox.append(data)
        elif state is ConnectionState.CLOSED:
            raise LocalProtocolError("Connection already closed.")

    def events(self) -> Generator[Event, None, None]:
        while self._events:
            yield self._events.popleft()
        inbox = self._inbox
        if not inbox or self._done:
            inbox.clear()
            return
        data = inbox[0] if len(inbox) == 1 else b"".join(inbox)
        inbox.clear()
        try:
            yield from self._frames(data)
        except (ProtocolError, _Failed) as exc:
            self._done = True
            self._parser = None
            yield CloseConnection(code=exc.code, reason=exc.reason)

    def _frames(self, data: bytes) -> Generator[Event, None, None]:
        error: Optional[ProtocolError] = None
        assert self._parser is not None
        try:
            frames: List[Frame] = self._parser.feed(data)
        except ProtocolError as exc:
            frames, error = cast("List[Frame]", exc.frames), exc
        mask_len = self._mask_len
        consumed = 0
        for frame in frames:
            opcode = frame.opcode
            payload: bytes = frame.payload  # type: ignore[assignment]
            size = len(payload)
            consumed += size + mask_len + (2 if size < 126 else 4 if size < 65536 else 10)
            if opcode > 2:
                if opcode == 0x9:
                    yield Ping(payload=payload)
                elif opcode == 0xA:
                    yield Pong(payload=payload)
                else:
                    event = _remote_close(payload)
                    self._done = True
                    if self._state is ConnectionState.LOCAL_CLOSING:
                        self._state = ConnectionState.CLOSED
                    else:
                        self._state = ConnectionState.REMOTE_CLOSING
                    yield event
                    return
            elif opcode and frame.fin and not self._shown and not frame.rsv1:
                # A whole uncompressed message in one frame (the codec checked its UTF-8).
                if opcode == 0x1:
                    yield new_message(TextMessage, payload.decode("utf-8"))
                else:
                    yield new_message(BytesMessage, payload)
            else:
                shown, self._shown = self._shown, 0
                yield self._piece(opcode if not shown else 0, frame.rsv1, payload[shown:], True, frame.fin)
        if error is not None:
            raise error
        tail = self._tail
        left = len(tail) + len(data) - consumed
        if not left:
            self._tail = bytearray()
            return
        if left <= len(data):
            self._tail = bytearray(data[-left:])
        else:  # the same frame still incomplete: grow in place (no quadratic copying)
            del tail[: len(tail) - (left - len(data))]
            tail += data
        piece = self._partial()
        if piece is not None:
            yield piece

    def _partial(self) -> Optional[Event]:
        """The newly arrived payload of an incomplete data frame, as wsproto delivers it."""
        tail = self._tail
        if len(tail) < 2 or tail[0] & 0x08:  # no header yet, or a control frame (delivered whole)
            return None
        length = tail[1] & 0x7F
        start = 2 + (2 if length == 126 else 8 if length == 127 else 0)
        masked = tail[1] & 0x80
        if masked:
            start += 4
        shown = self._shown
        if len(tail) - start <= shown:
            return None
        chunk = bytes(tail[start + shown :])
        if masked:
            rotate = shown & 3
            key = bytes(tail[start - 4 : start])
            chunk = mask(chunk, key[rotate:] + key[:rotate])
        self._shown = len(tail) - start
        return self._piece(tail[0] & 0x0F if not shown else 0, bool(tail[0] & 0x40), chunk, False, bool(tail[0] & 0x80))

    def _piece(self, opcode: int, rsv1: bool, data: bytes, frame_done: bool, fin: bool) -> Event:
        """A data message piece: a new message when ``opcode`` is TEXT/BINARY, else a continuation."""
        if opcode:
            self._msg_opcode = opcode
            self._compressed = rsv1
            self._decoder = _Utf8Decoder() if opcode == 0x1 else None
        finished = frame_done and fin
        if self._compressed:
            data = self._inflate(data, finished)
        decoder = self._decoder
        if finished:
            self._msg_opcode = 0
            self._decoder = None
        if decoder is None:
            return new_message(BytesMessage, data, frame_done, finished)  # type: ignore[no-any-return]
        try:
            text: str = decoder.decode(data, finished)
        except UnicodeDecodeError as exc:
            raise _Failed(CloseReason.INVALID_FRAME_PAYLOAD_DATA, str(exc)) from None
        return new_message(TextMessage, text, frame_done, finished)  # type: ignore[no-any-return]

    def _inflate(self, data: bytes, finished: bool) -> bytes:
        deflate = self._deflate
        assert deflate is not None
        inflater = self._inflater
        if inflater is None:
            bits = deflate.server_max_window_bits if self.client else deflate.client_max_window_bits
            inflater = self._inflater = zlib.decompressobj(-bits)
        try:
            data = inflater.decompress(data)
            if finished:
                data += inflater.decompress(_SYNC_TAIL) + inflater.flush()
        except zlib.error:
            raise _Failed(CloseReason.INVALID_FRAME_PAYLOAD_DATA, "error in extension") from None
        if finished:
            self._compressed = False
            takeover = deflate.server_no_context_takeover if self.client else deflate.client_no_context_takeover
            if takeover:
                self._inflater = None
        return data


__all__ = ["CLIENT", "SERVER", "Connection", "ConnectionState", "ConnectionType"]

