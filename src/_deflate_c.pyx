# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled permessage-deflate kernels: the twin of ``fastws/_deflate_py.py``, same API, same behaviour.

Keep the two files the same shape (same classes, methods and order of checks)
so a reader can diff them.  zlib is called directly: one ``z_stream`` per
direction lives inside the Python object, is created on first use, reset
(``deflateReset`` / ``inflateReset``) rather than re-created between messages,
and freed by ``__dealloc__``.  zlib allocates through ``PyMem_RawMalloc`` (as
Python's own ``zlib`` module does), so tracemalloc sees it.

Compressed output goes to one module-wide scratch buffer, grown as needed and
reused by every stream, then copied once into the result ``bytes``: no
per-message allocation besides the result, and no per-connection buffer.  This
relies on the GIL: nothing here releases it, so no two calls can share the buffer.

Decompressed output starts in the same scratch buffer: a message of at most
16 KiB (``OUT_SMALL``) is copied out of it, as above (the fastest way for the
many small messages).  A larger one moves once into a ``bytes`` object only the
call references and is inflated straight into it from then on: grown in place
(``_PyBytes_Resize``: first to 8x the input, up to 256 KiB; then by half below
1 MiB, by an eighth above, as ``io.BytesIO`` grows the pure twin's), never past
``max_size + 1`` bytes, and shrunk to the exact size at the end, not copied.  So
a bomb costs at most about ``max_size`` and an accepted message is held once
(while it grows, with up to an eighth spare above 1 MiB, up to half below).

A message can also be inflated a budget at a time (``start``, then ``inflate(budget)``
once per turn of the connection's loop): zlib keeps its place in the input, and
before each pause the output leaves the shared buffer for a bytes object sized to
what the input predicts (the output so far, plus the input left at the last
slice's rate) plus a quarter, within the limit and 16 MiB, so that later slices
do not copy it again; it is resized again only when a prediction outgrows it.

Compression backend, chosen at build time (``src/deflate_backend.h``): when
setup.py finds ISA-L (libisal), the compressor runs on its igzip deflate
(``COMPRESSION_BACKEND == "isal"``), several times faster than zlib's at the
same ratio; its output is valid raw deflate but not byte-identical to zlib's
(the pure twin's).  Otherwise zlib compresses (``"zlib"``), byte-identical to
the pure twin.  Decompression is zlib's either way.

ISA-L specifics: level 1 (the default) is ISA-L's level 1, every other level
but 0 (-1, 2-9) its level 2 (its level 3 gains ~1% on text but compresses
long runs 3.5x worse, e.g. 10 MiB of zeros to 35 KB instead of 10 KB).
Level 0 stays zlib's: stored blocks, no compression, as documented (ISA-L's
level 0 still compresses, at about 60% of its level 1's ratio).  memLevel
picks the size of ISA-L's per-stream level buffer (hash table and token
buffer) among its suggested sizes.  An empty message skips ISA-L: the empty
stored block zlib writes is written by hand (the stream is byte aligned after
every sync flush), so empty messages are zlib's bytes.  The history is limited
with ``hist_bits`` = the agreed window bits, 8 included: unlike zlib, ISA-L has
no lookahead margin, so the 9-bit rule below must not apply to it (a 9-bit
history could emit distances up to 511, which a 256-byte window rejects).

See ``fastws/_deflate_py.py`` for the wire format and the 8-bit window rule.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.bytes cimport _PyBytes_Resize
from cpython.mem cimport PyMem_Free, PyMem_Realloc, PyMem_RawFree, PyMem_RawMalloc
from cpython.ref cimport PyObject, Py_XDECREF
from cpython.unicode cimport PyUnicode_Check
from libc.stdint cimport SIZE_MAX, UINT32_MAX
from libc.string cimport memcmp, memcpy

from .exceptions import ProtocolError

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object unicode, Py_ssize_t *size) except NULL
    # Borrowed-pointer forms, for the decompressor's output (see _Output).
    PyObject *_new_bytes "PyBytes_FromStringAndSize"(const char *v, Py_ssize_t size) except NULL
    char *_bytes_data "PyBytes_AS_STRING"(PyObject *o) noexcept
    const Py_ssize_t PY_SSIZE_T_MAX

cdef extern from "zlib.h" nogil:
    ctypedef unsigned char Bytef
    ctypedef unsigned int uInt
    ctypedef unsigned long uLong
    ctypedef void *voidpf
    ctypedef voidpf (*alloc_func)(voidpf opaque, uInt items, uInt size) noexcept nogil
    ctypedef void (*free_func)(voidpf opaque, voidpf address) noexcept nogil
    ctypedef struct z_stream:
        Bytef *next_in
        uInt avail_in
        Bytef *next_out
        uInt avail_out
        char *msg
        alloc_func zalloc
        free_func zfree
        voidpf opaque
    enum:
        Z_OK
        Z_STREAM_END
        Z_NEED_DICT
        Z_STREAM_ERROR
        Z_DATA_ERROR
        Z_MEM_ERROR
        Z_BUF_ERROR
        Z_NO_FLUSH
        Z_SYNC_FLUSH
        Z_DEFLATED
        Z_DEFAULT_STRATEGY
    int deflateInit2(z_stream *strm, int level, int method, int windowBits, int memLevel, int strategy)
    int deflate(z_stream *strm, int flush)
    int deflateReset(z_stream *strm)
    int deflateEnd(z_stream *strm)
    uLong deflateBound(z_stream *strm, uLong sourceLen)
    int inflateInit2(z_stream *strm, int windowBits)
    int inflate(z_stream *strm, int flush)
    int inflateReset(z_stream *strm)
    int inflateEnd(z_stream *strm)

cdef extern from "deflate_backend.h" nogil:
    enum:
        FASTWS_HAVE_ISAL
        NO_FLUSH
        SYNC_FLUSH
        IGZIP_DEFLATE
        COMP_OK
    struct isal_zstream:
        unsigned char *next_in
        unsigned int avail_in
        unsigned char *next_out
        unsigned int avail_out
        unsigned int level
        unsigned int level_buf_size
        unsigned char *level_buf
        unsigned short end_of_stream
        unsigned short flush
        unsigned short gzip_flag
        unsigned short hist_bits
    void isal_deflate_init(isal_zstream *stream)
    void isal_deflate_reset(isal_zstream *stream)
    int isal_deflate(isal_zstream *stream)
    int fastws_isal_level(int level)
    unsigned int fastws_isal_level_buf_size(int isal_level, int mem_level)

IMPLEMENTATION = "c"
COMPRESSION_BACKEND = "isal" if FASTWS_HAVE_ISAL else "zlib"

cdef const unsigned char *_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 §7.2.1
cdef enum:
    MIN_COMPRESS_WINDOW = 9  # see fastws/_deflate_py.py
    SCRATCH_MIN = 16384
    SCRATCH_KEEP = 4 << 20  # a larger scratch buffer is freed after use
    OUT_SMALL = 16384  # a decompressed message up to this size is built in the scratch buffer
    OUT_RATIO = 8  # a larger one moves to a bytes object of 8x its input, at most OUT_FIRST_MAX,
    OUT_FIRST_MAX = 262144  # so that most messages need no second step,
    OUT_HALF_BELOW = 1 << 20  # which then grows by half below 1 MiB, by an eighth above
    OUT_RESERVE_MAX = 16 << 20  # a message inflated across calls reserves what its input predicts, within this
    INFLATE_OK = 0
    INFLATE_END = 1  # the sender ended the stream (BFINAL)
    INFLATE_TOO_BIG = 2
    INFLATE_PAUSED = 3  # the budget was spent before the message's end


# --- zlib plumbing -----------------------------------------------------------


cdef voidpf _zalloc(voidpf opaque, uInt items, uInt size) noexcept nogil:
    return PyMem_RawMalloc(<size_t>items * size)


cdef void _zfree(voidpf opaque, voidpf address) noexcept nogil:
    PyMem_RawFree(address)


cdef inline void _prepare(z_stream *strm) noexcept:
    strm.zalloc = _zalloc
    strm.zfree = _zfree
    strm.opaque = NULL
    strm.next_in = NULL
    strm.avail_in = 0


cdef unsigned char *_scratch = NULL
cdef size_t _scratch_cap = 0


cdef int _reserve(size_t needed) except -1:
    """Make the scratch buffer at least ``needed`` bytes, keeping its content (it doubles)."""
    global _scratch, _scratch_cap
    cdef size_t cap
    cdef unsigned char *p
    if needed <= _scratch_cap:
        return 0
    cap = _scratch_cap * 2 if _scratch_cap else SCRATCH_MIN
    if cap < needed:
        cap = needed
    p = <unsigned char*>PyMem_Realloc(_scratch, cap)
    if p == NULL:
        raise MemoryError()
    _scratch = p
    _scratch_cap = cap
    return 0


cdef inline void _trim_scratch() noexcept:
    global _scratch, _scratch_cap
    if _scratch_cap > SCRATCH_KEEP:
        PyMem_Free(_scratch)
        _scratch = NULL
        _scratch_cap = 0


cdef inline void _feed(z_stream *strm, const unsigned char **p, size_t *remaining) noexcept:
    """Hand zlib the next piece of input (avail_in is 32-bit)."""
    cdef size_t chunk
    if strm.avail_in == 0 and remaining[0]:
        chunk = remaining[0] if remaining[0] < UINT32_MAX else UINT32_MAX
        strm.next_in = <Bytef*>p[0]
        strm.avail_in = <uInt>chunk
        p[0] += chunk
        remaining[0] -= chunk


cdef inline void _set_output(z_stream *strm, size_t used) noexcept:
    cdef size_t room = _scratch_cap - used
    strm.next_out = _scratch + used
    strm.avail_out = <uInt>(room if room < UINT32_MAX else UINT32_MAX)


cdef struct _Output:
    # A decompressed message being built: first in the scratch buffer (obj NULL), then,
    # once it outgrows OUT_SMALL bytes, in a bytes object nothing else references
    # (refcount 1, so _PyBytes_Resize may grow and shrink it in place).
    PyObject *obj
    unsigned char *data  # the scratch buffer or obj's bytes; NULL before the first byte
    size_t cap  # room at data
    size_t used  # bytes written
    size_t first  # the least size of obj (OUT_RATIO times the input, within OUT_FIRST_MAX)


cdef int _out_grow(_Output *out, size_t limit) except -1:
    """Room for at least one more byte (``used < limit`` here).

    OUT_SMALL bytes of the scratch buffer first; then a bytes object of at least
    ``first`` bytes, which grows geometrically.  Never past ``limit`` (the
    decompressor's output limit), so a bomb gets no spare room.
    """
    cdef size_t cap
    if out.data == NULL:
        _reserve(OUT_SMALL)
        out.data = _scratch
        out.cap = OUT_SMALL if OUT_SMALL < limit else limit
        return 0
    cap = out.cap + (out.cap >> 1 if out.cap < OUT_HALF_BELOW else out.cap >> 3)
    if out.obj == NULL and cap < out.first:
        cap = out.first
    if cap > limit:
        cap = limit
    if cap > <size_t>PY_SSIZE_T_MAX - 64:
        cap = <size_t>PY_SSIZE_T_MAX - 64
    if cap <= out.used:
        raise MemoryError()
    return _out_resize(out, cap)  # a large message: from now on inflated into its result


cdef int _out_resize(_Output *out, size_t cap) except -1:
    """The output in a bytes object of ``cap`` bytes: moved out of the scratch buffer, or resized."""
    if cap > <size_t>PY_SSIZE_T_MAX - 64:
        cap = <size_t>PY_SSIZE_T_MAX - 64
    if out.obj == NULL:
        out.obj = _new_bytes(NULL, <Py_ssize_t>cap)
        if out.used:
            memcpy(_bytes_data(out.obj), out.data, out.used)
    else:
        _PyBytes_Resize(&out.obj, <Py_ssize_t>cap)  # on failure it frees the object, sets NULL
    out.data = <unsigned char*>_bytes_data(out.obj)
    out.cap = cap
    return 0


cdef int _out_reserve(_Output *out, size_t need, size_t limit) except -1:
    """Before a pause: the output moves out of the scratch buffer (shared by every stream)
    into a bytes object, and has room for ``need`` bytes (the predicted size) plus a
    quarter, within ``limit`` and OUT_RESERVE_MAX, so that the turns to come need not copy
    what is inflated already (copying up to ``max_size`` within one turn would defeat the
    budget).  An object that already holds ``need`` is left alone: resizing it to each
    new prediction's margin copied a message several times.  Only the pages written are
    touched; the end shrinks it in place."""
    cdef size_t cap
    if need <= out.cap:
        if out.obj != NULL or out.data == NULL:
            return 0
        cap = out.first if out.first > out.cap else out.cap  # out of the scratch buffer
    else:
        cap = need + (need >> 2)
        if cap > OUT_RESERVE_MAX:
            cap = OUT_RESERVE_MAX
        if cap > limit:
            cap = limit
        if cap <= out.cap:
            return 0
    return _out_resize(out, cap)


cdef bytes _out_take(_Output *out):
    """The output as bytes: a small one copied out of the scratch buffer, a large one shrunk in place."""
    cdef bytes result
    if out.obj == NULL:
        return PyBytes_FromStringAndSize(<char*>out.data, out.used) if out.used else b""
    if out.used != out.cap:
        _PyBytes_Resize(&out.obj, <Py_ssize_t>out.used)
    result = <bytes>out.obj  # a new reference: drop ours
    Py_XDECREF(out.obj)
    out.obj = NULL
    return result


cdef str _zlib_reason(z_stream *strm, int ret):
    # The words Python's zlib module uses when zlib gives no message.
    if strm.msg != NULL:
        return (<bytes>strm.msg).decode("latin-1")
    if ret == Z_BUF_ERROR:
        return "incomplete or truncated stream"
    if ret == Z_STREAM_ERROR:
        return "inconsistent stream state"
    if ret == Z_DATA_ERROR:
        return "invalid input data"
    return f"library returned error {ret}"


cdef inline int _check_window_bits(int window_bits) except -1:
    if not 8 <= window_bits <= 15:
        raise ValueError(f"window_bits must be between 8 and 15, got {window_bits}")
    return 0


# --- compression -------------------------------------------------------------


@cython.final
cdef class Compressor:
    """Compresses messages for one direction of one connection (see the stub for the contract)."""

    cdef z_stream _strm
    cdef isal_zstream *_isal  # ISA-L backend: the stream and its level buffer, on first use
    cdef unsigned char *_level_buf
    cdef bint _isal_on  # this compressor runs on ISA-L (built with it, level != 0)
    cdef bint _ready
    cdef readonly int window_bits
    cdef readonly bint no_context_takeover
    cdef readonly int level
    cdef readonly int mem_level

    def __init__(self, int window_bits=15, bint no_context_takeover=False, int level=1, int mem_level=8):
        _check_window_bits(window_bits)
        if not -1 <= level <= 9:
            raise ValueError(f"level must be between -1 and 9, got {level}")
        if not 1 <= mem_level <= 9:
            raise ValueError(f"mem_level must be between 1 and 9, got {mem_level}")
        if self._ready:  # __init__ called again: start over with the new settings
            self._end()
        self._isal_on = FASTWS_HAVE_ISAL and level != 0
        self.window_bits = window_bits
        self.no_context_takeover = no_context_takeover
        self.level = level
        self.mem_level = mem_level

    def __dealloc__(self):
        if self._ready:
            self._end()

    cdef void _end(self) noexcept:
        if FASTWS_HAVE_ISAL and self._isal_on:
            PyMem_RawFree(self._level_buf)
            PyMem_RawFree(self._isal)
            self._level_buf = NULL
            self._isal = NULL
        else:
            deflateEnd(&self._strm)
        self._ready = False

    cdef void _isal_reset(self) noexcept:
        cdef isal_zstream *s = self._isal
        isal_deflate_reset(s)
        s.level = <unsigned int>fastws_isal_level(self.level)
        s.level_buf = self._level_buf
        s.level_buf_size = fastws_isal_level_buf_size(s.level, self.mem_level)
        s.hist_bits = <unsigned short>self.window_bits
        s.gzip_flag = IGZIP_DEFLATE
        s.end_of_stream = 0
        s.flush = SYNC_FLUSH

    cdef int _stream(self) except -1:
        cdef int wbits, ret
        cdef size_t buf_size
        if self._ready:
            return 0
        if FASTWS_HAVE_ISAL and self._isal_on:
            self._isal = <isal_zstream*>PyMem_RawMalloc(sizeof(isal_zstream))
            buf_size = fastws_isal_level_buf_size(fastws_isal_level(self.level), self.mem_level)
            if buf_size:
                self._level_buf = <unsigned char*>PyMem_RawMalloc(buf_size)
            if self._isal == NULL or (buf_size and self._level_buf == NULL):
                PyMem_RawFree(self._isal)
                PyMem_RawFree(self._level_buf)
                self._isal = NULL
                self._level_buf = NULL
                raise MemoryError("out of memory while creating a compressor")
            isal_deflate_init(self._isal)
            self._isal_reset()
            self._ready = True
            return 0
        wbits = self.window_bits if self.window_bits > MIN_COMPRESS_WINDOW else MIN_COMPRESS_WINDOW
        _prepare(&self._strm)
        ret = deflateInit2(&self._strm, self.level, Z_DEFLATED, -wbits, self.mem_level, Z_DEFAULT_STRATEGY)
        if ret == Z_MEM_ERROR:
            raise MemoryError("out of memory while creating a compressor")
        if ret != Z_OK:
            raise ValueError(f"zlib refused the compressor settings: {_zlib_reason(&self._strm, ret)}")
        self._ready = True
        return 0

    def compress(self, data):
        return self.compress_fragment(data, True)

    def compress_fragment(self, data, bint final):
        cdef Py_buffer view
        cdef const unsigned char *p
        cdef Py_ssize_t n
        if PyUnicode_Check(data):
            p = <const unsigned char*>PyUnicode_AsUTF8AndSize(data, &n)
            try:
                return self._deflate(p, <size_t>n, final)
            finally:
                _trim_scratch()
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            return self._deflate(<const unsigned char*>view.buf, <size_t>view.len, final)
        finally:
            PyBuffer_Release(&view)
            _trim_scratch()

    cdef bytes _deflate(self, const unsigned char *p, size_t n, bint final):
        cdef z_stream *strm = &self._strm
        cdef size_t remaining = n, used = 0
        cdef int ret
        self._stream()
        if FASTWS_HAVE_ISAL and self._isal_on:
            return self._isal_deflate(p, n, final)
        _reserve(<size_t>deflateBound(strm, n) + 16)
        # All input without flushing, then a sync flush: the calls Python's zlib module makes
        # (compressobj.compress + flush(Z_SYNC_FLUSH)), hence byte-identical output.
        strm.avail_in = 0
        while True:
            _feed(strm, &p, &remaining)
            if used == _scratch_cap:
                _reserve(used + 1)
            _set_output(strm, used)
            ret = deflate(strm, Z_NO_FLUSH)
            used = strm.next_out - _scratch
            if ret != Z_OK and ret != Z_BUF_ERROR:
                raise RuntimeError(f"zlib deflate failed: {_zlib_reason(strm, ret)}")
            if strm.avail_out != 0 and strm.avail_in == 0 and remaining == 0:
                break
        while True:
            if used == _scratch_cap:
                _reserve(used + 1)
            _set_output(strm, used)
            ret = deflate(strm, Z_SYNC_FLUSH)
            used = strm.next_out - _scratch
            if ret != Z_OK and ret != Z_BUF_ERROR:
                raise RuntimeError(f"zlib deflate failed: {_zlib_reason(strm, ret)}")
            if strm.avail_out != 0:
                break
        if final:
            if used >= 4 and memcmp(_scratch + used - 4, _TAIL, 4) == 0:
                used -= 4
            if self.no_context_takeover:
                deflateReset(strm)
        return PyBytes_FromStringAndSize(<char*>_scratch, used)

    cdef bytes _isal_deflate(self, const unsigned char *p, size_t n, bint final):
        # The input in 32-bit chunks, the last one with a sync flush (ISA-L allows switching
        # flush types): done when all input is taken and the output was not filled up.
        cdef isal_zstream *s = self._isal
        cdef size_t remaining = n, used = 0, chunk, room
        cdef int ret
        if n == 0:  # zlib's bytes: an empty stored block (its tail stripped when final)
            if not final:
                return b"\x00\x00\x00\xff\xff"
            if self.no_context_takeover:
                self._isal_reset()
            return b"\x00"
        _reserve(n + (n >> 3) + 64)
        s.avail_in = 0
        while True:
            if s.avail_in == 0 and remaining:
                chunk = remaining if remaining < UINT32_MAX else UINT32_MAX
                s.next_in = <unsigned char*>p
                s.avail_in = <unsigned int>chunk
                p += chunk
                remaining -= chunk
            s.flush = SYNC_FLUSH if remaining == 0 else NO_FLUSH
            if _scratch_cap - used < 256:  # room for whatever ISA-L holds back (bit buffer, block header)
                _reserve(used + 256)
            room = _scratch_cap - used
            s.next_out = _scratch + used
            s.avail_out = <unsigned int>(room if room < UINT32_MAX else UINT32_MAX)
            ret = isal_deflate(s)
            used = s.next_out - _scratch
            if ret != COMP_OK:
                self._isal_reset()
                raise RuntimeError(f"ISA-L deflate failed: error {ret}")
            if s.avail_in == 0 and remaining == 0 and s.avail_out != 0:
                break
        if used < 4 or memcmp(_scratch + used - 4, _TAIL, 4) != 0:
            self._isal_reset()
            raise RuntimeError("ISA-L deflate did not end with a sync flush")
        if final:
            used -= 4
            if self.no_context_takeover:
                self._isal_reset()
        return PyBytes_FromStringAndSize(<char*>_scratch, used)

    def reset(self):
        if self._ready:
            if FASTWS_HAVE_ISAL and self._isal_on:
                self._isal_reset()
            else:
                deflateReset(&self._strm)


# --- decompression -----------------------------------------------------------


@cython.final
cdef class Decompressor:
    """Decompresses messages for one direction of one connection (see the stub for the contract)."""

    cdef z_stream _strm
    cdef bint _ready
    cdef readonly int window_bits
    cdef readonly bint no_context_takeover
    cdef readonly bint pending  # a message was started and is not all inflated yet
    cdef readonly Py_ssize_t produced  # output bytes of the last inflate() call
    # The message being inflated: its input (held), what is not yet handed to zlib, and the output.
    cdef Py_buffer _view
    cdef bint _have_view
    cdef const unsigned char *_p
    cdef size_t _remaining
    cdef bint _final  # the input is the 00 00 ff ff tail
    cdef size_t _limit
    cdef object _max_size
    cdef _Output _out
    cdef size_t _consumed_before  # input consumed when this inflate() call began

    def __init__(self, int window_bits=15, bint no_context_takeover=False):
        _check_window_bits(window_bits)
        if self._ready:
            inflateEnd(&self._strm)
            self._ready = False
        self.window_bits = window_bits
        self.no_context_takeover = no_context_takeover
        self.produced = 0
        self._drop_message()

    def __dealloc__(self):
        if self._ready:
            inflateEnd(&self._strm)
        self._drop_message()

    cdef int _stream(self) except -1:
        cdef int ret
        if self._ready:
            return 0
        _prepare(&self._strm)
        ret = inflateInit2(&self._strm, -self.window_bits)
        if ret == Z_MEM_ERROR:
            raise MemoryError("out of memory while creating a decompressor")
        if ret != Z_OK:
            raise ValueError(f"zlib refused the decompressor settings: {_zlib_reason(&self._strm, ret)}")
        self._ready = True
        return 0

    def decompress(self, data, max_size):
        self.start(data, max_size)
        return self.inflate(0)

    def start(self, data, max_size):
        # ``limit`` bytes of output prove the message is too big: zlib never produces more.
        cdef size_t limit
        cdef size_t n
        if max_size is None:
            limit = SIZE_MAX
        elif max_size < 0:
            raise ValueError("max_size must be >= 0 or None")
        else:
            limit = <size_t>max_size + 1 if max_size < <Py_ssize_t>(SIZE_MAX >> 1) else SIZE_MAX
        if self.pending:
            raise RuntimeError("a message is being inflated: inflate() it to the end, or reset()")
        self._stream()
        PyObject_GetBuffer(data, &self._view, PyBUF_SIMPLE)
        self._have_view = True
        n = <size_t>self._view.len
        self._p = <const unsigned char*>self._view.buf
        self._remaining = n
        self._final = False
        self._strm.avail_in = 0
        self._out.obj = NULL
        self._out.data = NULL
        self._out.cap = 0
        self._out.used = 0
        self._out.first = n * OUT_RATIO if n < OUT_FIRST_MAX // OUT_RATIO else OUT_FIRST_MAX
        self._limit = limit
        self._max_size = max_size
        self.pending = True

    def inflate(self, Py_ssize_t budget):
        cdef int state
        cdef size_t before
        cdef bytes result
        if not self.pending:
            raise RuntimeError("no message to inflate: start() one")
        if budget < 0:
            raise ValueError("budget must be >= 0")
        before = self._out.used
        self._consumed_before = self._consumed()
        try:
            state = self._inflate(<size_t>budget)
            if state == INFLATE_TOO_BIG or self._out.used >= self._limit:
                raise ProtocolError(1009, f"decompressed message exceeds {self._max_size} bytes")
        except BaseException:
            self.produced = <Py_ssize_t>(self._out.used - before)
            self.reset()
            raise
        self.produced = <Py_ssize_t>(self._out.used - before)
        if state == INFLATE_PAUSED:
            _out_reserve(&self._out, self._expected_size(before), self._limit)
            return None
        # The sender ended the stream with a BFINAL block (RFC 7692 §7.2.3.3): whatever
        # follows it is ignored and the next message starts a new stream.
        if self.no_context_takeover or state == INFLATE_END:
            inflateReset(&self._strm)
        result = _out_take(&self._out)
        self._drop_message()
        return result

    cdef int _inflate(self, size_t budget) except -1:
        """Inflate the message's input, then the 00 00 ff ff tail, into ``_out``, up to
        ``_limit`` bytes and ``budget`` more bytes (0: no budget); INFLATE_* state."""
        cdef z_stream *strm = &self._strm
        cdef _Output *out = &self._out
        cdef size_t limit = self._limit, room, stop
        cdef int ret
        stop = out.used + budget if budget and budget < SIZE_MAX - out.used else SIZE_MAX
        while True:
            _feed(strm, &self._p, &self._remaining)
            if out.used >= limit:
                return INFLATE_TOO_BIG
            if out.used >= stop:
                return INFLATE_PAUSED
            if out.used == out.cap:
                _out_grow(out, limit)
            room = out.cap - out.used
            if room > stop - out.used:
                room = stop - out.used
            strm.next_out = out.data + out.used
            strm.avail_out = <uInt>(room if room < UINT32_MAX else UINT32_MAX)
            ret = inflate(strm, Z_SYNC_FLUSH)
            out.used = strm.next_out - out.data
            if ret == Z_STREAM_END:
                return INFLATE_END
            if ret == Z_MEM_ERROR:
                raise MemoryError("out of memory while decompressing")
            if ret != Z_OK and ret != Z_BUF_ERROR:  # Z_DATA_ERROR, Z_NEED_DICT (no dictionary in raw deflate)
                raise ProtocolError(1007, f"invalid compressed data: {_zlib_reason(strm, ret)}")
            if strm.avail_out != 0 and strm.avail_in == 0 and self._remaining == 0:
                # This input is consumed and zlib holds no pending output.
                if self._final:
                    return INFLATE_OK
                self._p = _TAIL
                self._remaining = 4
                self._final = True

    cdef size_t _consumed(self) noexcept:
        """Input bytes zlib has taken of the message (all of it once on the tail)."""
        cdef size_t n = <size_t>self._view.len
        return n if self._final else n - self._remaining - self._strm.avail_in

    cdef size_t _expected_size(self, size_t before) noexcept:
        """The message's size as its input predicts it: the output so far, plus the input
        left at this call's rate (output bytes per input byte), within the limit.  This
        call's rate, not the average since the start: a message's code tables come first,
        so the average under-predicted a highly compressed message turn after turn, and
        each larger prediction copied its output."""
        cdef size_t n = <size_t>self._view.len, used = self._out.used, want = used
        cdef size_t consumed = self._consumed()
        cdef size_t taken = consumed - self._consumed_before
        cdef double predicted
        if 0 < consumed < n:
            if taken > 0 and used > before:
                predicted = <double>used + <double>(n - consumed) * (<double>(used - before) / <double>taken)
            else:  # zlib took no input this call (its bit buffer held enough): the average
                predicted = <double>used * (<double>n / <double>consumed)
            want = self._limit if predicted >= <double>self._limit else <size_t>predicted
        return want if want < self._limit else self._limit

    cdef void _drop_message(self) noexcept:
        if self._have_view:
            PyBuffer_Release(&self._view)
            self._have_view = False
        Py_XDECREF(self._out.obj)  # NULL once handed over
        self._out.obj = NULL
        self._out.data = NULL
        self._p = NULL
        self._remaining = 0
        self._max_size = None
        self.pending = False

    def reset(self):
        if self._ready:
            inflateReset(&self._strm)
        self._drop_message()
