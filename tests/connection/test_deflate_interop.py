"""permessage-deflate (RFC 7692) at the connection level: interop, wire format, misuse, negotiation.

* Interop with the ``websockets`` library in both roles, over real sockets: every
  window-bits value 9..15 in each direction, with and without context takeover
  on each side, text and binary, compressible JSON-like messages (256 B, 8 KiB,
  100 KiB), an incompressible 64 KiB one, fragmented messages both ways, and
  messages below the threshold.  What fastws puts on the wire is checked from
  websockets' side (its extension's ``decode`` sees every data frame with its
  RSV1 bit) and the negotiated parameters from the 101 and from both sessions.
* Wire checks against a hand-driven peer (``rawpeer.RawPeer``) that compresses
  and inflates with Python's ``zlib`` itself: RSV1 on the first frame only,
  small messages and ``compress=False`` sent with RSV1 clear, context takeover.
* Misuse after a handshake that negotiated permessage-deflate: RSV1 on control
  or continuation frames or without the extension (1002), corrupt data and
  invalid UTF-8 inside compressed text (1007), compression bombs (1009, fast,
  memory bounded), on the server and on the client.
* Negotiation at the connection level: declined offers, ``compression=None``,
  a client facing an answer it cannot accept.

The ``impl`` fixture selects the codec; the ``kernels`` fixture below makes the
same choice for the deflate kernels (compiled ``fastws._deflate_c`` or pure
``fastws._deflate_py``).  Interop cases are spread over loops and
implementations instead of taking their full product, to keep the file fast.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import os
import random
import time
import zlib
from typing import Any

import pytest
from codec_helpers import encode_frame
from conftest import ACTIVE_BUILD
from rawpeer import EOF, RawPeer, accept_for, close_payload
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve
from websockets.extensions import permessage_deflate as ws_pmd
from websockets.frames import Opcode

import fastws
from fastws import ConnectionClosedError
from fastws import deflate as pmd
from fastws.constants import OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT
from fastws.exceptions import InvalidHandshake
from fastws.handshake import parse_extensions

HOST = "127.0.0.1"
TAIL = b"\x00\x00\xff\xff"
KiB = 1024
MiB = 1 << 20
RSV1 = 0x4  # RawFrame.rsv is (rsv1 << 2) | (rsv2 << 1) | rsv3
THRESHOLD = pmd.DEFAULT_THRESHOLD

WS_OPTS: dict[str, Any] = {"ping_interval": None, "close_timeout": 5, "max_size": 4 * MiB}


# =========================================================================== helpers


@pytest.fixture
def kernels(impl: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run the deflate kernels on the same implementation as the codec (``impl``).

    ``fastws.deflate._impl`` is what a PerMessageDeflate built without an explicit
    implementation, and the client's ``client_accept``, use.
    """
    mod = pmd.implementation(impl)
    monkeypatch.setattr(pmd, "_impl", mod)
    return mod


def json_like(size: int, seed: int) -> str:
    """Compressible JSON-like ASCII text of exactly ``size`` characters (= bytes)."""
    rnd = random.Random(seed)
    records = []
    total = 0
    while total < size:
        record = json.dumps(
            {
                "id": rnd.randrange(10**6),
                "user": f"user{rnd.randrange(500)}",
                "status": rnd.choice(["active", "idle", "away", "offline"]),
                "tags": rnd.sample(["a", "b", "news", "sport", "tech", "misc"], 2),
                "score": round(rnd.random() * 100, 2),
                "ok": rnd.random() < 0.5,
            },
            separators=(",", ":"),
        )
        records.append(record)
        total += len(record) + 1
    return ("[" + ",".join(records))[: size - 1] + "]"


def random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


UNICODE = "héllo wörld — ☃ 😀 \U0010ffff " * 12

# (id, message): what every interop case exchanges.
MESSAGES: list[tuple[str, str | bytes]] = [
    ("text-256", json_like(256, 1)),
    ("text-8k", json_like(8 * KiB, 2)),
    ("text-100k", json_like(100 * KiB, 3)),
    ("binary-256", json_like(256, 4).encode()),
    ("binary-8k", json_like(8 * KiB, 5).encode()),
    ("binary-100k", json_like(100 * KiB, 6).encode()),
    ("random-64k", random_bytes(64 * KiB, 7)),
    ("unicode", UNICODE),
    ("tiny-text", "hi"),  # below the threshold
    ("tiny-binary", b"\x00\x01\x02"),
    ("empty-text", ""),
    ("plain-8k", "plain:" + json_like(8 * KiB, 8)),  # sent with compress=False by fastws
]


def is_plain(message: str | bytes) -> bool:
    return message[:6] in ("plain:", b"plain:")


