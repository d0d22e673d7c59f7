"""opcode: frames with reserved opcodes fail the connection (RFC 6455 §5.2)."""

from __future__ import annotations

from ..wire import OP_TEXT
from . import Case, fail, send_frames, text

RESERVED = (0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF)


def cases(role: str) -> list[Case]:
    out = []
    for op in RESERVED:
        out.append(Case(f"opcode.{op:x}", f"frame with reserved opcode {op:#x}",
                        send_frames((op, b"payload")), fail(1002)))
        out.append(Case(f"opcode.{op:x}.after_valid", f"valid text, then reserved opcode {op:#x}",
                        send_frames((OP_TEXT, b"ok"), (op, b"")), fail(1002, text("ok"))))
    return out
