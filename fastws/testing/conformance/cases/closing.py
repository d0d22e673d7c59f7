"""closing: the closing handshake (RFC 6455 §5.5.1, §7.1.5, §7.4).

Valid codes are echoed in a clean close; codes that must not appear on the wire
(§7.4.1, §7.4.2: under 1000, 1004-1006, 1015, 1016-2999, 5000 and up) fail with
1002; a close reason must be UTF-8 (§5.5.1: 1007 otherwise).  The server closes
TCP right after the handshake (§7.1.1); the verdict checks the bound for every case.
"""

from __future__ import annotations

from ..wire import OP_BINARY, OP_CLOSE, OP_PING, OP_TEXT, close_payload
from . import Case, echo, fail, send_frames

VALID = (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999)
INVALID = (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535)


def cases(role: str) -> list[Case]:
    out = []
    for code in VALID:
        out.append(Case(f"closing.code.{code}", f"close {code}: echoed",
                        send_frames((OP_CLOSE, close_payload(code))), echo(close=code)))
    for code in INVALID:
        out.append(Case(f"closing.code.{code}", f"close {code} (not allowed on the wire)",
                        send_frames((OP_CLOSE, close_payload(code))), fail(1002)))
    out.append(Case("closing.empty", "empty close: answered with an empty close (or 1000)",
                    send_frames((OP_CLOSE, b"")), echo(close=None)))
    out.append(Case("closing.payload1", "close payload of 1 byte (a code needs 2)",
                    send_frames((OP_CLOSE, b"\x03")), fail(1002)))
    out.append(Case("closing.reason.123", "close 1000 with a 123-byte reason (the maximum)",
                    send_frames((OP_CLOSE, close_payload(1000, b"r" * 123))), echo(close=1000)))
    out.append(Case("closing.reason.124", "close payload of 126 bytes (over the 125 of a control frame)",
                    send_frames((OP_CLOSE, close_payload(1000, b"r" * 124))), fail(1002)))
    out.append(Case("closing.reason.utf8", "close 1000 with a multi-byte UTF-8 reason",
                    send_frames((OP_CLOSE, close_payload(1000, "κόσμε 👍".encode()))), echo(close=1000)))
    out.append(Case("closing.reason.invalid_utf8", "close 1000 with a reason that is not UTF-8",
                    send_frames((OP_CLOSE, close_payload(1000, b"ab\xed\xa0\x80"))), fail(1007)))
    out.append(Case("closing.reason.truncated_utf8", "close reason ending in a truncated sequence",
                    send_frames((OP_CLOSE, close_payload(1000, "κόσμε".encode()[:-1]))), fail(1007)))
    out.append(Case("closing.data_after_close", "text, binary and ping after our close are ignored",
                    send_frames((OP_CLOSE, close_payload(1000)), (OP_TEXT, b"late"), (OP_BINARY, b"late"),
                                (OP_PING, b"late")), echo(close=1000)))
    out.append(Case("closing.after_message", "a text message then close in one write",
                    send_frames((OP_TEXT, b"last"), (OP_CLOSE, close_payload(1000))),
                    echo((OP_TEXT, b"last"), close=1000)))
    out.append(Case("closing.chunk1", "close 1000 with a reason, 1-byte writes",
                    send_frames((OP_CLOSE, close_payload(1000, b"bye")), chunk=1), echo(close=1000)))
    return out
