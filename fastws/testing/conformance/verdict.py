"""Judging one case: what the driver observed (:class:`Observation`) against the case's
:class:`~.cases.Expect`.

OK: exactly as the RFC says.  NON-STRICT: allowed but not ideal (another error
code than the one that fits, a close that came late, TCP dropped without a close
frame where one SHOULD be sent).  FAILED: wrong echo, wrong or missing close, an
invalid frame from the peer, TCP left open, a hang.  UNSUPPORTED: the case needs
permessage-deflate and the peer declined it.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Optional

from . import wire
from .cases import ERROR_CODES, Case, Reply

OK, NON_STRICT, FAILED, UNSUPPORTED = "OK", "NON-STRICT", "FAILED", "UNSUPPORTED"
VERDICTS = (OK, NON_STRICT, FAILED, UNSUPPORTED)
_RANK = {OK: 0, UNSUPPORTED: 1, NON_STRICT: 2, FAILED: 3}

#: after the closing handshake, a server must close TCP within this many seconds
CLOSE_BOUND = 2.0


@dataclass
class Event:
    """Something the peer did, ``t`` seconds after the connection opened.

    kind: "message" (opcode, payload: reassembled and inflated; compressed: RSV1
    was set; size: the payload bytes on the wire), "ping", "pong", "close" (code,
    reason), "eof", "reset", "violation" (detail: an invalid frame from the peer).
    """

    t: float
    kind: str
    opcode: int = -1
    payload: bytes = b""
    code: Optional[int] = None
    reason: bytes = b""
    detail: str = ""
    compressed: bool = False
    size: int = 0


@dataclass
class Observation:
    target_role: str  # "server" or "client": the role of the peer under test
    events: list[Event] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)  # script marks, same clock as events
    negotiated: Optional[wire.DeflateParams] = None
    error: str = ""  # the driver could not run the case (handshake failed, ...)
    unsupported: str = ""
    lenient: list[str] = field(default_factory=list)  # allowed-but-not-ideal choices seen by the target

    def first(self, *kinds: str) -> Optional[Event]:
        return next((e for e in self.events if e.kind in kinds), None)

    def replies(self) -> list[Reply]:
        return [(e.opcode, e.payload) for e in self.events if e.kind in ("message", "pong")]


@dataclass
class Result:
    case_id: str
    group: str
    verdict: str
    reason: str
    duration: float


def _show(reply: Reply) -> str:
    op, payload = reply
    name = {wire.OP_TEXT: "text", wire.OP_BINARY: "binary", wire.OP_PONG: "pong"}.get(op, f"op{op}")
    shown = payload[:16].hex() + ("..." if len(payload) > 16 else "")
    return f"{name}[{len(payload)}:{shown}]"


def _first_difference(got: list[Reply], want: tuple[Reply, ...]) -> str:
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f"reply #{i} is {_show(g)}, expected {_show(w)}"
    if len(got) > len(want):
        return f"unexpected reply #{len(want)}: {_show(got[len(want)])} ({len(got)} replies, expected {len(want)})"
    return f"only {len(got)} of {len(want)} expected replies"


#: a client must have closed TCP within this many seconds of an answer it must reject
FAIL_BOUND_REJECT = 3.0
#: an echoed message this long that deflate shrinks should come back compressed
COMPRESS_MIN = 128


def _compression(obs: Observation) -> list[tuple[str, str]]:
    """NON-STRICT (both allowed by RFC 7692, neither ideal): a compressible message of
    :data:`COMPRESS_MIN` bytes or more sent with RSV1 clear; the same message sent
    twice, the second no smaller on the wire, though context takeover was agreed
    for the peer's direction (§7.1.1) and the message fits in its window."""
    out = []
    messages = [e for e in obs.events if e.kind == "message"]
    plain = [e for e in messages if not e.compressed and len(e.payload) >= COMPRESS_MIN
             and len(zlib.compress(e.payload, 1)) < len(e.payload) * 0.9]
    if plain:
        reason = (f"{len(plain)} compressible message(s) came back uncompressed (RSV1 clear), "
                  f"the first of {len(plain[0].payload)} bytes")
        out.append((NON_STRICT, reason))
    assert obs.negotiated is not None
    if f"{obs.target_role}_no_context_takeover" not in obs.negotiated:
        bits = int(obs.negotiated.get(f"{obs.target_role}_max_window_bits") or 15)
        reach = max(250, (1 << bits) - 262)  # zlib's farthest match; 250 for 8 bits (9 with 8's reach)
        for a, b in zip(messages, messages[1:]):
            if a.compressed and b.compressed and (a.opcode, a.payload) == (b.opcode, b.payload) \
                    and len(a.payload) <= reach and b.size >= a.size:
                reason = (f"no context takeover: the same {len(a.payload)}-byte message took {a.size} "
                          f"then {b.size} bytes on the wire")
                out.append((NON_STRICT, reason))
                break
    return out


