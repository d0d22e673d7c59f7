# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled codec: the twin of ``fastws/_codec_py.py``, same API, same behaviour.

Keep the two files the same shape (same classes, methods and order of checks)
so a reader can diff them.  The byte-level kernels live in ``mask.h`` and ``utf8.h``.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_CheckExact, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport Py_DECREF, Py_INCREF, Py_XDECREF, PyObject
from cpython.unicode cimport PyUnicode_AsUTF8String, PyUnicode_Check, PyUnicode_DecodeUTF8
from libc.stdint cimport uint64_t
from libc.string cimport memcpy

import os

from .constants import DEFAULT_MAX_FRAME_SIZE, DEFAULT_MAX_MESSAGE_SIZE
from .exceptions import ProtocolError

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object unicode, Py_ssize_t *size) except NULL
    int _PyBytes_Resize(PyObject **bytes, Py_ssize_t newsize) except -1
    Py_ssize_t _bytes_size "PyBytes_GET_SIZE"(PyObject *bytes)
    char *_bytes_data "PyBytes_AS_STRING"(PyObject *bytes)

cdef extern from "mask.h" nogil:
    void fastws_mask_init()
    void fastws_mask(unsigned char *dst, const unsigned char *src, size_t length,
                     const unsigned char *key, unsigned phase)


fastws_mask_init()

IMPLEMENTATION = "c"

cdef enum:
    OP_CONTINUATION = 0x0
    OP_TEXT = 0x1
    OP_BINARY = 0x2
    OP_CLOSE = 0x8
    OP_PING = 0x9
    OP_PONG = 0xA
    KEY_BATCH = 4096  # random bytes fetched per os.urandom call: 1024 mask keys
    NEED_MORE = -1
    GROW_MIN = 512  # smallest capacity of a buffer that grows as data arrives

cdef inline bint _known_opcode(int opcode) noexcept:
    return opcode <= OP_BINARY or OP_CLOSE <= opcode <= OP_PONG


# --- masking ---------------------------------------------------------------


cdef int _get_key(object key, unsigned char out[4]) except -1:
    cdef Py_buffer view
    if PyBytes_CheckExact(key) and PyBytes_GET_SIZE(key) == 4:
        memcpy(out, PyBytes_AS_STRING(key), 4)
        return 0
    PyObject_GetBuffer(key, &view, PyBUF_SIMPLE)
    try:
        if view.len != 4:
            raise ValueError("mask key must be 4 bytes")
        memcpy(out, view.buf, 4)
    finally:
        PyBuffer_Release(&view)
    return 0


def mask(data, key):
    cdef unsigned char k[4]
    cdef Py_buffer view
    cdef bytes out
    _get_key(key, k)
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    try:
        out = PyBytes_FromStringAndSize(NULL, view.len)
        fastws_mask(<unsigned char*>PyBytes_AS_STRING(out), <const unsigned char*>view.buf, view.len, k, 0)
    finally:
        PyBuffer_Release(&view)
    return out


def mask_inplace(buf, key):
    cdef unsigned char k[4]
    cdef Py_buffer view
    _get_key(key, k)
    if PyByteArray_CheckExact(buf):  # the common case, without the buffer protocol
        fastws_mask(<unsigned char*>PyByteArray_AS_STRING(buf), <const unsigned char*>PyByteArray_AS_STRING(buf),
                    PyByteArray_GET_SIZE(buf), k, 0)
        return
    try:
        PyObject_GetBuffer(buf, &view, PyBUF_SIMPLE | PyBUF_WRITABLE)
    except BufferError:
        raise TypeError("mask_inplace needs a writable buffer") from None
    fastws_mask(<unsigned char*>view.buf, <const unsigned char*>view.buf, view.len, k, 0)
    PyBuffer_Release(&view)


# --- UTF-8 -----------------------------------------------------------------


def validate_utf8(data):
    cdef Py_buffer view
    cdef int ok
    PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
    ok = fastws_utf8_validate(<const unsigned char*>view.buf, view.len)
    PyBuffer_Release(&view)
    return ok == 1


