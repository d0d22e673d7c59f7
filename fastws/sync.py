"""A threaded client, for code without asyncio: ``fastws.sync.connect(uri)``.

::

    from fastws.sync import connect

    with connect("wss://example.com/feed") as ws:
        ws.send("hello")
        print(ws.recv(timeout=5))
        for message in ws:      # until the server closes normally
            ...

How it runs: every sync connection of the process lives on one event loop in a
background daemon thread (started on first use; uvloop when installed), as a
regular :class:`fastws.client.ClientConnection` on the compiled codec. Each call
hands its work to that loop and waits for the result, so ``connect()`` takes the
async client's options (proxies, ``sock=``, compression, keepalive, max_size...).

Messages arrive on the loop's thread and wait in a queue for ``recv()`` (reading
pauses while ``max_queue`` of them wait, after the rest of the read that brought
the last one: at most 256 KiB more); ``send()`` hands its message to the loop
without waiting for it, unless the peer is not reading.

Thread safety: ``send``, ``send_json``, ``ping`` and ``close`` may be called from
any number of threads at once (each message is written whole, in the order the
calls handed them over). ``recv`` may be called from several threads too: each
gets a different message. A ``recv(timeout=...)`` that times out loses nothing.
No method may be called from the loop's own thread (e.g. from a listener).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections import deque
from typing import Any, Coroutine, Iterator, Optional, TypeVar, Union

from . import json_messages
from .client import ClientConnection as AsyncClientConnection
from .client import connect as async_connect
from .connection import State
from .exceptions import ConnectionClosedOK, InvalidState
from .listener import Listener
from .protocol import WebSocket
from .runner import new_event_loop

__all__ = ["connect", "ClientConnection"]

T = TypeVar("T")
Data = Union[str, bytes]


class _LoopThread:
    """The background event loop shared by this process's sync connections."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._pid = 0

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # a forked child starts its own
                loop = new_event_loop("auto")
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=serve, name="fastws.sync loop", daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread, self._pid = loop, thread, os.getpid()
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self.loop()
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("fastws.sync: called from its own event loop thread (it would wait on itself)")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()


_LOOP = _LoopThread()


class _Inbox(Listener):
    """Messages handed from the loop's thread to the threads calling ``recv()``.

    Reading from the peer pauses while ``max_queue`` messages (plus the rest of one
    read) wait here, so a peer that floods a client that does not call ``recv()`` is
    held back by TCP.
    """

    def __init__(self, max_queue: int) -> None:
        self.max_queue = max_queue
        self.messages: deque[Data] = deque()
        self.ready = threading.Condition(threading.Lock())
        self.closed = False
        self.paused = False

    def on_message(self, ws: WebSocket, message: Data) -> None:
        with self.ready:
            self.messages.append(message)
            self.ready.notify()
            if len(self.messages) >= self.max_queue and not self.paused:
                self.paused = True
                ws.pause_reading()

    def on_close(self, ws: WebSocket, code: int, reason: str) -> None:
        with self.ready:
            self.closed = True
            self.ready.notify_all()


