"""examples/chat end to end: its one command (run.py: two workers over a real redis-server)
and pages in a real headless Chromium, driven through the DevTools protocol.

Two pages on different workers chat; a page with a bad token is refused (401, which
a browser sees as a failed connection); the worker of one page is killed, the page
reconnects to another worker with the id of the last message it saw, and receives
the messages sent meanwhile, in order, none twice. The cookie login, the Origin
check and bad requests are checked with the fastws client.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from scale_support import RedisServer, Supervisor, free_port

import fastws
from fastws.exceptions import HandshakeRejected

ROOT = Path(__file__).resolve().parents[2]
CHAT = ROOT / "examples" / "chat"
sys.path.insert(0, str(ROOT / "tests" / "interop"))
sys.path.insert(0, str(CHAT))
import chat_server
from interop_support import CHROMIUM_FLAGS, require_tool, stop_process_group

SECRET = "test-secret"
pytestmark = pytest.mark.timeout(120)


def token(name: str) -> str:
    chat_server.SECRET = SECRET.encode()
    return chat_server.make_token(name)


class Browser:
    """One headless Chromium with remote debugging on a free port; pages opened and evaluated over CDP."""

    def __init__(self) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="fastws-chat-chromium-")
        self.profile = Path(self.tmp.name) / "profile"
        self.profile.mkdir()
        self.proc = subprocess.Popen(
            [require_tool("chromium", "the chat example's browser test"), *CHROMIUM_FLAGS,
             f"--user-data-dir={self.profile}", "--remote-debugging-port=0", "--remote-allow-origins=*",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        active = self.profile / "DevToolsActivePort"
        while not active.exists() or not active.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"Chromium did not open its DevTools port (exit {self.proc.poll()})")
            time.sleep(0.05)
        self.port = int(active.read_text().split()[0])

    def new_page(self, url: str) -> dict[str, Any]:
        # The page's own query must not be read as /json/new's: encoded whole (Chromium decodes it).
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?{quote(url, safe='')}", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def close_page(self, page: dict[str, Any]) -> None:
        urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/close/{page['id']}", timeout=10).close()

    def close(self) -> None:
        stop_process_group(self.proc, signal.SIGTERM, whole_group=True)
        self.tmp.cleanup()


class Page:
    """A page's DevTools connection (a fastws client): evaluate JavaScript, get JSON values back."""

    def __init__(self, target: dict[str, Any]) -> None:
        self.target = target
        self.next_id = 0

    async def __aenter__(self) -> "Page":
        self.ws = await fastws.connect(self.target["webSocketDebuggerUrl"], max_size=64 << 20, ping_interval=None)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.ws.close()

    async def eval(self, expression: str) -> Any:
        self.next_id += 1
        await self.ws.send(json.dumps({
            "id": self.next_id, "method": "Runtime.evaluate",
            "params": {"expression": expression, "returnByValue": True},
        }))  # fmt: skip
        while True:
            reply = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            if reply.get("id") == self.next_id:
                result = reply["result"]
                if "exceptionDetails" in result:
                    raise AssertionError(f"{expression!r} raised in the page: {result['exceptionDetails']}")
                return result["result"].get("value")

    async def chat(self) -> dict[str, Any]:
        state = await self.eval(
            "window.chat ? JSON.stringify({hellos: chat.hellos, messages: chat.messages, resumed: chat.resumed,"
            " closes: chat.closes, connected: chat.connected, errors: chat.errors}) : null"
        )
        return json.loads(state) if state else {}

    async def until(self, predicate: Any, what: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            state = await self.chat()
            if state and predicate(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"page {self.target['url']}: {what} did not happen; state: {state}")
            await asyncio.sleep(0.05)

    async def type_and_send(self, text: str) -> None:
        """As a user: type into the box, press the button."""
        await self.eval(
            f"document.getElementById('text').value = {json.dumps(text)};"
            "document.getElementById('send').click();"
        )


@pytest.fixture
def chat(redis: RedisServer):  # type: ignore[no-untyped-def]
    port = free_port()
    env = {"REDIS_URL": redis.url, "CHAT_SECRET": SECRET}
    server = Supervisor(
        "", command=[sys.executable, str(CHAT / "run.py"), "--port", str(port), "--workers", "2"], env=env
    )
    try:
        server.started(2)
        yield server, port
    finally:
        server.stop()
        server.kill()


def test_two_pages_on_different_workers_chat_bad_token_refused_killed_worker_resumes(chat) -> None:  # type: ignore[no-untyped-def]
    server, port = chat
    base = f"http://127.0.0.1:{port}"
    browser = Browser()

    async def scenario() -> None:
        # Alice logs in (the cookie), Bob comes with a token in the URL; Bob's page is reopened
        # until it is on the other worker (SO_REUSEPORT picks one per connection).
        async with Page(browser.new_page(f"{base}/login?name=alice&room=e2e")) as alice:
            first = await alice.until(lambda s: s["hellos"] and s["resumed"], "alice connects")
            assert first["hellos"][0]["user"] == "alice"
            alice_worker = first["hellos"][0]["worker"]
            for _ in range(20):
                target = browser.new_page(f"{base}/?room=e2e&token={token('bob')}")
                async with Page(target) as bob:
                    state = await bob.until(lambda s: s["hellos"] and s["resumed"], "bob connects")
                    if state["hellos"][0]["worker"] == alice_worker:
                        await bob.eval("chat.ws.onclose = null; chat.ws.close()")
                        browser.close_page(target)
                        continue
                    assert state["hellos"][0]["user"] == "bob"
                    await run_chat(alice, bob, alice_worker)
                    break
            else:
                raise AssertionError("20 pages all landed on alice's worker")

            # A page with a bad token: the handshake is refused with 401 (a browser only sees 1006).
            async with Page(browser.new_page(f"{base}/?room=e2e&token=mallory.0000")) as mallory:
                state = await mallory.until(lambda s: len(s["closes"]) >= 2, "the refused page retries")
                assert state["hellos"] == [] and not state["connected"]
                assert {c["code"] for c in state["closes"]} == {1006}
            with pytest.raises(HandshakeRejected) as refused:
                await fastws.connect(f"ws://127.0.0.1:{port}/ws?room=e2e&token=mallory.0000", origin=base)
            assert refused.value.status == 401

    async def run_chat(alice: Page, bob: Page, alice_worker: int) -> None:
        await alice.type_and_send("hi bob, alice here")
        await bob.until(lambda s: len(s["messages"]) == 1, "alice's message reaches bob")
        await bob.type_and_send("hello alice")
        for page in (alice, bob):
            state = await page.until(lambda s: len(s["messages"]) >= 2, "both messages arrive")
            assert [(m["user"], m["text"]) for m in state["messages"]] == [
                ("alice", "hi bob, alice here"), ("bob", "hello alice"),
            ]  # fmt: skip

        # Alice's worker dies; Bob talks while she is away; her page reconnects to a live
        # worker with ?last=<her last id> and gets what she missed, then live messages again.
        os.kill(alice_worker, signal.SIGKILL)
        for i in range(3):
            await bob.eval(f"chat.send('while you were away {i}')")
        state = await alice.until(lambda s: len(s["hellos"]) == 2 and s["resumed"][-1:] and len(s["resumed"]) == 2,
                                  "alice reconnects")  # fmt: skip
        assert state["closes"][0]["code"] == 1006
        assert state["hellos"][1]["worker"] != alice_worker
        assert state["resumed"][1] == {"type": "resumed", "count": 3, "complete": True}
        await alice.type_and_send("back!")
        bob_state = await bob.until(lambda s: len(s["messages"]) == 6, "bob sees all six")
        alice_state = await alice.until(lambda s: len(s["messages"]) == 6, "alice sees all six")
        assert alice_state["messages"] == bob_state["messages"]  # same ids, same order, none twice
        assert [m["text"] for m in alice_state["messages"]][2:] == [
            "while you were away 0", "while you were away 1", "while you were away 2", "back!",
        ]  # fmt: skip
        assert bob_state["closes"] == []  # Bob's worker was never touched
        server.wait_for(rf"worker \d \(pid {alice_worker}\) died \(signal SIGKILL\)", stderr=True)

    try:
        fastws.run(asyncio.wait_for(scenario(), 100))
    finally:
        browser.close()


def test_login_cookie_origin_check_and_bad_requests(chat) -> None:  # type: ignore[no-untyped-def]
    _, port = chat
    base = f"http://127.0.0.1:{port}"

    async def scenario() -> None:
        uri = f"ws://127.0.0.1:{port}/ws?room=api"
        cookie = f"chat_token={token('carol')}"
        async with fastws.connect(uri, extra_headers=[("Cookie", cookie)], origin=base) as ws:
            hello = json.loads(await ws.recv())
            assert (hello["type"], hello["user"], hello["room"]) == ("hello", "carol", "api")
            assert json.loads(await ws.recv()) == {"type": "resumed", "count": 0, "complete": True}
            for bad, error in [
                ("not json", "not JSON"),
                (json.dumps({"text": ""}), 'expected {"text": "..."} with 1 to 2000 characters'),
                (json.dumps({"text": "x" * 2001}), 'expected {"text": "..."} with 1 to 2000 characters'),
                (b"\x00", "send JSON text, not binary"),
            ]:
                await ws.send(bad)
                assert json.loads(await ws.recv()) == {"type": "error", "error": error}
            await ws.send(json.dumps({"text": "ok"}))
            message = json.loads(await ws.recv())
            assert (message["type"], message["user"], message["text"]) == ("message", "carol", "ok")
        for query, headers, origin, status in [
            ("room=api", [("Cookie", "chat_token=carol.forged")], base, 401),
            ("room=api", [("Cookie", cookie)], "http://evil.example", 403),
            ("room=Not%20A%20Room", [("Cookie", cookie)], base, 400),
            ("room=api&last=yesterday", [("Cookie", cookie)], base, 400),
        ]:
            with pytest.raises(HandshakeRejected) as refused:
                await fastws.connect(f"ws://127.0.0.1:{port}/ws?{query}", extra_headers=headers, origin=origin)
            assert refused.value.status == status, query

    fastws.run(asyncio.wait_for(scenario(), 30))
    with urllib.request.urlopen(f"{base}/", timeout=10) as page:
        assert b"new WebSocket" in page.read()
    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as login:
        opener.open(f"{base}/login?name=dave", timeout=10)
    assert login.value.code == 303
    assert login.value.headers["Set-Cookie"].startswith(f"chat_token={token('dave')}; Path=/; HttpOnly")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


def test_chat_workers_ride_out_a_redis_restart(chat, redis: RedisServer) -> None:  # type: ignore[no-untyped-def]
    """Worker processes, Redis SIGKILLed and restarted: a post while it is down gets an error
    (never silently dropped); afterwards both workers carry the room again."""
    _, port = chat
    base = f"http://127.0.0.1:{port}"

    async def client(name: str) -> tuple[Any, int]:
        ws = await fastws.connect(f"ws://127.0.0.1:{port}/ws?room=outage&token={token(name)}", origin=base)
        hello = json.loads(await ws.recv())
        assert json.loads(await ws.recv())["type"] == "resumed"
        return ws, hello["worker"]

    async def scenario() -> None:
        x, x_worker = await client("xavier")
        for _ in range(30):
            y, y_worker = await client("yvonne")
            if y_worker != x_worker:
                break
            await y.close()
        else:
            raise AssertionError("30 connections all landed on one worker")
        redis.stop()
        await x.send(json.dumps({"text": "anyone there?"}))
        assert json.loads(await asyncio.wait_for(x.recv(), 10)) == {
            "type": "error", "error": "not sent: the chat backend is unavailable, try again",
        }  # fmt: skip
        await asyncio.get_running_loop().run_in_executor(None, redis.start)
        deadline = time.monotonic() + 20
        while True:  # until both workers' Pub/Sub connections are back (they retry with backoff)
            await x.send(json.dumps({"text": "back?"}))
            reply = json.loads(await asyncio.wait_for(x.recv(), 10))
            if reply["type"] == "message":
                break
            assert reply["type"] == "error" and time.monotonic() < deadline, reply
            await asyncio.sleep(0.2)
        got = json.loads(await asyncio.wait_for(y.recv(), 10))
        assert (got["user"], got["text"]) == ("xavier", "back?")
        await y.send(json.dumps({"text": "welcome back"}))
        for ws in (x, y):
            got = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert (got["user"], got["text"]) == ("yvonne", "welcome back")
        await x.close()
        await y.close()

    fastws.run(asyncio.wait_for(scenario(), 60))
