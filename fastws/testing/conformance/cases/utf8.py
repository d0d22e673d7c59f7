"""utf8: text messages must be valid UTF-8 (RFC 6455 §8.1, RFC 3629); invalid ones fail
with 1007.  Sequences are sent in one frame and split across two fragments at every
byte position; fail-fast cases require the 1007 before the rest of the message is sent."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..wire import OP_CONT, OP_TEXT
from . import Case, Script, echo, fail, send_frames

if TYPE_CHECKING:
    from ..driver import Peer

VALID = {
    "ascii": b"Hello, world",
    "kosme": "κόσμε".encode(),
    "mixed": "Hello-µ@ßöäüàá-UTF-8!!".encode(),
    "u0000": b"a\x00b",
    "u007f_u0080": "\x7f\x80".encode(),
    "u07ff_u0800": "\u07ff\u0800".encode(),
    "uffff": b"\xef\xbf\xbf",  # a noncharacter, still valid UTF-8
    "ud7ff_ue000": "\ud7ff\ue000".encode(),
    "u10000": "\U00010000".encode(),
    "u10ffff": "\U0010ffff".encode(),
    "emoji": "ok 👍🏽 ok".encode(),
}

# name -> (bytes, index of the first byte at which a validator can know it is invalid)
INVALID = {
    "continuation": (b"ab\x80cd", 2),
    "overlong2": (b"ab\xc0\x80cd", 2),
    "overlong2_c1": (b"ab\xc1\xbfcd", 2),
    "overlong3": (b"ab\xe0\x80\x80cd", 3),
    "overlong4": (b"ab\xf0\x80\x80\x80cd", 3),
    "surrogate_high": (b"ab\xed\xa0\x80cd", 3),
    "surrogate_low": (b"ab\xed\xbf\xbfcd", 3),
    "above_10ffff": (b"ab\xf4\x90\x80\x80cd", 3),
    "f5": (b"ab\xf5\x80\x80\x80cd", 2),
    "fe": (b"ab\xfecd", 2),
    "ff": (b"ab\xffcd", 2),
    "truncated2": (b"ab\xcecd", 3),
    "truncated3": (b"ab\xe2\x82cd", 4),
    "truncated_end": (b"ab\xe2\x82", 4),  # only the end of the message tells
    "kosme_broken": ("κόσμε".encode()[:-1] + b"\xed\xa0\x80", 10),
}


def split(data: bytes, at: int) -> tuple:
    return ((OP_TEXT, data[:at], {"fin": False}), (OP_CONT, data[at:]))


def fail_fast_fragments(data: bytes, bad: int) -> Script:
    """First fragment up to and including the bad byte, pause, then the rest (valid ASCII)."""

    async def script(peer: Peer) -> None:
        await peer.send(peer.frame(OP_TEXT, data[: bad + 1], fin=False))
        await asyncio.sleep(0.1)
        peer.mark("rest")
        await peer.send(peer.frame(OP_CONT, data[bad + 1 :] + b" and the rest"))

    return script


def fail_fast_partial(data: bytes, bad: int) -> Script:
    """One frame whose payload stops after the bad byte for 100 ms (a partial frame)."""

    async def script(peer: Peer) -> None:
        payload = data + b"x" * 1000
        frame = peer.frame(OP_TEXT, payload)
        cut = len(frame) - len(payload) + bad + 1
        await peer.send(frame[:cut])
        await asyncio.sleep(0.1)
        peer.mark("rest")
        await peer.send(frame[cut:])

    return script


def cases(role: str) -> list[Case]:
    out = []
    for name, data in VALID.items():
        out.append(Case(f"utf8.valid.{name}.whole", f"valid text {data!r} in one frame",
                        send_frames((OP_TEXT, data)), echo((OP_TEXT, data))))
        for at in range(1, len(data)):
            out.append(Case(f"utf8.valid.{name}.split{at}", f"valid text {data!r} split in 2 fragments at {at}",
                            send_frames(*split(data, at)), echo((OP_TEXT, data))))
    for name, (data, bad) in INVALID.items():
        out.append(Case(f"utf8.invalid.{name}.whole", f"invalid text {data!r} in one frame",
                        send_frames((OP_TEXT, data)), fail(1007)))
        for at in range(1, len(data)):
            out.append(Case(f"utf8.invalid.{name}.split{at}",
                            f"invalid text {data!r} split in 2 fragments at {at}",
                            send_frames(*split(data, at)), fail(1007)))
        if bad < len(data) and not name.startswith("truncated"):
            out.append(Case(f"utf8.failfast.{name}.fragment",
                            "fragment ending with the invalid byte, 100 ms pause, then the rest: the 1007 "
                            "must arrive before the rest is sent", fail_fast_fragments(data, bad),
                            fail(1007, before="rest")))
            out.append(Case(f"utf8.failfast.{name}.partial",
                            "frame cut right after the invalid byte, 100 ms pause, then the rest of the "
                            "frame: the 1007 must arrive before", fail_fast_partial(data, bad),
                            fail(1007, before="rest")))
    return out