class ClientConnection:
    """A connection opened by :func:`connect`; ``protocol`` is the asyncio connection underneath
    (use it only through ``protocol.loop.call_soon_threadsafe``)."""

    def __init__(self, protocol: AsyncClientConnection, inbox: _Inbox) -> None:
        self.protocol = protocol
        self._inbox = inbox
        self._loop = protocol.loop

    def __repr__(self) -> str:
        return f"<fastws.sync.ClientConnection {self.state.name} {self.protocol.remote_address}>"

    # --- state -----------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self.protocol.state

    @property
    def subprotocol(self) -> Optional[str]:
        return self.protocol.subprotocol

    @property
    def response(self) -> Any:
        """The server's handshake response (status, headers)."""
        return self.protocol.response

    @property
    def close_code(self) -> Optional[int]:
        return self.protocol.close_code

    @property
    def close_reason(self) -> str:
        return self.protocol.close_reason

    # --- receiving -------------------------------------------------------------------

    def recv(self, timeout: Optional[float] = None) -> Data:
        """The next message (str for text, bytes for binary).

        ``timeout`` seconds (None: wait as long as it takes): TimeoutError when no
        message came by then. ConnectionClosedOK / ConnectionClosedError once the
        connection is closed and every message received before was returned.
        """
        inbox = self._inbox
        with inbox.ready:
            if not inbox.ready.wait_for(lambda: inbox.messages or inbox.closed, timeout):
                raise TimeoutError(f"no message within {timeout}s")
            if not inbox.messages:
                raise self.protocol.closed_exception()
            message = inbox.messages.popleft()
            if inbox.paused and len(inbox.messages) <= inbox.max_queue // 4:
                inbox.paused = False
                self._loop.call_soon_threadsafe(self._resume_reading)
            return message

    def _resume_reading(self) -> None:
        if self.protocol.state is State.OPEN:
            self.protocol.resume_reading()

    def recv_json(self, timeout: Optional[float] = None) -> Any:
        """The next message parsed as JSON; InvalidJSON (the message is consumed) if it is not."""
        return json_messages.loads(self.recv(timeout))

    def __iter__(self) -> Iterator[Data]:
        """Each message until the connection closes normally (an error close raises)."""
        while True:
            try:
                yield self.recv()
            except ConnectionClosedOK:
                return

    # --- sending ---------------------------------------------------------------------

    def send(self, message: Data, text: Optional[bool] = None) -> None:
        """Send one message: str as text, bytes as binary (``text=True``: bytes that are UTF-8, as text).

        Hands the message to the loop's thread and returns; while the peer does not
        read (the write buffer is above ``write_limit``) it waits until it drains.
        Messages go out in the order of the calls that handed them over.
        """
        protocol = self.protocol
        if protocol.state is not State.OPEN:
            raise protocol.closed_exception() if protocol.state is not State.CONNECTING else InvalidState(
                "cannot send: the opening handshake is not done yet"
            )
        if type(message) in (str, bytes) and not protocol.writing_paused:
            self._loop.call_soon_threadsafe(self._send_now, message, bool(text))
        else:  # flow control, or a type for the connection to check: the caller waits
            _LOOP.run(self._send(message, bool(text)))

    def _send_now(self, message: Data, text: bool) -> None:
        if self.protocol.state is State.OPEN:  # (closed meanwhile: the next call reports it)
            self.protocol.send(message, text=text)

    async def _send(self, message: Data, text: bool) -> None:
        await self.protocol.send(message, text=text)

    def send_json(self, value: Any) -> None:
        """Send ``value`` as one JSON text message (the encoding of :mod:`fastws.json_messages`)."""
        self.send(json_messages.dumps(value), text=True)

    def ping(self, data: Union[str, bytes, None] = None) -> concurrent.futures.Future[float]:
        """Send a ping; the returned future's ``result(timeout)`` is the round trip in seconds."""
        return _LOOP.run(self._ping(data))

    async def _ping(self, data: Union[str, bytes, None]) -> concurrent.futures.Future[float]:
        waiter = self.protocol.ping(data)
        result: concurrent.futures.Future[float] = concurrent.futures.Future()

        async def relay() -> None:
            try:
                result.set_result(await waiter)
            except BaseException as exc:  # closed before the pong: ConnectionClosed
                result.set_exception(exc)

        self.protocol.loop.create_task(relay())
        return result

    # --- closing ---------------------------------------------------------------------

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Run the closing handshake (at most ``close_timeout``) and close the socket."""
        _LOOP.run(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        await self.protocol.close(code, reason)

    def __enter__(self) -> ClientConnection:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def connect(uri: str, **kwargs: Any) -> ClientConnection:
    """Open a connection and return it once the opening handshake is done.

    Takes :class:`fastws.client.connect`'s options (``proxy``, ``sock``, ``ssl``,
    ``subprotocols``, ``extra_headers``, ``compression``, ``open_timeout``, ...),
    except ``listener``: callbacks would run on the background loop's thread.
    """
    if "listener" in kwargs:
        raise TypeError("fastws.sync.connect() has no listener option; use fastws.connect() for callbacks")
    opener = async_connect(uri, **kwargs)  # checks every argument here, in the caller's thread
    inbox = _Inbox(opener.options.max_queue)
    opener.listener = lambda: inbox

    async def open_() -> AsyncClientConnection:
        try:
            return await opener
        except asyncio.TimeoutError as exc:  # the builtin one, also before Python 3.11
            raise TimeoutError(str(exc)) from None

    return ClientConnection(_LOOP.run(open_()), inbox)