def split3(message: str | bytes) -> list:
    n = len(message)
    return [message[: n // 3], message[n // 3 : 2 * n // 3], message[2 * n // 3 :]]


async def echo_twice(ws: fastws.WebSocket) -> None:
    """fastws handler: echo each message whole, then fragmented (3 frames + an empty last one).

    Messages starting with ``plain:`` are echoed with ``compress=False``.
    """
    async for message in ws:
        compress = not is_plain(message)
        await ws.send(message, compress=compress)
        await ws.send_fragments(split3(message), compress=compress)


class Deflater:
    """The raw peer's compressor (Python's zlib, context kept across messages)."""

    def __init__(self, wbits: int = 15) -> None:
        self.obj = zlib.compressobj(6, zlib.DEFLATED, -wbits)

    def message(self, data: bytes) -> bytes:
        out = self.obj.compress(data) + self.obj.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(TAIL)
        return out[:-4]

    def fragments(self, parts: list[bytes]) -> list[bytes]:
        out = [self.obj.compress(p) + self.obj.flush(zlib.Z_SYNC_FLUSH) for p in parts]
        assert out[-1].endswith(TAIL)
        out[-1] = out[-1][:-4]
        return out


class Inflater:
    """The raw peer's decompressor (context kept across messages)."""

    def __init__(self, wbits: int = 15) -> None:
        self.obj = zlib.decompressobj(-wbits)

    def message(self, payload: bytes) -> bytes:
        return self.obj.decompress(payload + TAIL)


def raw_deflate(data: bytes, wbits: int = 15) -> bytes:
    return Deflater(wbits).message(data)


def xor_mask(data: bytes, key: bytes) -> bytes:
    n = len(data)
    if not n:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def fast_frame(opcode: int, payload: bytes, *, masked: bool, rsv1: bool = False, fin: bool = True) -> bytes:
    """encode_frame for megabyte payloads (its reference masking goes byte by byte)."""
    key = os.urandom(4) if masked else None
    header = encode_frame(opcode, b"", fin=fin, rsv1=rsv1, key=key, length=len(payload))
    return header + (xor_mask(payload, key) if key else payload)


@functools.cache
def zeros_bomb() -> bytes:
    """100 MiB of zeros, raw deflate at level 9 + sync flush, tail stripped: about 100 KB."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = c.compress(bytes(100 * MiB)) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(TAIL)
    return out[:-4]


@functools.cache
def gigabyte_bomb(gib: int = 2) -> bytes:
    """``gib`` GiB of zeros in about ``gib`` MB: once the window is all zeros, every further
    MiB of zeros compresses to the very same block, which is simply repeated."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = bytes(MiB)
    first = c.compress(zeros) + c.flush(zlib.Z_SYNC_FLUSH)
    repeat = c.compress(zeros) + c.flush(zlib.Z_SYNC_FLUSH)
    assert repeat == c.compress(zeros) + c.flush(zlib.Z_SYNC_FLUSH)
    bomb = first + repeat * (gib * 1024 - 1)
    # Sanity, with zlib itself: the first blocks are MiBs of zeros.
    head = zlib.decompressobj(-15).decompress(first + repeat * 2)
    assert len(head) == 3 * MiB and not any(head)
    return bomb[:-4]


BOMBS = {"100MiB-zeros": (zeros_bomb, 1 * MiB), "2GiB-zeros": (gigabyte_bomb, 4 * MiB)}


def rss_status() -> dict[str, int]:
    """VmRSS / VmHWM of this process, in bytes."""
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024
    return values


def reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def ext_params(header: str | None) -> dict[str, str | None] | None:
    """A one-extension permessage-deflate header as {param: value}; None without the header."""
    if header is None:
        return None
    [(name, params)] = parse_extensions([header])
    assert name == "permessage-deflate", header
    assert len({p for p, _ in params}) == len(params), header
    return dict(params)


# --- raw peers that negotiate (or not) permessage-deflate -----------------------


def parse_head(head: bytes) -> list[tuple[str, str]]:
    fields = []
    for line in head.decode("latin-1").split("\r\n")[1:]:
        if line:
            name, _, value = line.partition(":")
            fields.append((name.strip().lower(), value.strip()))
    return fields


async def raw_client(port: int, extensions: str | None = None) -> tuple[RawPeer, list[str]]:
    """A RawPeer client whose request carries ``Sec-WebSocket-Extensions: extensions``.

    Returns the peer and the values of the 101's Sec-WebSocket-Extensions fields.
    """
    reader, writer = await asyncio.open_connection(HOST, port)
    key = base64.b64encode(os.urandom(16))
    lines = [
        b"GET / HTTP/1.1",
        f"Host: {HOST}:{port}".encode(),
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: " + key,
        b"Sec-WebSocket-Version: 13",
    ]
    if extensions is not None:
        lines.append(b"Sec-WebSocket-Extensions: " + extensions.encode())
    writer.write(b"\r\n".join(lines) + b"\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 "), head
    fields = parse_head(head)
    assert [v for n, v in fields if n == "sec-websocket-accept"] == [accept_for(key).decode()], head
    return RawPeer(reader, writer, client=True), [v for n, v in fields if n == "sec-websocket-extensions"]


class RawDeflateServer:
    """A TCP server answering every upgrade with a hand-made 101 carrying ``answer``
    as Sec-WebSocket-Extensions (None: no such header); records the requests."""

    def __init__(self, answer: str | None = "permessage-deflate") -> None:
        self.answer = answer
        self.requests: list[list[tuple[str, str]]] = []
        self.peers: asyncio.Queue[RawPeer] = asyncio.Queue()
        self.all_peers: list[RawPeer] = []
        self.server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> RawDeflateServer:  # noqa: PYI034
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            fields = parse_head(head)
            self.requests.append(fields)
            [key] = [v for n, v in fields if n == "sec-websocket-key"]
            response = [
                b"HTTP/1.1 101 Switching Protocols",
                b"Upgrade: websocket",
                b"Connection: Upgrade",
                b"Sec-WebSocket-Accept: " + accept_for(key.encode()),
            ]
            if self.answer is not None:
                response.append(b"Sec-WebSocket-Extensions: " + self.answer.encode())
            writer.write(b"\r\n".join(response) + b"\r\n\r\n")
            peer = RawPeer(reader, writer, client=False)
            self.all_peers.append(peer)
            await self.peers.put(peer)

        self.server = await asyncio.start_server(on_connect, HOST, 0)
        return self

    @property
    def uri(self) -> str:
        assert self.server is not None
        return f"ws://{HOST}:{self.server.sockets[0].getsockname()[1]}/"

    def offers(self, index: int = 0) -> list[str]:
        return [v for n, v in self.requests[index] if n == "sec-websocket-extensions"]

    async def peer(self, timeout: float = 5.0) -> RawPeer:
        return await asyncio.wait_for(self.peers.get(), timeout)

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()
        for peer in self.all_peers:
            peer.abort()


async def read_message(peer: RawPeer, timeout: float = 5.0) -> list:
    """The frames of the next data message (up to FIN)."""
    frames = []
    while True:
        frame = await peer.read_frame(timeout)
        assert frame.opcode != OP_CLOSE, (frame, frame.close)
        frames.append(frame)
        if frame.fin:
            return frames


async def expect_close(peer: RawPeer, code: int, timeout: float = 5.0) -> None:
    """The peer fails the connection: a close frame with ``code``, then TCP closed."""
    _, close = await peer.read_until_close(timeout)
    assert close.close[0] == code, close.close
    await peer.expect_eof(timeout)


# --- websockets' side of the wire ----------------------------------------------

DATA_OPCODES = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)


@pytest.fixture
def ws_wire(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[tuple[int, bool, bool]]]:
    """Every data frame websockets' permessage-deflate decodes ("in") or encodes ("out"),
    as (opcode, rsv1, fin): RSV1 exactly as it is on the wire."""
    seen: dict[str, list[tuple[int, bool, bool]]] = {"in": [], "out": []}
    decode, encode = ws_pmd.PerMessageDeflate.decode, ws_pmd.PerMessageDeflate.encode

    def recording_decode(self: Any, frame: Any, *, max_size: int | None = None) -> Any:
        if frame.opcode in DATA_OPCODES:
            seen["in"].append((int(frame.opcode), frame.rsv1, frame.fin))
        return decode(self, frame, max_size=max_size)

    def recording_encode(self: Any, frame: Any) -> Any:
        out = encode(self, frame)
        if out.opcode in DATA_OPCODES:
            seen["out"].append((int(out.opcode), out.rsv1, out.fin))
        return out

    monkeypatch.setattr(ws_pmd.PerMessageDeflate, "decode", recording_decode)
    monkeypatch.setattr(ws_pmd.PerMessageDeflate, "encode", recording_encode)
    return seen


def expected_fastws_frames(message: str | bytes, threshold: int, *, sent_by_fastws_fragmented: bool) -> list:
    """(opcode, rsv1, fin) of what fastws writes for ``message``: whole, or as send_fragments(split3)."""
    opcode = OP_TEXT if isinstance(message, str) else OP_BINARY
    compress = not is_plain(message)
    if not sent_by_fastws_fragmented:
        return [(opcode, compress and len(message) >= threshold, True)]
    return [
        (opcode, compress, False),
        (OP_CONTINUATION, False, False),
        (OP_CONTINUATION, False, False),
        (OP_CONTINUATION, False, True),
    ]


def expected_ws_frames(message: str | bytes, fragmented: bool) -> list:
    """(opcode, rsv1, fin) of what websockets writes: it compresses every message, and
    sends an iterable as one frame per item plus an empty final frame."""
    opcode = OP_TEXT if isinstance(message, str) else OP_BINARY
    if not fragmented:
        return [(opcode, True, True)]
    return [
        (opcode, True, False),
        (OP_CONTINUATION, False, False),
        (OP_CONTINUATION, False, False),
        (OP_CONTINUATION, False, True),
    ]


def check_session(session: Any, kernels: Any, send: tuple[int, bool], receive: tuple[int, bool]) -> None:
    """A fastws DeflateSession compresses with (window bits, reset) ``send`` and inflates with ``receive``."""
    assert session is not None, "permessage-deflate was not enabled on the fastws side"
    c, d = session.compressor, session.decompressor
    assert type(c).__module__ == kernels.__name__, (type(c), kernels)
    assert (c.window_bits, c.no_context_takeover) == send, session
    assert (d.window_bits, d.no_context_takeover) == receive, session


def check_ws_extension(ext: Any, local: tuple[int, bool], remote: tuple[int, bool]) -> None:
    """websockets' PerMessageDeflate: (window bits, no context takeover) it compresses / inflates with."""
    assert (ext.local_max_window_bits, ext.local_no_context_takeover) == local, vars(ext)
    assert (ext.remote_max_window_bits, ext.remote_no_context_takeover) == remote, vars(ext)


def spread(cases: list) -> list:
    """Every case on this process's build (``impl``: test_pure_core.py reruns the pure one), on
    one of the two loops, alternating: both loops meet the cases, without the full product."""
    loops = ("asyncio", "uvloop")
    return [
        pytest.param(case, loops[i % 2], ACTIVE_BUILD, id=f"{case['id']}-{loops[i % 2]}-{ACTIVE_BUILD}")
        for i, case in enumerate(cases)
    ]


# =========================================================================== 1. interop: fastws server, websockets client

SNCT, CNCT = "server_no_context_takeover", "client_no_context_takeover"
SMWB, CMWB = "server_max_window_bits", "client_max_window_bits"

# ws: ClientPerMessageDeflateFactory kwargs (None: websockets' own compression="deflate");
# ours: serve(compression=...) ("deflate" or PerMessageDeflate kwargs);
# answer: the 101's parameters; send / receive: our session's (window bits, reset).
SERVER_CASES: list[dict[str, Any]] = [
    {
        "id": "defaults",
        "ws": None,
        "ours": "deflate",
        "answer": {},
        "send": (12, False),
        "receive": (15, False),
    },
    {
        "id": "silent-cap",
        "ws": {CMWB: 10},
        "ours": "deflate",
        "answer": {CMWB: "10"},
        "send": (12, False),
        "receive": (10, False),
    },
    {
        "id": "s9-c15",
        "ws": {SMWB: 9, CMWB: 15},
        "ours": "deflate",
        "answer": {SMWB: "9", CMWB: "15"},
        "send": (9, False),
        "receive": (15, False),
    },
    {
        "id": "s10-c14-snct",
        "ws": {SMWB: 10, CMWB: 14, SNCT: True},
        "ours": {},
        "answer": {SNCT: None, SMWB: "10", CMWB: "14"},
        "send": (10, True),
        "receive": (14, False),
    },
    {
        "id": "s11-c13-cnct",
        "ws": {SMWB: 11, CMWB: 13, CNCT: True},
        "ours": {},
        "answer": {CNCT: None, SMWB: "11", CMWB: "13"},
        "send": (11, False),
        "receive": (13, True),
    },
    {
        "id": "s12-c12-both",
        "ws": {SMWB: 12, CMWB: 12, SNCT: True, CNCT: True},
        "ours": {},
        "answer": {SNCT: None, CNCT: None, SMWB: "12", CMWB: "12"},
        "send": (12, True),
        "receive": (12, True),
    },
    # Our server asks for the resets / smaller client window itself.
    {
        "id": "s13-c11-ours-snct",
        "ws": {SMWB: 13},
        "ours": {SNCT: True, CMWB: 11},
        "answer": {SNCT: None, SMWB: "13", CMWB: "11"},
        "send": (13, True),
        "receive": (11, False),
    },
    {
        "id": "s14-c10-ours-cnct",
        "ws": {SMWB: 15, CMWB: 10},
        "ours": {SMWB: 14, CNCT: True, "level": 9, "mem_level": 9},
        "answer": {CNCT: None, SMWB: "14", CMWB: "10"},
        "send": (14, False),
        "receive": (10, True),
    },
    {
        "id": "s15-c9-both-threshold0",
        "ws": {SMWB: 15, CMWB: 9, SNCT: True, CNCT: True},
        "ours": {CMWB: 12, "threshold": 0, "level": 6},
        "answer": {SNCT: None, CNCT: None, SMWB: "15", CMWB: "9"},
        "send": (15, True),
        "receive": (9, True),
    },
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case,loop_name,impl", spread(SERVER_CASES), indirect=["impl"])
@pytest.mark.interop(peer="websockets", role="fastws server", feature=("deflate", "fragmented"))
def test_fastws_server_websockets_client(run, kernels, ws_wire, case, loop_name, impl):
    ours = case["ours"]
    compression = ours if ours == "deflate" else pmd.PerMessageDeflate(**ours)
    threshold = ours.get("threshold", THRESHOLD) if isinstance(ours, dict) else THRESHOLD
    if case["ws"] is None:
        ws_kwargs: dict[str, Any] = {"compression": "deflate"}
    else:
        ws_kwargs = {"compression": None, "extensions": [ws_pmd.ClientPerMessageDeflateFactory(**case["ws"])]}

    async def main():
        async with await fastws.serve(echo_twice, HOST, 0, compression=compression) as srv:
            async with ws_connect(f"ws://{HOST}:{srv.port}/", **ws_kwargs, **WS_OPTS) as client:
                # Negotiated parameters: the 101, websockets' session, ours.
                assert ext_params(client.response.headers.get("Sec-WebSocket-Extensions")) == case["answer"]
                [ext] = client.protocol.extensions
                answer = case["answer"]
                check_ws_extension(
                    ext,
                    local=(int(answer.get(CMWB, 15)), CNCT in answer),
                    remote=(int(answer.get(SMWB, 15)), SNCT in answer),
                )
                [conn] = srv.connections
                check_session(conn._deflate, kernels, case["send"], case["receive"])
                assert conn._deflate.threshold == threshold

                for name, message in MESSAGES:
                    for fragmented in (False, True):
                        ws_wire["in"].clear()
                        ws_wire["out"].clear()
                        await client.send(split3(message) if fragmented else message)
                        whole = await client.recv()
                        pieces = await client.recv()
                        assert type(whole) is type(message) and whole == message, name
                        assert type(pieces) is type(message) and pieces == message, name
                        # What websockets sent: compressed (RSV1 on the first frame only).
                        assert ws_wire["out"] == expected_ws_frames(message, fragmented), name
                        # What fastws sent: the whole echo, then the fragmented one.
                        assert ws_wire["in"] == (
                            expected_fastws_frames(message, threshold, sent_by_fastws_fragmented=False)
                            + expected_fastws_frames(message, threshold, sent_by_fastws_fragmented=True)
                        ), name
                # Context takeover across many messages: the same message, again and again.
                message = MESSAGES[1][1]
                for _ in range(5):
                    await client.send(message)
                    assert await client.recv() == message
                    assert await client.recv() == message
            assert client.close_code == 1000
            assert conn.close_code == 1000

    run(main())


# =========================================================================== 1. interop: fastws client, websockets server

# ws: ServerPerMessageDeflateFactory kwargs (None: websockets' own compression="deflate",
# server 12 / client 12 bits); ours: connect(compression_options=...).
CLIENT_CASES: list[dict[str, Any]] = [
    {
        "id": "defaults",
        "ws": None,
        "ours": None,
        "answer": {SMWB: "12", CMWB: "12"},
        "send": (12, False),
        "receive": (12, False),
    },
    {
        "id": "no-client-bits-offered",
        "ws": {},
        "ours": {CMWB: None},
        "answer": {},
        "send": (15, False),
        "receive": (15, False),
    },
    {
        "id": "s9-c15",
        "ws": {SMWB: 9, CMWB: 15},
        "ours": None,
        "answer": {SMWB: "9", CMWB: "15"},
        "send": (15, False),
        "receive": (9, False),
    },
    {
        "id": "s10-c14-snct",
        "ws": {SMWB: 10, CMWB: 14, SNCT: True},
        "ours": None,
        "answer": {SNCT: None, SMWB: "10", CMWB: "14"},
        "send": (14, False),
        "receive": (10, True),
    },
    {
        "id": "s11-c13-cnct",
        "ws": {SMWB: 11, CMWB: 13, CNCT: True},
        "ours": None,
        "answer": {CNCT: None, SMWB: "11", CMWB: "13"},
        "send": (13, True),
        "receive": (11, False),
    },
    # Our client asks for the limits and resets.
    {
        "id": "s12-c12-both-offered",
        "ws": {},
        "ours": {SMWB: 12, CMWB: 12, SNCT: True, CNCT: True},
        "answer": {SNCT: None, CNCT: None, SMWB: "12", CMWB: "12"},
        "send": (12, True),
        "receive": (12, True),
    },
    {
        "id": "s13-c11-offered",
        "ws": {SNCT: True},
        "ours": {SMWB: 13, CMWB: 11},
        "answer": {SNCT: None, SMWB: "13", CMWB: "11"},
        "send": (11, False),
        "receive": (13, True),
    },
    {
        "id": "s14-c10-mixed",
        "ws": {SMWB: 14, CMWB: 10},
        "ours": {SMWB: 15, CNCT: True, "level": 9, "mem_level": 9},
        "answer": {CNCT: None, SMWB: "14", CMWB: "10"},
        "send": (10, True),
        "receive": (14, False),
    },
    {
        "id": "s15-c9-both-threshold0",
        "ws": {SMWB: 15, SNCT: True, CNCT: True},
        "ours": {CMWB: 9, "threshold": 0, "level": 6},
        "answer": {SNCT: None, CNCT: None, SMWB: "15", CMWB: "9"},
        "send": (9, True),
        "receive": (15, True),
    },
    # 8 bits: zlib cannot compress raw deflate with an 8-bit window; ours uses 9 and stays
    # within 250 bytes, which websockets' 8-bit inflater accepts.
    {
        "id": "c8-offered",
        "ws": {},
        "ours": {CMWB: 8},
        "answer": {CMWB: "8"},
        "send": (8, False),
        "receive": (15, False),
    },
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case,loop_name,impl", spread(CLIENT_CASES), indirect=["impl"])
@pytest.mark.interop(peer="websockets", role="fastws client", feature=("deflate", "fragmented"))
def test_fastws_client_websockets_server(run, kernels, ws_wire, case, loop_name, impl):
    ours = case["ours"]
    threshold = (ours or {}).get("threshold", THRESHOLD)
    if case["ws"] is None:
        ws_kwargs: dict[str, Any] = {"compression": "deflate"}
    else:
        ws_kwargs = {"compression": None, "extensions": [ws_pmd.ServerPerMessageDeflateFactory(**case["ws"])]}
    server_side: list[Any] = []

    async def handler(ws: Any) -> None:
        server_side.append(ws)
        async for message in ws:
            await ws.send(message)
            await ws.send(split3(message))

    async def main():
        async with ws_serve(handler, HOST, 0, **ws_kwargs, **WS_OPTS) as server:
            port = server.sockets[0].getsockname()[1]
            async with fastws.connect(f"ws://{HOST}:{port}/", compression_options=ours) as client:
                answer = case["answer"]
                assert ext_params(client.response.header("Sec-WebSocket-Extensions")) == answer
                check_session(client._deflate, kernels, case["send"], case["receive"])
                assert client._deflate.threshold == threshold

                for name, message in MESSAGES:
                    for fragmented in (False, True):
                        ws_wire["in"].clear()
                        ws_wire["out"].clear()
                        compress = not is_plain(message)
                        if fragmented:
                            await client.send_fragments(split3(message), compress=compress)
                        else:
                            await client.send(message, compress=compress)
                        whole = await client.recv()
                        pieces = await client.recv()
                        assert type(whole) is type(message) and whole == message, name
                        assert type(pieces) is type(message) and pieces == message, name
                        assert ws_wire["in"] == expected_fastws_frames(
                            message, threshold, sent_by_fastws_fragmented=fragmented
                        ), name
                        assert ws_wire["out"] == (
                            expected_ws_frames(message, False) + expected_ws_frames(message, True)
                        ), name
                message = MESSAGES[4][1]
                for _ in range(5):
                    await client.send(message)
                    assert await client.recv() == message
                    assert await client.recv() == message
                # websockets' view of the negotiation.
                [ws] = server_side
                assert ext_params(ws.request.headers.get("Sec-WebSocket-Extensions")) == _offer_params(ours)
                [ext] = ws.protocol.extensions
                check_ws_extension(
                    ext,
                    local=(int(answer.get(SMWB, 15)), SNCT in answer),
                    remote=(int(answer.get(CMWB, 15)), CNCT in answer),
                )
            assert client.close_code == 1000
            await asyncio.wait_for(server_side[0].wait_closed(), 5)
            assert server_side[0].close_code == 1000

    run(main())


def _offer_params(options: dict[str, Any] | None) -> dict[str, str | None]:
    """What our client offers, written out by hand from its compression_options."""
    options = {k: v for k, v in (options or {}).items() if k not in ("level", "mem_level", "threshold")}
    offer: dict[str, str | None] = {}
    if options.get(SNCT):
        offer[SNCT] = None
    if options.get(CNCT):
        offer[CNCT] = None
    if options.get(SMWB) is not None:
        offer[SMWB] = str(options[SMWB])
    cbits = options.get(CMWB, True)
    if cbits is True:
        offer[CMWB] = None
    elif cbits is not None:
        offer[CMWB] = str(cbits)
    return offer


# =========================================================================== 1. the wire, from a raw peer


@pytest.mark.timeout(30)
def test_server_wire(run, kernels):
    """A raw client negotiates permessage-deflate and checks every frame fastws writes."""
    deflater, inflater = Deflater(), Inflater()
    text = json_like(8 * KiB, 11)
    binary = random_bytes(64 * KiB, 12)

    async def main():
        async with await fastws.serve(echo_twice, HOST, 0) as srv:  # compression="deflate": the default
            peer, answer = await raw_client(srv.port, "permessage-deflate; client_max_window_bits")
            # The default server limits its window to 12 bits silently: nothing to answer.
            assert answer == ["permessage-deflate"]
            [conn] = srv.connections
            check_session(conn._deflate, kernels, (12, False), (15, False))

            async def echoes(
                expected: bytes, whole_compressed: bool, fragments_compressed: bool = True
            ) -> None:
                [whole] = await read_message(peer)
                assert not whole.masked
                if whole_compressed:
                    assert whole.rsv == RSV1
                    assert inflater.message(whole.payload) == expected
                else:
                    assert whole.rsv == 0 and whole.payload == expected
                frames = await read_message(peer)
                assert [(f.opcode != OP_CONTINUATION, f.fin) for f in frames] == [
                    (True, False),
                    (False, False),
                    (False, False),
                    (False, True),
                ]
                if fragments_compressed:
                    assert [f.rsv for f in frames] == [RSV1, 0, 0, 0]
                    assert inflater.message(b"".join(f.payload for f in frames)) == expected
                else:
                    assert [f.rsv for f in frames] == [0, 0, 0, 0]
                    assert b"".join(f.payload for f in frames) == expected

            # Below the threshold, sent uncompressed: echoed with RSV1 clear.
            peer.send(OP_TEXT, "hi")
            await echoes(b"hi", whole_compressed=False)
            data = b"x" * (THRESHOLD - 1)
            peer.send(OP_BINARY, data)
            await echoes(data, whole_compressed=False)
            # At the threshold: compressed.
            data = b"x" * THRESHOLD
            peer.send(OP_BINARY, data)
            await echoes(data, whole_compressed=True)
            # Compressed by the peer (context kept), several times: fastws inflates each,
            # and its answers share its own context (the peer inflates with one stream).
            for _ in range(3):
                payload = deflater.message(text.encode())
                peer.send(OP_TEXT, payload, rsv1=True)
                await echoes(text.encode(), whole_compressed=True)
            assert len(payload) < len(text) // 4  # the second copy compresses to almost nothing
            # Fragmented by the peer: RSV1 on the first frame only.
            parts = deflater.fragments([binary[:1000], binary[1000:40000], binary[40000:]])
            peer.send(OP_BINARY, parts[0], rsv1=True, fin=False)
            peer.send(OP_CONTINUATION, parts[1], fin=False)
            peer.send(OP_CONTINUATION, parts[2])
            await echoes(binary, whole_compressed=True)
            # An uncompressed message while the extension is on: fine either way.
            peer.send(OP_TEXT, text)
            await echoes(text.encode(), whole_compressed=True)
            # send(..., compress=False) and send_fragments(..., compress=False): RSV1 clear, bytes intact.
            plain = "plain:" + text
            peer.send(OP_TEXT, deflater.message(plain.encode()), rsv1=True)
            await echoes(plain.encode(), whole_compressed=False, fragments_compressed=False)
            # And the contexts are still in step afterwards.
            peer.send(OP_TEXT, deflater.message(text.encode()), rsv1=True)
            await echoes(text.encode(), whole_compressed=True)

            peer.send_close(1000)
            _, close = await peer.read_until_close()
            assert close.close == (1000, b"")
            await peer.expect_eof()

    run(main())


@pytest.mark.timeout(30)
def test_server_wire_no_context_takeover(run, kernels):
    """server_no_context_takeover: every message fastws sends inflates on its own (a fresh inflater)."""
    text = json_like(8 * KiB, 13)

    async def main():
        async with await fastws.serve(echo_twice, HOST, 0) as srv:
            peer, answer = await raw_client(
                srv.port, "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
            )
            assert ext_params(answer[0]) == {SNCT: None, CNCT: None}
            for _ in range(3):
                # The peer resets too: each message compressed by a fresh compressor.
                peer.send(OP_TEXT, raw_deflate(text.encode()), rsv1=True)
                [whole] = await read_message(peer)
                assert whole.rsv == RSV1
                assert Inflater().message(whole.payload) == text.encode()
                frames = await read_message(peer)
                assert Inflater().message(b"".join(f.payload for f in frames)) == text.encode()
            peer.send_close(1000)
            await peer.read_until_close()

    run(main())


@pytest.mark.timeout(30)
def test_server_wire_8_bit_windows(run, kernels):
    """Window bits 8 both ways: fastws's output inflates with a 256-byte window."""
    text = json_like(8 * KiB, 21)
    # Python's zlib cannot compress with an 8-bit raw window either: 9 bits, whose
    # matches reach at most 250 bytes back.
    deflater, inflater = Deflater(9), Inflater(8)

    async def main():
        async with await fastws.serve(echo_twice, HOST, 0) as srv:
            peer, answer = await raw_client(
                srv.port, "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8"
            )
            assert ext_params(answer[0]) == {SMWB: "8", CMWB: "8"}
            [conn] = srv.connections
            check_session(conn._deflate, kernels, (8, False), (8, False))
            for _ in range(3):
                peer.send(OP_TEXT, deflater.message(text.encode()), rsv1=True)
                [whole] = await read_message(peer)
                assert whole.rsv == RSV1 and inflater.message(whole.payload) == text.encode()
                frames = await read_message(peer)
                assert inflater.message(b"".join(f.payload for f in frames)) == text.encode()
            peer.send_close(1000)
            await peer.read_until_close()

    run(main())


@pytest.mark.timeout(30)
def test_server_wire_receive_edge_cases(run, kernels):
    """Valid but unusual compressed input: empty messages, a BFINAL block, a ping inside a message."""
    text = json_like(4 * KiB, 22)

    async def main():
        keeper = Keeper()
        async with await fastws.serve(keeper, HOST, 0) as srv:
            peer, answer = await raw_client(srv.port, "permessage-deflate")
            assert answer == ["permessage-deflate"]
            deflater = Deflater()
            # An empty message: a single 0x00 octet (RFC 7692 §7.2.3.6), or what zlib makes of nothing.
            peer.send(OP_TEXT, b"\x00", rsv1=True)
            peer.send(OP_BINARY, deflater.message(b""), rsv1=True)
            peer.send(OP_TEXT, deflater.message(text.encode()), rsv1=True)
            peer.send(OP_TEXT, deflater.message(text.encode()), rsv1=True)  # context kept
            # A message ended with a final block (Z_FINISH): fastws starts a new stream after it.
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            peer.send(OP_BINARY, c.compress(b"final block " * 20) + c.flush(zlib.Z_FINISH), rsv1=True)
            peer.send(OP_TEXT, raw_deflate(text.encode()), rsv1=True)  # a fresh stream
            # A compressed text message whose frames split a UTF-8 sequence: checked once inflated.
            accents = "é" * 200
            parts = Deflater().fragments([accents.encode()[:101], accents.encode()[101:]])
            peer.send(OP_TEXT, parts[0], rsv1=True, fin=False)
            peer.send(OP_CONTINUATION, parts[1])
            # A ping between the frames of a compressed message.
            parts = Deflater().fragments([text[:100].encode(), text[100:].encode()])
            peer.send(OP_TEXT, parts[0], rsv1=True, fin=False)
            peer.send(OP_PING, b"in between")
            peer.send(OP_CONTINUATION, parts[1])
            pong = await peer.read_frame()
            assert (pong.opcode, pong.rsv, pong.payload) == (OP_PONG, 0, b"in between")
            peer.send_close(1000)
            _, close = await peer.read_until_close()
            assert close.close == (1000, b"")
            [conn] = keeper.conns
            await asyncio.wait_for(conn.wait_closed(), 5)
            assert keeper.received == ["", b"", text, text, b"final block " * 20, text, accents, text]

    run(main())


class EchoListener(fastws.Listener):
    """Callback API: echo every message whole, compressed as negotiated."""

    def on_message(self, ws: fastws.WebSocket, message: Any) -> None:
        ws.send(message)


@pytest.mark.timeout(30)
@pytest.mark.interop(peer="websockets", role="fastws server", feature=("deflate", "fragmented"))
def test_listener_server_websockets_client(run, kernels, ws_wire):
    """The callback API inflates and compresses too."""

    async def main():
        async with await fastws.serve(EchoListener, HOST, 0) as srv:
            async with ws_connect(f"ws://{HOST}:{srv.port}/", compression="deflate", **WS_OPTS) as client:
                for name, message in MESSAGES:
                    if is_plain(message):
                        continue
                    ws_wire["in"].clear()
                    await client.send(split3(message))
                    assert await client.recv() == message, name
                    assert ws_wire["in"] == expected_fastws_frames(
                        message, THRESHOLD, sent_by_fastws_fragmented=False
                    ), name

    run(main())


@pytest.mark.timeout(30)
def test_client_wire(run, kernels):
    """The fastws client against a raw server that accepts permessage-deflate."""
    inflater, deflater = Inflater(), Deflater()
    text = json_like(8 * KiB, 14)
    binary = json_like(20 * KiB, 15).encode()

    async def main():
        async with RawDeflateServer("permessage-deflate") as server:
            async with fastws.connect(server.uri) as client:
                peer = await server.peer()
                assert server.offers() == ["permessage-deflate; client_max_window_bits"]
                check_session(client._deflate, kernels, (15, False), (15, False))

                await client.send("hi")  # below the threshold
                [frame] = await read_message(peer)
                assert frame.masked and frame.rsv == 0 and frame.payload == b"hi"
                for _ in range(2):
                    await client.send(text)
                    [frame] = await read_message(peer)
                    assert frame.masked and frame.rsv == RSV1 and frame.opcode == OP_TEXT
                    assert inflater.message(frame.payload) == text.encode()
                for buffer in (bytearray(binary), memoryview(binary)):
                    await client.send(buffer)
                    [frame] = await read_message(peer)
                    assert frame.rsv == RSV1 and inflater.message(frame.payload) == binary
                await client.send(binary, compress=False)
                [frame] = await read_message(peer)
                assert frame.rsv == 0 and frame.opcode == OP_BINARY and frame.payload == binary
                await client.send_fragments(split3(binary))
                frames = await read_message(peer)
                assert [(f.opcode, f.rsv, f.fin) for f in frames] == [
                    (OP_BINARY, RSV1, False),
                    (OP_CONTINUATION, 0, False),
                    (OP_CONTINUATION, 0, False),
                    (OP_CONTINUATION, 0, True),
                ]
                assert inflater.message(b"".join(f.payload for f in frames)) == binary
                await client.send_fragments(split3(text), compress=False)
                frames = await read_message(peer)
                assert [f.rsv for f in frames] == [0, 0, 0, 0]
                assert b"".join(f.payload for f in frames) == text.encode()

                # From the server: compressed (context kept), fragmented, and plain.
                for _ in range(2):
                    peer.send(OP_TEXT, deflater.message(text.encode()), rsv1=True)
                    assert await client.recv() == text
                parts = deflater.fragments([binary[:5], binary[5:]])
                peer.send(OP_BINARY, parts[0], rsv1=True, fin=False)
                peer.send(OP_CONTINUATION, parts[1])
                assert await client.recv() == binary
                peer.send(OP_TEXT, UNICODE)
                assert await client.recv() == UNICODE

                close = client.close()
                _, frame = await peer.read_until_close()
                assert frame.close == (1000, b"")
                peer.send_close(1000)
                await peer.close_tcp()
                await asyncio.wait_for(close, 5)
            assert client.close_code == 1000

    run(main())


@pytest.mark.timeout(30)
def test_no_send_inside_compressed_fragments(run, kernels):
    """While send_fragments is compressing a message, send() is refused (it would corrupt the
    deflate stream); a ping may go in between; the message still inflates."""

    async def main():
        async with RawDeflateServer("permessage-deflate") as server:
            async with fastws.connect(server.uri) as client:
                peer = await server.peer()
                gate = asyncio.Event()

                async def fragments():
                    yield b"a" * 200
                    gate.set()
                    await asyncio.sleep(0.05)
                    yield b"b" * 200

                task = asyncio.ensure_future(client.send_fragments(fragments()))
                await gate.wait()
                with pytest.raises(RuntimeError):
                    await client.send(b"c" * 300)
                with pytest.raises(RuntimeError):
                    await client.send_fragments([b"d" * 300])
                client.ping(b"p")
                await task
                await client.send(b"e" * 300)
                frames = []
                while len([f for f in frames if f.opcode != OP_PING and f.fin]) < 2:
                    frames.append(await peer.read_frame())
                pings = [f for f in frames if f.opcode == OP_PING]
                data = [f for f in frames if f.opcode != OP_PING]
                assert [p.payload for p in pings] == [b"p"] and pings[0].rsv == 0
                assert [(f.opcode, f.rsv, f.fin) for f in data] == [
                    (OP_BINARY, RSV1, False),
                    (OP_CONTINUATION, 0, False),
                    (OP_CONTINUATION, 0, True),
                    (OP_BINARY, RSV1, True),
                ]
                inflater = Inflater()
                assert inflater.message(b"".join(f.payload for f in data[:3])) == b"a" * 200 + b"b" * 200
                assert inflater.message(data[3].payload) == b"e" * 300
                client.abort()

    run(main())


# =========================================================================== 2. misuse (server side)


def _continuation_rsv1(peer: RawPeer) -> None:
    parts = Deflater().fragments([b"hello ", b"world"])
    peer.send(OP_TEXT, parts[0], rsv1=True, fin=False)
    peer.send(OP_CONTINUATION, parts[1], rsv1=True)


def _invalid_utf8_fragmented(peer: RawPeer) -> None:
    parts = Deflater().fragments([b"ok \xe2\x82", b"\x28 not utf-8"])
    peer.send(OP_TEXT, parts[0], rsv1=True, fin=False)
    peer.send(OP_CONTINUATION, parts[1])


def _corrupt_after_valid(peer: RawPeer) -> None:
    deflater = Deflater()
    peer.send(OP_TEXT, deflater.message(b"a valid message first " * 10), rsv1=True)
    peer.send(OP_BINARY, b"\xff\xff\xff", rsv1=True)


MISUSE = {
    # name: (what the peer sends, the close code fastws fails the connection with)
    "rsv1-ping": (lambda peer: peer.send(OP_PING, b"x", rsv1=True), 1002),
    "rsv1-pong": (lambda peer: peer.send(OP_PONG, b"x", rsv1=True), 1002),
    "rsv1-close": (lambda peer: peer.send(OP_CLOSE, close_payload(1000), rsv1=True), 1002),
    "rsv1-continuation": (_continuation_rsv1, 1002),
    "corrupt-text": (lambda peer: peer.send(OP_TEXT, b"\xff\xff\xff", rsv1=True), 1007),
    "corrupt-binary": (lambda peer: peer.send(OP_BINARY, b"\xff\xff\xff", rsv1=True), 1007),
    "corrupt-after-valid": (_corrupt_after_valid, 1007),
    "invalid-utf8": (lambda peer: peer.send(OP_TEXT, raw_deflate(b"caf\xc3 \xff\xfe"), rsv1=True), 1007),
    "truncated-utf8": (lambda peer: peer.send(OP_TEXT, raw_deflate("café".encode()[:-1]), rsv1=True), 1007),
    "invalid-utf8-fragmented": (_invalid_utf8_fragmented, 1007),
}


class Keeper:
    """A fastws handler that echoes and keeps the connection for the test to inspect."""

    def __init__(self) -> None:
        self.conns: list[fastws.WebSocket] = []
        self.received: list[Any] = []

    async def __call__(self, ws: fastws.WebSocket) -> None:
        self.conns.append(ws)
        async for message in ws:
            self.received.append(message)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", list(MISUSE))
def test_server_misuse(run, kernels, case):
    send, code = MISUSE[case]

    async def main():
        keeper = Keeper()
        async with await fastws.serve(keeper, HOST, 0, close_timeout=2) as srv:
            peer, answer = await raw_client(srv.port, "permessage-deflate")
            assert answer == ["permessage-deflate"]
            send(peer)
            await expect_close(peer, code)
            [conn] = keeper.conns
            await asyncio.wait_for(conn.wait_closed(), 5)
            assert conn.close_code == code
            if case == "corrupt-after-valid":
                assert keeper.received == ["a valid message first " * 10]
            else:
                assert keeper.received == []

    run(main())


@pytest.mark.timeout(30)
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
@pytest.mark.parametrize(
    "offer, compression",
    [
        (None, "deflate"),
        ("permessage-deflate", None),
        ("permessage-deflate; server_max_window_bits=16", "deflate"),
    ],
    ids=["not-offered", "server-declines", "offer-declined"],
)
def test_server_rsv1_without_extension(run, impl, offer, compression, opcode):
    """RSV1 when permessage-deflate was not negotiated: 1002, even on valid deflate data."""

    async def main():
        keeper = Keeper()
        async with await fastws.serve(keeper, HOST, 0, compression=compression) as srv:
            peer, answer = await raw_client(srv.port, offer)
            assert answer == []
            peer.send(opcode, raw_deflate(b"hello hello hello"), rsv1=True)
            await expect_close(peer, 1002)
            assert keeper.conns[0].close_code == 1002
            assert keeper.received == []

    run(main())


@pytest.mark.timeout(30)
@pytest.mark.parametrize("bomb", list(BOMBS))
def test_server_compression_bomb(run, kernels, bomb):
    """A small frame that inflates to 100 MiB / 2 GiB: 1009 at once, memory bounded."""
    make, max_size = BOMBS[bomb]
    payload = make()
    assert len(payload) < max_size  # the frame itself is within the limits
    frame = fast_frame(OP_BINARY, payload, masked=True, rsv1=True)

    async def main():
        keeper = Keeper()
        async with await fastws.serve(keeper, HOST, 0, max_size=max_size, close_timeout=2) as srv:
            peer, answer = await raw_client(srv.port, "permessage-deflate")
            assert answer == ["permessage-deflate"]
            peak_reset = reset_peak_rss()
            before = rss_status()
            start = time.perf_counter()
            peer.write(frame)
            _, close = await peer.read_until_close()
            elapsed = time.perf_counter() - start
            after = rss_status()
            assert close.close[0] == 1009, close.close
            await peer.expect_eof()
            [conn] = keeper.conns
            await asyncio.wait_for(conn.wait_closed(), 5)
            assert conn.close_code == 1009
            assert keeper.received == []
            assert elapsed < 1.5, elapsed
            growth = (after["VmHWM"] if peak_reset else after["VmRSS"]) - before["VmRSS"]
            assert growth < 64 * MiB, f"RSS grew by {growth / MiB:.1f} MiB"

    run(main())


@pytest.mark.timeout(30)
def test_server_compressed_message_within_limit(run, kernels):
    """The limit applies to the inflated size: exactly max_size passes, one byte more is 1009."""

    async def main():
        keeper = Keeper()
        async with await fastws.serve(keeper, HOST, 0, max_size=64 * KiB) as srv:
            peer, _ = await raw_client(srv.port, "permessage-deflate")
            deflater = Deflater()
            peer.send(OP_BINARY, deflater.message(bytes(64 * KiB)), rsv1=True)
            peer.send(OP_BINARY, deflater.message(bytes(64 * KiB + 1)), rsv1=True)
            await expect_close(peer, 1009)
            assert keeper.received == [bytes(64 * KiB)]

    run(main())


# =========================================================================== 2. misuse (client side)


CLIENT_MISUSE = {
    "bomb-100MiB": (lambda: fast_frame(OP_BINARY, zeros_bomb(), masked=False, rsv1=True), 1 * MiB, 1009),
    "bomb-2GiB": (lambda: fast_frame(OP_TEXT, gigabyte_bomb(), masked=False, rsv1=True), 4 * MiB, 1009),
    "corrupt": (lambda: encode_frame(OP_BINARY, b"\xff\xff\xff", rsv1=True), 1 * MiB, 1007),
    "invalid-utf8": (lambda: encode_frame(OP_TEXT, raw_deflate(b"\xc0\xaf"), rsv1=True), 1 * MiB, 1007),
    "rsv1-ping": (lambda: encode_frame(OP_PING, b"", rsv1=True), 1 * MiB, 1002),
    "rsv1-continuation": (
        lambda: (
            encode_frame(OP_TEXT, b"", fin=False, rsv1=True) + encode_frame(OP_CONTINUATION, b"", rsv1=True)
        ),
        1 * MiB,
        1002,
    ),
}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", list(CLIENT_MISUSE))
def test_client_misuse(run, kernels, case):
    make, max_size, code = CLIENT_MISUSE[case]
    data = make()

    async def main():
        async with RawDeflateServer("permessage-deflate") as server:
            client = await fastws.connect(server.uri, max_size=max_size, close_timeout=2)
            try:
                peer = await server.peer()
                assert client._deflate is not None
                peak_reset = reset_peak_rss()
                before = rss_status()
                start = time.perf_counter()
                peer.write(data)
                with pytest.raises(ConnectionClosedError) as info:
                    await client.recv()
                elapsed = time.perf_counter() - start
                after = rss_status()
                assert info.value.code == code
                assert client.close_code == code
                assert elapsed < 1.5, elapsed
                growth = (after["VmHWM"] if peak_reset else after["VmRSS"]) - before["VmRSS"]
                assert growth < 64 * MiB, f"RSS grew by {growth / MiB:.1f} MiB"
                _, close = await peer.read_until_close()
                assert close.masked and close.close[0] == code
                await peer.close_tcp()
                await asyncio.wait_for(client.wait_closed(), 5)
            finally:
                client.abort()

    run(main())


@pytest.mark.timeout(30)
def test_client_rsv1_without_extension(run, impl):
    async def main():
        async with RawDeflateServer(None) as server:
            client = await fastws.connect(server.uri, compression=None, close_timeout=2)
            try:
                peer = await server.peer()
                assert server.offers() == []
                assert client._deflate is None
                peer.send(OP_TEXT, raw_deflate(b"hello hello hello"), rsv1=True)
                with pytest.raises(ConnectionClosedError):
                    await client.recv()
                assert client.close_code == 1002
                _, close = await peer.read_until_close()
                assert close.close[0] == 1002
            finally:
                client.abort()

    run(main())


# =========================================================================== 3. negotiation


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "offer",
    [
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=08",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; unknown_parameter",
        'permessage-deflate; server_max_window_bits="16"',
    ],
)
def test_server_declines_malformed_offer(run, kernels, offer):
    """The only offer is invalid: no extension in the 101, messages go uncompressed."""
    text = json_like(8 * KiB, 16)

    async def main():
        async with await fastws.serve(echo_twice, HOST, 0) as srv:
            peer, answer = await raw_client(srv.port, offer)
            assert answer == []
            assert srv.connections.pop()._deflate is None
            peer.send(OP_TEXT, text)
            [whole] = await read_message(peer)
            assert whole.rsv == 0 and whole.payload == text.encode()
            frames = await read_message(peer)
            assert [f.rsv for f in frames] == [0, 0, 0, 0]
            peer.send_close(1000)
            await peer.read_until_close()

    run(main())


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "offer, expected",
    [
        (
            "permessage-deflate; server_max_window_bits=16, permessage-deflate; client_max_window_bits",
            "permessage-deflate",
        ),
        (
            "x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=10",
            "permessage-deflate; client_max_window_bits=10",
        ),
        (
            'permessage-deflate; server_max_window_bits="10"; client_no_context_takeover',
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=10",
        ),
    ],
    ids=["second-offer", "other-extension-first", "quoted-value"],
)
def test_server_accepts_next_valid_offer(run, kernels, offer, expected):
    text = json_like(8 * KiB, 17)

    async def main():
        async with await fastws.serve(echo_twice, HOST, 0) as srv:
            peer, answer = await raw_client(srv.port, offer)
            assert answer == [expected]
            params = ext_params(expected)
            deflater = Deflater(int(params.get(CMWB) or 15))
            inflater = Inflater(int(params.get(SMWB) or 15))
            peer.send(OP_TEXT, deflater.message(text.encode()), rsv1=True)
            [whole] = await read_message(peer)
            assert whole.rsv == RSV1 and inflater.message(whole.payload) == text.encode()
            await read_message(peer)
            peer.send_close(1000)
            await peer.read_until_close()

    run(main())


@pytest.mark.timeout(30)
@pytest.mark.interop(peer="websockets", role="fastws server", feature="deflate")
def test_server_compression_none(run, impl):
    """serve(compression=None): an offer gets no Sec-WebSocket-Extensions in the 101."""
    text = json_like(8 * KiB, 18)

    async def main():
        async with await fastws.serve(echo_twice, HOST, 0, compression=None) as srv:
            peer, answer = await raw_client(
                srv.port, "permessage-deflate; client_max_window_bits, permessage-deflate"
            )
            assert answer == []
            peer.send(OP_TEXT, text)
            [whole] = await read_message(peer)
            assert whole.rsv == 0 and whole.payload == text.encode()
            await read_message(peer)
            peer.send_close(1000)
            await peer.read_until_close()
        # And a websockets client that offers it gets no compression either.
        async with await fastws.serve(echo_twice, HOST, 0, compression=None) as srv:
            async with ws_connect(f"ws://{HOST}:{srv.port}/", compression="deflate", **WS_OPTS) as client:
                assert "Sec-WebSocket-Extensions" not in client.response.headers
                assert client.protocol.extensions == []
                await client.send(text)
                assert await client.recv() == text
                assert await client.recv() == text

    run(main())


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "options, answer",
    [
        ({CMWB: None}, "permessage-deflate; client_max_window_bits=10"),  # not offered
        ({CMWB: 10}, "permessage-deflate; client_max_window_bits=11"),  # larger than offered
        ({}, "permessage-deflate; client_max_window_bits"),  # no value in an answer
        ({}, "permessage-deflate; server_max_window_bits=16"),
        ({}, "permessage-deflate; server_max_window_bits=8x"),
        ({}, "permessage-deflate; unknown_parameter"),
        ({}, "permessage-deflate; server_no_context_takeover; server_no_context_takeover"),
        ({SMWB: 10}, "permessage-deflate"),  # requested, not confirmed
        ({SMWB: 10}, "permessage-deflate; server_max_window_bits=11"),  # larger than requested
        ({SNCT: True}, "permessage-deflate"),  # requested, not confirmed
        ({}, "permessage-deflate, permessage-deflate"),  # accepted twice
        ({}, "x-webkit-deflate-frame"),  # not offered
    ],
)
def test_client_rejects_invalid_answer(run, kernels, options, answer):
    async def main():
        async with RawDeflateServer(answer) as server:
            with pytest.raises(InvalidHandshake) as info:
                await fastws.connect(server.uri, compression_options=options, open_timeout=5)
            assert info.value.status == 101
            assert ext_params(server.offers()[0]) == _offer_params(options)
            peer = await server.peer()
            # The client dropped TCP without sending a single frame.
            with pytest.raises(EOF):
                await peer.read_frame(5)

    run(main())


