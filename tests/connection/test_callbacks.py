"""The callback API: ``Listener`` subclasses on the server (``serve(ListenerClass)``) and the
client (``connect(uri, listener=factory)``)."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest
from rawpeer import OP_RESERVED, RawPeer, close_payload
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed as WSClosed

import fastws
from fastws import Listener, ProtocolError
from fastws.constants import OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT
from fastws.echo import EchoListener

pytestmark = pytest.mark.timeout(30)

HOST = "127.0.0.1"
WS_CLIENT_OPTS: dict[str, Any] = {
    "compression": None,
    "ping_interval": None,
    "proxy": None,
    "max_size": 4 * 1024 * 1024,
}


def recording_listener(**raising: type[BaseException]) -> type:
    """A Listener class recording every callback into ``instances[i].events``.

    ``raising={"on_message": RuntimeError}`` makes that callback raise after recording.
    """

    class Recording(Listener):
        instances: ClassVar[list] = []

        def __init__(self) -> None:
            self.events: list[tuple] = []
            self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
            self.ws = None
            Recording.instances.append(self)

        def _record(self, name: str, *args: Any) -> None:
            self.events.append((name, *args))
            if name in raising:
                raise raising[name](f"{name} failed on purpose")

        def on_open(self, ws):
            self.ws = ws
            self._record("on_open")

        def on_message(self, ws, message):
            self._record("on_message", message)

        def on_ping(self, ws, payload):
            self._record("on_ping", payload)

        def on_pong(self, ws, payload):
            self._record("on_pong", payload)

        def on_error(self, ws, exc):
            self._record("on_error", exc)

        def on_close(self, ws, code, reason):
            self.events.append(("on_close", code, reason))
            if not self.closed.done():
                self.closed.set_result((code, reason))
            if "on_close" in raising:
                raise raising["on_close"]("on_close failed on purpose")

        def names(self) -> list[str]:
            return [e[0] for e in self.events]

    return Recording


async def single_instance(cls: type, timeout: float = 5.0) -> Any:
    for _ in range(int(timeout * 100)):
        if cls.instances:
            assert len(cls.instances) == 1
            return cls.instances[0]
        await asyncio.sleep(0.01)
    raise AssertionError("no listener was instantiated")


# ===================================================================================
# Echo
# ===================================================================================


def test_listener_echo_server_fastws_client(run, impl):
    messages = ["", "x", "héllo ☃", "a" * 126, b"", b"\x00\xff", bytes(range(256)) * 256, "t" * 65536]

    async def main():
        async with await fastws.serve(EchoListener, HOST, 0) as srv:
            async with fastws.connect(f"ws://{HOST}:{srv.port}/") as client:
                for message in messages:
                    await client.send(message)
                    echoed = await client.recv()
                    assert type(echoed) is type(message) and echoed == message
                await client.send_fragments(["frag", "mented"])
                assert await client.recv() == "fragmented"
                rtt = await asyncio.wait_for(client.ping(b"p"), 5)
                assert rtt >= 0
            assert client.close_code == 1000

    run(main())


def test_listener_echo_server_websockets_client(run, impl):
    async def main():
        async with await fastws.serve(EchoListener, HOST, 0) as srv:
            async with ws_connect(f"ws://{HOST}:{srv.port}/", **WS_CLIENT_OPTS) as client:
                for message in ["hi", b"bin", "é" * 40000, b"\x01" * 70000]:
                    await client.send(message)
                    assert await client.recv() == message
                await client.send(["a", "b", "c"])
                assert await client.recv() == "abc"
                assert await asyncio.wait_for(await client.ping(b"x"), 5) >= 0
            assert client.close_code == 1000

    run(main())


# ===================================================================================
# Lifecycle: each callback with the right arguments, open and close exactly once
# ===================================================================================


def test_listener_lifecycle_events(run, impl):
    Recording = recording_listener()

    class Pinging(Recording):
        def on_open(self, ws):
            super().on_open(ws)
            ws.ping(b"from server")  # plain call: the callback API does not await

    async def main():
        async with await fastws.serve(Pinging, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            ping = await peer.read_frame()
            assert (ping.opcode, ping.payload) == (OP_PING, b"from server")
            peer.send(OP_PONG, b"from server")
            peer.send(OP_TEXT, "text")
            peer.send(OP_PING, b"client ping")
            peer.write(peer.frame(OP_BINARY, b"fra", fin=False) + peer.frame(OP_CONTINUATION, b"gment"))
            peer.send(OP_PONG, b"unsolicited")
            pong = await peer.read_frame()
            assert (pong.opcode, pong.payload) == (OP_PONG, b"client ping")  # sent before on_ping
            peer.send_close(4000, "bye")
            _, close = await peer.read_until_close()
            assert close.close[0] == 4000
            await peer.expect_eof()
            listener = await single_instance(Pinging)
            assert await asyncio.wait_for(listener.closed, 2) == (4000, "bye")
            await asyncio.sleep(0.05)  # nothing else comes later
        assert listener.events == [
            ("on_open",),
            ("on_pong", b"from server"),
            ("on_message", "text"),
            ("on_ping", b"client ping"),
            ("on_message", b"fragment"),
            ("on_pong", b"unsolicited"),
            ("on_close", 4000, "bye"),
        ]
        assert listener.ws is not None and listener.ws.closed

    run(main())


def test_listener_on_close_after_drop(run, impl):
    Recording = recording_listener()

    async def main():
        async with await fastws.serve(Recording, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            peer.send(OP_TEXT, "x")
            listener = await single_instance(Recording)
            await asyncio.sleep(0.05)
            peer.abort()
            assert await asyncio.wait_for(listener.closed, 2) == (1006, "")
        assert listener.names() == ["on_open", "on_message", "on_close"]

    run(main())


def test_listener_data_after_close_frame_not_delivered(run, impl):
    Recording = recording_listener()

    async def main():
        async with await fastws.serve(Recording, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            peer.write(
                peer.frame(OP_TEXT, "before")
                + peer.frame(OP_CLOSE, close_payload(1000))
                + peer.frame(OP_TEXT, "after")
                + peer.frame(OP_PING, b"after")
            )
            await peer.read_until_close()
            await peer.expect_eof()
            listener = await single_instance(Recording)
            await asyncio.wait_for(listener.closed, 2)
        assert listener.events == [("on_open",), ("on_message", "before"), ("on_close", 1000, "")]

    run(main())


def test_listener_closing_inside_on_message_drops_later_messages(run, impl):
    class Closer(Listener):
        received: ClassVar[list] = []

        def on_message(self, ws, message):
            Closer.received.append(message)
            if message == "stop":
                ws.close(4100, "stopped")

    async def main():
        async with await fastws.serve(Closer, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            peer.write(b"".join(peer.frame(OP_TEXT, m) for m in ["one", "stop", "three", "four"]))
            before, close = await peer.read_until_close()
            assert before == []
            assert close.close == (4100, b"stopped")
            peer.send_close(4100)
            await peer.expect_eof()
        assert Closer.received == ["one", "stop"]

    run(main())


def test_server_close_calls_on_close_1001(run, impl):
    Recording = recording_listener()

    async def main():
        srv = await fastws.serve(Recording, HOST, 0)
        clients = [await fastws.connect(f"ws://{HOST}:{srv.port}/") for _ in range(2)]
        srv.close()
        await asyncio.wait_for(srv.wait_closed(), 3)
        assert len(Recording.instances) == 2
        for listener in Recording.instances:
            code, _ = await asyncio.wait_for(listener.closed, 2)
            assert code == 1001
            assert listener.names() == ["on_open", "on_close"]
        for client in clients:
            await asyncio.wait_for(client.wait_closed(), 2)
            assert (client.close_code, client.close_reason) == (1001, "server shutting down")

    run(main())


# ===================================================================================
# Errors
# ===================================================================================


@pytest.mark.parametrize(
    "build, code",
    [
        (lambda p: p.frame(OP_RESERVED, b"x"), 1002),
        (lambda p: p.frame(OP_TEXT, "unmasked", masked=False), 1002),
        (lambda p: p.frame(OP_TEXT, b"\xff\xfe"), 1007),
        (lambda p: p.frame(OP_BINARY, b"x" * 2000), 1009),
    ],
    ids=["reserved-opcode", "unmasked", "invalid-utf8", "too-big"],
)
def test_on_error_receives_protocol_error(run, impl, build, code):
    Recording = recording_listener()

    async def main():
        async with await fastws.serve(Recording, HOST, 0, max_size=1024) as srv:
            peer = await RawPeer.connect(srv.port)
            peer.write(peer.frame(OP_TEXT, "fine") + build(peer))
            _, close = await peer.read_until_close()
            assert close.close[0] == code
            await peer.expect_eof()
            listener = await single_instance(Recording)
            close_code, _ = await asyncio.wait_for(listener.closed, 2)
            assert close_code == code
        assert listener.names() == ["on_open", "on_message", "on_error", "on_close"]
        assert listener.events[1] == ("on_message", "fine")
        error = listener.events[2][1]
        assert isinstance(error, ProtocolError)
        assert error.code == code

    run(main())


@pytest.mark.parametrize("callback", ["on_open", "on_message", "on_ping", "on_pong"])
def test_raising_callback_closes_1011(run, impl, callback, caplog):
    Recording = recording_listener(**{callback: RuntimeError})

    async def main():
        async with await fastws.serve(Recording, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            if callback == "on_message":
                peer.send(OP_TEXT, "trigger")
            elif callback == "on_ping":
                peer.send(OP_PING, b"trigger")
            elif callback == "on_pong":
                peer.send(OP_PONG, b"trigger")
            before, close = await peer.read_until_close()
            if callback == "on_ping":
                assert [(f.opcode, f.payload) for f in before] == [(OP_PONG, b"trigger")]
            else:
                assert before == []
            assert close.close == (1011, b"internal error")
            peer.send_close(1011)
            await peer.expect_eof()
            listener = await single_instance(Recording)
            await asyncio.wait_for(listener.closed, 2)
        if callback == "on_open":
            assert listener.names() == ["on_open", "on_error", "on_close"]
        else:
            assert listener.names() == ["on_open", callback, "on_error", "on_close"]
        error = listener.events[-2][1]
        assert isinstance(error, RuntimeError) and f"{callback} failed" in str(error)
        assert listener.events[-1] == ("on_close", 1011, "")

    run(main())
    assert any("listener callback failed" in r.getMessage() for r in caplog.records)


def test_raising_on_close_is_contained(run, impl, caplog):
    """on_close raising is logged; nothing else breaks (the server keeps serving)."""
    Recording = recording_listener(on_close=RuntimeError)

    async def main():
        async with await fastws.serve(Recording, HOST, 0) as srv:
            for _ in range(2):
                peer = await RawPeer.connect(srv.port)
                peer.send_close(1000)
                await peer.read_until_close()
                await peer.expect_eof()
            await asyncio.sleep(0.05)
            assert len(Recording.instances) == 2
            for listener in Recording.instances:
                # on_error reports the callback's exception (see Listener.on_error), after the fact
                assert listener.names() == ["on_open", "on_close", "on_error"]
                assert isinstance(listener.events[2][1], RuntimeError)

    run(main())


def test_raising_on_error_keeps_protocol_close_code(run, impl):
    """A buggy on_error must not change what the peer is told: the violation's code (1002), not 1011."""
    Recording = recording_listener(on_error=RuntimeError)

    async def main():
        async with await fastws.serve(Recording, HOST, 0) as srv:
            peer = await RawPeer.connect(srv.port)
            peer.send(OP_RESERVED, b"")
            _, close = await peer.read_until_close()
            await peer.expect_eof()
            listener = await single_instance(Recording)
            await asyncio.wait_for(listener.closed, 2)
        assert close.close[0] == 1002
        assert isinstance(listener.events[1][1], ProtocolError)

    run(main())


