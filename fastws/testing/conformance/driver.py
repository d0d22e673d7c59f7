"""The driver: one raw WebSocket endpoint per case, over plain asyncio streams.

A :class:`Peer` sends any bytes (frames built with :mod:`.wire`, cut into chunks
with pauses) and records what comes back, with timestamps, in an
:class:`~.verdict.Observation`.  :func:`run_case` runs one case against a target
(see :mod:`.targets`) and judges it; every step has a timeout, so nothing hangs.
"""

from __future__ import annotations

import asyncio
import os
import time
import zlib
from typing import Callable, Optional

from . import wire
from .cases import Case
from .verdict import CLOSE_BOUND, FAIL_BOUND_REJECT, Event, Observation, Result, evaluate

#: a failing peer must have sent its close frame (or dropped TCP) within this many seconds
FAIL_BOUND = 3.0


class Peer:
    """The driver's end of one connection.

    ``client``: the driver is the client (it masks its frames; the peer must not).
    ``deflate``: the agreed permessage-deflate parameters, or None.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: bool,
                 deflate: Optional[wire.DeflateParams] = None) -> None:
        self.reader = reader
        self.writer = writer
        self.client = client
        self.obs = Observation(target_role="server" if client else "client", negotiated=deflate)
        self._t0 = time.monotonic()
        self._changed = asyncio.Event()
        self.close_sent = False
        self.close_received = False
        self.tcp_closed = False
        self.deflate = deflate
        self._deflater: Optional[wire.Deflater] = None
        self._inflater: Optional[wire.Inflater] = None
        if deflate is not None:
            # Our direction uses the parameters of our role, the peer's the others.
            mine, theirs = ("client", "server") if client else ("server", "client")
            self._deflater = wire.Deflater(_bits(deflate, mine), f"{mine}_no_context_takeover" in deflate)
            self._inflater = wire.Inflater(_bits(deflate, theirs), f"{theirs}_no_context_takeover" in deflate)
        self._task = asyncio.ensure_future(self._read_loop())

    # --- sending -------------------------------------------------------------------

    def now(self) -> float:
        return time.monotonic() - self._t0

    def mark(self, name: str) -> None:
        """Remember when the script reached ``name`` (e.g. fail-fast deadlines)."""
        self.obs.marks[name] = self.now()

    def frame(self, opcode: int, payload: bytes = b"", *, masked: Optional[bool] = None, **options: object) -> bytes:
        """One frame as this role sends it: masked iff the driver is the client, unless ``masked`` says otherwise."""
        if masked is None:
            masked = self.client
        return wire.encode(opcode, payload, key=os.urandom(4) if masked else None, **options)  # type: ignore[arg-type]

    def compress(self, data: bytes) -> bytes:
        """A message's payload compressed with the agreed parameters (RSV1 is the caller's)."""
        assert self._deflater is not None, "permessage-deflate was not negotiated"
        return self._deflater.compress(data)

    async def send(self, data: bytes, *, chunk: Optional[int] = None, pause: float = 0.0,
                   pause_every: int = 1) -> None:
        """Write ``data``, whole or in ``chunk``-byte pieces, sleeping ``pause`` every ``pause_every`` pieces.

        Writing to a connection the peer already closed is not an error here: the
        observation says what happened.
        """
        try:
            if chunk is None:
                self.writer.write(data)
                await self.writer.drain()
                return
            for i, start in enumerate(range(0, len(data), chunk), 1):
                self.writer.write(data[start : start + chunk])
                if pause and i % pause_every == 0:
                    await self.writer.drain()
                    await asyncio.sleep(pause)
                elif i % 256 == 0:
                    await self.writer.drain()
            await self.writer.drain()
        except (ConnectionError, OSError):
            pass

    async def send_close(self, code: Optional[int] = 1000, reason: bytes = b"") -> None:
        self.close_sent = True
        await self.send(self.frame(wire.OP_CLOSE, wire.close_payload(code, reason)))

    async def until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds (re-checked on each event); False on timeout."""
        deadline = time.monotonic() + timeout
        while not predicate():
            left = deadline - time.monotonic()
            if left <= 0 or self.tcp_closed:
                return predicate()
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass
        return True

    def abort(self) -> None:
        self._task.cancel()
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()

    # --- receiving -----------------------------------------------------------------

    def _event(self, kind: str, **fields: object) -> None:
        self.obs.events.append(Event(self.now(), kind, **fields))  # type: ignore[arg-type]
        self._changed.set()

    def _violation(self, detail: str) -> None:
        self._event("violation", detail=detail)

    async def _read_loop(self) -> None:
        message_op: Optional[int] = None  # opcode of the message being reassembled
        compressed = False
        parts: list[bytes] = []
        try:
            while True:
                f = await wire.read_frame(self.reader)
                self._check(f)
                if f.opcode in wire.CONTROL:
                    await self._control(f)
                    continue
                if f.opcode == wire.OP_CONT:
                    if message_op is None:
                        self._violation("continuation frame without a message to continue")
                        continue
                elif f.opcode in (wire.OP_TEXT, wire.OP_BINARY):
                    if message_op is not None:
                        self._violation("new data frame inside a fragmented message")
                    message_op, compressed, parts = f.opcode, bool(f.rsv & wire.RSV1), []
                else:
                    self._violation(f"reserved opcode {f.opcode:#x}")
                    continue
                if self.close_received:
                    self._violation("data frame after the peer's close frame (RFC 6455 §5.5.1)")
                parts.append(f.payload)
                if f.fin:
                    self._message(message_op, b"".join(parts), compressed)
                    message_op = None
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                self._violation(f"TCP closed inside a frame ({len(exc.partial)} bytes)")
            self._closed("eof")
        except (ConnectionError, OSError):
            self._closed("reset")

    def _closed(self, kind: str) -> None:
        self.tcp_closed = True
        self._event(kind)

    def _check(self, f: wire.Frame) -> None:
        if f.masked == self.client:
            self._violation(f"{'masked' if f.masked else 'unmasked'} frame from the "
                            f"{'server' if self.client else 'client'} (RFC 6455 §5.1)")
        allowed = wire.RSV1 if self.deflate is not None and f.opcode in (wire.OP_TEXT, wire.OP_BINARY) else 0
        if f.rsv & ~allowed:
            self._violation(f"RSV bits {f.rsv:03b} on opcode {f.opcode:#x}")
        if f.opcode in wire.CONTROL and (not f.fin or len(f.payload) > 125):
            self._violation(f"fragmented or oversized control frame (opcode {f.opcode:#x})")

    def _message(self, opcode: int, payload: bytes, compressed: bool) -> None:
        size = len(payload)
        if compressed:
            assert self._inflater is not None
            try:
                payload = self._inflater.decompress(payload)
            except zlib.error as exc:
                self._violation(f"undecodable compressed message ({exc}); window or context not as agreed?")
                return
        if opcode == wire.OP_TEXT:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                self._violation("text message that is not UTF-8")
        self._event("message", opcode=opcode, payload=payload, compressed=compressed, size=size)

    async def _control(self, f: wire.Frame) -> None:
        if f.opcode == wire.OP_PING:
            self._event("ping", opcode=f.opcode, payload=f.payload)
            if not self.close_sent:
                await self.send(self.frame(wire.OP_PONG, f.payload))
        elif f.opcode == wire.OP_PONG:
            self._event("pong", opcode=f.opcode, payload=f.payload)
        else:
            code, reason = wire.parse_close(f.payload)
            if code is not None and (code < 1000 or code in (1004, 1005, 1006, 1015) or 1016 <= code < 3000
                                     or code >= 5000):
                self._violation(f"close frame with invalid code {code}")
            self.close_received = True
            self._event("close", code=code, reason=reason)
            if not self.close_sent:  # RFC 6455 §5.5.1: answer with a close, echoing the code
                echoed = code if code is not None and code >= 1000 else None
                await self.send_close(echoed)
            if not self.client:
                # We are the server: close TCP first once both close frames went (§7.1.1).
                self.writer.close()


