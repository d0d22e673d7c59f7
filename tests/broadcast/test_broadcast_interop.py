"""Encode-once broadcast with permessage-deflate against real peers that keep their context.

A fastws server (its default deflate: a 12-bit window for what it sends) has eight
subscribers that echo every message back: three websockets clients (default offer;
``server_max_window_bits=10``; no compression), three Node ``ws`` clients (two with
ws's defaults, one offering ``server_max_window_bits=11``) and two connections from one
headless Chromium page. Every round broadcasts one message (compressed once per window
size, 12, 11 and 10 bits, and once uncompressed: four frames for eight connections) and
then sends each connection messages of its own that repeat the broadcast's and earlier
messages' content (compressed with its own context, which must not refer back across
the shared message). Each peer inflates with the context it kept; the echoes must be
exactly what was sent, in order, and every connection must end with a clean 1000.

Run on both loops, and by ``test_broadcast_pure_build.py`` on the pure build of the core.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any, Union

import pytest
from interop_support import NODE_DIR, Chromium, wait_for
from websockets.asyncio.client import connect as ws_connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

import fastws
from fastws import HTTPResponse

HERE = Path(__file__).resolve().parent
PAGE = (HERE / "echo_page.html").read_bytes()
ROUNDS = 24
PEERS = ["py-default", "py-bits10", "py-plain", "node-0", "node-1", "node11-0", "chromium-0", "chromium-1"]
Message = Union[str, bytes]

pytestmark = pytest.mark.timeout(90)


def shared_message(k: int) -> Message:
    if k % 6 == 5:
        return f"short {k}"  # below the 128-byte threshold: uncompressed for everyone
    body = json.dumps({"topic": "news", "seq": k, "items": [{"id": i, "title": f"headline {i}"} for i in range(k % 5 + 3)]})
    return body.encode() if k % 4 == 3 else body


def own_message(peer: str, k: int, j: int) -> Message:
    # Repeats the broadcasts' and its own earlier words: back-references across messages.
    body = json.dumps({"to": peer, "seq": k, "n": j, "items": [{"id": i, "title": f"headline {i}"} for i in range(j + 3)]})
    return body.encode() if j == 2 else body


async def websockets_echo(url: str, peer: str, **kwargs: Any) -> tuple[int, str]:
    async with ws_connect(f"{url}?peer={peer}", ping_interval=None, max_size=None, **kwargs) as ws:
        with contextlib.suppress(Exception):
            async for message in ws:
                await ws.send(message)
    assert ws.close_code is not None
    return ws.close_code, ws.close_reason or ""


async def node_echo(node: str, url: str, name: str, count: int, bits: int | None) -> dict[str, Any]:
    env = {**os.environ, "NODE_PATH": str(NODE_DIR / "node_modules")}
    args = [str(HERE / "node_echo.js"), url, name, str(count)] + ([str(bits)] if bits else [])
    proc = await asyncio.create_subprocess_exec(
        node, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError("node_echo.js did not finish") from None
    lines = out.decode().strip().splitlines()
    assert lines, f"node_echo.js printed nothing (exit {proc.returncode}): {err.decode()[-2000:]}"
    return json.loads(lines[-1])  # type: ignore[no-any-return]


async def scenario(node: str, chromium: str) -> None:
    conns: dict[str, fastws.WebSocket] = {}
    echoes: dict[str, list[Message]] = {}

    def process_request(ws: fastws.WebSocket, request: Any) -> HTTPResponse | None:
        if request.path == "/page":
            return HTTPResponse(200, PAGE, [("Content-Type", "text/html; charset=utf-8")])
        if request.path.startswith("/sub?peer="):
            return None
        return HTTPResponse(404, "not found\n")

    async def handler(ws: fastws.WebSocket) -> None:
        peer = ws.request.path.split("peer=", 1)[1]
        echoes[peer] = []
        conns[peer] = ws
        async for message in ws:
            echoes[peer].append(message)
        await ws.wait_closed()

    async with fastws.serve(handler, "127.0.0.1", 0, process_request=process_request, max_size=None) as server:
        url = f"ws://127.0.0.1:{server.port}/sub"
        clients = [
            asyncio.ensure_future(websockets_echo(url, "py-default")),
            asyncio.ensure_future(
                websockets_echo(url, "py-bits10", extensions=[ClientPerMessageDeflateFactory(server_max_window_bits=10)])
            ),
            asyncio.ensure_future(websockets_echo(url, "py-plain", compression=None)),
        ]
        nodes = [
            asyncio.ensure_future(node_echo(node, url, "node", 2, None)),
            asyncio.ensure_future(node_echo(node, url, "node11", 1, 11)),
        ]
        with Chromium(chromium, f"http://127.0.0.1:{server.port}/page") as browser:
            try:
                await wait_for(lambda: len(conns) == 8, 20, "eight subscribers")
            except AssertionError as exc:
                raise AssertionError(f"{exc}: {sorted(conns)}\n{browser.log_tail()}") from None
            await check_rounds(conns, echoes, browser)
    results = [await c for c in clients]
    assert results == [(1000, "done")] * 3
    for result in [await n for n in nodes]:
        assert result["errors"] == [] and all(c == [1000, "done"] for c in result["closes"]), result


async def check_rounds(conns: dict[str, fastws.WebSocket], echoes: dict[str, list[Message]], browser: Chromium) -> None:
    agreed = {peer: ws._deflate.compressor.window_bits if ws._deflate else None for peer, ws in conns.items()}
    assert sorted(agreed.items(), key=str) == sorted(
        {
            "py-default": 12, "py-bits10": 10, "py-plain": None, "node-0": 12, "node-1": 12,
            "node11-0": 11, "chromium-0": 12, "chromium-1": 12,
        }.items(), key=str,
    )  # fmt: skip
    expected: dict[str, list[Message]] = {peer: [] for peer in conns}
    targets = list(conns.values())
    for k in range(ROUNDS):
        shared = shared_message(k)
        result = fastws.broadcast(targets, shared)
        small = len(shared) < 128
        assert (result.sent, result.compressed, result.frames_built) == (8, 0 if small else 7, 1 if small else 4)
        for peer, ws in conns.items():
            expected[peer].append(shared)
            for j in range((k + len(peer)) % 4):
                own = own_message(peer, k, j)
                await ws.send(own)
                expected[peer].append(own)
        if k % 3 == 0:
            await asyncio.sleep(0.005)  # some rounds after the peers' echoes came in, some before
    try:
        await wait_for(
            lambda: all(len(echoes[p]) >= len(expected[p]) for p in conns) or any(ws.closed for ws in targets),
            30,
            "every echo",
        )
    except AssertionError as exc:
        got = {p: f"{len(echoes[p])}/{len(expected[p])}" for p in conns}
        raise AssertionError(f"{exc}: {got}\n{browser.log_tail()}") from None
    for peer in conns:
        assert conns[peer].open, f"{peer} closed with {conns[peer].close_code}: {browser.log_tail()}"
        assert echoes[peer] == expected[peer], peer
    await asyncio.gather(*(ws.close(1000, "done") for ws in targets))


def test_broadcasts_and_own_messages_inflate_on_context_keeping_peers(
    node: str, chromium: str, run: Any
) -> None:
    run(scenario(node, chromium), timeout=80)
