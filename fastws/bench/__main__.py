"""``fastws bench``: run the echo round-trip benchmark and print the tables.

Examples::

    fastws bench                          # everything, ~2-3 minutes
    fastws bench --quick                  # smoke run: every pair, a few seconds
    fastws bench --sizes 256,1M --servers fastws,picows --mode servers
    fastws bench --split-cores            # clients on core 1
    fastws bench --report fastws-bench-results/echo-<stamp>.json --markdown
    fastws bench --compression            # permessage-deflate, JSON text, ~3 minutes
    fastws bench --compression --quick --window 0
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from typing import Optional, Sequence

from . import machine, report, runner
from .clients import CLIENTS, DEFAULT_CLIENTS
from .common import DEFAULT_SIZES, parse_size
from .modes import MODES, build_compression_tables, build_tables, cases_of
from .servers import DEFAULT_SERVERS, DEFLATE_SERVERS, SERVERS

RESULTS_DIR = "fastws-bench-results"  # relative to the working directory

QUICK = {"duration": 0.15, "warmup": 0.05, "repeat": 1}
DEFLATE_SIZES = (256, 8 * 1024, 100 * 1024)
DEFLATE_WINDOW = 16
DEFAULTS = {"duration": 1.0, "warmup": 0.2, "repeat": 3}


def _names(text: str, known: dict, kind: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {kind}: {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fastws bench",
        description="Echo round trip benchmark: one connection, one binary message in flight, "
        "round trips/s, latency, and CPU time per message of the server (or client).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="servers: " + ", ".join(SERVERS) + "\nclients: " + ", ".join(CLIENTS),
    )
    p.add_argument(
        "--sizes",
        help="message sizes, comma-separated (default 256,8K,100K,1M; with --compression 256,8K,100K)",
    )
    p.add_argument(
        "--servers",
        help="servers for the server table (default: "
        + ",".join(DEFAULT_SERVERS)
        + "; with --compression: "
        + ",".join(DEFLATE_SERVERS)
        + ")",
    )
    p.add_argument("--clients", default=",".join(DEFAULT_CLIENTS), help="clients for the client table")
    p.add_argument(
        "--mode",
        choices=MODES,
        default="both",
        help="which tables (default: both); with --compression, 'servers' skips the websockets-client cross-check",
    )
    p.add_argument(
        "--compression",
        action="store_true",
        help="permessage-deflate mode: compression on for every server and client (level 1, "
        "12-bit windows), chat-like JSON text messages; tables: round trip, cross-check with the "
        "websockets client, pipelined",
    )
    p.add_argument(
        "--window",
        type=int,
        default=DEFLATE_WINDOW,
        help=f"--compression: messages in flight in the pipelined table (default {DEFLATE_WINDOW}; 0: no such table)",
    )
    p.add_argument(
        "--duration", type=float, help=f"measured seconds per run (default {DEFAULTS['duration']})"
    )
    p.add_argument(
        "--warmup", type=float, help=f"unmeasured seconds before each window (default {DEFAULTS['warmup']})"
    )
    p.add_argument("--repeat", type=int, help=f"interleaved rounds per size (default {DEFAULTS['repeat']})")
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: every pair once, {QUICK['duration']} s each (explicit options still win)",
    )
    p.add_argument(
        "--split-cores",
        action="store_true",
        help="clients on core 1, servers on core 0 (default: all on core 0)",
    )
    p.add_argument(
        "--json",
        metavar="PATH",
        help="where to write the results (default fastws-bench-results/echo-<UTC time>.json)",
    )
    p.add_argument("--no-json", action="store_true", help="write no JSON file")
    p.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    p.add_argument("--report", metavar="JSON", help="render a saved result instead of running")
    p.add_argument("--list", action="store_true", help="list servers and clients, then exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-run progress lines")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list:
        for spec in SERVERS.values():
            print(f"server  {spec.name:<18} {spec.description}")
        for spec in CLIENTS.values():
            print(f"client  {spec.name:<18} {spec.description}")
        return 0
    if args.report:
        with open(args.report, encoding="utf-8") as f:
            data = report.analyse(json.load(f))
        _print(data, args.markdown)
        return 0

    if args.sizes is None:
        args.sizes = ",".join(str(s) for s in (DEFLATE_SIZES if args.compression else DEFAULT_SIZES))
    if args.servers is None:
        args.servers = ",".join(DEFLATE_SERVERS if args.compression else DEFAULT_SERVERS)
    if args.window < 0:
        parser.error("--window must be >= 0")
    try:
        sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
        servers = _names(args.servers, SERVERS, "server")
        clients = _names(args.clients, CLIENTS, "client")
    except (ValueError, argparse.ArgumentTypeError) as exc:
        parser.error(str(exc))
    base = QUICK if args.quick else DEFAULTS
    duration = args.duration if args.duration is not None else base["duration"]
    warmup = args.warmup if args.warmup is not None else base["warmup"]
    repeat = args.repeat if args.repeat is not None else base["repeat"]
    if duration <= 0 or warmup < 0 or repeat < 1:
        parser.error("--duration must be > 0, --warmup >= 0, --repeat >= 1")
    if args.split_cores and (os.cpu_count() or 1) < 2:
        parser.error("--split-cores needs two CPUs")

    config = runner.Config(
        sizes=sizes, duration=duration, warmup=warmup, repeat=repeat, split_cores=args.split_cores
    )
    if args.compression:
        config.extra["window"] = args.window
        tables = build_compression_tables(args.mode, servers, args.window)
    else:
        tables = build_tables(args.mode, servers, clients)
    n_runs = len(cases_of(tables)) * len(sizes) * repeat
    estimate = n_runs * (duration + warmup + 0.05)
    print(
        f"{n_runs} runs ({len(cases_of(tables))} pairs x {len(sizes)} sizes x {repeat} rounds), "
        f"about {estimate / 60:.1f} min",
        file=sys.stderr,
    )
    info = machine.describe()

    def progress(done: int, total: int, run: dict) -> None:
        if not args.quiet:
            print(f"[{done:>3}/{total}] {runner.describe_run(run)}", file=sys.stderr, flush=True)

    try:
        session = runner.run_session(config, tables, progress)
    except runner.BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    info["loadavg_end"] = machine.loadavg()
    data = {
        "benchmark": "echo-round-trip-deflate" if args.compression else "echo-round-trip",
        "format": 1,
        "machine": info,
        "config": {
            "sizes": sizes,
            "duration": duration,
            "warmup": warmup,
            "repeat": repeat,
            "split_cores": args.split_cores,
            "cores": config.cores,
            "mode": args.mode,
            "servers": servers,
            "clients": clients,
            "argv": list(argv if argv is not None else sys.argv[1:]),
            **({"compression": True, "window": args.window} if args.compression else {}),
        },
        "tables": [t.to_json() for t in tables],
        **session,
    }
    report.analyse(data)
    _print(data, args.markdown)
    if not args.no_json:
        path = args.json or os.path.join(
            RESULTS_DIR,
            f"echo{'-deflate' if args.compression else ''}-{datetime.datetime.now(datetime.timezone.utc).strftime('%Y%m%dT%H%M%SZ')}.json",
        )
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        print(f"\nresults: {path}", file=sys.stderr)
    failed = sum(1 for r in data["runs"] if not r["result"].get("ok"))
    if failed:
        print(f"{failed} run(s) failed", file=sys.stderr)
        return 1
    return 0


def _print(data: dict, markdown: bool) -> None:
    print(report.render_all_text(data))
    if markdown:
        print()
        print(report.as_markdown(data))


if __name__ == "__main__":
    sys.exit(main())
