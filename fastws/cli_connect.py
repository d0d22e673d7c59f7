"""``fastws connect URI``: an interactive client for the terminal (also ``python -m fastws connect``).

Prints each message as it arrives (``< text``; binary as ``< [binary N bytes] hex``),
pings and pongs, and the close code; sends each line typed as a text message.
Lines starting with ``/`` are commands: ``/ping [payload]``, ``/close [code [reason]]``;
``//...`` sends a line that starts with ``/``. End of input (Ctrl-D) closes with 1000.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
from typing import Any, Optional, Sequence

from .exceptions import InvalidHandshake, InvalidURI
from .listener import Listener
from .protocol import WebSocket

PREVIEW = 1024  # binary messages: hex of at most this many bytes


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastws connect",
        description="Interactive WebSocket client: prints messages, sends each line typed as a text message "
        "(/ping [payload], /close [code [reason]]; Ctrl-D closes).",
    )
    parser.add_argument("uri", help="ws:// or wss:// URI")
    parser.add_argument(
        "-H", "--header", action="append", default=[], metavar="'NAME: VALUE'", help="extra request header"
    )
    parser.add_argument("--subprotocol", action="append", default=[], metavar="NAME", help="offer it; repeatable")
    parser.add_argument("--origin")
    parser.add_argument("--no-compression", action="store_true", help="do not offer permessage-deflate")
    parser.add_argument(
        "--proxy", metavar="URL", help="http(s)://, socks5(h):// or socks4:// proxy; 'none' for a direct "
        "connection (default: from HTTPS_PROXY / HTTP_PROXY / ALL_PROXY, NO_PROXY)",
    )  # fmt: skip
    parser.add_argument("--insecure", action="store_true", help="wss://: do not verify the certificate")
    parser.add_argument("--max-size", type=int, default=16 * 1024 * 1024, metavar="BYTES")
    return parser


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def describe(message: Any) -> str:
    """How a received message is shown."""
    if isinstance(message, str):
        return f"< {message}"
    more = "..." if len(message) > PREVIEW else ""
    return f"< [binary {len(message)} bytes] {message[:PREVIEW].hex()}{more}"


class _Printer(Listener):
    def __init__(self, closed: asyncio.Future[Any]) -> None:
        self.closed = closed

    def on_message(self, ws: WebSocket, message: Any) -> None:
        _out(describe(message))

    def on_ping(self, ws: WebSocket, payload: bytes) -> None:
        _out(f"< ping {payload!r} (pong sent)")

    def on_pong(self, ws: WebSocket, payload: bytes) -> None:
        _out(f"< pong {payload!r}")

    def on_close(self, ws: WebSocket, code: int, reason: str) -> None:
        _out(f"connection closed: {code} {reason}".rstrip())
        if not self.closed.done():
            self.closed.set_result(code)

    def on_error(self, ws: WebSocket, exc: BaseException) -> None:
        _out(f"error: {exc}")


def _read_lines(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[Optional[str]]) -> None:
    """A daemon thread's loop: stdin lines into the queue, None at the end (never joined)."""
    for line in sys.stdin:
        loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\r\n"))
    loop.call_soon_threadsafe(lines.put_nowait, None)


async def _command(ws: WebSocket, line: str) -> bool:
    """Run one typed line; False once the user asked to close."""
    if line.startswith("//"):
        await ws.send(line[1:])
    elif line.startswith("/ping"):
        payload = line[len("/ping") :].strip()
        waiter = ws.ping(payload or None)
        _out(f"> ping {payload.encode()!r}" if payload else "> ping")

        def report(fut: asyncio.Future[float]) -> None:
            if not fut.cancelled() and fut.exception() is None:
                _out(f"  round trip {fut.result() * 1000:.2f} ms")

        asyncio.ensure_future(waiter).add_done_callback(report)
    elif line.startswith("/close"):
        code_text, _, reason = line[len("/close") :].strip().partition(" ")
        try:
            code = int(code_text) if code_text else 1000
            ws.close(code, reason)
        except ValueError as exc:
            _out(f"error: {exc}")
            return True
        return False
    elif line.startswith("/"):
        _out("commands: /ping [payload], /close [code [reason]], //text sends '/text'")
    else:
        await ws.send(line)
    return True


async def _session(args: argparse.Namespace) -> int:
    import ssl

    from .client import connect
    from .proxy import ProxyError

    loop = asyncio.get_running_loop()
    closed: asyncio.Future[Any] = loop.create_future()
    headers = []
    for header in args.header:
        name, sep, value = header.partition(":")
        if not sep or not name.strip():
            _out(f"fastws connect: bad header {header!r}: write 'Name: value'")
            return 2
        headers.append((name.strip(), value.strip()))
    context = None
    if args.insecure and args.uri.startswith("wss:"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    proxy: Any = True if args.proxy is None else (None if args.proxy.lower() == "none" else args.proxy)
    try:
        ws = await connect(
            args.uri, listener=lambda: _Printer(closed), extra_headers=headers, subprotocols=args.subprotocol,
            origin=args.origin, compression=None if args.no_compression else "deflate", proxy=proxy, ssl=context,
            max_size=args.max_size,
        )  # fmt: skip
    except (OSError, asyncio.TimeoutError, InvalidHandshake, InvalidURI, ProxyError, ImportError) as exc:
        _out(f"fastws connect: cannot connect to {args.uri}: {exc}")
        return 1
    extensions = ws.response.header("Sec-WebSocket-Extensions") if ws.response is not None else None
    _out(
        f"connected to {args.uri} (subprotocol: {ws.subprotocol or 'none'}, "
        f"compression: {'permessage-deflate' if extensions else 'off'}); type a message, Ctrl-D to close"
    )
    lines: asyncio.Queue[Optional[str]] = asyncio.Queue()
    threading.Thread(target=_read_lines, args=(loop, lines), name="stdin", daemon=True).start()
    while not closed.done():
        getter: asyncio.Future[Any] = asyncio.ensure_future(lines.get())
        await asyncio.wait([getter, closed], return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            break
        line = getter.result()
        try:
            if line is None:
                ws.close()
                break
            if not await _command(ws, line):
                break
        except Exception as exc:  # sending on a closing connection: report it, keep the session
            _out(f"error: {exc}")
    await ws.wait_closed()
    code = closed.result() if closed.done() else ws.close_code
    return 0 if code in (1000, 1001) else 1


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    from .runner import run

    try:
        return run(_session(args))
    except KeyboardInterrupt:
        return 130