def _bits(params: wire.DeflateParams, side: str) -> int:
    value = params.get(f"{side}_max_window_bits")
    return int(value) if value else 15


class NegotiationError(Exception):
    """The peer's permessage-deflate offer or answer breaks RFC 7692 (or the case's expectation)."""


class Declined(Exception):
    """The peer did not agree to permessage-deflate."""


async def run_case(target: Target, case: Case) -> Result:
    """Run one case against ``target`` and judge it; never takes much longer than ``case.timeout``."""
    start = time.monotonic()
    obs: Observation
    peer: Optional[Peer] = None
    try:
        peer = await asyncio.wait_for(target.open(case), 10.0)
        obs = peer.obs
        await _play(peer, case)
    except Declined as exc:
        obs = Observation(target.role, unsupported=f"permessage-deflate not negotiated ({exc})")
    except NegotiationError as exc:
        obs = Observation(target.role, error=f"permessage-deflate negotiation: {exc}")
    except (asyncio.TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
        obs = peer.obs if peer is not None else Observation(target.role)
        obs.error = f"driver: {type(exc).__name__}: {exc}"
    finally:
        if peer is not None:
            peer.abort()
    verdict, reason = evaluate(case, obs)
    return Result(case.id, case.group, verdict, reason, time.monotonic() - start)


async def _play(peer: Peer, case: Case) -> None:
    exp = case.expect
    try:
        await asyncio.wait_for(case.script(peer), case.timeout)
    except asyncio.TimeoutError:
        peer.obs.error = f"script did not finish within {case.timeout}s (peer not reading?)"
        return
    if exp.rejected:  # the client must drop the connection, whatever we send
        await peer.until(lambda: peer.tcp_closed or bool(peer.obs.replies()), FAIL_BOUND_REJECT)
        return
    if exp.fail is None or exp.tolerated is not None:
        want = len(exp.replies if exp.fail is None else exp.tolerated or ())
        await peer.until(lambda: len(peer.obs.replies()) >= want or peer.close_received
                         or peer.obs.first("violation") is not None, case.timeout)
        if exp.fail is not None:
            # Give a peer that will fail the chance to do so before we close.
            await peer.until(lambda: peer.close_received, 0.2)
        if not peer.close_sent and not peer.close_received:
            await peer.send_close(1000)
    await peer.until(lambda: peer.close_received, FAIL_BOUND)
    if peer.client and peer.close_received:
        await peer.until(lambda: peer.tcp_closed, CLOSE_BOUND + 0.2)


class Target:
    """Something that gives the driver one fresh connection per case (see :mod:`.targets`)."""

    role: str  # the role of the peer under test: "server" or "client"

    async def open(self, case: Case) -> Peer:
        """A connection negotiated as ``case`` says (``deflate``, ``extensions``, ``offer``)."""
        raise NotImplementedError
