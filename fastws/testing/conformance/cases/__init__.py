"""The case table: every case is a script (what the driver sends) plus an expectation
derived from RFC 6455 / RFC 7692 (what a conforming peer answers).

Case ids are stable (``group.subject.detail``); ``all_cases(role)`` lists them for a
target role: ``"server"`` (the driver is a client against a server under test)
or ``"client"`` (the driver is a server, the client under test echoes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable, Optional, Union

from .. import wire

if TYPE_CHECKING:
    from ..driver import Peer

Reply = tuple[int, bytes]  # (opcode, payload) of a message (TEXT/BINARY) or a pong (PONG)
Script = Callable[["Peer"], Awaitable[None]]

#: codes an endpoint may use to fail a connection on bad input (RFC 6455 §7.4.1)
ERROR_CODES = frozenset({1002, 1003, 1007, 1008, 1009, 1010, 1011})


@dataclass(frozen=True)
class Expect:
    """What a conforming peer answers.

    ``fail`` None: a clean exchange: exactly ``replies`` (in order), then our close
    answered with ``close`` (None: an empty close frame; 1000 is accepted too).
    ``fail`` a code: the peer fails the connection with it, after at most ``replies``
    (the valid messages sent before the violation); ``before``: the close frame
    must arrive before that mark (fail-fast); ``tolerated``: if the peer accepts
    instead and echoes these, that is NON-STRICT (the RFC leaves it to the receiver).
    ``rejected``: the peer (a client) must fail the opening handshake: close TCP
    without sending a frame (RFC 6455 §4.1).
    """

    replies: tuple[Reply, ...] = ()
    close: Optional[int] = 1000
    fail: Optional[int] = None
    before: Optional[str] = None
    tolerated: Optional[tuple[Reply, ...]] = None
    rejected: bool = False


def echo(*replies: Reply, close: Optional[int] = 1000) -> Expect:
    return Expect(replies=tuple(replies), close=close)


def fail(code: int, *replies: Reply, before: Optional[str] = None,
         tolerated: Optional[tuple[Reply, ...]] = None) -> Expect:
    return Expect(replies=tuple(replies), fail=code, before=before, tolerated=tolerated)


def reject() -> Expect:
    return Expect(rejected=True)


#: ``Case.offer``: the client under test offers no extension at all
OFF = "off"


@dataclass(frozen=True)
class Case:
    id: str
    doc: str
    script: Script
    expect: Expect
    #: permessage-deflate parameters the driver offers (target server) or answers
    #: with (target client); None: no extension.  With ``extensions`` set: the
    #: offer the server must accept (None: it must decline them all), or the
    #: parameters the driver's raw answer amounts to (None: the client must reject it).
    deflate: Optional[wire.DeflateParams] = field(default=None, hash=False)
    timeout: float = 10.0  # the script and the replies; closing has its own bound
    #: the raw Sec-WebSocket-Extensions value the driver sends instead of formatting ``deflate``
    extensions: Optional[str] = None
    #: target client: the permessage-deflate offer the client is told to make
    #: (:data:`OFF`: none); None: its default offer
    offer: Union[wire.DeflateParams, str, None] = field(default=None, hash=False)

    @property
    def group(self) -> str:
        return self.id.split(".", 1)[0]


def text(s: str) -> Reply:
    return (wire.OP_TEXT, s.encode())


def binary(b: bytes) -> Reply:
    return (wire.OP_BINARY, b)


def pong(b: bytes) -> Reply:
    return (wire.OP_PONG, b)


def send_frames(*frames: tuple, chunk: Optional[int] = None, pause: float = 0.0, pause_every: int = 1) -> Script:
    """A script sending frames given as (opcode, payload[, {encode options}]) in one write."""

    async def script(peer: Peer) -> None:
        data = b"".join(peer.frame(f[0], f[1], **(f[2] if len(f) > 2 else {})) for f in frames)
        await peer.send(data, chunk=chunk, pause=pause, pause_every=pause_every)

    return script


GROUPS = ("framing", "ping", "rsv", "opcode", "fragmentation", "utf8", "closing", "limits", "masking",
          "compression")


def all_cases(role: str) -> list[Case]:
    """Every case for a target ``role`` ("server" or "client"), in a stable order."""
    from . import closing, compression, fragmentation, framing, limits, masking, opcode, ping, rsv, utf8

    modules = (framing, ping, rsv, opcode, fragmentation, utf8, closing, limits, masking, compression)
    cases = [c for m in modules for c in m.cases(role)]
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return cases
