# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled connection core: the twin of ``fastws/_core_py.py``, same shape.

Compiled, ``data_received`` and ``send`` cost no Python frame: the event loop
calls straight into C, and so does a listener's ``ws.send(...)``.
"""

cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.memoryview cimport PyMemoryView_GET_BUFFER
from cpython.unicode cimport PyUnicode_Check

from fastws._codec_c cimport Frame, FrameBuilder, FrameParser

import threading

from .exceptions import ProtocolError


cdef extern from "pythread.h":
    unsigned long PyThread_get_thread_ident()

IMPLEMENTATION = "c"

OPEN = 1
cdef enum:
    _OPEN = 1
    _OP_TEXT = 0x1
    _OP_BINARY = 0x2
    _WRITELINES_THRESHOLD = 64 * 1024

WRITELINES_THRESHOLD = _WRITELINES_THRESHOLD
READ_BUFFER_SIZE = 256 * 1024

# The buffer get_buffer() lends the transport: one per thread, shared by all its
# connections, since buffer_updated() parses it before the next read can start and
# the parser keeps nothing of it. No per-connection buffer: idle connections stay small.
# Lent as a memoryview: asyncio's SSL transport slices what it gets and reads into the
# slice, which must not be a copy.
_local = threading.local()
cdef object _cached_view = None  # the last thread's buffer, to skip the thread-local lookup
cdef unsigned long _cached_thread = 0


cdef object _read_buffer():
    global _cached_view, _cached_thread
    cdef unsigned long ident = PyThread_get_thread_ident()
    if _cached_view is not None and _cached_thread == ident:
        return _cached_view
    view = getattr(_local, "view", None)
    if view is None:
        view = _local.view = memoryview(bytearray(READ_BUFFER_SIZE))
    _cached_view = view
    _cached_thread = ident
    return view


@cython.final
cdef class _Ready:
    """An awaitable that completes at once: what send() returns when nothing must wait."""

    def __await__(self):
        return iter(())


READY = _Ready()


cdef class ProtocolCore:
    """Hot path of a WebSocket connection (see the module docstring)."""

    cdef public int state
    cdef public object transport
    cdef public object listener
    cdef public object _parser
    cdef public object _builder
    cdef public object _drain_waiter
    cdef public bint _fragmented_send
    cdef public bint _text_bytes  # the listener takes text as bytes (Listener.decode_text = False)
    cdef public object _deflate  # a deflate.DeflateSession when permessage-deflate was negotiated
    # Frames sent while one read is dispatched, written together at its end (one
    # syscall, not one per echo); None when not corked. Only a listener's reads of several frames cork.
    cdef public object _corked
    cdef object _lent  # the buffer get_buffer() lent for the read in progress

    def data_received(self, data):
        cdef object parser = self._parser
        cdef list frames
        cdef object error = None
        if parser is None:
            self._handshake_data(data)
            return
        try:
            if type(parser) is FrameParser:  # the compiled codec: a C call, no argument parsing
                frames = (<FrameParser>parser)._feed_object(data)
            else:
                frames = parser.feed(data)
        except ProtocolError as exc:
            frames = exc.frames
            error = exc
        self._deliver(frames, error)

    def get_buffer(self, Py_ssize_t sizehint):
        """asyncio.BufferedProtocol: the transport reads into this thread's shared buffer."""
        self._lent = _read_buffer()
        return self._lent

    def buffer_updated(self, Py_ssize_t nbytes):
        """asyncio.BufferedProtocol: ``nbytes`` were read into the buffer; parse them at once."""
        cdef object parser = self._parser
        cdef const unsigned char *data = <const unsigned char*>PyMemoryView_GET_BUFFER(self._lent).buf
        cdef list frames
        cdef object error = None
        if type(parser) is not FrameParser:  # the handshake, a failed connection, the pure codec
            self.data_received(PyBytes_FromStringAndSize(<const char*>data, nbytes))
            return
        try:
            frames = (<FrameParser>parser)._feed_ptr(data, nbytes)
        except ProtocolError as exc:
            frames = exc.frames
            error = exc
        self._deliver(frames, error)

    cdef _deliver(self, list frames, object error):
        cdef object listener = self.listener
        cdef Py_ssize_t n
        n = PyList_GET_SIZE(frames)
        if n > 1 and listener is not None:  # the awaitable API sends from tasks, later
            self._corked = []
        try:
            if self._dispatch(frames, n, listener) and error is not None:
                self._protocol_error(error)
        finally:
            if self._corked is not None:
                self._flush_corked()

    cdef int _dispatch(self, list frames, Py_ssize_t n, object listener) except -1:
        """Deliver ``frames``; 0 if an inflate error failed the connection, else 1."""
        cdef object frame, payload
        cdef Py_ssize_t i
        cdef int opcode
        cdef bint rsv1
        for i in range(n):
            frame = <object>PyList_GET_ITEM(frames, i)
            if type(frame) is Frame:
                opcode = (<Frame>frame).opcode
                payload = (<Frame>frame).payload
                rsv1 = (<Frame>frame).rsv1
            else:
                opcode = frame.opcode
                payload = frame.payload
                rsv1 = frame.rsv1
            if opcode <= _OP_BINARY:
                if self.state != _OPEN:
                    continue  # data after our close frame is ignored (RFC 6455 §1.4)
                if rsv1:
                    payload = self._inflate(opcode, payload)
                    if payload is None:
                        return 0  # the connection was failed
                if listener is not None:
                    try:
                        if opcode == _OP_TEXT and self._text_bytes:
                            listener.on_text(self, payload)
                        else:
                            listener.on_message(self, payload)
                    except Exception as exc:
                        self._listener_failed(exc)
                else:
                    self._queue_message(payload)
            else:
                self._control_received(opcode, payload)
        return 1

    def _flush_corked(self):
        """Write the corked frames now (before any other write, so order is kept) and uncork."""
        cdef list frames = self._corked
        self._corked = None
        if frames:
            self.transport.write(frames[0] if len(frames) == 1 else b"".join(frames))

    def send(self, message, bint compress=True, bint text=False):
        """Send a text (str) or binary (bytes-like) message.

        Writes at once; the returned awaitable completes when the transport's
        buffer is below ``write_limit`` (await it for flow control).
        ``compress=False`` sends this message uncompressed (already-compressed data).
        ``text=True`` sends bytes as a text message: they must be UTF-8 (not checked).
        """
        cdef int opcode
        cdef object builder = self._builder
        cdef object frame
        if self.state != _OPEN or self._fragmented_send:
            self._refuse_send()
        opcode = _OP_TEXT if text or PyUnicode_Check(message) else _OP_BINARY
        if self._deflate is not None and compress:
            return self._send_deflated(opcode, message)
        if len(message) < _WRITELINES_THRESHOLD:
            if type(builder) is FrameBuilder:  # the compiled codec: a C call
                frame = (<FrameBuilder>builder)._build(opcode, message, True, False)
            else:
                frame = builder.build(opcode, message)
            if self._corked is None:
                self.transport.write(frame)
            else:
                self._corked.append(frame)
        else:
            if self._corked is not None:
                self._flush_corked()
            self.transport.writelines(self._builder.build_parts(opcode, message))
        return self._drain_waiter or READY
