"""A Starlette app and a FastAPI app (asgi_apps.py: echo, JSON chat room, a route refused
with a custom response) served by a real ``uvicorn`` process with ``--ws
fastws.asgi:WebSocketProtocol``, permessage-deflate on and off (``--ws-per-message-deflate``),
driven by websockets, Node ws and headless Chromium clients, which all offer compression."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from asgi_support import HERE, UvicornProcess
from interop.interop_support import Chromium, require_tool
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

pytestmark = pytest.mark.timeout(90)

CASES = [(app, deflate) for app in ("starlette_app", "fastapi_app") for deflate in (True, False)]


@pytest.fixture(
    scope="module", params=CASES, ids=[f"{a.split('_')[0]}-deflate-{'on' if d else 'off'}" for a, d in CASES]
)
def server(request: pytest.FixtureRequest) -> Iterator[tuple[UvicornProcess, bool]]:
    app, deflate = request.param
    with UvicornProcess(f"asgi_apps:{app}", "--ws-per-message-deflate", str(deflate).lower()) as proc:
        yield proc, deflate


def expect_chat(seen: dict[str, Any]) -> None:
    assert seen["joinA"] == {"type": "join", "name": "alice", "members": 1}
    assert seen["joinSeenByA"] == {"type": "join", "name": "bob", "members": 2}
    assert seen["messageA"] == seen["messageB"] == {"type": "message", "name": "alice", "text": "hi bob"}
    assert seen["leaveSeenByA"] == {"type": "leave", "name": "bob", "members": 1}


def test_websockets_client(server: tuple[UvicornProcess, bool]) -> None:
    proc, deflate = server

    async def main() -> None:
        async with connect(f"{proc.url}/echo", compression="deflate", max_size=None) as ws:
            agreed = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
            assert agreed.startswith("permessage-deflate") == deflate, agreed
            for message in ["hello ✓", b"\x00\x01\x02\xff", b"\x07" * (1 << 20), "x" * (1 << 20)]:
                await ws.send(message)
                assert await ws.recv() == message
        seen: dict[str, Any] = {}
        async with connect(f"{proc.url}/chat/py?name=alice") as a:
            seen["joinA"] = json.loads(await a.recv())
            async with connect(f"{proc.url}/chat/py?name=bob") as b:
                seen["joinSeenByA"] = json.loads(await a.recv())
                seen["joinB"] = json.loads(await b.recv())
                await a.send(json.dumps({"text": "hi bob"}))
                seen["messageA"], seen["messageB"] = json.loads(await a.recv()), json.loads(await b.recv())
            seen["leaveSeenByA"] = json.loads(await a.recv())
        expect_chat(seen)
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"{proc.url}/private"):
                pass
        response = refused.value.response
        assert (response.status_code, response.body) == (403, b"members only\n")
        assert response.headers["x-denied-by"] == "asgi-app"

    asyncio.run(asyncio.wait_for(main(), 60))


def test_node_ws_client(server: tuple[UvicornProcess, bool]) -> None:
    proc, deflate = server
    node = require_tool("node", "the Node ws client")
    if not (HERE.parent / "interop" / "node" / "node_modules" / "ws").is_dir():
        from interop.interop_support import ensure_node_modules

        ensure_node_modules(require_tool("npm", "npm (for the ws package)"))
    out = subprocess.run([node, str(HERE / "asgi_node_client.js"), proc.url, "--pmd=on"],
                         capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    seen = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {"error": out.stderr}
    assert "error" not in seen, f"{seen}\n{proc.output()}"
    assert ("permessage-deflate" in seen["extensions"]) == deflate, seen["extensions"]
    assert (seen["text"], seen["binary"], seen["bigEqual"]) == ("hello ✓", [0, 1, 2, 255], True)
    assert seen["echoClose"] == {"code": 1000, "reason": ""}  # the server echoes the code (RFC 6455 §5.5.1)
    expect_chat(seen)
    assert seen["refused"] == {"status": 403, "header": "asgi-app", "body": "members only\n"}


def test_chromium(server: tuple[UvicornProcess, bool]) -> None:
    proc, deflate = server
    chromium = require_tool("chromium", "headless Chromium")
    http = proc.url.replace("ws://", "http://")
    with Chromium(chromium, f"{http}/page") as browser:
        deadline = time.monotonic() + 40
        reports: list[Any] = []
        while not reports and time.monotonic() < deadline:
            assert browser.exited() is None, f"chromium exited:\n{browser.log_tail()}"
            time.sleep(0.2)
            with urllib.request.urlopen(f"{http}/reports", timeout=5) as answer:
                reports = json.loads(answer.read())
        assert reports, f"no report from the page within 40 s\n{browser.log_tail()}\n{proc.output()}"
    steps = reports[-1]["steps"]
    echo, chat, refused = steps["echo"], steps["chat"], steps["refused"]
    assert "error" not in echo and "error" not in chat, steps
    assert echo["extensions"].startswith("permessage-deflate") == deflate, echo
    assert (echo["text"], echo["binary"], echo["bigEqual"]) == ("hello ✓", [0, 1, 2, 255], True)
    assert echo["close"] == {"code": 1000, "reason": "", "clean": True}
    expect_chat(chat)
    assert refused == {"error": True, "code": 1006, "clean": False}


def test_shutdown_closes_open_connections_with_1012() -> None:
    """uvicorn's graceful shutdown (SIGINT) closes every open WebSocket with 1012."""

    async def main(proc: UvicornProcess) -> None:
        async with connect(f"{proc.url}/echo") as ws:
            await ws.send("before")
            assert await ws.recv() == "before"
            assert proc.proc is not None
            proc.proc.send_signal(2)
            await asyncio.wait_for(ws.wait_closed(), 10)
            assert ws.close_code == 1012

    with UvicornProcess("asgi_apps:starlette_app") as proc:
        asyncio.run(main(proc))
        assert proc.proc is not None and proc.proc.wait(10) == 0
        # uvicorn's log line for an accepted WebSocket, as its own implementations write it
        assert re.search(r'INFO: +127\.0\.0\.1:\d+ - "WebSocket /echo" \[accepted\]', proc.output()), (
            proc.output()
        )
