"""``wsproto.events``: the event classes, with wsproto's fields and defaults (frozen dataclasses)."""

from __future__ import annotations

from abc import ABC
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, List, Optional, Sequence, TypeVar, Union

from .typing import Headers

if TYPE_CHECKING:
    from .extensions import Extension


class Event(ABC):
    """Base class of every event."""


@dataclass(frozen=True)
class Request(Event):
    """A client's upgrade request (received by a server, sent by a client)."""

    host: str
    target: str
    extensions: Union[Sequence[Extension], Sequence[str]] = field(default_factory=list)
    extra_headers: Headers = field(default_factory=list)
    subprotocols: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class AcceptConnection(Event):
    """The handshake succeeded (sent by a server, received by a client)."""

    subprotocol: Optional[str] = None
    extensions: List[Extension] = field(default_factory=list)
    extra_headers: Headers = field(default_factory=list)


@dataclass(frozen=True)
class RejectConnection(Event):
    """The handshake was refused; with ``has_body`` the body follows as ``RejectData``."""

    status_code: int = 400
    headers: Headers = field(default_factory=list)
    has_body: bool = False


@dataclass(frozen=True)
class RejectData(Event):
    """A piece of a rejection's body."""

    data: bytes
    body_finished: bool = True


@dataclass(frozen=True)
class CloseConnection(Event):
    """A close frame (or, with code 1006, the transport closed)."""

    code: int
    reason: Optional[str] = None

    def response(self) -> CloseConnection:
        """The close event to send back."""
        return CloseConnection(code=self.code, reason=self.reason)


T = TypeVar("T", bytes, str)


@dataclass(frozen=True)
class Message(Event, Generic[T]):
    """A piece of a data message: whole when ``frame_finished`` and ``message_finished``."""

    data: T
    frame_finished: bool = True
    message_finished: bool = True


@dataclass(frozen=True)
class TextMessage(Message[str]):
    """Text data (``data`` is str)."""

    data: str


@dataclass(frozen=True)
class BytesMessage(Message[bytes]):
    """Binary data (``data`` is bytes)."""

    data: bytes


@dataclass(frozen=True)
class Ping(Event):
    """A ping; ``response()`` is the matching pong."""

    payload: bytes = b""

    def response(self) -> Pong:
        return Pong(payload=self.payload)


@dataclass(frozen=True)
class Pong(Event):
    """A pong."""

    payload: bytes = b""


_new = object.__new__


def new_message(cls: type[Message[T]], data: T, frame_finished: bool = True, message_finished: bool = True) -> Any:
    """``cls(data, frame_finished, message_finished)``, without the frozen dataclass ``__init__``
    (one ``object.__setattr__`` per field, most of an event's cost): the same object, for the
    receiving hot path."""
    event = _new(cls)
    fields = event.__dict__
    fields["data"] = data
    fields["frame_finished"] = frame_finished
    fields["message_finished"] = message_finished
    return event


__all__ = [
    "AcceptConnection",
    "BytesMessage",
    "CloseConnection",
    "Event",
    "Message",
    "Ping",
    "Pong",
    "RejectConnection",
    "RejectData",
    "Request",
    "TextMessage",
]
