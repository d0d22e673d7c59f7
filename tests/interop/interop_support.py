"""Helpers for the real-peer interop tests: the tools (node, npm, chromium), the
fastws side's recording echo handler, the Node `ws` server process, and a
headless Chromium process.

The Node scripts live in ``node/`` (see their headers for the command protocol
shared with :func:`recording_handler`); the Chromium page is ``page.html``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from typing_extensions import Self

import fastws
from fastws import handshake
from fastws.exceptions import ConnectionClosed
from fastws.protocol import Listener

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / "node"
SETUP_HINT = "run tests/interop/setup.sh (as root) to install it"
MAX_SIZE = 64 * 1024 * 1024  # the 16 MiB messages, with room


# --------------------------------------------------------------------------- tools


def require_tool(name: str, what: str) -> str:
    """The path of executable ``name``; fails the test (never skips) when it is missing."""
    path = shutil.which(name)
    if path is None:
        import pytest

        pytest.fail(
            f"{what}: `{name}` is not on PATH. The interop tests need it and do not skip; {SETUP_HINT}.",
            pytrace=False,
        )
    return path


def _lock_version(package: str) -> str | None:
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    return lock["packages"].get(f"node_modules/{package}", {}).get("version")


def _installed_version(package: str) -> str | None:
    try:
        return json.loads((NODE_DIR / "node_modules" / package / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def ensure_node_modules(npm: str) -> None:
    """``npm ci`` in node/ unless node_modules already holds the locked ``ws``.

    npm's own cache (~/.npm) makes a repeat install offline-fast.
    """
    if _installed_version("ws") == _lock_version("ws"):
        return
    cmd = [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"]
    proc = subprocess.run(cmd, cwd=NODE_DIR, capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0 or _installed_version("ws") != _lock_version("ws"):
        import pytest

        pytest.fail(
            f"`{' '.join(cmd)}` in {NODE_DIR} failed (exit {proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}",
            pytrace=False,
        )


# --------------------------------------------------------------------------- payloads


def stop_process_group(proc: subprocess.Popen[Any], sig: int, *, whole_group: bool) -> None:
    """Stop a process started in its own group: ``sig`` to it (or to its whole group), SIGKILL
    to the group if it is still there after 5 s, then SIGKILL to helpers that outlived it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            if whole_group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def fragment(i: int, size: int) -> str:
    """Fragment ``i`` of a scripted fragmented message (the twin of node/common.js)."""
    unit = f"fragment {i} "
    return (unit * (size // len(unit) + 2))[:size]


def fragments_message(count: int, size: int) -> str:
    return "".join(fragment(i, size) for i in range(count))


def compressible_text(size: int) -> str:
    unit = (
        json.dumps({"type": "tick", "symbol": "FWS", "price": 123.45, "qty": 10, "tags": ["a", "b"]}) + "\n"
    )
    return (unit * (size // len(unit) + 1))[:size]


def big_binary(size: int) -> bytes:
    """64 KiB of random bytes repeated: cheap to make, and the repeats lie beyond any deflate window."""
    block = os.urandom(64 * 1024)
    return (block * (size // len(block) + 1))[:size]


def summary(message: str | bytes) -> tuple[str, int, str]:
    """(type, length in bytes, sha256) of a message: what records keep of large ones."""
    data = message.encode() if isinstance(message, str) else bytes(message)
    return ("text" if isinstance(message, str) else "binary", len(data), hashlib.sha256(data).hexdigest())


# --------------------------------------------------------------------------- fastws side


def negotiated_extensions(ws: fastws.WebSocket) -> str | None:
    """The Sec-WebSocket-Extensions value this connection agreed on, as fastws answered it."""
    session = ws._deflate  # no public accessor yet (see the interop notes in the report)
    if session is None:
        return None
    return handshake.format_extensions([("permessage-deflate", session.params)])


def canon_extensions(value: str | None) -> list[tuple[str, list[tuple[str, str | None]]]] | None:
    """A Sec-WebSocket-Extensions value, parsed, each extension's parameters sorted (peers order them differently)."""
    if value is None:
        return None
    return [
        (name, sorted(params, key=lambda p: p[0])) for name, params in handshake.parse_extensions([value])
    ]


@dataclass
class ConnRecord:
    """What the fastws side of one connection saw."""

    path: str = ""
    offered: str | None = None  # the client's Sec-WebSocket-Extensions
    agreed: str | None = None  # what fastws agreed to
    session: str = ""  # repr of the deflate session (window bits, context takeover)
    received: list[Any] = field(default_factory=list)  # messages, or summary() of large ones
    inflated: int = 0  # messages received compressed (RSV1)
    deflated: int = 0  # messages (or fragments) sent compressed
    close_code: int | None = None
    close_reason: str | None = None
    error: str | None = None


class CountingDecompressor:
    """A session's decompressor that counts the messages it starts inflating (each one, once,
    however many turns of the loop it takes)."""

    def __init__(self, real: Any, rec: ConnRecord) -> None:
        self.real, self.rec = real, rec

    def start(self, data: Any, max_size: Any) -> None:
        self.rec.inflated += 1
        self.real.start(data, max_size)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def instrument(ws: fastws.WebSocket, rec: ConnRecord) -> None:
    """Count the messages that went through the deflate session, i.e. had RSV1 on the wire."""
    session = ws._deflate
    if session is None:
        return
    rec.session = repr(session)
    compress, compress_fragment = session.compress, session.compress_fragment

    def counting_compress(data: Any) -> Any:
        rec.deflated += 1
        return compress(data)

    def counting_compress_fragment(data: Any, final: bool) -> Any:
        rec.deflated += 1
        return compress_fragment(data, final)

    session.decompressor = CountingDecompressor(session.decompressor, rec)
    session.compress = counting_compress
    session.compress_fragment = counting_compress_fragment


def keep(message: str | bytes) -> Any:
    return message if len(message) <= 4096 else summary(message)


async def run_command(ws: fastws.WebSocket, text: str) -> None:
    """The text commands of node/server.js, on the fastws side (for node/client.js)."""
    _, name, *rest = text.split(":")
    if name == "ping":
        payload = ":".join(rest)
        await ws.ping(payload)
        await ws.send(f"pong-received:{payload}")
    elif name == "fragments":
        kind, count, size = rest[0], int(rest[1]), int(rest[2])
        parts = [fragment(i, size) for i in range(count)]
        await ws.send_fragments([p.encode() for p in parts] if kind == "binary" else parts)
    elif name == "close":
        await ws.close(int(rest[0]), ":".join(rest[1:]))
    else:
        await ws.send(f"unknown command: {text}")


def recording_handler(records: list[ConnRecord]) -> Callable[[fastws.WebSocket], Awaitable[None]]:
    """An echo handler that records each connection and obeys node/server.js's text commands."""

    async def handler(ws: fastws.WebSocket) -> None:
        rec = ConnRecord(
            path=ws.request.path,
            offered=ws.request.headers.get("Sec-WebSocket-Extensions"),
            agreed=negotiated_extensions(ws),
        )
        records.append(rec)
        instrument(ws, rec)
        try:
            async for message in ws:
                rec.received.append(keep(message))
                if isinstance(message, str) and message.startswith("cmd:"):
                    await run_command(ws, message)
                else:
                    await ws.send(message)
        except ConnectionClosed:
            pass
        except Exception as exc:  # recorded for the test to show, then re-raised for the server's log
            rec.error = repr(exc)
            raise
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.wait_closed(), 10)
            rec.close_code, rec.close_reason = ws.close_code, ws.close_reason

    return handler


def recording_listener(records: list[ConnRecord]) -> type[Listener]:
    """The callback-API twin of :func:`recording_handler` (what ``fastws serve --echo`` runs, plus commands)."""

    class RecordingListener(Listener):
        def on_open(self, ws: fastws.WebSocket) -> None:
            self.rec = ConnRecord(
                path=ws.request.path,
                offered=ws.request.headers.get("Sec-WebSocket-Extensions"),
                agreed=negotiated_extensions(ws),
            )
            records.append(self.rec)
            instrument(ws, self.rec)
            self.tasks: set[asyncio.Task[None]] = set()

        def on_message(self, ws: fastws.WebSocket, message: Any) -> None:
            self.rec.received.append(keep(message))
            if not (isinstance(message, str) and message.startswith("cmd:")):
                ws.send(message)
                return
            _, name, *rest = message.split(":")
            if name == "ping":
                payload = ":".join(rest)
                ws.ping(payload).add_done_callback(
                    lambda f: f.exception() or ws.send(f"pong-received:{payload}")
                )
            elif name == "close":
                ws.close(int(rest[0]), ":".join(rest[1:]))
            else:  # send_fragments is a coroutine: a task
                task = ws.loop.create_task(run_command(ws, message))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

        def on_error(self, ws: fastws.WebSocket, exc: BaseException) -> None:
            self.rec.error = repr(exc)

        def on_close(self, ws: fastws.WebSocket, code: int, reason: str) -> None:
            self.rec.close_code, self.rec.close_reason = code, reason

    return RecordingListener


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


# --------------------------------------------------------------------------- node processes


async def run_node_script(node: str, script: str, *args: str, timeout: float = 55.0) -> dict[str, Any]:
    """Run ``node node/SCRIPT ARGS...``; the JSON object on the last line of its output."""
    proc = await asyncio.create_subprocess_exec(
        node, script, *args,
        cwd=NODE_DIR, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"node {script} did not finish within {timeout}s") from None
    try:
        result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise AssertionError(
            f"node {script} printed no result (exit {proc.returncode}):\n"
            f"{out.decode()[-2000:]}\n{err.decode()[-3000:]}"
        ) from None
    result["stderr"] = err.decode()[-3000:]
    return result


async def run_node_client(node: str, url: str, pmd: str, big: int, timeout: float = 55.0) -> dict[str, Any]:
    """Run node/client.js's scripted exchange against ``url``; its JSON result."""
    return await run_node_script(node, "client.js", url, f"--pmd={pmd}", f"--big={big}", timeout=timeout)


class NodeServer:
    """node/server.js as an async context manager: ``port`` and the ``events`` it printed."""

    def __init__(self, node: str, pmd: str) -> None:
        self.node = node
        self.pmd = pmd
        self.port = 0
        self.events: list[dict[str, Any]] = []
        self.stderr = b""
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._proc = await asyncio.create_subprocess_exec(
            self.node, "server.js", f"--pmd={self.pmd}",
            cwd=NODE_DIR, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self._reader = asyncio.get_running_loop().create_task(self._read())
        try:
            await wait_for(
                lambda: bool(self.events) or self._proc.returncode is not None, 15, "node server.js"
            )
        except AssertionError:
            await self._stop()
            raise
        first = self.events[0] if self.events else {}
        if first.get("event") != "listening":
            await self._stop()
            raise AssertionError(
                f"node server.js did not start: {self.events} {self.stderr.decode()[-3000:]}"
            )
        self.port = first["port"]
        return self

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for line in self._proc.stdout:
            self.events.append(json.loads(line))

    def find(self, event: str, **match: Any) -> list[dict[str, Any]]:
        return [
            e for e in self.events if e.get("event") == event and all(e.get(k) == v for k, v in match.items())
        ]

    async def wait_event(self, event: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        await wait_for(lambda: bool(self.find(event, **match)), timeout, f"node server event {event} {match}")
        return self.find(event, **match)[0]

    async def _stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            assert proc.stdin is not None
            proc.stdin.close()  # server.js exits when its stdin ends
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)
        if proc.stderr is not None:
            self.stderr = await proc.stderr.read()

    async def __aexit__(self, *exc_info: object) -> None:
        await self._stop()


# --------------------------------------------------------------------------- chromium

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--enable-logging=stderr",
    "--v=0",
]


class Chromium:
    """A headless Chromium showing one URL, in its own process group and profile; stopped on exit."""

    def __init__(self, binary: str, url: str) -> None:
        self.binary = binary
        self.url = url
        self._tmp = tempfile.TemporaryDirectory(prefix="fastws-chromium-")
        self._log_path = Path(self._tmp.name) / "chromium.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        profile = Path(self._tmp.name) / "profile"
        profile.mkdir()
        with open(self._log_path, "wb") as log:
            self._proc = subprocess.Popen(
                [self.binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", self.url],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        return self

    def log_tail(self, limit: int = 4000) -> str:
        try:
            return self._log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def exited(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def __exit__(self, *exc_info: object) -> None:
        if self._proc is not None:
            # Chromium's helpers (renderer, zygote...) are in the process group we created.
            stop_process_group(self._proc, signal.SIGTERM, whole_group=True)
        self._tmp.cleanup()
