"""The connection on asyncio: a :class:`WebSocket` is the sans-IO
:class:`~fastws.connection.Connection` plus an ``asyncio.BufferedProtocol``.

The connection decides everything (closing handshake, keepalive, flow control,
what to answer); this layer only moves bytes (the transport is the
connection's sink and calls its ``get_buffer``/``buffer_updated`` directly),
runs the timers it asks for and wakes the tasks that wait on it.

One class serves both sides and both APIs:

* the awaitable API (``await ws.recv()``, ``async for message in ws``,
  ``await ws.send(...)``, ``await ws.ping()``, ``await ws.close()``);
* the callback API (a :class:`Listener` whose ``on_message`` and friends are
  called straight from the read), the fastest path.

``send``, ``ping`` and ``close`` write at once and return an awaitable, so
callback code calls them plainly and coroutine code awaits them (for flow
control, the pong, or the end of the closing handshake). The opening handshake
lives in ``server.py`` / ``client.py``; :meth:`WebSocket._open` starts the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterable
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Iterable, Optional, Union

from . import json_messages
from ._impl import pure_requested
from .connection import State
from .constants import CLOSE_INTERNAL_ERROR, CLOSE_NORMAL
from .exceptions import ConnectionClosedOK, InvalidState
from .listener import Data, Listener
from .options import Options

if TYPE_CHECKING:
    from ._connection_py import Connection
else:
    from .connection import Connection

# The compiled build writes frames to a plain TCP or Unix socket itself (src/_socket_sink.pyx);
# the pure one, and TLS, through the transport. The same bytes either way.
_socket_sink: Optional[Callable[[Any], Any]] = None
if not pure_requested():
    try:
        from ._socket_sink import socket_sink as _socket_sink
    except ImportError:
        pass

__all__ = ["WebSocket", "Listener", "Options", "Data", "State"]

logger = logging.getLogger("fastws")

CONNECTING, OPEN, CLOSING, CLOSED = State.CONNECTING, State.OPEN, State.CLOSING, State.CLOSED
FULL_READS_PER_TURN = 4  # of READ_BUFFER_SIZE (256 KiB) per connection, on uvloop
# Inflated in turns per iteration of the loop, all its connections together (_TurnQueue).
INFLATE_PER_ITERATION = 16 * 1024


class _NoTransport:
    """The sink until ``connection_made``: nothing may be written before there is a transport."""

    def _refuse(self, *args: Any) -> None:
        raise InvalidState("the connection has no transport yet")

    write = writelines = pause_reading = resume_reading = close = abort = _refuse


_NO_TRANSPORT = _NoTransport()


class _Turn:
    """A connection's place in its loop's turn queue (a timer handle, as ``_schedule`` keeps them)."""

    __slots__ = ("ws", "cancelled")

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _TurnQueue:
    """A loop's connections waiting for their next turn to inflate (the core's "turn"
    timer), served in order, INFLATE_PER_ITERATION bytes in all per iteration of the loop.

    With a turn per connection per iteration, every connection inflating a bomb added
    its slice to every iteration, and so to every other client's wait: under the hostile
    run's two bombs, 2 x ~40 µs of each ~200 µs iteration.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: deque[_Turn] = deque()
        self.scheduled = False

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _TurnQueue:
        """The loop's queue (kept on the loop, so that it goes with it)."""
        queue: Optional[_TurnQueue] = getattr(loop, "_fastws_turns", None)
        if queue is None:
            queue = cls(loop)
            try:
                loop._fastws_turns = queue  # type: ignore[attr-defined]
            except AttributeError:
                pass  # a loop that takes no attributes: a queue per turn (no shared budget)
        return queue

    def add(self, ws: WebSocket) -> _Turn:
        turn = _Turn(ws)
        self.waiting.append(turn)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.run)
        return turn

    def run(self) -> None:
        waiting = self.waiting
        budget = INFLATE_PER_ITERATION
        try:
            # Only the connections queued before this iteration: one that asks for
            # another turn goes to the back, for the next iteration.
            for _ in range(len(waiting)):
                turn = waiting.popleft()
                if turn.cancelled:
                    continue
                ws = turn.ws
                ws.timer_fired("turn")
                budget -= ws._inflated
                if budget <= 0:
                    break
        finally:  # whatever happened to one connection, the others keep their turns
            if waiting:
                self.loop.call_soon(self.run)
            else:
                self.scheduled = False


