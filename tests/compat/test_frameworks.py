"""hypercorn and trio-websocket, unmodified, on fastws.compat.wsproto (install()), with real peers.

Each server runs in its own process on a free loopback port; the peers are the
websockets library (text, binary, large, fragmented, compressed, closing) and
Node's ws.  The subprocesses print which wsproto module they loaded.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import websockets

HERE = Path(__file__).resolve().parent
NODE_WS = HERE.parent / "interop" / "node" / "node_modules" / "ws"
pytestmark = pytest.mark.timeout(120)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(mode: str, arg: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "peers.py"), mode, arg], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "wsproto-module: fastws.compat.wsproto"
    return proc


@pytest.fixture(params=["hypercorn", "trio-server"])
def server(request: Any) -> Iterator[tuple[str, str]]:
    port = free_port()
    proc = start(request.param, str(port))
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
    yield request.param, f"ws://127.0.0.1:{port}/"
    proc.terminate()
    proc.wait(timeout=10)


async def websockets_exchange(url: str, compression: Any, deflates: bool) -> None:
    async with websockets.connect(url, compression=compression, max_size=None) as ws:
        negotiated = ws.response.headers.get("Sec-WebSocket-Extensions")
        assert (negotiated is not None) == (compression is not None and deflates), negotiated
        for message in ["hello", b"\x00binary\xff", "é" * 70000, bytes(range(256)) * 4000, ""]:
            await ws.send(message)
            assert await ws.recv() == message
        await ws.send(iter(["frag", "ment", "ed"]))  # one message, three frames
        assert await ws.recv() == "fragmented"
        await ws.send(iter([b"a" * 70000, b"b"]))
        assert await ws.recv() == b"a" * 70000 + b"b"
        await ws.close(1000, "bye")
    assert ws.close_code == 1000


@pytest.mark.parametrize("compression", ["deflate", None], ids=["deflate", "plain"])
def test_websockets_client(server: tuple[str, str], compression: Any) -> None:
    """hypercorn accepts permessage-deflate; trio-websocket never negotiates extensions."""
    kind, url = server
    asyncio.run(asyncio.wait_for(websockets_exchange(url, compression, kind == "hypercorn"), 60))


@pytest.mark.skipif(shutil.which("node") is None or not NODE_WS.is_dir(), reason="tests/interop/setup.sh not run")
def test_node_ws_client(server: tuple[str, str]) -> None:
    kind, url = server
    out = subprocess.run(["node", str(HERE / "node_peer.js"), url], capture_output=True, text=True, timeout=60)
    result = json.loads(out.stdout)
    assert result["echoed"] == [True] * 4, result
    assert result["fragmented"] == "fragmented"
    assert result["close"] == [1000, "bye"]
    assert ("permessage-deflate" in result["extensions"]) == (kind == "hypercorn"), result


def test_trio_client_against_websockets_server() -> None:
    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> dict[str, Any]:
        async with websockets.serve(echo, "127.0.0.1", 0, compression="deflate", max_size=None) as srv:
            port = next(iter(srv.sockets)).getsockname()[1]
            proc = await asyncio.create_subprocess_exec(
                sys.executable, str(HERE / "peers.py"), "trio-client", f"ws://127.0.0.1:{port}/",
                stdout=asyncio.subprocess.PIPE,
            )
            out, _ = await asyncio.wait_for(proc.communicate(), 60)
        lines = out.decode().splitlines()
        assert lines[0] == "wsproto-module: fastws.compat.wsproto"
        return dict(json.loads(lines[1]))

    result = asyncio.run(main())
    assert result["echoed"] == [True] * 5
    assert result["close"] == [1000, "done"]
