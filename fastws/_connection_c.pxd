# Declarations for the compiled build of fastws/_connection_py.py (src/_connection_c.py links
# to it): the same source, with C types for its constants, attributes and hot methods.
import cython

from fastws._codec_c cimport Frame, FrameBuilder, FrameParser

cdef int CONNECTING, OPEN, CLOSING, CLOSED
cdef int OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG
cdef int PAUSE_USER, PAUSE_QUEUE, PAUSE_WRITES, PAUSE_TURN
cdef Py_ssize_t MAX_CONTROL_PER_READ, INFLATE_PER_TURN
cdef Py_ssize_t WRITELINES_THRESHOLD


cdef class Connection:
    cdef public bint client
    cdef public object options, sink, listener, clock
    cdef public int _state
    # The compiled core runs on the compiled codec: C calls into the parser and builder.
    cdef public FrameParser _parser
    cdef public FrameBuilder _builder
    cdef public object _deflate
    cdef public bint _compressor_stale
    cdef public bint _text_bytes, _flow_control
    cdef public object _max_size
    cdef public Py_ssize_t _max_queue
    cdef public Py_ssize_t _wire, _wire_limit, _inflated, _inflate_per_turn
    cdef public object _lent, _corked
    cdef object _lent_array
    cdef public object close_code, close_reason
    cdef public bint _close_sent, _close_received, _failed
    cdef public double _last_data
    cdef public object messages, _backlog, _backlog_error
    cdef public int _pause
    cdef public bint _reading
    cdef readonly bint writing_paused
    cdef public object _pending_pong
    cdef public int _fragment_opcode
    cdef public object _fragment_deflate
    cdef public dict _pings
    cdef public object _keepalive_ping
    cdef public double _keepalive_sent
    cdef public object latency, timers

    cdef _deliver(self, list frames, object error)
    @cython.locals(n=Py_ssize_t, i=Py_ssize_t, opcode=int, frame=Frame)
    cdef bint _dispatch(self, list frames, object listener) except -1
    cdef _wait_for_next_turn(self, list frames, Py_ssize_t i)
    cdef _write_frame(self, int opcode, object payload, bint fin, bint rsv1)
    cdef _send_shared(self, object frame, bint compressed)
    cdef _flush_corked(self)
    cdef _set_pause(self, int reason, bint on)
    @cython.locals(want=bint)
    cdef _update_reading(self)
    cdef _set_state(self, int state)


@cython.locals(ws=Connection, sent=Py_ssize_t, compressed=Py_ssize_t, not_open=Py_ssize_t, busy=Py_ssize_t,
               skipped=Py_ssize_t, closed=Py_ssize_t, built=Py_ssize_t, bits=int)
cpdef tuple fan_out(object connections, int opcode, bytes payload, Py_ssize_t size, bint compress,
                    bint close_slow, Py_ssize_t max_buffered, int close_code, str close_reason,
                    object fresh_compressor)
