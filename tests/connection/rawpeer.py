"""A hand-made WebSocket peer over a plain asyncio stream, for connection tests.

It does the opening handshake by hand and sends frames encoded by the test
suite's own reference encoder (``codec_helpers.encode_frame``), valid or not, so
tests can put exactly the bytes they want on the wire and see exactly what
fastws answers.  Nothing here uses fastws.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import struct
from dataclasses import dataclass

from codec_helpers import encode_frame

from fastws.constants import OP_CLOSE

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_RESERVED = 0x3


def accept_for(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def close_payload(code: int | None = None, reason: bytes | str = b"") -> bytes:
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


def parse_close(payload: bytes) -> tuple[int | None, bytes]:
    if not payload:
        return None, b""
    return struct.unpack("!H", payload[:2])[0], payload[2:]


@dataclass
class RawFrame:
    fin: bool
    rsv: int
    opcode: int
    masked: bool
    payload: bytes

    @property
    def close(self) -> tuple[int | None, bytes]:
        assert self.opcode == OP_CLOSE, self
        return parse_close(self.payload)


class EOF(Exception):
    """The peer closed the TCP connection (``reset`` says whether it was an RST)."""

    def __init__(self, reset: bool = False) -> None:
        super().__init__("reset" if reset else "eof")
        self.reset = reset


class RawPeer:
    """One end of a WebSocket connection, driven by hand.

    ``client=True``: this peer is a client (its frames are masked by default and
    it expects unmasked ones); ``client=False``: a server.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: bool) -> None:
        self.reader = reader
        self.writer = writer
        self.client = client

    # --- opening ------------------------------------------------------------------

    @classmethod
    async def connect(
        cls, port: int, path: str = "/", host: str = "127.0.0.1", extensions: bytes | None = None
    ) -> RawPeer:
        """Open TCP to a WebSocket server and do the upgrade by hand (``extensions``: the
        Sec-WebSocket-Extensions offer, e.g. b"permessage-deflate")."""
        reader, writer = await asyncio.open_connection(host, port)
        key = base64.b64encode(os.urandom(16))
        writer.write(
            b"GET " + path.encode() + b" HTTP/1.1\r\n"
            b"Host: " + f"{host}:{port}".encode() + b"\r\n"
            b"Upgrade: websocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Key: " + key + b"\r\n"
            b"Sec-WebSocket-Version: 13\r\n"
            + (b"Sec-WebSocket-Extensions: " + extensions + b"\r\n" if extensions else b"")
            + b"\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101 "), head
        headers = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        assert headers.get(b"sec-websocket-accept") == accept_for(key), head
        return cls(reader, writer, client=True)

    @classmethod
    async def accept(cls, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> RawPeer:
        """Server side: read a client's upgrade request and answer 101 by hand."""
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        key = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        assert key is not None, head
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\n"
            b"Upgrade: websocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_for(key) + b"\r\n"
            b"\r\n"
        )
        return cls(reader, writer, client=False)

    # --- sending --------------------------------------------------------------------

    def frame(self, opcode: int, payload: bytes | str = b"", *, masked: bool | None = None, **kw) -> bytes:
        """Encode one frame as this peer sends it (masked iff client, unless ``masked`` says otherwise)."""
        if masked is None:
            masked = self.client
        return encode_frame(opcode, payload, key=os.urandom(4) if masked else None, **kw)

    def send(self, opcode: int, payload: bytes | str = b"", **kw) -> None:
        self.writer.write(self.frame(opcode, payload, **kw))

    def send_close(self, code: int | None = 1000, reason: bytes | str = b"") -> None:
        self.send(OP_CLOSE, close_payload(code, reason))

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    # --- receiving ------------------------------------------------------------------

    async def _exactly(self, n: int) -> bytes:
        try:
            return await self.reader.readexactly(n)
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise AssertionError(f"connection closed inside a frame ({exc.partial!r})") from None
            raise EOF() from None
        except ConnectionResetError:
            raise EOF(reset=True) from None

    async def read_frame(self, timeout: float = 5.0) -> RawFrame:
        """The next frame; raises :class:`EOF` if the connection ends first."""
        return await asyncio.wait_for(self._read_frame(), timeout)

    async def _read_frame(self) -> RawFrame:
        b0, b1 = await self._exactly(2)
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack("!H", await self._exactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await self._exactly(8))[0]
        masked = bool(b1 & 0x80)
        key = await self._exactly(4) if masked else b""
        payload = await self._exactly(length) if length else b""
        if masked:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return RawFrame(bool(b0 & 0x80), (b0 >> 4) & 0x7, b0 & 0x0F, masked, payload)

    async def read_until_close(self, timeout: float = 5.0) -> tuple[list[RawFrame], RawFrame]:
        """Frames up to the close frame: (frames before it, the close frame)."""
        before = []
        while True:
            frame = await self.read_frame(timeout)
            if frame.opcode == OP_CLOSE:
                return before, frame
            before.append(frame)

    async def expect_eof(self, timeout: float = 5.0) -> EOF:
        """Wait for the peer to close TCP with no further bytes; return the EOF (FIN or RST)."""
        try:
            data = await asyncio.wait_for(self.reader.read(1), timeout)
        except ConnectionResetError:
            return EOF(reset=True)
        assert data == b"", f"expected EOF, got more bytes: {data!r}"
        return EOF()

    async def no_eof_within(self, delay: float) -> None:
        """Assert the peer neither sends nor closes anything for ``delay`` seconds."""
        try:
            data = await asyncio.wait_for(self.reader.read(1), delay)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"expected silence, got {data!r} ({'EOF' if not data else 'data'})")

    # --- closing ---------------------------------------------------------------------

    def abort(self) -> None:
        """Drop TCP without a close frame."""
        self.writer.transport.abort()

    async def close_tcp(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


class RawServer:
    """A TCP server whose connections are handed, after a hand-made 101, to a queue of RawPeers."""

    def __init__(self) -> None:
        self.peers: asyncio.Queue[RawPeer] = asyncio.Queue()
        self.all_peers: list[RawPeer] = []
        self.server: asyncio.AbstractServer | None = None

    async def __aenter__(self) -> RawServer:  # noqa: PYI034
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = await RawPeer.accept(reader, writer)
            self.all_peers.append(peer)
            await self.peers.put(peer)

        self.server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        return self

    @property
    def uri(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/"

    async def peer(self, timeout: float = 5.0) -> RawPeer:
        return await asyncio.wait_for(self.peers.get(), timeout)

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()
        for peer in self.all_peers:
            peer.abort()
