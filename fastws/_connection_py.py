"""The WebSocket connection, sans I/O: every protocol decision of an open connection.

One source, two builds: this file runs as plain Python (the pure build), and
Cython compiles the very same file (``src/_connection_c.py`` is a link to it)
with the declarations of ``fastws/_connection_c.pxd`` into ``fastws._connection_c``.
The two cores cannot drift; ``fastws.connection`` picks one.

A :class:`Connection` takes bytes (``data_received``, or ``get_buffer`` /
``buffer_updated`` for a lent buffer) and calls (``send``, ``send_fragment``,
``send_ping``, ``close``, ``fail``, ``pause_reading``, ``next_message``,
``timer_fired``, ``pause_writing``/``resume_writing``) and gives back:

* bytes to write and transport actions through its ``sink``: any object with
  ``write``, ``writelines``, ``pause_reading``, ``resume_reading``, ``close``
  and ``abort`` (an asyncio transport, or a :class:`MemorySink` that records them);
* events: received messages in ``messages`` (or a :class:`~fastws.Listener`'s
  callbacks), ``close_code``/``close_reason``, ``latency``;
* timers to run, through ``_schedule(name, delay)`` / ``_cancel(name)`` (recorded
  in ``timers`` here); when one is due, call ``timer_fired(name)``.

It imports no asyncio and touches no socket: ``fastws.protocol.WebSocket``
subclasses it and only moves bytes, runs timers and wakes tasks (the hooks
``_wake_reader``, ``_drain``, ``_on_pongs``, ``_on_closed``, ``_handshake_data``).
"""

from __future__ import annotations

import enum
import logging
import os
import sys
import threading
import time
import types
from collections import deque
from typing import Any, Optional

from . import codec
from .constants import (
    CLOSE_ABNORMAL,
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_NO_STATUS,
    CLOSE_NORMAL,
    CLOSE_POLICY_VIOLATION,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
)
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    ProtocolError,
)

logger = logging.getLogger("fastws")


class State(enum.IntEnum):
    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


# Plain ints: the compiled build declares them as C ints (see the .pxd).
CONNECTING = 0
OPEN = 1
CLOSING = 2
CLOSED = 3

# Why reading is paused (bits of Connection._pause): the application asked, the
# message queue is full, or a listener's peer sends while not reading what it is sent.
PAUSE_USER = 1
PAUSE_QUEUE = 2
PAUSE_WRITES = 4
PAUSE_TURN = 8  # compressed frames held back until the loop's next turn (INFLATE_PER_TURN)

# Above this size a frame is written as header + payload (writelines), no copy.
WRITELINES_THRESHOLD = 64 * 1024
READ_BUFFER_SIZE = 256 * 1024
# A failed connection keeps reading until the peer has been quiet this long (or
# until close_timeout), so that closing cannot turn unread bytes into an RST.
LINGER_QUIET = 0.05
# More control frames than this in one read is a flood, not keepalive: each costs the
# server about a microsecond and the peer seven bytes, so a peer pinging without pause
# (pongs coalesced or not) would starve every other connection on the loop. Failed with 1008.
# High enough that a burst a real peer may send (the conformance suite's 100 pings in one
# write, each answered in order) passes; one read of a flood then costs well under a ms.
MAX_CONTROL_PER_READ = 256
# A message may take max_size plus this share of it (and WIRE_SLACK) on the wire: room for
# any sensible fragmentation, while endless empty fragments (which never reach max_size)
# are stopped with 1009 after about max_size bytes of parsing, not never.
WIRE_SHARE = 4
WIRE_SLACK = 64 * 1024
# Inflated bytes one connection may produce per turn of the loop: past them the message being
# inflated and the frames after it wait for the next turn. A kilobyte of deflated zeros is a
# megabyte to inflate, about 0.5 ms here with zlib, all in one call without this. 16 KiB is
# ~8 µs of zlib: every other client waits at most that long for a bomb (64 KiB: a good
# client's round trip under the hostile run took ~1.3x as long).
INFLATE_PER_TURN = 16 * 1024


def _compiled_probe() -> None:
    """Compiled, this is not a Python function: IMPLEMENTATION tells which build runs."""


IMPLEMENTATION = "python" if isinstance(_compiled_probe, types.FunctionType) else "c"

# The buffer get_buffer() lends the transport: one per thread, shared by all its
# connections, since buffer_updated() parses it before the next read can start and
# the parser keeps nothing of it. No per-connection buffer: idle connections stay small.
# Lent as a memoryview: asyncio's SSL transport slices what it gets and reads into the
# slice, which must not be a copy.
_local = threading.local()


def _read_buffer() -> memoryview:
    view: Optional[memoryview] = getattr(_local, "view", None)
    if view is None:
        view = _local.view = memoryview(bytearray(READ_BUFFER_SIZE))
    return view