@pytest.mark.timeout(30)
def test_client_compression_none(run, impl):
    """connect(compression=None): no offer; an answer with permessage-deflate anyway fails the handshake."""

    async def main():
        async with RawDeflateServer(None) as server:
            async with fastws.connect(server.uri, compression=None) as client:
                peer = await server.peer()
                assert server.offers() == []
                assert client._deflate is None
                text = json_like(8 * KiB, 19)
                await client.send(text)
                [frame] = await read_message(peer)
                assert frame.rsv == 0 and frame.payload == text.encode()
                peer.send_close(1000)
                await peer.read_until_close()
                await peer.close_tcp()
        async with RawDeflateServer("permessage-deflate") as server:
            with pytest.raises(InvalidHandshake) as info:
                await fastws.connect(server.uri, compression=None)
            assert info.value.status == 101
            assert server.offers() == []

    run(main())


@pytest.mark.timeout(30)
def test_fastws_to_fastws_defaults(run, kernels):
    """Our own client and server with their defaults: negotiated, compressed, bounded windows."""
    text = json_like(100 * KiB, 20)

    async def main():
        async with await fastws.serve(echo_twice, HOST, 0) as srv:
            async with fastws.connect(f"ws://{HOST}:{srv.port}/") as client:
                assert client.response.header("Sec-WebSocket-Extensions") == "permessage-deflate"
                [conn] = srv.connections
                assert (
                    conn.request.header("Sec-WebSocket-Extensions")
                    == "permessage-deflate; client_max_window_bits"
                )
                check_session(conn._deflate, kernels, (12, False), (15, False))
                check_session(client._deflate, kernels, (15, False), (15, False))
                for message in (text, text.encode(), "hi", b""):
                    await client.send(message)
                    assert await client.recv() == message
                    assert await client.recv() == message
                    await client.send_fragments(split3(message))
                    assert await client.recv() == message
                    assert await client.recv() == message

    run(main())
