"""compression: permessage-deflate (RFC 7692), only where negotiated.

Against a server the driver offers each parameter combination a client may offer;
against a client it answers with each combination a server may answer (the fastws
client offers ``client_max_window_bits`` without a value, so every window can be
chosen).  The driver inflates the peer's messages with exactly the agreed window
and context rules, so a peer that compresses beyond them is caught.
"""

from __future__ import annotations

import random
import zlib
from typing import TYPE_CHECKING, Optional

from ..wire import OP_BINARY, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RSV1, DeflateParams
from . import Case, Reply, Script, echo, fail

if TYPE_CHECKING:
    from ..driver import Peer

Message = tuple[int, bytes, bool]  # opcode, payload, compressed


def send_messages(*messages: Message, fragments: int = 1, chunk: Optional[int] = None) -> Script:
    """Compress (in order, so the context is right) and send messages, each in ``fragments`` frames."""

    async def script(peer: Peer) -> None:
        data = b""
        for opcode, payload, compressed in messages:
            body = peer.compress(payload) if compressed else payload
            step = max(1, -(-len(body) // fragments))
            parts = [body[i : i + step] for i in range(0, len(body), step)] or [b""]
            for i, part in enumerate(parts):
                rsv = RSV1 if compressed and i == 0 else 0  # RSV1 on the first frame only (§6.1)
                data += peer.frame(opcode if i == 0 else OP_CONT, part, fin=i == len(parts) - 1, rsv=rsv)
        await peer.send(data, chunk=chunk)

    return script


def replies(*messages: Message) -> tuple[Reply, ...]:
    return tuple((op, payload) for op, payload, _ in messages)


TEXT = ("A compressible sentence, repeated. " * 60).encode()
MIXED: tuple[Message, ...] = (
    (OP_TEXT, TEXT, True),
    (OP_TEXT, TEXT, True),  # same again: with context takeover, mostly back-references
    (OP_BINARY, bytes(range(256)) * 64, True),
    (OP_TEXT, b"short, not compressed", False),
    (OP_TEXT, TEXT[::-1], True),
)


def param_sets(role: str) -> list[tuple[str, DeflateParams]]:
    sets: list[tuple[str, DeflateParams]] = [
        ("none", {}),
        ("server_no_context_takeover", {"server_no_context_takeover": None}),
        ("client_no_context_takeover", {"client_no_context_takeover": None}),
        ("no_context_takeover", {"server_no_context_takeover": None, "client_no_context_takeover": None}),
    ]
    for bits in range(8, 16):
        sets.append((f"server_max_window_bits={bits}", {"server_max_window_bits": str(bits)}))
    if role == "server":  # an offer-only form: the server may then pick the client's window
        sets.append(("client_max_window_bits", {"client_max_window_bits": None}))
    for bits in range(8, 16):
        sets.append((f"client_max_window_bits={bits}", {"client_max_window_bits": str(bits)}))
    sets.append(("all.9", {"server_no_context_takeover": None, "client_no_context_takeover": None,
                           "server_max_window_bits": "9", "client_max_window_bits": "9"}))
    sets.append(("windows.8.takeover", {"server_max_window_bits": "8", "client_max_window_bits": "8"}))
    return sets


def cases(role: str) -> list[Case]:
    out = []
    for name, params in param_sets(role):
        out.append(Case(f"compression.params.{name}", f"5 messages with permessage-deflate; {name}",
                        send_messages(*MIXED), echo(*replies(*MIXED)), deflate=params))
    on: DeflateParams = {}
    rng = random.Random(6455)
    big_text = ("The quick brown fox jumps over the lazy dog. " * 40000).encode()[: 2**20 * 2]
    big_random = bytes(rng.getrandbits(8) for _ in range(2**18)) * 4
    table: list[tuple[str, str, Script, object]] = [
        ("large.text", "2 MiB compressible text", send_messages((OP_TEXT, big_text, True)),
         echo((OP_TEXT, big_text))),
        ("large.random", "1 MiB of incompressible data", send_messages((OP_BINARY, big_random, True)),
         echo((OP_BINARY, big_random))),
        ("fragmented", "compressed message in 7 fragments, RSV1 on the first only",
         send_messages(*MIXED[:3], fragments=7), echo(*replies(*MIXED[:3]))),
        ("fragmented.chunk1", "compressed message in 3 fragments, 1-byte writes",
         send_messages((OP_TEXT, TEXT, True), fragments=3, chunk=1), echo((OP_TEXT, TEXT))),
        ("large.fragmented", "2 MiB compressed text in 16 fragments",
         send_messages((OP_TEXT, big_text, True), fragments=16), echo((OP_TEXT, big_text))),
        ("uncompressed", "message with RSV1 clear on a compressed connection",
         send_messages((OP_BINARY, b"plain" * 100, False)), echo((OP_BINARY, b"plain" * 100))),
        ("empty", "compressed empty message", send_messages((OP_TEXT, b"", True)), echo((OP_TEXT, b""))),
        ("ping_between_fragments", "ping between the fragments of a compressed message",
         _ping_between(TEXT), echo((OP_PONG, b"mid"), (OP_TEXT, TEXT))),
        ("bfinal", "message compressed into a final (BFINAL) block, no tail to strip (RFC 7692 §7.2.3.4)",
         _raw_deflate(TEXT, zlib.Z_FINISH), echo((OP_TEXT, TEXT))),
        ("tail_kept", "compressed message still ending with 00 00 ff ff (an extra empty block is valid)",
         _raw_deflate(TEXT, zlib.Z_SYNC_FLUSH), echo((OP_TEXT, TEXT))),
        ("rsv1_continuation", "RSV1 set on a continuation frame (only the first frame may carry it)",
         _frames((OP_TEXT, "c", False, RSV1), (OP_CONT, "", True, RSV1)), fail(1002)),
        ("rsv1_ping", "RSV1 on a ping (control frames are never compressed)",
         _frames((OP_PING, "", True, RSV1)), fail(1002)),
        ("rsv2", "RSV2 on a text frame (not defined by permessage-deflate)",
         _frames((OP_TEXT, "c", True, 2)), fail(1002)),
        ("rsv3", "RSV3 on a binary frame", _frames((OP_BINARY, "c", True, 1)), fail(1002)),
        ("corrupt", "compressed message that is not deflate data (reserved block type)",
         _frames((OP_BINARY, b"\xff\xff\xff\xff", True, RSV1)), fail(1007)),
        ("invalid_utf8", "compressed text that inflates to invalid UTF-8",
         send_messages((OP_TEXT, b"ok \xed\xa0\x80 ok", True)), fail(1007)),
    ]
    for name, doc, script, expect in table:
        out.append(Case(f"compression.{name}", doc, script, expect, deflate=on, timeout=30))  # type: ignore[arg-type]
    return out


def _frames(*specs: tuple) -> Script:
    """Frames given as (opcode, payload, fin, rsv); payload "c" is a compressed b"hello", a str is literal."""

    async def script(peer: Peer) -> None:
        data = b""
        for opcode, payload, fin, rsv in specs:
            if payload == "c":
                payload = peer.compress(b"hello")
            elif isinstance(payload, str):
                payload = payload.encode()
            data += peer.frame(opcode, payload, fin=fin, rsv=rsv)
        await peer.send(data)

    return script


def _ping_between(data: bytes) -> Script:
    async def script(peer: Peer) -> None:
        body = peer.compress(data)
        half = len(body) // 2
        await peer.send(peer.frame(OP_TEXT, body[:half], fin=False, rsv=RSV1) + peer.frame(OP_PING, b"mid")
                        + peer.frame(OP_CONT, body[half:]))

    return script


def _raw_deflate(data: bytes, flush: int) -> Script:
    """A message compressed by a fresh 15-bit compressor, ended with ``flush``, nothing stripped."""

    async def script(peer: Peer) -> None:
        z = zlib.compressobj(6, zlib.DEFLATED, -15)
        await peer.send(peer.frame(OP_TEXT, z.compress(data) + z.flush(flush), rsv=RSV1))

    return script