# ===================================================================================
# Client with a listener factory
# ===================================================================================


class ClientScript(Listener):
    """Sends three messages on open, collects the echoes, then closes."""

    instances: ClassVar[list] = []

    def __init__(self) -> None:
        self.received: list = []
        self.events: list = []
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()
        ClientScript.instances.append(self)

    def on_open(self, ws):
        self.events.append("open")
        ws.send("one")
        ws.send(b"two")
        ws.send("three ☃")

    def on_message(self, ws, message):
        self.received.append(message)
        if len(self.received) == 3:
            ws.close(1000, "enough")

    def on_close(self, ws, code, reason):
        self.events.append("close")
        self.done.set_result((code, reason))


def test_client_listener_factory_fastws_server(run, impl):
    ClientScript.instances = []

    async def main():
        async with await fastws.serve(EchoListener, HOST, 0) as srv:
            uri = f"ws://{HOST}:{srv.port}/"
            first = await fastws.connect(uri, listener=ClientScript)
            second = await fastws.connect(uri, listener=ClientScript)
            assert len(ClientScript.instances) == 2  # the factory is called per connection
            for listener, ws in zip(ClientScript.instances, (first, second)):
                code, _ = await asyncio.wait_for(listener.done, 5)
                assert code == 1000
                assert listener.received == ["one", b"two", "three ☃"]
                assert listener.events == ["open", "close"]
                assert ws.closed

    run(main())