@cython.final
cdef class Utf8Validator:
    """Incremental, fail-fast UTF-8 validator (see the stub for the contract)."""


    def __cinit__(self):
        fastws_utf8_reset(&self._state)

    def feed(self, data):
        cdef Py_buffer view
        cdef int result
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        result = fastws_utf8_feed(&self._state, <const unsigned char*>view.buf, view.len)
        PyBuffer_Release(&view)
        return result == 0

    def finish(self):
        return fastws_utf8_complete(&self._state) == 1

    def reset(self):
        fastws_utf8_reset(&self._state)


# --- close frames ----------------------------------------------------------


cdef inline bint _valid_close_code(int code) noexcept:
    # RFC 6455 §7.4: 1004-1006 and 1015 are reserved, 1016-2999 unassigned.
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def build_close_payload(code=1000, str reason=""):
    cdef bytes encoded
    if code is None:
        if reason:
            raise ValueError("a close reason needs a close code")
        return b""
    if not 1000 <= code <= 4999 or not _valid_close_code(code):
        raise ValueError(f"close code {code} may not be sent")
    encoded = reason.encode("utf-8")
    if len(encoded) > 123:
        raise ValueError(f"close reason is {len(encoded)} bytes in UTF-8; at most 123 fit")
    return (<int>code).to_bytes(2, "big") + encoded


cdef tuple _parse_close(const unsigned char *data, Py_ssize_t n):
    cdef int code
    if n == 0:
        return 1005, ""
    if n == 1:
        raise ProtocolError(1002, "close frame with a 1-byte payload")
    code = (data[0] << 8) | data[1]
    if not _valid_close_code(code):
        raise ProtocolError(1002, f"invalid close code {code}")
    try:
        reason = PyUnicode_DecodeUTF8(<const char*>data + 2, n - 2, NULL)
    except UnicodeDecodeError:
        raise ProtocolError(1007, "close reason is not valid UTF-8") from None
    return code, reason


def parse_close_payload(payload):
    cdef Py_buffer view
    PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
    try:
        return _parse_close(<const unsigned char*>view.buf, view.len)
    finally:
        PyBuffer_Release(&view)


# --- frames ----------------------------------------------------------------


@cython.final
@cython.freelist(64)
@cython.no_gc  # holds only ints and a str/bytes payload: no cycles, and GC passes over frames were costly
cdef class Frame:
    """A received frame, or an assembled message (see the stub)."""


    def __init__(self, int opcode, bint fin, bint rsv1, bint rsv2, bint rsv3, payload):
        self.opcode = opcode
        self.fin = fin
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3
        self.payload = payload

    def __repr__(self):
        rsv = "".join(str(i) for i, bit in enumerate((self.rsv1, self.rsv2, self.rsv3), 1) if bit)
        return (
            f"Frame(opcode={self.opcode:#x}, fin={self.fin}, rsv={rsv or '-'}, "
            f"{len(self.payload)} {'chars' if isinstance(self.payload, str) else 'bytes'})"
        )


cdef inline Frame _new_frame(int opcode, bint fin, bint rsv1, object payload):
    cdef Frame frame = Frame.__new__(Frame)
    frame.opcode = opcode
    frame.fin = fin
    frame.rsv1 = rsv1
    frame.payload = payload
    return frame


cdef inline str _decode_utf8(bytes payload):
    try:
        return PyUnicode_DecodeUTF8(PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload), NULL)
    except UnicodeDecodeError:
        raise ProtocolError(1007, "invalid UTF-8 in text message") from None