def evaluate(case: Case, obs: Observation) -> tuple[str, str]:
    """(verdict, reason) for one case; reasons of every problem found, worst verdict wins."""
    if obs.unsupported:
        return UNSUPPORTED, obs.unsupported
    if obs.error:
        return FAILED, obs.error
    problems: list[tuple[str, str]] = []

    def add(verdict: str, reason: str) -> None:
        problems.append((verdict, reason))

    for e in obs.events:
        if e.kind == "violation":
            add(FAILED, f"peer sent an invalid frame: {e.detail}")
    for note in obs.lenient:
        add(NON_STRICT, note)
    exp = case.expect
    got = obs.replies()
    close = obs.first("close")
    tcp = obs.first("eof", "reset")
    if obs.negotiated is not None:
        for verdict, reason in _compression(obs):
            add(verdict, reason)
    if exp.rejected:
        if got:
            add(FAILED, f"accepted the handshake: {_show(got[0])} came back (it MUST fail, RFC 6455 §4.1)")
        elif close is not None:
            add(NON_STRICT, f"opened the connection and closed it ({close.code}) instead of failing the handshake")
        if tcp is None:
            add(FAILED, f"did not fail the handshake: TCP still open after {FAIL_BOUND_REJECT}s")
    elif exp.fail is None or (exp.tolerated is not None and got == list(exp.tolerated) and close is not None
                            and close.code in (1000, None)):
        if exp.fail is not None:
            add(NON_STRICT, f"accepted the frame instead of failing with {exp.fail} (the RFC allows leniency)")
        want = exp.replies if exp.fail is None else exp.tolerated
        assert want is not None
        if got != list(want):
            add(FAILED, _first_difference(got, want))
        if close is None:
            add(FAILED, "no close frame" + (" (TCP closed)" if tcp else " within the bound"))
        elif close.code != exp.close and not (exp.close is None and close.code == 1000):
            answered = "an empty close" if close.code is None else f"close {close.code}"
            wanted = "an empty close" if exp.close is None else f"close {exp.close}"
            if close.code in ERROR_CODES or close.code is None or close.code == 1000:
                add(NON_STRICT if exp.close is not None else FAILED, f"answered {answered}, expected {wanted}")
            else:
                add(FAILED, f"answered {answered}, expected {wanted}")
    else:
        if close is None and tcp is None:
            add(FAILED, f"did not fail the connection (expected close {exp.fail}); no close frame, TCP open")
        if got[: len(exp.replies)] != list(exp.replies)[: len(got)] or len(got) > len(exp.replies):
            add(FAILED, _first_difference(got, exp.replies) + f" (expected failure {exp.fail})")
        elif len(got) < len(exp.replies):
            add(NON_STRICT, f"failed before echoing all valid messages sent before the violation "
                            f"({len(got)} of {len(exp.replies)})")
        if close is not None:
            if close.code != exp.fail:
                if close.code in ERROR_CODES:
                    add(NON_STRICT, f"failed with {close.code}, expected {exp.fail}")
                else:
                    add(FAILED, f"closed with {close.code}, expected to fail with {exp.fail}")
            # Without the mark, the script stopped early: the close came before it, in time.
            if exp.before is not None and exp.before in obs.marks and close.t > obs.marks[exp.before]:
                add(NON_STRICT, f"failed late: close {close.code} arrived {close.t - obs.marks[exp.before]:.3f}s "
                                f"after the driver sent '{exp.before}'")
        elif tcp is not None:
            add(NON_STRICT, f"dropped TCP ({tcp.kind}) without a close frame (one SHOULD be sent, RFC 6455 §7.1.7)")
    if obs.target_role == "server" and close is not None:
        # RFC 6455 §7.1.1: the server closes TCP first, right after the closing handshake.
        if tcp is None:
            add(FAILED, f"TCP not closed within {CLOSE_BOUND}s after the close frame")
        elif tcp.t - close.t > CLOSE_BOUND:
            add(FAILED, f"TCP closed {tcp.t - close.t:.2f}s after the close frame (bound {CLOSE_BOUND}s)")
    if not problems:
        return OK, ""
    worst = max(problems, key=lambda p: _RANK[p[0]])[0]
    return worst, "; ".join(r for v, r in problems if _RANK[v] >= _RANK[NON_STRICT])
