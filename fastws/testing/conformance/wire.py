"""An independent, deliberately small WebSocket wire encoder/decoder (RFC 6455, RFC 7692).

Nothing here imports fastws: the conformance driver builds and parses frames
with this code only, so a bug in fastws's codec cannot hide itself by being on
both sides of the wire.  The encoder can produce invalid frames on purpose.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
import zlib
from dataclasses import dataclass
from typing import Optional

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
CONTROL = (OP_CLOSE, OP_PING, OP_PONG)
RSV1, RSV2, RSV3 = 0x4, 0x2, 0x1  # as the 3-bit ``rsv`` value of a frame
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


def mask(data: bytes, key: bytes) -> bytes:
    """XOR ``data`` with the repeated 4-byte ``key`` (RFC 6455 §5.3), via one big-integer XOR."""
    n = len(data)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def encode(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    key: Optional[bytes] = None,
    length: Optional[int] = None,
    length_form: Optional[int] = None,
) -> bytes:
    """One frame, valid or not (RFC 6455 §5.2).

    ``rsv``: the three RSV bits (RSV1=4, RSV2=2, RSV3=1).  ``key``: mask with it
    (None: unmasked).  ``length``: the length written in the header (default: the
    payload's).  ``length_form``: 7, 16 or 64 to force that encoding, even a
    non-minimal one (default: the minimal one).
    """
    n = len(payload) if length is None else length
    if length_form is None:
        length_form = 7 if n <= 125 else 16 if n <= 0xFFFF else 64
    b0 = (0x80 if fin else 0) | (rsv & 7) << 4 | opcode & 0xF
    m = 0x80 if key is not None else 0
    if length_form == 7:
        header = bytes([b0, m | n])
    elif length_form == 16:
        header = bytes([b0, m | 126]) + struct.pack("!H", n)
    elif length_form == 64:
        header = bytes([b0, m | 127]) + struct.pack("!Q", n)
    else:
        raise ValueError(f"length_form must be 7, 16 or 64, not {length_form}")
    if key is None:
        return header + payload
    return header + key + mask(payload, key)


def close_payload(code: Optional[int] = None, reason: bytes = b"") -> bytes:
    return b"" if code is None else struct.pack("!H", code) + reason


def parse_close(payload: bytes) -> tuple[Optional[int], bytes]:
    """(code, reason bytes); (None, b"") for an empty payload; a 1-byte payload gives code -1."""
    if not payload:
        return None, b""
    if len(payload) == 1:
        return -1, b""
    return struct.unpack("!H", payload[:2])[0], payload[2:]


@dataclass
class Frame:
    fin: bool
    rsv: int
    opcode: int
    masked: bool
    payload: bytes  # unmasked


async def read_frame(reader: asyncio.StreamReader) -> Frame:
    """The next frame from ``reader``; raises IncompleteReadError at EOF."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    masked = bool(b1 & 0x80)
    key = await reader.readexactly(4) if masked else b""
    payload = await reader.readexactly(n) if n else b""
    if masked:
        payload = mask(payload, key)
    return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, masked, payload)


# --- opening handshake (RFC 6455 §4) -------------------------------------------------


def new_key() -> bytes:
    return base64.b64encode(os.urandom(16))


def accept_for(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def client_request(host: str, port: int, path: str, key: bytes, extensions: Optional[str]) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key.decode()}",
        "Sec-WebSocket-Version: 13",
    ]
    if extensions:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def server_response(key: bytes, extensions: Optional[str]) -> bytes:
    lines = [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_for(key).decode()}",
    ]
    if extensions:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def read_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
    """An HTTP head: (start line, headers with lower-case names; repeated ones joined by ", ")."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    start, *lines = head[:-4].split("\r\n")
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
    return start, headers


# --- permessage-deflate (RFC 7692) ----------------------------------------------------

DeflateParams = dict[str, Optional[str]]  # parameter name -> value (None: no value)


def format_deflate(params: DeflateParams) -> str:
    return "; ".join(["permessage-deflate"] + [k if v is None else f"{k}={v}" for k, v in params.items()])


def parse_extensions(header: str) -> list[tuple[str, DeflateParams]]:
    """Every element of a Sec-WebSocket-Extensions value: (lower-case name, parameters), in order."""
    out = []
    for element in header.split(","):
        name, *params = [p.strip() for p in element.split(";")]
        if not name:
            continue
        values: DeflateParams = {}
        for p in params:
            k, eq, v = p.partition("=")
            values[k.strip().lower()] = v.strip().strip('"') if eq else None
        out.append((name.lower(), values))
    return out


def parse_deflate(header: str) -> Optional[DeflateParams]:
    """The parameters of the first permessage-deflate element; None if the header holds none."""
    return next((params for name, params in parse_extensions(header) if name == "permessage-deflate"), None)


TAIL = b"\x00\x00\xff\xff"  # RFC 7692 §7.2.1: removed by the sender, appended by the receiver


class Deflater:
    """Compresses messages for one direction (RFC 7692 §7.2.1)."""

    def __init__(self, bits: int, reset: bool) -> None:
        # zlib cannot make a raw 8-bit-window compressor; Z_RLE only emits distance-1
        # matches, which fit in any window, so 9 bits with Z_RLE is valid for 8.
        strategy = zlib.Z_RLE if bits == 8 else zlib.Z_DEFAULT_STRATEGY
        self._args = (6, zlib.DEFLATED, -max(bits, 9), 8, strategy)
        self._reset = reset
        self._z = zlib.compressobj(*self._args)

    def compress(self, data: bytes) -> bytes:
        if self._reset:
            self._z = zlib.compressobj(*self._args)
        out = self._z.compress(data) + self._z.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(TAIL)
        return out[:-4]


class Inflater:
    """Decompresses messages for one direction; a window larger than agreed makes it fail.

    zlib checks a distance against its window only when it reaches back past the
    output of the current call, so below 15 bits the output is produced in steps
    of a quarter window: a distance beyond the agreed window (within a message
    too) then fails "invalid distance too far back".
    """

    def __init__(self, bits: int, reset: bool) -> None:
        self._bits = bits
        self._reset = reset
        self._step = max(64, 1 << (bits - 2))
        self._z = zlib.decompressobj(-bits)

    def decompress(self, data: bytes) -> bytes:
        """Raises zlib.error on corrupt data or a distance beyond the agreed window."""
        if self._reset:
            self._z = zlib.decompressobj(-self._bits)
        z, data = self._z, data + TAIL
        if self._bits == 15:  # deflate's largest window: nothing can reach beyond it
            out = z.decompress(data)
        else:
            parts = []
            for i in range(0, len(data), 1024):  # small inputs: unconsumed_tail is a copy
                buf = data[i : i + 1024]
                while buf:
                    parts.append(z.decompress(buf, self._step))
                    buf = z.unconsumed_tail
            while part := z.decompress(b"", self._step):
                parts.append(part)
            out = b"".join(parts)
        if z.eof:  # a final block ends the stream; the next message starts a new one
            self._z = zlib.decompressobj(-self._bits)
        return out
