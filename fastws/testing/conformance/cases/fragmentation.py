"""fragmentation: messages in several frames, control frames between fragments, and the
sequences RFC 6455 §5.4 forbids (continuation without a start, a new data frame
inside a fragmented message, a fragmented control frame)."""

from __future__ import annotations

from ..wire import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, close_payload
from . import Case, echo, fail, pong, send_frames, text


def fragments(opcode: int, parts: list[bytes]) -> list[tuple]:
    """The frames of one message cut into ``parts`` (first frame ``opcode``, then continuations)."""
    last = len(parts) - 1
    return [(opcode if i == 0 else OP_CONT, p, {"fin": i == last}) for i, p in enumerate(parts)]


def cases(role: str) -> list[Case]:
    out = []
    for name, opcode in (("text", OP_TEXT), ("binary", OP_BINARY)):
        for n in (1, 2, 3, 10, 100):
            parts = [f"part{i};".encode() for i in range(n)]
            out.append(Case(f"fragmentation.{name}.{n}", f"{name} message in {n} fragments",
                            send_frames(*fragments(opcode, parts)), echo((opcode, b"".join(parts)))))
        parts = [b"ab", b"cd", b"ef"]
        out.append(Case(f"fragmentation.{name}.3.chunk1", f"{name} message in 3 fragments, 1-byte writes",
                        send_frames(*fragments(opcode, parts), chunk=1), echo((opcode, b"abcdef"))))
    out.append(Case("fragmentation.empty.all", "text message of 3 empty fragments",
                    send_frames(*fragments(OP_TEXT, [b"", b"", b""])), echo(text(""))))
    out.append(Case("fragmentation.empty.first_last", "empty first and last fragments around data",
                    send_frames(*fragments(OP_BINARY, [b"", b"mid", b""])), echo((OP_BINARY, b"mid"))))
    frames = fragments(OP_TEXT, [b"one", b"two", b"three"])
    out.append(Case("fragmentation.ping_between", "ping between fragments: pong first, then the message",
                    send_frames(frames[0], (OP_PING, b"p1"), frames[1], (OP_PING, b"p2"), frames[2]),
                    echo(pong(b"p1"), pong(b"p2"), text("onetwothree"))))
    out.append(Case("fragmentation.ping_between.chunk1", "ping between fragments, 1-byte writes",
                    send_frames(frames[0], (OP_PING, b"p1"), frames[1], frames[2], chunk=1),
                    echo(pong(b"p1"), text("onetwothree"))))
    out.append(Case("fragmentation.pong_between", "unsolicited pong between fragments is ignored",
                    send_frames(frames[0], (OP_PONG, b"u"), frames[1], frames[2]), echo(text("onetwothree"))))
    out.append(Case("fragmentation.close_between", "close between fragments: closing, the message is dropped",
                    send_frames(frames[0], (OP_CLOSE, close_payload(1000))), echo()))
    out.append(Case("fragmentation.continuation_first", "continuation frame (FIN) with no message started",
                    send_frames((OP_CONT, b"orphan")), fail(1002)))
    out.append(Case("fragmentation.continuation_first.nofin", "continuation frame (no FIN), no message started",
                    send_frames((OP_CONT, b"orphan", {"fin": False}), (OP_CONT, b"x")), fail(1002)))
    out.append(Case("fragmentation.continuation_after_message", "continuation after a complete message",
                    send_frames((OP_TEXT, b"done"), (OP_CONT, b"more")), fail(1002, text("done"))))
    for name, opcode in (("text", OP_TEXT), ("binary", OP_BINARY)):
        out.append(Case(f"fragmentation.{name}_inside_message",
                        f"a new {name} frame while a fragmented message is open",
                        send_frames((OP_TEXT, b"start", {"fin": False}), (opcode, b"new"),
                                    (OP_CONT, b"end")), fail(1002)))
    for name, opcode, data in (("ping", OP_PING, b"p"), ("pong", OP_PONG, b"p"),
                               ("close", OP_CLOSE, close_payload(1000))):
        out.append(Case(f"fragmentation.control.{name}", f"fragmented {name} (control frames MUST NOT be)",
                        send_frames((opcode, data, {"fin": False}), (OP_CONT, b"", {"fin": True})),
                        fail(1002)))
    return out