class WebSocket(Connection, asyncio.BufferedProtocol):
    """One WebSocket connection on asyncio (see the module docstring)."""

    # Set by the opening handshake (server.py / client.py).
    request: Any = None  # server side: the client's handshake request
    response: Any = None  # client side: the server's handshake response
    subprotocol: Optional[str] = None
    remote_address: Any = None
    # Functions to call once CLOSED (add_close_callback); a list only once one is added.
    _close_callbacks: Optional[list[Callable[[WebSocket], None]]] = None

    def __init__(self, client: bool, options: Options, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(client, options, _NO_TRANSPORT)
        self.loop = loop
        self._uvloop = type(loop).__module__.startswith("uvloop")
        self.transport: Optional[asyncio.Transport] = None
        self._closed_waiter: asyncio.Future[None] = loop.create_future()
        self._recv_waiter: Optional[asyncio.Future[None]] = None
        # Created when first needed: an idle connection holds none of them.
        self._drain_waiters: Optional[list[asyncio.Future[None]]] = None
        self._ping_waiters: Optional[dict[bytes, asyncio.Future[float]]] = None
        self._timers: Optional[dict[str, Union[asyncio.Handle, _Turn]]] = None

    def __repr__(self) -> str:
        side = "client" if self.client else "server"
        return f"<fastws.WebSocket {side} {self.state.name} {self.remote_address}>"

    # --- asyncio.BufferedProtocol (get_buffer / buffer_updated come from Connection) ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.sink = transport
        self.remote_address = transport.get_extra_info("peername")

    def _open(self, trailing: bytes = b"", deflate: Any = None) -> None:
        """The opening handshake is done: frames from now on (``trailing`` came after the handshake)."""
        assert self.transport is not None
        limit = self.options.write_limit
        self.transport.set_write_buffer_limits(high=limit, low=limit // 4)
        if _socket_sink is not None:
            self.sink = _socket_sink(self.transport)  # frames straight to a plain socket
        self.start(deflate, trailing)

    def eof_received(self) -> Optional[bool]:
        return None  # close the transport: a half-closed WebSocket is of no use

    def resume_writing(self) -> None:
        self._wake_senders()
        Connection.resume_writing(self)

    def _wake_senders(self) -> None:
        """Complete every send() awaitable handed out while writing was paused."""
        waiters, self._drain_waiters = self._drain_waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    # --- what the connection asks of the I/O layer ---------------------------------

    def _schedule(self, name: str, delay: float) -> None:
        timers = self._timers
        if timers is None:
            timers = self._timers = {}
        old = timers.get(name)
        if old is not None:
            old.cancel()
        loop = self.loop
        if name == "turn":
            timers[name] = _TurnQueue.of(loop).add(self)
        else:
            timers[name] = loop.call_later(delay, self.timer_fired, name)

    def _cancel(self, name: str) -> None:
        if self._timers is not None:
            handle = self._timers.pop(name, None)
            if handle is not None:
                handle.cancel()

    _yielded = False  # reading paused until the loop's next turn (_yield_reading)
    _full_reads = 0  # reads that filled the buffer in this turn of the loop

    def _yield_reading(self) -> None:
        # libuv (uvloop) reads a socket again and again, up to 32 times, while each read
        # fills the buffer: 8 MiB of one peer's frames before any other connection gets a
        # turn. At most FULL_READS_PER_TURN (1 MiB) per turn instead; pausing after every
        # full read cost large messages ~15% more CPU (a pause, a resume and a loop turn per
        # 256 KiB: 1 MiB round trips 389 against 343 µs).
        if self._state == CONNECTING or not self._uvloop:
            return
        self._full_reads += 1
        if self._full_reads == 1:
            self.loop.call_soon(self._new_turn)
        elif self._full_reads >= FULL_READS_PER_TURN and not self._yielded:
            transport = self.transport
            if transport is not None and not transport.is_closing():
                self._yielded = True
                transport.pause_reading()

    def _new_turn(self) -> None:
        self._full_reads = 0
        if not self._yielded:
            return
        self._yielded = False
        transport = self.transport
        if self._reading and self._state != CLOSED and transport is not None and not transport.is_closing():
            transport.resume_reading()

    def _wake_reader(self) -> None:
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _drain(self) -> Awaitable[None]:
        # One future per waiting sender: cancelling one sender leaves the others waiting.
        waiter: asyncio.Future[None] = self.loop.create_future()
        if self._drain_waiters is None:
            self._drain_waiters = []
        self._drain_waiters.append(waiter)
        return waiter

    def _on_pongs(self, acked: list[tuple[bytes, float]]) -> None:
        waiters = self._ping_waiters
        if waiters:
            for payload, rtt in acked:
                waiter = waiters.pop(payload, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(rtt)

    def _on_closed(self) -> None:
        if self._timers is not None:
            for handle in self._timers.values():
                handle.cancel()
            self._timers = None
        waiters = self._ping_waiters
        if waiters:
            self._ping_waiters = None
            for waiter in waiters.values():
                if not waiter.done():
                    waiter.set_exception(self.closed_exception())
                    waiter.exception()  # mark retrieved: nobody may be awaiting a ping
        self._wake_senders()  # their next send() raises ConnectionClosed
        if not self._closed_waiter.done():
            self._closed_waiter.set_result(None)
        callbacks, self._close_callbacks = self._close_callbacks, None
        for callback in callbacks or ():
            try:
                callback(self)
            except Exception:
                logger.exception("%r: close callback %r failed", self, callback)

    def add_close_callback(self, callback: Callable[[WebSocket], None]) -> None:
        """Call ``callback(ws)`` once the connection is CLOSED (at once if it already is).

        Called from the event loop, in the order added; an exception is logged.
        (``fastws.Topics`` unsubscribes a connection this way.)
        """
        if self._state == CLOSED:
            callback(self)
            return
        if self._close_callbacks is None:
            self._close_callbacks = []
        self._close_callbacks.append(callback)

    def remove_close_callback(self, callback: Callable[[WebSocket], None]) -> bool:
        """Forget a callback added with :meth:`add_close_callback`; False if it was not there."""
        callbacks = self._close_callbacks
        if callbacks is None or callback not in callbacks:
            return False
        callbacks.remove(callback)
        return True

    # --- the awaitable API ------------------------------------------------------------

    async def recv(self) -> Data:
        """The next message: ``str`` for text, ``bytes`` for binary.

        Raises ConnectionClosedOK / ConnectionClosedError once the connection is
        closed and every message received before has been returned. Cancelling
        it (``asyncio.wait_for``) loses nothing: a message that arrives meanwhile
        waits for the next call.
        """
        while True:
            message = self.next_message()
            if message is not None:
                return message  # type: ignore[no-any-return]
            if self._state == CLOSED or self._close_received or self._failed:
                raise self.closed_exception()
            if self._recv_waiter is not None:
                raise RuntimeError("recv() is already being awaited by another task")
            waiter = self._recv_waiter = self.loop.create_future()
            try:
                await waiter
            finally:
                self._recv_waiter = None

    def __aiter__(self) -> AsyncIterator[Data]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Data]:
        try:
            while True:
                yield await self.recv()
        except ConnectionClosedOK:
            return

    async def wait_closed(self) -> None:
        """Until the TCP connection is closed."""
        await asyncio.shield(self._closed_waiter)

    # --- sending (send() itself comes from Connection) -----------------------------------

    async def send_fragments(
        self, fragments: Union[Iterable[Data], AsyncIterable[Data]], compress: bool = True
    ) -> None:
        """Send one message as several frames, one per fragment (all str or all bytes).

        Accepts a sync or async iterable: large or streamed messages never need
        to be held whole in memory. If the iterable raises, or the task is
        cancelled, once part of the message is sent, the connection is failed
        with 1011: the peer cannot be left with half a message.
        """
        self._check_can_send()
        last: Optional[Data] = None  # the end frame carries nothing, of the message's kind
        try:
            if isinstance(fragments, AsyncIterable):
                async for fragment in fragments:
                    await self.send_fragment(fragment, False, compress)
                    last = fragment
            else:
                for fragment in fragments:
                    await self.send_fragment(fragment, False, compress)
                    last = fragment
            if last is not None:
                self.send_fragment("" if isinstance(last, str) else b"", True, compress)
        except BaseException:
            if self.sending_fragments and self._state == OPEN:
                logger.info("%r: fragmented message interrupted, failing the connection", self)
                self.fail(CLOSE_INTERNAL_ERROR, "fragmented message interrupted")
            raise

    def send_json(self, obj: Any) -> Awaitable[None]:
        """Send ``obj`` as one JSON text message (see :mod:`fastws.json_messages` for the encoding)."""
        return self.send(json_messages.dumps(obj), text=True)  # type: ignore[no-any-return]

    async def recv_json(self) -> Any:
        """The next message, parsed as JSON; InvalidJSON (the message is consumed) if it is not."""
        return json_messages.loads(await self.recv())

    def ping(self, data: Union[str, bytes, None] = None) -> Awaitable[float]:
        """Send a ping; the returned future gives the round-trip time (seconds) when the pong arrives."""
        payload = self.send_ping(data)
        waiter: asyncio.Future[float] = self.loop.create_future()
        if self._ping_waiters is None:
            self._ping_waiters = {}
        self._ping_waiters[payload] = waiter
        return waiter

    # --- closing ------------------------------------------------------------------------

    def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> Awaitable[None]:
        """Start the closing handshake; the returned future completes when TCP is closed."""
        Connection.close(self, code, reason)
        return asyncio.shield(self._closed_waiter)

    def abort(self) -> None:
        """Drop the TCP connection now, without a closing handshake (see Connection.abort)."""
        if self.transport is not None:  # before connection_made there is nothing to drop
            Connection.abort(self)
