"""limits: large messages and many messages at once, echoed whole and in order."""

from __future__ import annotations

from ..wire import OP_BINARY, OP_CONT, OP_PING, OP_TEXT
from . import Case, echo, pong, send_frames
from .framing import payload

MIB = 2**20


def cases(role: str) -> list[Case]:
    out = []
    for size in (4 * MIB, 8 * MIB):
        for name, opcode in (("text", OP_TEXT), ("binary", OP_BINARY)):
            data = payload(opcode, size)
            out.append(Case(f"limits.{name}.{size // MIB}MiB", f"{name} message of {size // MIB} MiB",
                            send_frames((opcode, data)), echo((opcode, data)), timeout=30))
    data = payload(OP_BINARY, 4 * MIB)
    step = 64 * 1024
    parts = [data[i : i + step] for i in range(0, len(data), step)]
    frames = [(OP_BINARY if i == 0 else OP_CONT, p, {"fin": i == len(parts) - 1}) for i, p in enumerate(parts)]
    out.append(Case("limits.binary.4MiB.fragmented", "4 MiB binary message in 64 KiB fragments",
                    send_frames(*frames), echo((OP_BINARY, data)), timeout=30))
    messages = [(OP_TEXT if i % 2 else OP_BINARY, f"message {i}".encode()) for i in range(1000)]
    out.append(Case("limits.many.1000", "1000 small messages in one write, echoed in order",
                    send_frames(*messages), echo(*messages), timeout=20))
    out.append(Case("limits.many.1000.chunk7", "1000 small messages in 7-byte writes",
                    send_frames(*messages, chunk=7), echo(*messages), timeout=20))
    pings = [(OP_PING, f"{i}".encode()) for i in range(100)]
    out.append(Case("limits.pings.100", "100 pings in one write, 100 pongs in order",
                    send_frames(*pings), echo(*(pong(p) for _, p in pings))))
    return out
