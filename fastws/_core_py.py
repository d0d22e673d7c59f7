"""Pure-Python connection core: the twin of ``src/_core_c.pyx``, same shape.

The per-message path of a connection (``data_received`` dispatch and ``send``)
lives here so the compiled twin can run it without a Python frame per call.
``fastws.protocol.WebSocket`` subclasses it and supplies the slow paths:
``_handshake_data``, ``_queue_message``, ``_control_received``,
``_listener_failed``, ``_protocol_error``, ``_refuse_send``.
"""

from __future__ import annotations

from typing import Any

from .exceptions import ProtocolError

IMPLEMENTATION = "python"

OPEN = 1  # protocol.OPEN; the other states only matter to the slow paths
_OP_TEXT = 0x1
_OP_BINARY = 0x2
# Above this size a frame is written as header + payload (writelines), no copy.
WRITELINES_THRESHOLD = 64 * 1024


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
    _deflate: Any  # a deflate.DeflateSession when permessage-deflate was negotiated

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
        listener = self.listener
        for frame in frames:
            opcode = frame.opcode
            payload = frame.payload
            if opcode <= _OP_BINARY:
                if self.state != OPEN:
                    continue  # data after our close frame is ignored (RFC 6455 §1.4)
                if frame.rsv1:
                    payload = self._inflate(opcode, payload)  # type: ignore[attr-defined]
                    if payload is None:
                        return  # the connection was failed
                if listener is not None:
                    try:
                        listener.on_message(self, payload)
                    except Exception as exc:
                        self._listener_failed(exc)  # type: ignore[attr-defined]
                else:
                    self._queue_message(payload)  # type: ignore[attr-defined]
            else:
                self._control_received(opcode, payload)  # type: ignore[attr-defined]
        if error is not None:
            self._protocol_error(error)  # type: ignore[attr-defined]

    def send(self, message: Any, compress: bool = True) -> Any:
        """Send a text (str) or binary (bytes-like) message.

        Writes at once; the returned awaitable completes when the transport's
        buffer is below ``write_limit`` (await it for flow control).
        ``compress=False`` sends this message uncompressed (already-compressed data).
        """
        if self.state != OPEN or self._fragmented_send:
            self._refuse_send()  # type: ignore[attr-defined]
        opcode = _OP_TEXT if isinstance(message, str) else _OP_BINARY
        if self._deflate is not None and compress:
            return self._send_deflated(opcode, message)  # type: ignore[attr-defined]
        if len(message) < WRITELINES_THRESHOLD:
            self.transport.write(self._builder.build(opcode, message))
        else:
            self.transport.writelines(self._builder.build_parts(opcode, message))
        return self._drain_waiter or READY
