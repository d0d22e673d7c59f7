"""fastws.sync against real servers in other processes: fastws, websockets and Node ws; peers
that stall, never read or reset; use from several threads."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any, Iterator

import pytest
from client_peers import pproxy

from fastws.exceptions import ConnectionClosedError, ConnectionClosedOK
from fastws.handshake import accept_key
from fastws.json_messages import InvalidJSON
from fastws.sync import ClientConnection, connect

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["fastws", "websockets", "node"])
def echo_uri(request: pytest.FixtureRequest) -> str:
    port = request.getfixturevalue({"fastws": "echo_server", "websockets": "websockets_server",
                                    "node": "node_server"}[request.param])  # fmt: skip
    return f"ws://127.0.0.1:{port}/"


def test_round_trips_iteration_ping_close(echo_uri: str) -> None:
    with connect(echo_uri) as ws:
        assert isinstance(ws, ClientConnection)
        ws.send("héllo")
        assert ws.recv(timeout=5) == "héllo"
        ws.send(b"\x00\x01" * 50_000)  # compressed on the wire (permessage-deflate with all three)
        assert ws.recv(timeout=5) == b"\x00\x01" * 50_000
        assert ws.response.header("Sec-WebSocket-Extensions").startswith("permessage-deflate")
        ws.send_json({"k": [1, 2.5, None, "ü"]})
        assert ws.recv_json(timeout=5) == {"k": [1, 2.5, None, "ü"]}
        ws.send('{"broken": ')
        with pytest.raises(InvalidJSON, match="invalid JSON in a message"):
            ws.recv_json(timeout=5)
        ws.send("[1]")  # the connection stays usable
        assert ws.recv_json(timeout=5) == [1]
        rtt = ws.ping(b"sync").result(timeout=5)
        assert 0 < rtt < 5
        with pytest.raises(TimeoutError, match="no message within 0.2s"):
            ws.recv(timeout=0.2)
        ws.send("after the timeout")  # nothing was lost or stuck by the timeout
        assert ws.recv(timeout=5) == "after the timeout"
    assert ws.close_code == 1000
    with pytest.raises(ConnectionClosedOK):
        ws.recv(timeout=1)
    with pytest.raises(ConnectionClosedOK):
        ws.send("late")


def test_iteration_ends_with_a_normal_close(websockets_server: int) -> None:
    ws = connect(f"ws://127.0.0.1:{websockets_server}/", compression=None)
    for word in ("a", "b", "c", "close:1000:done"):
        ws.send(word)
    assert list(ws) == ["a", "b", "c"]
    assert (ws.close_code, ws.close_reason) == (1000, "done")
    assert ws.response.header("Sec-WebSocket-Extensions") is None


def test_error_close_raises(websockets_server: int) -> None:
    with connect(f"ws://127.0.0.1:{websockets_server}/") as ws:
        ws.send("close:4001:nope")
        with pytest.raises(ConnectionClosedError, match="4001 nope"):
            for _ in ws:
                pass


def test_several_threads_send_and_receive(echo_server: int) -> None:
    with connect(f"ws://127.0.0.1:{echo_server}/") as ws:
        sent = [f"{t}:{i}" for t in range(4) for i in range(100)]
        received: list[Any] = []
        lock = threading.Lock()

        def sender(t: int) -> None:
            for i in range(100):
                ws.send(f"{t}:{i}")

        per_receiver: list[list[str]] = []

        def receiver() -> None:
            mine: list[str] = []
            for _ in range(100):
                mine.append(ws.recv(timeout=10))  # type: ignore[arg-type]
            with lock:
                received.extend(mine)
                per_receiver.append(mine)

        threads = [threading.Thread(target=sender, args=(t,)) for t in range(4)]
        threads += [threading.Thread(target=receiver) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert sorted(received) == sorted(sent)  # each message once, to exactly one receiver
        for mine in per_receiver:  # whoever receives them, each sender's messages keep its order
            for t in range(4):
                numbers = [int(m.split(":")[1]) for m in mine if m.startswith(f"{t}:")]
                assert numbers == sorted(numbers)


def test_through_a_proxy(echo_server: int) -> None:
    with pproxy("socks5", "u:p") as url, connect(f"ws://127.0.0.1:{echo_server}/", proxy=url) as ws:
        ws.send("via socks")
        assert ws.recv(timeout=5) == "via socks"


@pytest.fixture
def raw_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP server that accepts and does what the test says with the sockets (a real misbehaving peer)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1], accepted
    listener.close()
    for conn in accepted:
        conn.close()


def test_server_that_stalls_the_handshake(raw_server: tuple[int, list[socket.socket]]) -> None:
    port, _ = raw_server
    with pytest.raises(TimeoutError, match="opening handshake .* took more than 0.3s"):
        connect(f"ws://127.0.0.1:{port}/", open_timeout=0.3)


def _upgrade(conn: socket.socket) -> None:
    """Answer the opening handshake, then never read again."""
    request = b""
    while b"\r\n\r\n" not in request:
        request += conn.recv(4096)
    lines = request.decode().split("\r\n")
    key = next(line.split(":", 1)[1].strip() for line in lines if line.lower().startswith("sec-websocket-key"))
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n".encode()
    )


def test_server_that_never_reads_makes_send_wait_and_close_time_out(
    raw_server: tuple[int, list[socket.socket]],
) -> None:
    port, accepted = raw_server
    threading.Thread(target=lambda: (time.sleep(0.2), _upgrade(accepted[0])), daemon=True).start()
    ws = connect(f"ws://127.0.0.1:{port}/", compression=None, write_limit=1024, close_timeout=0.5)
    done = threading.Event()

    def flood() -> None:
        try:
            for _ in range(10_000):
                ws.send(b"x" * 65536)
        except ConnectionClosedError:
            pass
        done.set()

    threading.Thread(target=flood, daemon=True).start()
    assert not done.wait(1.0)  # send() waits: the socket buffers are full, nothing grows without bound
    started = time.monotonic()
    ws.close()  # the peer never answers: close_timeout, then the socket is dropped
    assert time.monotonic() - started < 5
    assert done.wait(5)  # the waiting sender got ConnectionClosed
    assert ws.close_code == 1006


def test_server_that_resets(raw_server: tuple[int, list[socket.socket]]) -> None:
    port, accepted = raw_server
    threading.Thread(target=lambda: (time.sleep(0.2), _upgrade(accepted[0])), daemon=True).start()
    ws = connect(f"ws://127.0.0.1:{port}/", compression=None)
    received = threading.Event()

    def wait() -> None:
        with pytest.raises(ConnectionClosedError, match="1006"):
            ws.recv()
        received.set()

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.2)
    conn = accepted[0]
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()  # RST
    thread.join(5)
    assert received.is_set()
    assert ws.close_code == 1006


def test_bad_use_is_refused() -> None:
    with pytest.raises(TypeError, match="no listener option"):
        connect("ws://127.0.0.1:9/", listener=object)
    with pytest.raises(TypeError, match="unknown option"):
        connect("ws://127.0.0.1:9/", bogus=1)
    with pytest.raises(ConnectionRefusedError):
        connect(f"ws://127.0.0.1:{_dead_port()}/", proxy=None)


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_close_from_another_thread_wakes_a_waiting_recv_and_pings(echo_server: int) -> None:
    ws = connect(f"ws://127.0.0.1:{echo_server}/")
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            ws.recv()
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.2)
    ws.close(1001, "going")
    thread.join(5)
    assert len(outcome) == 1 and isinstance(outcome[0], ConnectionClosedOK)
    assert ws.close_code == 1001  # (the server answers with the code, its own reason)
    with pytest.raises(ConnectionClosedOK):
        ws.ping()
    ws.close()  # twice: nothing more happens


def test_wss_through_the_environment_proxy(
    monkeypatch: pytest.MonkeyPatch, certificate: Any, tmp_path: Any
) -> None:
    import ssl

    import fastws
    from client_peers import refusing_proxy
    from fastws.runner import new_event_loop

    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(certificate[1], certificate[2])
    loop = new_event_loop("asyncio")

    async def echo(ws: fastws.WebSocket) -> None:
        async for message in ws:
            await ws.send(message)

    server = loop.run_until_complete(fastws.serve(echo, "127.0.0.1", 0, ssl=server_ctx))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        with refusing_proxy("http") as proxy:
            monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
            client_ctx = ssl.create_default_context(cafile=str(certificate[0]))
            with connect(f"wss://localhost:{server.port}/", ssl=client_ctx) as ws:
                ws.send("secure, proxied")
                assert ws.recv(timeout=5) == "secure, proxied"
        assert proxy.tunnels() == [f"localhost:{server.port}"]
    finally:

        async def shut_down() -> None:
            server.close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(shut_down(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_a_flood_waits_in_a_bounded_queue_and_odd_types(echo_server: int) -> None:
    with connect(f"ws://127.0.0.1:{echo_server}/", max_queue=8, compression=None) as ws:
        sent = [f"m{i}".ljust(1000) for i in range(3000)]  # 3 MB
        for message in sent:
            ws.send(message)
        time.sleep(0.5)  # the echoes flood back while nobody calls recv()
        # Reading paused at max_queue; the rest of that read (at most 256 KiB) is delivered,
        # the remaining megabytes wait in TCP.
        assert len(ws._inbox.messages) <= 8 + 263
        assert [ws.recv(timeout=5) for _ in range(3000)] == sent
        ws.send(bytearray(b"ba"))  # other bytes-like types take the checked path
        assert ws.recv(timeout=5) == b"ba"
        ws.send(b"\xc3\xa9", text=True)
        assert ws.recv(timeout=5) == "é"
        with pytest.raises(TypeError):
            ws.send(12)  # type: ignore[arg-type]
        ws.send("still open")
        assert ws.recv(timeout=5) == "still open"
