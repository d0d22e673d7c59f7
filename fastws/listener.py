"""The callback API: a :class:`Listener` receives a connection's events as plain calls."""

from __future__ import annotations

import inspect
import weakref
from typing import TYPE_CHECKING, Any, Callable, Union

from . import json_messages

if TYPE_CHECKING:
    from .protocol import WebSocket

Data = Union[str, bytes]

CALLBACKS = (
    "on_open", "on_message", "on_text", "on_ping", "on_pong", "on_close", "on_error",
    "on_pause_writing", "on_resume_writing", "on_json", "on_json_error",
)  # fmt: skip


class Listener:
    """Callback API: subclass and override what you need; every method is optional.

    Callbacks run inside the read that brought their frames: keep them short and
    non-blocking, and plain ``def`` (a coroutine would never be awaited, so
    ``serve()`` and ``connect()`` refuse one with TypeError). Start a task for
    slow work.
    """

    def on_open(self, ws: WebSocket) -> None:
        pass

    # False: text messages go to on_text() as validated UTF-8 bytes, never decoded to str
    # (cheaper for applications that parse bytes, e.g. orjson, or pass them on).
    decode_text: bool = True

    # True: a message that arrives while the write buffer is over write_limit (the peer
    # does not read what this side sends) pauses reading until the buffer drains, so a
    # listener that answers every message (an echo, a request/response server) cannot be
    # made to buffer without bound. Off by default: if both ends did it, a peer that sends
    # a window of messages before reading would deadlock with it (each waits for the other
    # to read). Otherwise use on_pause_writing / on_resume_writing, or the awaitable send().
    flow_control: bool = False

    # True (set on the class): text messages are parsed as JSON (fastws.json_messages: orjson
    # when installed) and go to on_json(); binary messages still go to on_message(). Text is
    # then handed over as bytes (decode_text defaults to False), which orjson parses directly.
    parse_json: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.parse_json and "decode_text" not in cls.__dict__:
            cls.decode_text = False

    def on_message(self, ws: WebSocket, message: Data) -> None:
        pass

    def on_text(self, ws: WebSocket, data: bytes) -> None:
        """A text message, as UTF-8 bytes (already validated); only with ``decode_text = False``.

        Reply with ``ws.send(data, text=True)``. By default: ``on_message(ws, data.decode())``,
        or with ``parse_json``, ``on_json(ws, value)``.
        """
        if self.parse_json:
            try:
                value = json_messages.loads(data)
            except json_messages.InvalidJSON as exc:
                self.on_json_error(ws, exc)
                return
            self.on_json(ws, value)
            return
        self.on_message(ws, data.decode("utf-8"))

    def on_json(self, ws: WebSocket, value: Any) -> None:
        """A text message's JSON value (``parse_json = True``); answer with ``ws.send_json(...)``."""

    def on_json_error(self, ws: WebSocket, exc: json_messages.InvalidJSON) -> None:
        """A text message that is not JSON (``parse_json = True``): by default ``on_error(ws, exc)``.

        The connection stays open; close it here (``ws.close(1007)``) if the application wants to.
        """
        self.on_error(ws, exc)

    def on_ping(self, ws: WebSocket, payload: bytes) -> None:
        """Called after the automatic pong was sent (or, while writing is paused, queued)."""

    def on_pong(self, ws: WebSocket, payload: bytes) -> None:
        pass

    def on_close(self, ws: WebSocket, code: int, reason: str) -> None:
        pass

    def on_error(self, ws: WebSocket, exc: BaseException) -> None:
        """A protocol violation by the peer (the connection is being failed) or a callback raised."""

    def on_pause_writing(self, ws: WebSocket) -> None:
        """The transport's write buffer went above ``write_limit``: stop sending."""

    def on_resume_writing(self, ws: WebSocket) -> None:
        """The write buffer drained: sending may resume."""


# Listener classes whose callbacks were found to be plain functions: a class is inspected
# once, not once per connection (inspect's checks cost ~100 µs per listener).
_CHECKED: weakref.WeakSet[type] = weakref.WeakSet()


def check_listener(listener: Any) -> None:
    """TypeError if ``listener`` (a Listener subclass or instance) has a coroutine callback."""
    cls = listener if isinstance(listener, type) else type(listener)
    if cls not in _CHECKED:
        _check_callbacks(cls, {name: getattr(cls, name, None) for name in CALLBACKS})
        _CHECKED.add(cls)
    own = None if listener is cls else getattr(listener, "__dict__", None)
    if own:  # callbacks set on the instance itself
        _check_callbacks(cls, {name: own[name] for name in CALLBACKS if name in own})


def _check_callbacks(owner: type, callbacks: dict[str, Any]) -> None:
    for name, method in callbacks.items():
        if method is not None and (inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method)):
            raise TypeError(
                f"{owner.__name__}.{name} is a coroutine function: listener callbacks are called, "
                "never awaited; make it a plain def (start a task for slow work) or use an async handler"
            )


def listener_factory(listener: Any, what: str) -> Callable[[], Listener]:
    """A factory of listeners from a Listener subclass or a callable returning one (checked here when
    it is a class; a factory's listeners are checked as they are made, see :func:`make_listener`)."""
    if isinstance(listener, type):
        if not issubclass(listener, Listener):
            raise TypeError(f"{what} must be a Listener subclass or a factory of listeners, not {listener!r}")
        check_listener(listener)
        return listener
    if not callable(listener):
        raise TypeError(f"{what} must be a Listener subclass or a factory of listeners, not {listener!r}")
    return listener  # type: ignore[no-any-return]


def make_listener(factory: Callable[[], Any]) -> Listener:
    """Call ``factory`` and check what it made."""
    listener = factory()
    if not isinstance(listener, Listener):
        raise TypeError(f"the listener factory returned {listener!r}, not a Listener")
    check_listener(listener)
    return listener
