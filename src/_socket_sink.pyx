# cython: language_level=3
"""The connection's sink on a plain TCP or Unix socket: writes go to the socket itself.

An I/O-layer helper (``fastws.protocol`` installs it once the opening handshake is
done); the sans-IO connection only sees a sink with ``write`` and friends.

asyncio's and uvloop's ``transport.write`` queue every frame, and uvloop writes the
queue at the end of the loop's turn: for a small frame that bookkeeping costs as much
as the system call. Here a frame goes straight to ``write()`` while the transport holds
nothing unsent; what the kernel does not take (a full socket buffer) and everything
after it goes through the transport, so the bytes keep their order and the transport's
flow control (``pause_writing``, ``get_write_buffer_size``) still sees every backlog.
A send error other than "would block" hands the frame to the transport too: its write
meets the same error and reports it the way it always does (``connection_lost``).

Never used with TLS (the socket carries ciphertext) or on transports of other kinds.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.errno cimport EAGAIN, EINTR, errno

cdef extern from "<errno.h>":
    int EWOULDBLOCK  # == EAGAIN on Linux, not everywhere

cdef extern from "<unistd.h>" nogil:
    # write(), as libuv and asyncio use: the bytes count in /proc/<pid>/io (wchar), and
    # Python ignores SIGPIPE, so a peer that is gone makes an EPIPE.
    ssize_t write(int fd, const void *buf, size_t n)


cdef class SocketSink:
    """``transport`` with its socket's file descriptor ``fd``."""

    cdef readonly object transport
    cdef int _fd  # -1 once this sink closed or aborted the transport
    # The transport may hold unsent bytes (it did when last asked, or it got some since):
    # ask it before writing past them. True at first: the handshake response may be queued.
    cdef bint _queued

    def __cinit__(self, transport, int fd):
        self.transport = transport
        self._fd = fd
        self._queued = True

    @property
    def fd(self):
        """The socket's file descriptor; -1 once the sink closed or aborted the transport."""
        return self._fd

    def write(self, data):
        cdef Py_buffer view
        cdef Py_ssize_t size
        cdef ssize_t sent
        if not self._can_send():
            self._queued = True
            self.transport.write(data)
            return
        if type(data) is bytes:
            size = PyBytes_GET_SIZE(data)
            sent = self._send(PyBytes_AS_STRING(data), size)
        else:
            PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
            try:
                size = view.len
                sent = self._send(<const char *>view.buf, size)
            finally:
                PyBuffer_Release(&view)
        if sent == size:
            return
        self._queued = True
        if sent <= 0:
            self.transport.write(data)  # nothing went: the transport queues it (or reports the error)
        else:
            self.transport.write(memoryview(data)[sent:].tobytes())

    def writelines(self, parts):
        # Large messages (header and payload apart): the transport's writev, no copy here.
        self._queued = True
        self.transport.writelines(parts)

    cdef inline bint _can_send(self) except -1:
        if self._fd < 0 or self.transport.is_closing():
            return False  # a closed transport's fd may already belong to another socket
        if self._queued:
            if self.transport.get_write_buffer_size():
                return False
            self._queued = False
        return True

    cdef inline ssize_t _send(self, const char *ptr, Py_ssize_t size) noexcept:
        """Bytes sent: 0 when the socket would block, -1 on another error."""
        cdef ssize_t sent
        while True:
            sent = write(self._fd, ptr, <size_t>size)
            if sent >= 0:
                return sent
            if errno == EINTR:
                continue
            if errno == EAGAIN or errno == EWOULDBLOCK:
                return 0
            return -1

    def close(self):
        self._fd = -1
        self.transport.close()

    def abort(self):
        self._fd = -1
        self.transport.abort()

    def is_closing(self):
        return self.transport.is_closing()

    def pause_reading(self):
        self.transport.pause_reading()

    def resume_reading(self):
        self.transport.resume_reading()

    def get_write_buffer_size(self):
        return self.transport.get_write_buffer_size()


def socket_sink(transport):
    """A :class:`SocketSink` for ``transport`` when it is a plain TCP or Unix stream
    transport of asyncio or uvloop; ``transport`` itself otherwise."""
    kind = type(transport)
    if (kind.__module__, kind.__name__) not in _DIRECT_TRANSPORTS:
        return transport
    if transport.get_extra_info("sslcontext") is not None or transport.get_extra_info("ssl_object") is not None:
        return transport
    sock = transport.get_extra_info("socket")
    if sock is None:
        return transport
    fd = sock.fileno()
    if fd < 0:
        return transport
    return SocketSink(transport, fd)


# Transports that write the bytes they get to their own socket as they are: asyncio's
# selector transport and uvloop's TCP and Unix ones (their TLS runs in another object).
_DIRECT_TRANSPORTS = frozenset({
    ("asyncio.selector_events", "_SelectorSocketTransport"),
    ("uvloop.loop", "TCPTransport"),
    ("uvloop.loop", "UnixTransport"),
})