def test_client_listener_factory_websockets_server(run, impl):
    ClientScript.instances = []
    seen: asyncio.Future

    async def handler(ws):
        try:
            async for message in ws:
                await ws.send(message)
        finally:
            seen.set_result((ws.close_code, ws.close_reason))

    async def main():
        nonlocal seen
        seen = asyncio.get_running_loop().create_future()
        async with ws_serve(handler, HOST, 0, compression=None, ping_interval=None) as server:
            port = server.sockets[0].getsockname()[1]
            ws = await fastws.connect(f"ws://{HOST}:{port}/", listener=lambda: ClientScript())
            listener = ClientScript.instances[0]
            code, _ = await asyncio.wait_for(listener.done, 5)
            assert code == 1000
            assert listener.received == ["one", b"two", "three ☃"]
            assert await asyncio.wait_for(seen, 5) == (1000, "enough")
            await asyncio.wait_for(ws.wait_closed(), 2)

    run(main())


def test_client_listener_on_ping_and_error(run, impl):
    """A client listener gets on_ping with the payload, then on_error for a message over max_size."""
    Recording = recording_listener()
    seen: asyncio.Future

    async def handler(ws):
        await asyncio.wait_for(await ws.ping(b"srv-ping"), 5)  # answered by the fastws client
        await ws.send(b"x" * 201)  # over the client's max_size
        with pytest.raises(WSClosed):
            await ws.recv()
        seen.set_result(ws.close_code)

    async def main():
        nonlocal seen
        seen = asyncio.get_running_loop().create_future()
        async with ws_serve(handler, HOST, 0, compression=None, ping_interval=None) as server:
            port = server.sockets[0].getsockname()[1]
            ws = await fastws.connect(f"ws://{HOST}:{port}/", listener=Recording, max_size=200)
            listener = await single_instance(Recording)
            code, _ = await asyncio.wait_for(listener.closed, 5)
            assert code == 1009
            assert await asyncio.wait_for(seen, 5) == 1009  # the server was told why
            assert ws.closed
        assert listener.names() == ["on_open", "on_ping", "on_error", "on_close"]
        assert listener.events[1] == ("on_ping", b"srv-ping")
        error = listener.events[2][1]
        assert isinstance(error, ProtocolError) and error.code == 1009

    run(main())


