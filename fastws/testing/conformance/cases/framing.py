"""framing: text and binary messages of every length encoding boundary (RFC 6455 §5.2),
sent whole and cut into small chunks (partial reads on the peer's side)."""

from __future__ import annotations

from ..wire import OP_BINARY, OP_TEXT
from . import Case, echo, fail, send_frames

SIZES = (0, 125, 126, 127, 128, 65535, 65536, 16 * 2**20)
BIG = 1 << 20  # from this size on, 1-byte chunks would take minutes: 4 KiB chunks with pauses


def payload(opcode: int, size: int) -> bytes:
    """``size`` bytes; for text, valid UTF-8 mixing 1- to 4-byte sequences."""
    if opcode == OP_BINARY:
        return bytes(i * 7 % 256 for i in range(min(size, 4096))) * (size // 4096) + bytes(size % 4096)
    unit = "wsé€𝄞".encode()  # 1+1+2+3+4 = 11 bytes
    return unit * (size // len(unit)) + b"x" * (size % len(unit))


def cases(role: str) -> list[Case]:
    out = []
    for name, opcode in (("text", OP_TEXT), ("binary", OP_BINARY)):
        for size in SIZES:
            data = payload(opcode, size)
            frame = (opcode, data)
            out.append(Case(f"framing.{name}.{size}.whole", f"{name} message of {size} bytes in one write",
                            send_frames(frame), echo((opcode, data)), timeout=30))
            if size < BIG:
                out.append(Case(f"framing.{name}.{size}.chunk1", f"{name} message of {size} bytes, 1-byte writes",
                                send_frames(frame, chunk=1), echo((opcode, data)), timeout=30))
            else:
                out.append(Case(f"framing.{name}.{size}.chunk4096",
                                f"{name} message of {size} bytes in 4 KiB writes, 5 ms pause every 256 writes",
                                send_frames(frame, chunk=4096, pause=0.005, pause_every=256),
                                echo((opcode, data)), timeout=30))
    # Non-minimal length encodings: senders MUST use the minimal one (§5.2); failing is
    # justified, accepting is receiver leniency (NON-STRICT).
    for form, size in ((16, 0), (16, 125), (64, 125), (64, 65535)):
        data = payload(OP_BINARY, size)
        out.append(Case(f"framing.length.nonminimal{form}.{size}",
                        f"binary message of {size} bytes with a {form}-bit length",
                        send_frames((OP_BINARY, data, {"length_form": form})),
                        fail(1002, tolerated=((OP_BINARY, data),))))
    # §5.2: "the most significant bit MUST be 0" in a 64-bit length.
    out.append(Case("framing.length.msb_set", "64-bit length with the most significant bit set",
                    send_frames((OP_BINARY, b"", {"length": 1 << 63, "length_form": 64})), fail(1002)))
    return out
