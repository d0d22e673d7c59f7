"""rsv: a reserved bit set with no extension negotiated that defines it fails the
connection (RFC 6455 §5.2), on data and on control frames."""

from __future__ import annotations

from ..wire import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, close_payload
from . import Case, fail, send_frames, text

FRAMES = {
    "text": (OP_TEXT, b"reserved"),
    "binary": (OP_BINARY, b"\x01\x02"),
    "ping": (OP_PING, b"p"),
    "pong": (OP_PONG, b"p"),
    "close": (OP_CLOSE, close_payload(1000)),
}


def cases(role: str) -> list[Case]:
    out = []
    for bits in (4, 2, 1, 7):
        name = {4: "rsv1", 2: "rsv2", 1: "rsv3", 7: "all"}[bits]
        for kind, (opcode, data) in FRAMES.items():
            out.append(Case(f"rsv.{name}.{kind}", f"{kind} frame with RSV bits {bits:03b}, no extension",
                            send_frames((opcode, data, {"rsv": bits})), fail(1002)))
        out.append(Case(f"rsv.{name}.after_valid", f"valid text, then a text frame with RSV bits {bits:03b}: "
                        "the first is echoed", send_frames((OP_TEXT, b"ok"), (OP_TEXT, b"x", {"rsv": bits})),
                        fail(1002, text("ok"))))
    return out
