# Declarations of the compiled codec (src/_codec_c.pyx) for other Cython modules
# (the connection core cimports them to skip Python-level calls on the hot path).

from cpython.ref cimport PyObject

cdef extern from "utf8.h" nogil:
    ctypedef struct fastws_utf8_state:
        pass
    void fastws_utf8_reset(fastws_utf8_state *st)
    int fastws_utf8_feed(fastws_utf8_state *st, const unsigned char *p, size_t n)
    int fastws_utf8_complete(const fastws_utf8_state *st)
    int fastws_utf8_validate(const unsigned char *p, size_t n)


cdef class Utf8Validator:
    cdef fastws_utf8_state _state


cdef class Frame:
    cdef public int opcode
    cdef public bint fin, rsv1, rsv2, rsv3
    cdef public object payload


cdef class FrameParser:
    cdef bint _client, _allow_rsv1, _assemble, _decode_text
    cdef public Py_ssize_t max_frame_size, max_message_size
    cdef unsigned char _header[14]  # a header split across feeds
    cdef Py_ssize_t _header_len
    # The frame being received (valid once the header is complete).
    cdef bint _in_payload, _fin, _rsv1, _masked, _streamed
    cdef int _opcode
    cdef Py_ssize_t _length, _received
    cdef unsigned char _key[4]
    cdef PyObject *_payload  # a payload spanning feeds: bytes grown as it arrives, owned (NULL: none)
    # The data message being received.
    cdef int _msg_opcode  # 0: none in progress
    cdef bint _msg_rsv1
    cdef Py_ssize_t _msg_size
    cdef PyObject *_message  # the fragments so far: bytes grown as they arrive, owned (NULL: none)
    cdef Py_ssize_t _message_len
    cdef fastws_utf8_state _utf8
    cdef object _error
    cdef bint _closed

    cpdef list feed_buffer(self, object buffer, Py_ssize_t nbytes)
    cdef void _drop_buffers(self) noexcept
    cdef list _feed_object(self, object data)
    cdef list _feed_ptr(self, const unsigned char *buf, Py_ssize_t n)
    cdef int _feed(self, const unsigned char *buf, Py_ssize_t end, list frames) except -1
    cdef Py_ssize_t _read_header(self, const unsigned char *buf, Py_ssize_t pos, Py_ssize_t end) except -2
    cdef Py_ssize_t _parse_header(self, const unsigned char *buf, Py_ssize_t pos, Py_ssize_t end) except -2
    cdef Py_ssize_t _read_partial_payload(self, const unsigned char *buf, Py_ssize_t pos, Py_ssize_t end) except -1
    cdef int _frame_done(self, bytes payload, list frames) except -1
    cdef int _append_fragment(self, bytes payload) except -1


cdef class FrameBuilder:
    cdef bint _client
    cdef bytes _keys
    cdef Py_ssize_t _key_pos

    cdef const unsigned char* _next_key(self) except NULL
    cdef Py_ssize_t _header(self, unsigned char *out, int opcode, Py_ssize_t length, bint fin, bint rsv1) except -1
    cdef bytes _build(self, int opcode, object payload, bint fin, bint rsv1)