cdef int _reserve(PyObject **slot, Py_ssize_t needed, Py_ssize_t ceiling, int factor) except -1:
    """Make the bytes buffer in ``*slot`` (NULL: none yet) at least ``needed`` bytes, keeping its content.

    It grows by ``factor`` with what is written into it, never past ``ceiling``
    (the announced or allowed size; taken at once when the next step nears it),
    so it holds at most about ``factor`` times the bytes received, whatever a header
    announced. The buffer is the parser's alone (one reference) until complete:
    resized in place.
    """
    cdef Py_ssize_t cap = _bytes_size(slot[0]) if slot[0] != NULL else 0
    cdef object fresh
    if needed <= cap:
        return 0
    cap = max(needed, GROW_MIN // factor)
    cap = ceiling if cap > ceiling // factor - ceiling // (4 * factor) else factor * cap
    if slot[0] == NULL:
        fresh = PyBytes_FromStringAndSize(NULL, cap)
        Py_INCREF(fresh)
        slot[0] = <PyObject*>fresh
    else:
        _PyBytes_Resize(slot, cap)  # on failure it frees the buffer and clears the slot
    return 0


cdef bytes _take(PyObject **slot, Py_ssize_t size):
    """The buffer in ``*slot``, cut to ``size`` bytes and handed over (the slot is cleared)."""
    cdef bytes out
    if _bytes_size(slot[0]) != size:
        _PyBytes_Resize(slot, size)  # shrinks in place
    out = <bytes>slot[0]  # a new reference...
    Py_DECREF(out)  # ...that takes over the slot's
    slot[0] = NULL
    return out


@cython.final
cdef class FrameParser:
    """Sans-IO frame parser (see the stub for the contract)."""


    def __init__(self, client, *, Py_ssize_t max_frame_size=DEFAULT_MAX_FRAME_SIZE,
                 Py_ssize_t max_message_size=DEFAULT_MAX_MESSAGE_SIZE, allow_rsv1=False, assemble=True,
                 decode_text=True):
        if max_frame_size < 125 or max_message_size < 125:
            raise ValueError("size limits must be at least 125 bytes (the largest control frame)")
        self._client = bool(client)
        self.max_frame_size = max_frame_size
        self.max_message_size = max_message_size
        self._allow_rsv1 = bool(allow_rsv1)
        self._assemble = bool(assemble)
        self._decode_text = bool(decode_text)
        self._header_len = 0
        self._in_payload = False
        self._drop_buffers()
        self._streamed = False
        self._msg_opcode = 0
        self._msg_size = 0
        fastws_utf8_reset(&self._utf8)
        self._error = None
        self._closed = False

    def __dealloc__(self):
        self._drop_buffers()

    cdef void _drop_buffers(self) noexcept:
        Py_XDECREF(self._payload)
        self._payload = NULL
        Py_XDECREF(self._message)
        self._message = NULL
        self._message_len = 0

    def feed(self, data):
        return self._feed_object(data)

    cpdef list feed_buffer(self, object buffer, Py_ssize_t nbytes):
        cdef Py_buffer view
        if PyByteArray_CheckExact(buffer):  # a connection's read buffer: no buffer protocol round trip
            if not 0 <= nbytes <= PyByteArray_GET_SIZE(buffer):
                raise ValueError(f"nbytes must be between 0 and {PyByteArray_GET_SIZE(buffer)}, got {nbytes}")
            return self._feed_ptr(<const unsigned char*>PyByteArray_AS_STRING(buffer), nbytes)
        PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE)  # no slice object: the first nbytes in place
        try:
            if not 0 <= nbytes <= view.len:
                raise ValueError(f"nbytes must be between 0 and {view.len}, got {nbytes}")
            return self._feed_ptr(<const unsigned char*>view.buf, nbytes)
        finally:
            PyBuffer_Release(&view)

    cdef list _feed_object(self, object data):
        cdef Py_buffer view
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            return self._feed_ptr(<const unsigned char*>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)

    cdef list _feed_ptr(self, const unsigned char *buf, Py_ssize_t n):
        """feed() from memory the caller owns (nothing of it is kept after the call)."""
        cdef list frames
        if self._error is not None:
            raise self._error
        frames = []
        if self._closed:
            return frames
        try:
            self._feed(buf, n, frames)
        except ProtocolError as exc:
            exc.frames = frames
            self._error = exc
            self._drop_buffers()  # a failed parser holds no buffers
            raise
        return frames

    cdef int _feed(self, const unsigned char *buf, Py_ssize_t end, list frames) except -1:
        cdef Py_ssize_t pos = 0
        cdef Py_ssize_t length
        cdef bytes payload
        while True:
            if not self._in_payload:
                pos = self._read_header(buf, pos, end)
                if pos == NEED_MORE:
                    break
            length = self._length
            if self._payload == NULL and end - pos >= length:
                # Fast path: the whole payload is in this chunk.
                payload = PyBytes_FromStringAndSize(NULL, length)
                if self._masked:
                    fastws_mask(<unsigned char*>PyBytes_AS_STRING(payload), buf + pos, length, self._key, 0)
                else:
                    memcpy(PyBytes_AS_STRING(payload), buf + pos, length)
                pos += length
            else:
                if pos == end and length:
                    break
                pos = self._read_partial_payload(buf, pos, end)
                if self._received < length:
                    break
                payload = _take(&self._payload, length)  # already exactly sized: no copy
            self._in_payload = False
            self._frame_done(payload, frames)
            if self._closed:
                break
        return 0

    cdef Py_ssize_t _read_header(self, const unsigned char *buf, Py_ssize_t pos, Py_ssize_t end) except -2:
        """Parse the header at ``pos``; return the position after it, or NEED_MORE."""
        cdef Py_ssize_t held, taken, size
        if self._header_len:  # complete a header split across feeds
            held = self._header_len
            taken = min(14 - held, end - pos)
            memcpy(self._header + held, buf + pos, taken)
            self._header_len = held + taken
            size = self._parse_header(self._header, 0, self._header_len)
            if size == NEED_MORE:
                return NEED_MORE
            self._header_len = 0
            return pos + size - held
        size = self._parse_header(buf, pos, end)
        if size == NEED_MORE:
            memcpy(self._header, buf + pos, end - pos)
            self._header_len = end - pos
            return NEED_MORE
        return pos + size

    cdef Py_ssize_t _parse_header(self, const unsigned char *buf, Py_ssize_t pos, Py_ssize_t end) except -2:
        """Check and decode a header in ``buf[pos:end]``; return its size or NEED_MORE.

        Rules that need only the first two bytes are checked as soon as they are
        there, so a violation is reported at the same byte however input is split.
        """
        cdef unsigned char b0, b1
        cdef bint fin, rsv1, masked
        cdef int opcode
        cdef Py_ssize_t size, total
        cdef uint64_t length
        cdef int i
        if end - pos < 2:
            return NEED_MORE
        b0 = buf[pos]
        b1 = buf[pos + 1]
        fin = b0 & 0x80 != 0
        rsv1 = b0 & 0x40 != 0
        opcode = b0 & 0x0F
        masked = b1 & 0x80 != 0
        length = b1 & 0x7F
        if not _known_opcode(opcode):
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
                return NEED_MORE
            length = (<uint64_t>buf[pos + 2] << 8) | buf[pos + 3]
            if length < 126:
                raise ProtocolError(1002, "non-minimal 16-bit payload length")
            size = 4
        elif length == 127:
            if end - pos < 10:
                return NEED_MORE
            length = 0
            for i in range(2, 10):
                length = (length << 8) | buf[pos + i]
            if length >> 63:
                raise ProtocolError(1002, "64-bit payload length with the most significant bit set")
            if length < 65536:
                raise ProtocolError(1002, "non-minimal 64-bit payload length")
            size = 10
        if opcode < OP_CLOSE:
            if length > <uint64_t>self.max_frame_size:
                raise ProtocolError(1009, f"frame of {length} bytes exceeds the limit of {self.max_frame_size}")
            total = <Py_ssize_t>length if opcode != OP_CONTINUATION else self._msg_size + <Py_ssize_t>length
            if total > self.max_message_size:
                raise ProtocolError(1009, f"message of {total} bytes exceeds the limit of {self.max_message_size}")
        if masked:
            if end - pos < size + 4:
                return NEED_MORE
            memcpy(self._key, buf + pos + size, 4)
            size += 4
        # Header complete: commit the frame and message state.
        self._masked = masked
        self._opcode = opcode
        self._fin = fin
        self._rsv1 = rsv1
        self._length = <Py_ssize_t>length
        self._received = 0
        self._streamed = False
        self._in_payload = True
        if opcode < OP_CLOSE:
            if opcode != OP_CONTINUATION:
                self._msg_opcode = opcode
                self._msg_rsv1 = rsv1
                self._msg_size = 0
            self._msg_size += <Py_ssize_t>length
        return size

    cdef Py_ssize_t _read_partial_payload(self, const unsigned char *buf, Py_ssize_t pos, Py_ssize_t end) except -1:
        """Copy (and unmask) the part of a payload that is in this chunk.

        The buffer grows with the bytes received (geometrically, up to the
        announced length), so a header announcing a large payload commits no memory by itself.
        """
        cdef Py_ssize_t received, taken
        cdef unsigned char *dst
        received = self._received
        taken = min(end - pos, self._length - received)
        # By 8: a payload arriving in large reads (a 1 MiB frame in 256 KiB reads) gets its
        # whole buffer at the first one, with no resize (each resize may copy in a busy heap).
        _reserve(&self._payload, received + taken, self._length, 8)
        dst = <unsigned char*>_bytes_data(self._payload) + received
        if self._masked:
            fastws_mask(dst, buf + pos, taken, self._key, received & 3)
        else:
            memcpy(dst, buf + pos, taken)
        self._received = received + taken
        if self._msg_opcode == OP_TEXT and not self._msg_rsv1 and self._opcode < OP_CLOSE:
            # Fail fast (RFC 6455 §8.1): validate text as it arrives.
            self._streamed = True
            if fastws_utf8_feed(&self._utf8, dst, taken) != 0:
                raise ProtocolError(1007, "invalid UTF-8 in text message")
        return pos + taken

    cdef int _frame_done(self, bytes payload, list frames) except -1:
        cdef int opcode = self._opcode
        cdef bint fin, text
        cdef int kind
        cdef object decoded = None
        cdef object message
        if opcode >= OP_CLOSE:
            if opcode == OP_CLOSE:
                _parse_close(<const unsigned char*>PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload))
                self._closed = True
            frames.append(_new_frame(opcode, True, False, payload))
            return 0
        fin = self._fin
        kind = self._msg_opcode
        # A compressed (RSV1) message is validated after decompression, not here.
        text = kind == OP_TEXT and not self._msg_rsv1
        if text:
            if fin and opcode != OP_CONTINUATION and not self._streamed:
                # Whole message in one frame: decoding is the validation.
                if self._assemble and self._decode_text:
                    decoded = _decode_utf8(payload)
                elif not fastws_utf8_validate(<const unsigned char*>PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload)):
                    raise ProtocolError(1007, "invalid UTF-8 in text message")
            else:
                if not self._streamed and fastws_utf8_feed(
                    &self._utf8, <const unsigned char*>PyBytes_AS_STRING(payload), PyBytes_GET_SIZE(payload)
                ) != 0:
                    raise ProtocolError(1007, "invalid UTF-8 in text message")
                if fin and not fastws_utf8_complete(&self._utf8):
                    raise ProtocolError(1007, "text message ends inside a UTF-8 sequence")
        if fin:
            self._msg_opcode = 0
            fastws_utf8_reset(&self._utf8)
        if not self._assemble:
            frames.append(_new_frame(opcode, fin, self._rsv1, payload))
            return 0
        # Fragments go into one growing buffer: an empty fragment costs nothing.
        if not fin:
            self._append_fragment(payload)
            return 0
        if self._message != NULL:
            self._append_fragment(payload)
            payload = _take(&self._message, self._message_len)  # cut to size in place: no copy
            self._message_len = 0
        message = payload
        if text and self._decode_text:
            # Already validated: this decode cannot fail.
            message = decoded if decoded is not None else _decode_utf8(payload)
        frames.append(_new_frame(kind, True, self._msg_rsv1, message))
        return 0

    cdef int _append_fragment(self, bytes payload) except -1:
        cdef Py_ssize_t n = PyBytes_GET_SIZE(payload)
        if n == 0:
            return 0
        # Bounded by max_message_size, checked from each header.
        _reserve(&self._message, self._message_len + n, self.max_message_size, 2)
        memcpy(_bytes_data(self._message) + self._message_len, PyBytes_AS_STRING(payload), n)
        self._message_len += n
        return 0


