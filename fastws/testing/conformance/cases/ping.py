"""ping: pings are answered by pongs with the same payload (RFC 6455 §5.5.2, §5.5.3);
control payloads are at most 125 bytes (§5.5); unsolicited pongs are ignored."""

from __future__ import annotations

from ..wire import OP_BINARY, OP_PING, OP_PONG, OP_TEXT
from . import Case, echo, fail, pong, send_frames, text


def cases(role: str) -> list[Case]:
    out = []
    for size in (0, 1, 2, 64, 124, 125):
        data = bytes(range(256))[:size] if size % 2 else b"p" * size
        out.append(Case(f"ping.payload.{size}", f"ping of {size} bytes: pong with the same payload",
                        send_frames((OP_PING, data)), echo(pong(data))))
    data = bytes(range(125))
    out.append(Case("ping.payload.125.chunk1", "ping of 125 bytes in 1-byte writes",
                    send_frames((OP_PING, data), chunk=1), echo(pong(data))))
    out.append(Case("ping.payload.126", "ping of 126 bytes (control frames carry at most 125)",
                    send_frames((OP_PING, b"x" * 126)), fail(1002)))
    out.append(Case("ping.payload.65536", "ping of 65536 bytes (64-bit length)",
                    send_frames((OP_PING, b"x" * 65536)), fail(1002)))
    out.append(Case("ping.pong.unsolicited", "unsolicited pong, then a text message: the pong is ignored",
                    send_frames((OP_PONG, b"unsolicited"), (OP_TEXT, b"after")), echo(text("after"))))
    out.append(Case("ping.pong.unsolicited.empty", "unsolicited empty pong is ignored",
                    send_frames((OP_PONG, b""), (OP_BINARY, b"\x00")), echo((OP_BINARY, b"\x00"))))
    out.append(Case("ping.pong.126", "pong of 126 bytes",
                    send_frames((OP_PONG, b"x" * 126)), fail(1002)))
    pings = [(OP_PING, f"ping-{i}".encode()) for i in range(10)]
    out.append(Case("ping.ten_in_a_row", "10 pings in one write: 10 pongs in order",
                    send_frames(*pings), echo(*(pong(p) for _, p in pings))))
    out.append(Case("ping.ten_in_a_row.chunk1", "10 pings in 1-byte writes",
                    send_frames(*pings, chunk=1), echo(*(pong(p) for _, p in pings))))
    out.append(Case("ping.between_messages", "text, ping, binary: echo, pong, echo in order",
                    send_frames((OP_TEXT, b"one"), (OP_PING, b"p"), (OP_BINARY, b"two")),
                    echo(text("one"), pong(b"p"), (OP_BINARY, b"two"))))
    return out
