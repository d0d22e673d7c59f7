"""Pure-Python connection core: the twin of ``src/_core_c.pyx``, same shape.

The per-message path of a connection (``data_received`` dispatch and ``send``)
lives here so the compiled twin can run it without a Python frame per call.
``fastws.protocol.WebSocket`` subclasses it and supplies the slow paths:
``_handshake_data``, ``_queue_message``, ``_control_received``,
``_listener_failed``, ``_protocol_error``, ``_refuse_send``.
"""

from __future__ import annotations

import threading
from typing import Any

from .exceptions import ProtocolError

IMPLEMENTATION = "python"

OPEN = 1  # protocol.OPEN; the other states only matter to the slow paths
_OP_TEXT = 0x1
_OP_BINARY = 0x2
# Above this size a frame is written as header + payload (writelines), no copy.
WRITELINES_THRESHOLD = 64 * 1024
READ_BUFFER_SIZE = 256 * 1024

# The buffer get_buffer() lends the transport: one per thread, shared by all its
# connections, since buffer_updated() parses it before the next read can start and
# the parser keeps nothing of it. No per-connection buffer: idle connections stay small.
# Lent as a memoryview: asyncio's SSL transport slices what it gets and reads into the
# slice, which must not be a copy.
_local = threading.local()


def _read_buffer() -> memoryview:
    view: memoryview | None = getattr(_local, "view", None)
    if view is None:
        view = _local.view = memoryview(bytearray(READ_BUFFER_SIZE))
    return view


class _Ready:
    """An awaitable that completes at once: what send() returns when nothing must wait."""

    __slots__ = ()

    def __await__(self) -> Any:
        return iter(())


READY = _Ready()


class ProtocolCore:
    """Hot path of a WebSocket connection (see the module docstring)."""

    state: int
    transport: Any
    listener: Any
    _parser: Any
    _builder: Any
    _drain_waiter: Any
    _fragmented_send: bool
    _text_bytes: bool = False  # the listener takes text as bytes (Listener.decode_text = False)
    _deflate: Any  # a deflate.DeflateSession when permessage-deflate was negotiated
    # Frames sent while one read is dispatched, written together at its end (one
    # syscall, not one per echo); None when not corked. Only a listener's reads of several frames cork.
    _corked: Any = None
    _lent: memoryview  # the buffer get_buffer() lent for the read in progress

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
            self._handshake_data(data)  # type: ignore[attr-defined]
            return
        try:
            frames = parser.feed(data)
        except ProtocolError as exc:
            frames = exc.frames
            error: ProtocolError | None = exc
        else:
            error = None
        self._deliver(frames, error)

    def get_buffer(self, sizehint: int) -> memoryview:
        """asyncio.BufferedProtocol: the transport reads into this thread's shared buffer."""
        self._lent = _read_buffer()
        return self._lent

    def buffer_updated(self, nbytes: int) -> None:
        """asyncio.BufferedProtocol: ``nbytes`` were read into the buffer; parse them at once."""
        # A copy: the pure parser may keep slices of what it is fed.
        self.data_received(bytes(self._lent[:nbytes]))

    def _deliver(self, frames: list[Any], error: ProtocolError | None) -> None:
        listener = self.listener
        n = len(frames)
        if n > 1 and listener is not None:  # the awaitable API sends from tasks, later
            self._corked = []
        try:
            if self._dispatch(frames, n, listener) and error is not None:
                self._protocol_error(error)  # type: ignore[attr-defined]
        finally:
            if self._corked is not None:
                self._flush_corked()

    def _dispatch(self, frames: list[Any], n: int, listener: Any) -> bool:
        """Deliver ``frames``; False if an inflate error failed the connection."""
        for frame in frames:
            opcode = frame.opcode
            payload = frame.payload
            if opcode <= _OP_BINARY:
                if self.state != OPEN:
                    continue  # data after our close frame is ignored (RFC 6455 §1.4)
                if frame.rsv1:
                    payload = self._inflate(opcode, payload)  # type: ignore[attr-defined]
                    if payload is None:
                        return False  # the connection was failed
                if listener is not None:
                    try:
                        if opcode == _OP_TEXT and self._text_bytes:
                            listener.on_text(self, payload)
                        else:
                            listener.on_message(self, payload)
                    except Exception as exc:
                        self._listener_failed(exc)  # type: ignore[attr-defined]
                else:
                    self._queue_message(payload)  # type: ignore[attr-defined]
            else:
                self._control_received(opcode, payload)  # type: ignore[attr-defined]
        return True

    def _flush_corked(self) -> None:
        """Write the corked frames now (before any other write, so order is kept) and uncork."""
        frames = self._corked
        self._corked = None
        if frames:
            self.transport.write(frames[0] if len(frames) == 1 else b"".join(frames))

    def send(self, message: Any, compress: bool = True, text: bool = False) -> Any:
        """Send a text (str) or binary (bytes-like) message.

        Writes at once; the returned awaitable completes when the transport's
        buffer is below ``write_limit`` (await it for flow control).
        ``compress=False`` sends this message uncompressed (already-compressed data).
        ``text=True`` sends bytes as a text message: they must be UTF-8 (not checked).
        """
        if self.state != OPEN or self._fragmented_send:
            self._refuse_send()  # type: ignore[attr-defined]
        opcode = _OP_TEXT if text or isinstance(message, str) else _OP_BINARY
        if self._deflate is not None and compress:
            return self._send_deflated(opcode, message)  # type: ignore[attr-defined]
        if len(message) < WRITELINES_THRESHOLD:
            frame = self._builder.build(opcode, message)
            if self._corked is None:
                self.transport.write(frame)
            else:
                self._corked.append(frame)
        else:
            if self._corked is not None:
                self._flush_corked()
            self.transport.writelines(self._builder.build_parts(opcode, message))
        return self._drain_waiter or READY