# --- building --------------------------------------------------------------


@cython.final
cdef class FrameBuilder:
    """Encodes frames; a client masks each with a fresh random key."""


    def __init__(self, client):
        self._client = bool(client)
        self._keys = b""
        self._key_pos = KEY_BATCH

    cdef const unsigned char* _next_key(self) except NULL:
        cdef Py_ssize_t pos = self._key_pos
        if pos >= KEY_BATCH:
            # One syscall per 1024 frames instead of one per frame.
            self._keys = os.urandom(KEY_BATCH)
            pos = 0
        self._key_pos = pos + 4
        return <const unsigned char*>PyBytes_AS_STRING(self._keys) + pos

    cdef Py_ssize_t _header(self, unsigned char *out, int opcode, Py_ssize_t length, bint fin, bint rsv1) except -1:
        """Write the header (without mask key) into ``out``; return its size."""
        cdef unsigned char mask_bit = 0x80 if self._client else 0
        cdef int i
        if not _known_opcode(opcode):
            raise ValueError(f"reserved opcode {opcode:#x}")
        if opcode >= OP_CLOSE:
            if not fin:
                raise ValueError("control frames cannot be fragmented")
            if length > 125:
                raise ValueError("control frame payload longer than 125 bytes")
            if rsv1:
                raise ValueError("RSV1 cannot be set on a control frame")
        out[0] = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
        if length < 126:
            out[1] = mask_bit | <unsigned char>length
            return 2
        if length < 65536:
            out[1] = mask_bit | 126
            out[2] = <unsigned char>(length >> 8)
            out[3] = <unsigned char>length
            return 4
        out[1] = mask_bit | 127
        for i in range(8):
            out[9 - i] = <unsigned char>(length >> (8 * i))
        return 10

    def build(self, int opcode, payload=b"", bint fin=True, bint rsv1=False):
        return self._build(opcode, payload, fin, rsv1)

    cdef bytes _build(self, int opcode, object payload, bint fin, bint rsv1):
        cdef Py_buffer view
        cdef const unsigned char *data
        cdef Py_ssize_t n, size
        cdef unsigned char header[14]
        cdef const unsigned char *key
        cdef bytes out
        cdef unsigned char *dst
        cdef bint release = False
        if PyUnicode_Check(payload):
            data = <const unsigned char*>PyUnicode_AsUTF8AndSize(payload, &n)  # no copy for ASCII str
        else:
            PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
            release = True
            data = <const unsigned char*>view.buf
            n = view.len
        try:
            size = self._header(header, opcode, n, fin, rsv1)
            if self._client:
                key = self._next_key()
                out = PyBytes_FromStringAndSize(NULL, size + 4 + n)
                dst = <unsigned char*>PyBytes_AS_STRING(out)
                memcpy(dst, header, size)
                memcpy(dst + size, key, 4)
                fastws_mask(dst + size + 4, data, n, key, 0)
            else:
                out = PyBytes_FromStringAndSize(NULL, size + n)
                dst = <unsigned char*>PyBytes_AS_STRING(out)
                memcpy(dst, header, size)
                memcpy(dst + size, data, n)
        finally:
            if release:
                PyBuffer_Release(&view)
        return out

    def build_parts(self, int opcode, payload=b"", bint fin=True, bint rsv1=False):
        cdef Py_buffer view
        cdef unsigned char header[18]
        cdef Py_ssize_t size
        cdef const unsigned char *key
        cdef bytes masked
        if PyUnicode_Check(payload):
            payload = PyUnicode_AsUTF8String(payload)
        # A server hands the caller's object back untouched: no copy.
        PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE)
        try:
            size = self._header(header, opcode, view.len, fin, rsv1)
            if not self._client:
                return PyBytes_FromStringAndSize(<char*>header, size), payload
            key = self._next_key()
            memcpy(header + size, key, 4)
            masked = PyBytes_FromStringAndSize(NULL, view.len)
            fastws_mask(<unsigned char*>PyBytes_AS_STRING(masked), <const unsigned char*>view.buf, view.len, key, 0)
            return PyBytes_FromStringAndSize(<char*>header, size + 4), masked
        finally:
            PyBuffer_Release(&view)

    def build_close(self, code=1000, str reason=""):
        return self.build(OP_CLOSE, build_close_payload(code, reason))
