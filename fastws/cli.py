"""Command line: ``fastws serve --echo``, ``fastws connect URI`` (also ``python -m fastws``)."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Optional, Sequence

from .admission import DEFAULT_SHARE as DEFAULT_HANDSHAKE_SHARE

ECHO_MAX_SIZE = 64 * 1024 * 1024  # conformance suites send 16 MiB messages


def handshake_share(text: str) -> Optional[float]:
    """``--handshake-share``: a share of the loop in (0, 1], or "off" (never paced)."""
    if text == "off":
        return None
    try:
        share = float(text)
    except ValueError:
        share = 0.0
    if not 0.0 < share <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1] or 'off', not {text!r}")
    return share


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastws", description="fastws WebSocket tools")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a WebSocket server")
    serve.add_argument("target", nargs="?", metavar="MODULE:HANDLER", help="serve this handler or WorkerApp")
    serve.add_argument("--echo", action="store_true", help="echo every message back")
    serve.add_argument("--workers", type=int, metavar="N", help="N worker processes on one port (SO_REUSEPORT)")
    serve.add_argument("--close-timeout", type=float, default=5.0, metavar="SECONDS")
    serve.add_argument("--worker-index", type=int, help=argparse.SUPPRESS)  # set by the supervisor
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=9001)
    serve.add_argument("--loop", choices=("auto", "uvloop", "asyncio"), default="auto")
    serve.add_argument("--pure", action="store_true", help="use the pure-Python codec")
    serve.add_argument(
        "--max-size", type=int, metavar="BYTES", help=f"largest message (--echo: {ECHO_MAX_SIZE}; else 1 MiB)"
    )
    serve.add_argument(
        "--no-compression", action="store_true", help="decline permessage-deflate offers"
    )
    serve.add_argument(
        "--handshake-share",
        type=handshake_share,
        default=DEFAULT_HANDSHAKE_SHARE,
        metavar="SHARE",
        help="while connections fail in numbers, new handshakes get at most this share of the loop"
        " (default 0.1; 'off': never paced)",
    )
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        metavar="ADDR",
        help="a proxy (IP address or network) whose X-Forwarded-For names the client; repeatable",
    )
    commands.add_parser("connect", add_help=False, help="interactive client (fastws connect --help)")
    commands.add_parser(
        "bench",
        add_help=False,
        help="comparative echo benchmark (fastws bench --help for its options)",
    )
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["connect"]:
        from .cli_connect import main as connect_main

        return connect_main(argv[1:])
    if argv[:1] == ["bench"]:
        from .bench.__main__ import main as bench_main

        return bench_main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.echo == bool(args.target):
        parser.error("serve: give either --echo or MODULE:HANDLER")
    if args.echo and args.max_size is None:
        args.max_size = ECHO_MAX_SIZE
    if args.pure and os.environ.get("FASTWS_PURE") != "1":
        if "fastws.codec" in sys.modules:  # too late to switch in this process
            os.environ["FASTWS_PURE"] = "1"
            os.execv(sys.executable, [sys.executable, "-m", "fastws", *sys.argv[1:]])
        os.environ["FASTWS_PURE"] = "1"
    if args.target or args.workers is not None:
        return _serve_workers(args)
    from .runner import run

    return run(_serve_echo(args), loop=args.loop)


def _serve_workers(args: argparse.Namespace) -> int:
    import logging

    from .workers import WorkerConfig
    from .workers import main as workers_main

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    config = WorkerConfig(
        target=args.target or "fastws.echo:EchoListener",
        host=args.host,
        port=args.port,
        loop=args.loop,
        pure=args.pure,
        max_size=args.max_size,
        compression=not args.no_compression,
        trusted_proxies=args.trusted_proxy,
        close_timeout=args.close_timeout,
        handshake_share=args.handshake_share,
    )
    return workers_main(config, args.workers, args.worker_index)


async def _serve_echo(args: argparse.Namespace) -> int:
    from . import codec
    from .echo import EchoListener
    from .runner import loop_name
    from .server import serve

    loop = asyncio.get_running_loop()
    try:
        server = await serve(
            EchoListener,
            args.host,
            args.port,
            max_size=args.max_size,
            compression=None if args.no_compression else "deflate",
            trusted_proxies=args.trusted_proxy,
            handshake_share=args.handshake_share,
        )
    except ValueError as exc:  # a bad --trusted-proxy
        print(f"fastws: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"fastws: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"fastws echo server listening on ws://{host}:{server.port} "
        f"(codec: {codec.IMPLEMENTATION}, loop: {loop_name(loop)}, max size: {args.max_size} bytes, "
        f"compression: {'off' if args.no_compression else 'permessage-deflate'})",
        flush=True,
    )
    await stop.wait()
    print("fastws: shutting down", flush=True)
    server.close()
    await server.wait_closed()
    return 0