class _Ready:
    """An awaitable that completes at once: what send() returns when nothing must wait."""

    __slots__ = ()

    def __await__(self) -> Any:
        return iter(())


READY = _Ready()


class MemorySink:
    """A sink that records what a connection writes and asks of its transport.

    For sans-IO use and tests: ``data_to_send()`` returns (and forgets) the bytes
    written; ``reading``, ``closed`` and ``aborted`` tell the transport actions.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.reading = True
        self.closed = False
        self.aborted = False

    def write(self, data: Any) -> None:
        self.buffer += data

    def writelines(self, parts: Any) -> None:
        for part in parts:
            self.buffer += part

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = self.aborted = True

    def data_to_send(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


class Connection:
    """One WebSocket connection's protocol state (see the module docstring).

    ``client``: which side this is (a client masks what it sends). ``options``:
    a :class:`fastws.options.Options`. ``sink``: where bytes and transport
    actions go (a :class:`MemorySink` when not given). ``listener``: a
    :class:`~fastws.Listener` for the callback API; without one, messages are
    queued in ``messages`` for :meth:`next_message`.
    """

    def __init__(self, client: bool, options: Any, sink: Any = None, listener: Any = None) -> None:
        self.client = bool(client)
        self.options = options
        self.sink = sink if sink is not None else MemorySink()
        self.listener = listener
        self.clock = time.monotonic  # replaceable: the sans-IO tests drive a clock of their own
        self._state = CONNECTING
        # The frame parser, once open (until then bytes go to _handshake_data); None again
        # once the connection failed: what the peer still sends is dropped (see _unparsed).
        self._parser: Any = None
        self._builder = codec.FrameBuilder(client)
        self._deflate: Any = None  # deflate.DeflateSession once permessage-deflate is agreed
        # A shared compressed frame (fastws.broadcast) went out since our compressor's last
        # message: the peer's window holds it, ours does not, so the next message starts afresh.
        self._compressor_stale = False
        self._text_bytes = False  # the listener takes text as bytes (Listener.decode_text = False)
        self._flow_control = False  # the listener's flow_control: see _dispatch
        self._max_size: Optional[int] = options.max_size
        self._max_queue = options.max_queue
        # Bytes received since the last data message, control frames not counted: the wire
        # size of the message in progress, held under _wire_limit (see _dispatch).
        self._wire = 0
        self._wire_limit = sys.maxsize
        self._inflated = 0  # bytes inflated since this turn's read (see INFLATE_PER_TURN)
        self._inflate_per_turn = INFLATE_PER_TURN  # an attribute so that tests and fuzzing can make it small
        # This thread's read buffer, lent to the transport by get_buffer() (a memoryview),
        # and the bytearray under it, which the parser reads from directly.
        self._lent: Any = None
        self._lent_array: Any = None
        self._corked: Any = None  # frames sent while one read is dispatched, or None (see _deliver)
        self.close_code: Optional[int] = None
        self.close_reason = ""
        self._close_sent = False
        self._close_received = False
        self._failed = False
        self._last_data = 0.0  # when the peer last sent bytes to a failed connection
        # Received messages (awaitable API; a deque once open without a listener), and frames
        # read but not yet turned into messages because the queue was full (with the error
        # that ended that read).
        self.messages: Any = ()
        self._backlog: Any = None
        self._backlog_error: Any = None
        self._pause = 0  # PAUSE_* bits
        self._reading = True  # what the sink was last told
        self.writing_paused = False  # the sink's buffer is over write_limit (read-only for users)
        self._pending_pong: Any = None  # the latest ping answered while writing was paused
        self._fragment_opcode = 0  # a fragmented message being sent: its opcode, else 0
        self._fragment_deflate: Any = None
        self._pings: dict[bytes, float] = {}  # pings in flight: payload -> time sent
        self._keepalive_ping: Any = None  # the keepalive ping awaiting its pong
        self._keepalive_sent = 0.0
        self.latency: Optional[float] = None  # last measured ping round trip, seconds
        self.timers: Optional[dict[str, float]] = None  # what _schedule asked for (sans-IO use)

    # --- state ---------------------------------------------------------------

    @property
    def state(self) -> State:
        return State(self._state)

    @property
    def open(self) -> bool:
        return self._state == OPEN

    @property
    def closed(self) -> bool:
        return self._state == CLOSED

    def data_to_send(self) -> bytes:
        """The bytes written since the last call, when the sink is a MemorySink."""
        data: bytes = self.sink.data_to_send()
        return data

    def start(self, deflate: Any = None, trailing: bytes = b"") -> None:
        """The opening handshake is done: OPEN. ``deflate``: the permessage-deflate
        session if agreed; ``trailing``: bytes that came after the handshake."""
        options = self.options
        max_size = options.max_size if options.max_size is not None else sys.maxsize  # None: no limit
        listener = self.listener
        self._text_bytes = listener is not None and not listener.decode_text
        self._flow_control = listener is not None and listener.flow_control
        if listener is None:
            self.messages = deque()
        self._deflate = deflate
        self._wire_limit = min(max_size + max_size // WIRE_SHARE + WIRE_SLACK, sys.maxsize)
        self._parser = codec.FrameParser(
            self.client,
            max_frame_size=options.max_frame_size or max_size,
            max_message_size=max_size,
            allow_rsv1=deflate is not None,
            decode_text=not self._text_bytes,
        )
        self._state = OPEN
        if options.ping_interval:
            self._schedule("keepalive", options.ping_interval)
        if listener is not None:
            self._call_listener(listener.on_open)
        if trailing:
            self.data_received(trailing)

    # --- receiving --------------------------------------------------------------

    def data_received(self, data: Any) -> None:
        parser = self._parser
        if parser is None:
            self._unparsed(data)
            return
        self._wire += len(data)
        try:
            frames = parser.feed(data)
        except ProtocolError as exc:
            self._deliver(exc.frames, exc)
            return
        self._deliver(frames, None)

    def get_buffer(self, sizehint: int) -> memoryview:
        """Lend this thread's read buffer (``buffer_updated`` parses it at once)."""
        lent = self._lent
        if lent is None:  # a connection is only ever driven from its loop's thread
            lent = self._lent = _read_buffer()
            self._lent_array = lent.obj
        return lent  # type: ignore[no-any-return]

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` were read into the lent buffer: parse them now."""
        if nbytes == READ_BUFFER_SIZE:
            self._yield_reading()  # more is waiting: the other connections read before it
        parser = self._parser
        if parser is None:
            if self._failed:
                self._dropped()  # unseen: no copy of a flood's bytes
            else:
                self._unparsed(bytes(self._lent[:nbytes]))
            return
        self._wire += nbytes
        try:
            frames = parser.feed_buffer(self._lent_array, nbytes)
        except ProtocolError as exc:
            self._deliver(exc.frames, exc)
            return
        self._deliver(frames, None)

    def _unparsed(self, data: bytes) -> None:
        """Bytes when there is no parser: the handshake's, or after a failure (dropped)."""
        if self._failed:
            self._dropped()
        else:
            self._handshake_data(data)

    def _dropped(self) -> None:
        """Bytes came after a failure (see fail()): dropped; the next read waits for the linger check."""
        self._last_data = self.clock()
        if self._reading:
            # One read per LINGER_QUIET: a flooding peer must not cost us what it spends sending.
            self._reading = False
            self.sink.pause_reading()

    def _handshake_data(self, data: bytes) -> None:
        """Bytes before the connection is open: the server and client layers read their handshake."""
        raise InvalidState("bytes received before the connection was started (call start() first)")

    def _deliver(self, frames: list[Any], error: Any) -> None:
        listener = self.listener
        self._inflated = 0
        if len(frames) > 1 and listener is not None:
            # Frames a listener sends while this read is dispatched are written together
            # at its end: one syscall, not one per echo. (The awaitable API sends later, from tasks.)
            self._corked = []
        try:
            if self._dispatch(frames, listener):
                if error is not None:
                    self._protocol_error(error)
            elif self._backlog is not None:
                self._backlog_error = error  # handled after the frames held back (see _release_backlog)
        finally:
            if self._corked is not None:
                self._flush_corked()

    def _dispatch(self, frames: list[Any], listener: Any) -> bool:
        """Act on ``frames``; False if they were not all handled (the connection failed,
        or the queue filled up and the rest is held back in ``_backlog``)."""
        n = len(frames)
        controls = 0
        for i in range(n):
            frame = frames[i]
            opcode = frame.opcode
            if opcode <= OP_BINARY:
                self._wire = 0
                if self._close_sent:
                    if frame.rsv1:
                        self._drop_inflating()
                    continue  # data after our close frame is ignored (RFC 6455 §1.4)
                if listener is None and len(self.messages) >= self._max_queue:
                    # No room: keep the rest as read (compressed) until next_message() makes room,
                    # so a full queue bounds memory whatever the peer already sent.
                    self._backlog = frames[i:]
                    self._set_pause(PAUSE_QUEUE, True)
                    return False
                payload = frame.payload
                if frame.rsv1:
                    if self._inflated >= self._inflate_per_turn:
                        self._wait_for_next_turn(frames, i)
                        return False
                    payload = self._inflate(opcode, payload)
                    if payload is None:
                        if self._deflate.decompressor.pending:
                            self._wait_for_next_turn(frames, i)
                        return False  # partly inflated, or the connection was failed
                if listener is not None:
                    if self.writing_paused and self._flow_control:
                        # A message while the peer does not read what we send: stop reading
                        # until it does, or the answers would pile up in the write buffer.
                        self._set_pause(PAUSE_WRITES, True)
                    try:
                        if opcode == OP_TEXT and self._text_bytes:
                            listener.on_text(self, payload)
                        else:
                            listener.on_message(self, payload)
                    except Exception as exc:
                        self._listener_failed(exc)
                else:
                    self.messages.append(payload)
                    if len(self.messages) >= self._max_queue:
                        self._set_pause(PAUSE_QUEUE, True)  # the application does not keep up
                    self._wake_reader()
            else:
                controls += 1
                if controls > MAX_CONTROL_PER_READ and opcode != OP_CLOSE:
                    reason = f"more than {MAX_CONTROL_PER_READ} control frames in one read"
                    self._protocol_error(ProtocolError(CLOSE_POLICY_VIOLATION, reason))
                    return False
                payload = frame.payload
                self._wire -= len(payload) + (2 if self.client else 6)  # its header: 2, masked 6
                self._control_received(opcode, payload)
        if self._wire > self._wire_limit and not self._failed:
            # Frames of one message, far more bytes than max_size carries: an endless stream
            # of empty or tiny fragments.
            reason = "message framing exceeds the size limit"
            self._protocol_error(ProtocolError(CLOSE_MESSAGE_TOO_BIG, reason))
            return False
        if self._wire < 0:
            self._wire = 0  # control frames of a read that also ended a message
        return True

    def _wait_for_next_turn(self, frames: list[Any], i: int) -> None:
        """Enough inflating for this turn: ``frames[i:]`` wait (still compressed, or the first
        one partly inflated) for the loop's next turn, so other connections are served in between."""
        self._backlog = frames[i:]
        self._set_pause(PAUSE_TURN, True)
        self._schedule("turn", 0)

    def _inflate(self, opcode: int, payload: bytes) -> Any:
        """A compressed message (RSV1): decompress within max_size and what is left of this
        turn's INFLATE_PER_TURN (resuming where the last turn stopped), then check text.

        Returns None when the turn's budget ran out first (the decompressor keeps the
        message: ``pending``), or after failing the connection (1009 too big, 1007 corrupt
        or not UTF-8).
        """
        decompressor = self._deflate.decompressor
        try:
            if not decompressor.pending:
                decompressor.start(payload, self._max_size)
            try:
                data = decompressor.inflate(self._inflate_per_turn - self._inflated)
            finally:
                self._inflated += decompressor.produced
            if data is None:
                return None
            if opcode != OP_TEXT:
                return data
            if self._text_bytes:
                if not codec.validate_utf8(data):
                    raise ProtocolError(1007, "invalid UTF-8 in text message")
                return data
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError(1007, "invalid UTF-8 in text message") from None
        except ProtocolError as exc:
            self._protocol_error(exc)
            return None

    def next_message(self) -> Any:
        """The oldest queued message (awaitable API), or None when there is none yet.

        Taking messages makes room: frames held back are turned into messages,
        then reading resumes once the queue is down to a quarter of ``max_queue``.
        """
        messages = self.messages
        if not messages:
            return None
        message = messages.popleft()
        if len(messages) <= self._max_queue // 4 and self._pause & PAUSE_QUEUE:
            self._release_backlog()
        return message

    def _drop_inflating(self) -> None:
        """A message partly inflated will not be finished (failed, after our close, or the
        connection lost while it waited for its turn): free it."""
        if self._deflate is not None and self._deflate.decompressor.pending:
            self._deflate.decompressor.reset()

    def _release_backlog(self) -> None:
        """Act on the frames held back by a full queue, then on the error that ended their read."""
        backlog = self._backlog
        if backlog is not None:
            self._backlog = None
            if not self._dispatch(backlog, self.listener):
                return  # full again (or failed)
            error = self._backlog_error
            if error is not None:
                self._backlog_error = None
                self._protocol_error(error)
                return
        self._set_pause(PAUSE_QUEUE | PAUSE_TURN, False)

    def _control_received(self, opcode: int, payload: bytes) -> None:
        listener = self.listener
        if opcode == OP_PING:
            if self._state == OPEN:
                if self.writing_paused:
                    # The peer does not read what we send: answer only its latest ping
                    # (RFC 6455 §5.5.3), when writing resumes; memory stays bounded.
                    self._pending_pong = payload
                else:
                    self._write_frame(OP_PONG, payload, True, False)
            if listener is not None:
                self._call_listener(listener.on_ping, payload)
        elif opcode == OP_PONG:
            self._pong_received(payload)
            if listener is not None:
                self._call_listener(listener.on_pong, payload)
        elif opcode == OP_CLOSE:
            self._close_frame_received(payload)

    def _close_frame_received(self, payload: bytes) -> None:
        code, reason = codec.parse_close_payload(payload)  # already validated by the parser
        self._close_received = True
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        if not self._close_sent:
            # Echo the peer's code (RFC 6455 §5.5.1); an empty close is echoed empty.
            self._send_close_frame(None if code == CLOSE_NO_STATUS else code, "")
        self._set_state(CLOSING)
        self._wake_reader()  # no message can follow: a waiting reader raises now
        # Both close frames exchanged: the server closes TCP first (RFC 6455 §7.1.1);
        # the client gives it close_timeout to do so.
        if not self.client:
            self.sink.close()
        self._schedule("close", self.options.close_timeout)

    def _pong_received(self, payload: bytes) -> None:
        pings = self._pings
        if payload not in pings:
            return  # unsolicited pong: allowed, ignored (RFC 6455 §5.5.3)
        now = self.clock()
        # A pong acknowledges its ping and every ping sent before it.
        acked = []
        for key in list(pings):
            sent = pings.pop(key)
            acked.append((key, now - sent))
            if key == self._keepalive_ping:
                self._keepalive_ping = None
            if key == payload:
                self.latency = now - sent
                break
        self._on_pongs(acked)

    # --- flow control --------------------------------------------------------------

    def _set_pause(self, reason: int, on: bool) -> None:
        if on:
            self._pause |= reason
        else:
            self._pause &= ~reason
        self._update_reading()

    def _update_reading(self) -> None:
        # Once closing, always read: the peer's close frame must come in (data is dropped then).
        want = not self._pause or self._state == CLOSING
        if want != self._reading and self._state != CLOSED:
            self._reading = want
            if want:
                self.sink.resume_reading()
            else:
                self.sink.pause_reading()

    def pause_reading(self) -> None:
        """Stop reading from the peer until :meth:`resume_reading` (the application's own
        pause: taking messages with ``recv()`` does not undo it)."""
        self._set_pause(PAUSE_USER, True)

    def resume_reading(self) -> None:
        self._set_pause(PAUSE_USER, False)

    def pause_writing(self) -> None:
        """The sink's buffer went above ``write_limit``."""
        self.writing_paused = True
        if self.listener is not None:
            self._call_listener(self.listener.on_pause_writing)

    def resume_writing(self) -> None:
        """The sink's buffer drained below the low-water mark."""
        self.writing_paused = False
        if self._pause & PAUSE_WRITES:
            self._set_pause(PAUSE_WRITES, False)
        pong = self._pending_pong
        if pong is not None:
            self._pending_pong = None
            if self._state == OPEN:
                self._write_frame(OP_PONG, pong, True, False)
        if self.listener is not None:
            self._call_listener(self.listener.on_resume_writing)

    # --- sending ----------------------------------------------------------------

    def _check_can_send(self) -> None:
        if self._state != OPEN:
            if self._state == CONNECTING:
                raise InvalidState("cannot send: the opening handshake is not done yet")
            raise self.closed_exception()
        if self._fragment_opcode:
            raise RuntimeError("a fragmented message is being sent; finish it first")

    def send(self, message: Any, compress: bool = True, text: bool = False) -> Any:
        """Send a text (str) or binary (bytes-like) message.

        Writes at once; the returned awaitable completes when the sink's buffer
        is below ``write_limit`` (await it for flow control).
        ``compress=False`` sends this message uncompressed (already-compressed data).
        ``text=True`` sends bytes as a text message: they must be UTF-8 (not checked).
        """
        if self._state != OPEN or self._fragment_opcode:
            self._check_can_send()
        opcode = OP_TEXT if text or isinstance(message, str) else OP_BINARY
        deflate = self._deflate
        if deflate is not None and compress and len(message) >= deflate.threshold:
            if self._compressor_stale:
                self._reset_compressor()
            self._write_frame(opcode, deflate.compress(message), True, True)
        elif len(message) < WRITELINES_THRESHOLD:
            frame = self._builder._build(opcode, message, True, False)
            if self._corked is None:
                self.sink.write(frame)
            else:
                self._corked.append(frame)
        else:
            if self._corked is not None:
                self._flush_corked()
            self.sink.writelines(self._builder.build_parts(opcode, message))
        if self.writing_paused:
            return self._drain()
        return READY

    def send_fragment(self, fragment: Any, final: bool = False, compress: bool = True) -> Any:
        """Send one frame of a fragmented message (str fragments make a text message,
        bytes-like a binary one, all the same kind); ``final=True`` ends it.

        Other sends raise RuntimeError until the message is finished. If the
        message cannot be finished, call :meth:`fail` (the peer would otherwise
        see half a message followed by another one).
        """
        kind = OP_TEXT if isinstance(fragment, str) else OP_BINARY
        opcode = self._fragment_opcode
        if opcode == 0:
            self._check_can_send()
            self._fragment_deflate = self._deflate if compress else None
            if self._compressor_stale and self._fragment_deflate is not None:
                self._reset_compressor()
        elif self._state != OPEN:
            raise self.closed_exception()
        elif kind != opcode:
            raise TypeError("all fragments of a message must be str, or all bytes-like")
        deflate = self._fragment_deflate
        data = deflate.compress_fragment(fragment, final) if deflate is not None else fragment
        # With compression, RSV1 marks the first frame only (RFC 7692 §6.1).
        self._write_frame(
            kind if opcode == 0 else OP_CONTINUATION, data, final, opcode == 0 and deflate is not None
        )
        self._fragment_opcode = 0 if final else kind
        if self.writing_paused:
            return self._drain()
        return READY

    @property
    def sending_fragments(self) -> bool:
        """A fragmented message has been started and not finished."""
        return self._fragment_opcode != 0

    def _write_frame(self, opcode: int, payload: Any, fin: bool, rsv1: bool) -> None:
        if self._corked is not None:
            self._flush_corked()  # what send() corked goes first: a close frame must come last
        if len(payload) < WRITELINES_THRESHOLD:
            self.sink.write(self._builder._build(opcode, payload, fin, rsv1))
        else:
            self.sink.writelines(self._builder.build_parts(opcode, payload, fin, rsv1))

    def _send_shared(self, frame: Any, compressed: bool) -> None:
        """Write a whole frame built once for many connections (``fastws.broadcast``).

        The caller checked that the connection is open and not sending fragments.
        ``compressed``: its payload was compressed without context; the peer's
        inflater appends it to its window, so our compressor must not refer back
        across it (RFC 7692 §7.2.3): its next message starts a new stream.
        """
        if compressed:
            self._compressor_stale = True
        if self._corked is None:
            self.sink.write(frame)
        else:
            self._corked.append(frame)  # order: after what this read's dispatch already sent

    def _reset_compressor(self) -> None:
        self._compressor_stale = False
        self._deflate.compressor.reset()

    def _flush_corked(self) -> None:
        """Write the corked frames now (before any other write, so order is kept) and uncork."""
        frames = self._corked
        self._corked = None
        if frames:
            self.sink.write(frames[0] if len(frames) == 1 else b"".join(frames))

    def send_ping(self, data: Any = None) -> bytes:
        """Send a ping; returns its payload (random when not given), which the pong will echo."""
        if self._state != OPEN:
            self._check_can_send()
        pings = self._pings
        if data is None:
            data = os.urandom(4)
            while data in pings:
                data = os.urandom(4)
        elif isinstance(data, str):
            data = data.encode()
        else:
            data = bytes(data)
        if data in pings:
            raise ValueError("a ping with this payload is already waiting for its pong")
        self._write_frame(OP_PING, data, True, False)  # ValueError over 125 bytes: nothing registered
        pings[data] = self.clock()
        return data  # type: ignore[no-any-return]

    # --- timers --------------------------------------------------------------------

    def timer_fired(self, name: str) -> None:
        """A timer asked for with ``_schedule(name, delay)`` is due."""
        if name == "keepalive":
            self._keepalive()
        elif name == "close":
            if self._state != CLOSED:
                self.sink.abort()  # the peer did not finish the closing handshake in time
        elif name == "linger":
            self._linger()
        elif name == "turn":
            self._inflated = 0
            if self._pause & PAUSE_TURN:
                # Frames a listener sends meanwhile are written together, as in _deliver.
                corked = self.listener is not None and self._corked is None
                if corked:
                    self._corked = []
                try:
                    self._release_backlog()
                finally:
                    if corked:
                        self._flush_corked()

    def _keepalive(self) -> None:
        if self._state != OPEN:
            return
        options = self.options
        timeout = options.ping_timeout
        if self._keepalive_ping is not None:
            waited = self.clock() - self._keepalive_sent
            if timeout is not None and waited >= timeout:
                logger.info("%r: no pong within %ss, closing", self, timeout)
                self.close_code, self.close_reason = CLOSE_INTERNAL_ERROR, "keepalive ping timeout"
                if not self._close_sent:
                    self._send_close_frame(CLOSE_INTERNAL_ERROR, "keepalive ping timeout")
                self.sink.abort()  # a dead peer will not answer the close frame either
                return
            # Still waiting: look again when the pong is due.
            self._schedule("keepalive", timeout - waited if timeout is not None else options.ping_interval)
            return
        self._keepalive_ping = self.send_ping()
        self._keepalive_sent = self.clock()
        delay = options.ping_interval
        if timeout is not None and timeout < delay:
            delay = timeout
        self._schedule("keepalive", delay)

    def _linger(self) -> None:
        """Close a failed connection once the peer has stopped sending (the close timer aborts)."""
        if self._state == CLOSED:
            return
        if not self._reading:  # paused by _dropped(): take what came meanwhile, look again later
            self._reading = True
            self.sink.resume_reading()
            self._schedule("linger", LINGER_QUIET)
            return
        quiet_for = self.clock() - self._last_data
        if quiet_for >= LINGER_QUIET:
            self.sink.close()
        else:
            self._schedule("linger", LINGER_QUIET - quiet_for)

    def _schedule(self, name: str, delay: float) -> None:
        """Ask for ``timer_fired(name)`` in ``delay`` seconds (replacing a timer of that name)."""
        if self.timers is None:
            self.timers = {}
        self.timers[name] = delay

    def _cancel(self, name: str) -> None:
        if self.timers is not None:
            self.timers.pop(name, None)

    # --- closing ----------------------------------------------------------------------

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> Any:
        """Start the closing handshake (before it is open: just close the transport).

        Returns None here; the asyncio layer returns an awaitable of the end."""
        if self._state == OPEN:
            self._send_close_frame(code, reason)  # ValueError for a bad code before any change
            self._set_state(CLOSING)
            self._schedule("close", self.options.close_timeout)
        elif self._state == CONNECTING:
            self.sink.close()

    def abort(self) -> None:
        """Drop the transport now, without a closing handshake. The connection is CLOSING
        until ``connection_lost`` (sends raise ConnectionClosedError 1006, broadcasts skip it)."""
        if self._state == OPEN:
            # Not _set_state: held-back frames would be answered on a transport that is gone.
            self._state = CLOSING
        self.sink.abort()

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the connection (RFC 6455 §7.1.7): a close frame with ``code``, then drop TCP
        once the peer is quiet; what it still sends is discarded."""
        if self._failed or self._state == CLOSED:
            return
        self._failed = True
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        if not self._close_sent and self._state != CONNECTING:
            self._send_close_frame(code, _truncate_reason(reason))
        self._fragment_opcode = 0
        self._backlog = None
        self._drop_inflating()
        self._set_state(CLOSING)
        self._wake_reader()
        # Lingering close: closing now, with the peer's bytes still unread, makes the
        # kernel send RST, which can destroy our close frame in flight. Keep reading
        # and discarding until the peer is quiet, then close (the close timer aborts).
        self._parser = None
        self._last_data = self.clock()
        self._schedule("linger", LINGER_QUIET)
        self._schedule("close", self.options.close_timeout)

    def _protocol_error(self, exc: ProtocolError) -> None:
        self.fail(exc.code, exc.reason)
        if self.listener is not None:
            self._call_listener(self.listener.on_error, exc)

    def _send_close_frame(self, code: Optional[int], reason: str) -> None:
        self._write_frame(OP_CLOSE, codec.build_close_payload(code, reason), True, False)
        self._close_sent = True

    def _set_state(self, state: int) -> None:
        self._state = state
        self._update_reading()
        if state == CLOSING and self._backlog is not None:
            # Closing: what was held back is read now (our close frame is sent, so data is
            # dropped and control frames are handled).
            self._release_backlog()

    def connection_lost(self, exc: Optional[Exception] = None) -> None:
        """The transport is gone (``exc``: why, if it failed): CLOSED (1006 if no close frame came)."""
        was_open = self._parser is not None or self._failed
        self._state = CLOSED
        if self.close_code is None:
            self.close_code = CLOSE_ABNORMAL  # TCP closed without a close frame
        for name in ("keepalive", "close", "linger", "turn"):
            self._cancel(name)
        if self._pause & PAUSE_TURN:
            # The message being inflated lost its turns: free it (up to max_size) now, not
            # whenever the connection object goes. (Reading was paused, so this is our own
            # abort or a failed write: the peer's EOF or reset waits behind the message.)
            self._drop_inflating()
            self._backlog = self._backlog_error = None
        self._pings.clear()
        self._wake_reader()
        self._on_closed()
        if was_open and self.listener is not None:
            self._call_listener(self.listener.on_close, self.close_code, self.close_reason)

    def closed_exception(self) -> ConnectionClosed:
        """The exception for using the connection once it is closing or closed."""
        code = self.close_code if self.close_code is not None else CLOSE_ABNORMAL
        cls = (
            ConnectionClosedOK
            if code in (CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_NO_STATUS)
            else ConnectionClosedError
        )
        return cls(code, self.close_reason)

    @property
    def close_received(self) -> bool:
        return self._close_received

    # --- listener calls -------------------------------------------------------------

    def _call_listener(self, method: Any, *args: Any) -> None:
        try:
            method(self, *args)
        except Exception as exc:
            self._listener_failed(exc)

    def _listener_failed(self, exc: Exception) -> None:
        logger.exception("%r: listener callback failed", self)
        if self.listener is not None:
            try:
                self.listener.on_error(self, exc)
            except Exception:
                logger.exception("%r: on_error failed", self)
        if self._state == OPEN:
            Connection.close(self, CLOSE_INTERNAL_ERROR, "internal error")  # not a subclass's close()

    # --- hooks for the I/O layer (no-ops here) ----------------------------------------

    def _wake_reader(self) -> None:
        """A message was queued, or none can come any more."""

    def _yield_reading(self) -> None:
        """A read filled the whole buffer: more of this peer's bytes are waiting."""

    def _drain(self) -> Any:
        """What send() returns while writing is paused: an awaitable for the resume."""
        return READY

    def _on_pongs(self, acked: list[tuple[bytes, float]]) -> None:
        """Pings acknowledged by a pong: (payload, round-trip seconds)."""

    def _on_closed(self) -> None:
        """The connection is CLOSED."""


def _truncate_reason(reason: str) -> str:
    """At most 123 bytes of UTF-8 (what fits in a close frame), cut at a character boundary."""
    encoded = reason.encode("utf-8")
    if len(encoded) <= 123:
        return reason
    return encoded[:123].decode("utf-8", "ignore")


# --- broadcast -----------------------------------------------------------------------

# The builder of shared frames (server frames are unmasked: it holds no state); untyped in
# the compiled build, which may be imported beside the pure codec (tests compare the two).
_shared_builder = codec.FrameBuilder(False)


def fan_out(
    connections: Any,
    opcode: int,
    payload: bytes,
    size: int,
    compress: bool,
    close_slow: bool,
    max_buffered: int,
    close_code: int,
    close_reason: str,
    fresh_compressor: Any,
) -> tuple[int, int, int, int, int, int, int]:
    """The loop of ``fastws.broadcast`` (which checks the arguments and documents the rules):
    one frame written to many connections. Here, so that the compiled build runs it in C.

    ``size``: what a connection's deflate threshold compares; ``max_buffered`` < 0: a
    connection is slow while its writing is paused; ``fresh_compressor(like)``: a compressor
    of ``like``'s settings without context. Returns the counts of ``BroadcastResult``.
    """
    plain: Any = None  # the unmasked uncompressed frame, once needed
    deflated: Any = None  # window bits -> compressed payload
    frames: Any = None  # window bits -> unmasked compressed frame
    sent = compressed = not_open = busy = skipped = closed = built = 0
    for item in connections:
        ws: Connection = item
        if ws._state != OPEN or ws._close_sent:  # (close frame sent, TCP dropped: keepalive timeout)
            not_open += 1
            continue
        if ws._fragment_opcode:
            busy += 1  # a frame cannot go between the fragments of a message
            continue
        if ws.writing_paused if max_buffered < 0 else _buffered(ws) > max_buffered:
            if close_slow:
                ws.close(close_code, close_reason)
                closed += 1
            else:
                skipped += 1
            continue
        session = ws._deflate
        if session is None or not compress or size < session.threshold:
            if ws.client:
                ws._send_shared(ws._builder._build(opcode, payload, True, False), False)  # own mask
                built += 1
            else:
                if plain is None:
                    plain = _shared_builder.build(opcode, payload, True, False)
                    built += 1
                ws._send_shared(plain, False)
            sent += 1
            continue
        bits = session.compressor.window_bits
        if deflated is None:
            deflated, frames = {}, {}
        data = deflated.get(bits)
        if data is None:
            data = deflated[bits] = fresh_compressor(session.compressor).compress(payload)
        if ws.client:
            ws._send_shared(ws._builder._build(opcode, data, True, True), True)
            built += 1
        else:
            frame = frames.get(bits)
            if frame is None:
                frame = frames[bits] = _shared_builder.build(opcode, data, True, True)
                built += 1
            ws._send_shared(frame, True)
        sent += 1
        compressed += 1
    return sent, compressed, not_open, busy, skipped, closed, built


def _buffered(ws: Any) -> int:
    """Bytes the connection's transport holds unsent (a sink that cannot tell: 0, or more than
    any limit while writing is paused)."""
    size = getattr(ws.sink, "get_write_buffer_size", None)
    if size is not None:
        return size()  # type: ignore[no-any-return]
    return sys.maxsize if ws.writing_paused else 0