# ===================================================================================
# Flow control callbacks
# ===================================================================================


def test_pause_and_resume_writing_callbacks(run, impl):
    class Flooder(Listener):
        instance = None

        def __init__(self) -> None:
            self.events: list = []
            self.paused = False
            self.resumed: asyncio.Future = asyncio.get_running_loop().create_future()
            Flooder.instance = self

        def on_message(self, ws, message):
            chunk = b"x" * 65536
            for _ in range(4096):
                ws.send(chunk)
                if self.paused:
                    break
            self.events.append(("stopped sending", self.paused))

        def on_pause_writing(self, ws):
            self.paused = True
            self.events.append("pause")

        def on_resume_writing(self, ws):
            self.paused = False
            self.events.append("resume")
            if not self.resumed.done():
                self.resumed.set_result(None)

    async def main():
        async with await fastws.serve(Flooder, HOST, 0, write_limit=65536) as srv:
            peer = await RawPeer.connect(srv.port)
            peer.send(OP_TEXT, "go")
            await asyncio.sleep(0.1)  # the server fills its buffer; we do not read yet
            listener = Flooder.instance
            assert listener is not None
            assert listener.events == ["pause", ("stopped sending", True)]
            total = 0
            while not listener.resumed.done():
                frame = await peer.read_frame()
                assert frame.opcode == OP_BINARY
                total += len(frame.payload)
            assert listener.events[-1] == "resume"
            assert total > 0
            peer.abort()

    run(main())


# ===================================================================================
# decode_text = False: text messages reach on_text as validated UTF-8 bytes
# ===================================================================================


class TextBytes(Listener):
    """Records what arrives where; echoes text as text bytes and binary as binary."""

    decode_text = False
    instances: ClassVar[list] = []

    def __init__(self) -> None:
        self.received: list[tuple[str, Any]] = []
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        TextBytes.instances.append(self)

    def on_text(self, ws, data):
        self.received.append(("on_text", data))
        ws.send(data, text=True)

    def on_message(self, ws, message):
        self.received.append(("on_message", message))
        ws.send(message)

    def on_close(self, ws, code, reason):
        if not self.closed.done():
            self.closed.set_result(code)


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_decode_text_false_server(run, impl, compression):
    TextBytes.instances = []
    long_text = "héllo ☃ " * 5000  # compressed when deflate is on

    async def main():
        async with await fastws.serve(TextBytes, HOST, 0, compression=compression) as srv:
            opts = {**WS_CLIENT_OPTS, "compression": compression}
            async with ws_connect(f"ws://{HOST}:{srv.port}/", **opts) as client:
                for message in ["héllo ☃", b"\xff\x00", long_text, ""]:
                    await client.send(message)
                    echoed = await client.recv()
                    assert type(echoed) is type(message) and echoed == message
                await client.send(["frag", "mented ☃"])
                assert await client.recv() == "fragmented ☃"
        listener = TextBytes.instances[0]
        assert listener.received == [
            ("on_text", "héllo ☃".encode()),
            ("on_message", b"\xff\x00"),
            ("on_text", long_text.encode()),
            ("on_text", b""),
            ("on_text", "fragmented ☃".encode()),
        ]
        assert all(type(data) is bytes for _, data in listener.received)

    run(main())


@pytest.mark.parametrize("compression", [None, "deflate"])
def test_decode_text_false_still_rejects_invalid_utf8(run, impl, compression):
    TextBytes.instances = []

    async def main():
        async with await fastws.serve(TextBytes, HOST, 0, compression=compression) as srv:
            opts = {**WS_CLIENT_OPTS, "compression": compression}
            async with ws_connect(f"ws://{HOST}:{srv.port}/", **opts) as client:
                # websockets sends bytes as a text frame unchecked; long enough to be compressed.
                await client.send(b"ok " * 100 + b"\xed\xa0\x80", text=True)
                with pytest.raises(WSClosed):
                    await client.recv()
                assert client.close_code == 1007
        listener = TextBytes.instances[0]
        assert listener.received == []
        assert await asyncio.wait_for(listener.closed, 5) == 1007

    run(main())


def test_decode_text_false_default_on_text_decodes(run, impl):
    """A listener that opts out of decoding but has no on_text still gets str in on_message."""
    Recording = recording_listener()
    Recording.decode_text = False

    async def main():
        async with await fastws.serve(Recording, HOST, 0) as srv:
            async with ws_connect(f"ws://{HOST}:{srv.port}/", **WS_CLIENT_OPTS) as client:
                await client.send("é")
                await client.send(b"b")
            listener = await single_instance(Recording)
            await asyncio.wait_for(listener.closed, 5)
        assert [e for e in listener.events if e[0] == "on_message"] == [("on_message", "é"), ("on_message", b"b")]

    run(main())


def test_decode_text_false_client(run, impl):
    TextBytes.instances = []

    async def main():
        async with await fastws.serve(EchoListener, HOST, 0) as srv:
            ws = await fastws.connect(f"ws://{HOST}:{srv.port}/", listener=TextBytes)
            listener = TextBytes.instances[0]
            ws.send("ping ☃")  # echoed by the server, then by this listener, ... : stop after a few
            for _ in range(100):
                if len(listener.received) >= 3:
                    break
                await asyncio.sleep(0.01)
            await ws.close()
        assert listener.received[:3] == [("on_text", "ping ☃".encode())] * 3

    run(main())
