"""``fastws bench``: run the comparative echo benchmark and print the tables.

Examples::

    fastws bench                          # every mode and server, about 3 minutes
    fastws bench --quick                  # smoke run: every table, under 30 s
    fastws bench --modes roundtrip,pipelined --servers fastws,picows --sizes 256,1M
    fastws bench --kinds binary,text      # both kinds in every mode and size
    fastws bench --split-cores            # clients on core 1
    fastws bench --report fastws-bench-results/echo-<stamp>.json --markdown
    fastws bench --compression            # permessage-deflate, JSON text, ~3 minutes
    fastws bench --servers uvicorn --modes roundtrip,connections --sizes 256,8K,1M
                                          # an ASGI echo app under uvicorn, --ws fastws vs uvicorn's own
    fastws bench fanout                   # 1 publisher -> 1,000 subscribers (fastws bench fanout --help)

Exit status: 0 when every run that could be made succeeded (an optional peer
that cannot run here, Node.js without node or npm, is skipped with a note and
is not a failure); 1 when a server failed to start or crashed, or a run or
the memory measurement failed (the other runs still ran, the tables and the
JSON file say which); 2 for a usage error.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import sys
from typing import Optional, Sequence

from . import chart, machine, memory, report, runner
from .clients import CLIENTS, DEFAULT_CLIENTS
from .common import DEFAULT_SIZES, KINDS, format_size, parse_size
from .modes import LEGACY_MODES, MODES, build_compression_tables, build_tables, cases_of
from .progress import Progress
from .servers import DEFAULT_SERVERS, DEFLATE_SERVERS, SERVERS, UVICORN_SERVERS

RESULTS_DIR = "fastws-bench-results"  # relative to the working directory

# Seconds per run.  The default run is sized to stay near 3 minutes on a 2-core VM: about
# 330 runs of 0.3 s measured each; --duration 1 for a slower, steadier run.
DEFAULTS = {"duration": 0.3, "warmup": 0.1, "repeat": 3}
QUICK = {"duration": 0.05, "warmup": 0.02, "repeat": 1}
DEFLATE_DEFAULTS = {"duration": 1.0, "warmup": 0.2, "repeat": 3}  # --compression: its own, smaller table set
DEFLATE_SIZES = (256, 8 * 1024, 100 * 1024)
WINDOW = 16
CONNECTIONS = 256
QUICK_CONNECTIONS = 64
MEMORY_CONNECTIONS = 1000
QUICK_MEMORY_CONNECTIONS = 100
RUN_OVERHEAD = 0.03  # seconds per run outside the window (connect, close, gc): for the estimate
CONNECT_OVERHEAD = 0.0005  # ... and per connection of the many-connections mode


def _names(text: str, known: Sequence[str], kind: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if kind == "server" and "uvicorn" in names:  # the group: every uvicorn --ws implementation
        at = names.index("uvicorn")
        names[at : at + 1] = UVICORN_SERVERS
    unknown = [n for n in names if n not in known]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {kind}: {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fastws bench",
        description="Comparative echo benchmark: every server in its own pinned process, driven by one "
        "load client (fastws's callback client); messages/s, latency, and CPU time per message of the "
        "server (or client).  Modes: roundtrip (one message in flight), pipelined (a window in flight), "
        "connections (many connections, one message in flight each), clients (each library's client "
        "against the fastws server), crosscheck (every server driven by the picows client); then the "
        "memory per idle connection.  The default run takes about 3 minutes, --quick under 30 s.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="servers: "
        + ", ".join(SERVERS)
        + "\nclients: "
        + ", ".join(CLIENTS)
        + "\n\nNode.js (server node-ws): ws@8 and bufferutil are installed with npm on first use into "
        "~/.cache/fastws/bench-node/ ($FASTWS_BENCH_NODE_DIR); without node or npm it is skipped with "
        "a note.\n\nExit status: 0 when every run that could be made succeeded (a skipped optional peer "
        "is not a failure), 1 when a server failed or crashed or a run failed (the rest still ran), "
        "2 for a usage error.\n\nfastws bench fanout: the fan-out benchmark, one publisher to N subscribers "
        "(fastws bench fanout --help).",
    )
    p.add_argument(
        "--modes",
        help=f"tables to measure, comma-separated (default: all: {','.join(MODES)}; "
        "with --compression: roundtrip,crosscheck,pipelined)",
    )
    p.add_argument("--mode", choices=tuple(LEGACY_MODES), help=argparse.SUPPRESS)  # before --modes
    p.add_argument(
        "--sizes",
        help="message sizes, comma-separated (default 256,8K,100K,1M; with --compression 256,8K,100K); "
        "the connections mode takes those up to 100K",
    )
    p.add_argument(
        "--kinds",
        help="message kinds, comma-separated: binary,text; given, they apply to every mode and size.  "
        "Default: binary everywhere, and text in the round-trip table at sizes up to 8 KiB only: that is "
        "where UTF-8 validation is a visible share of a message's cost; above it, and in the other modes, "
        "text would repeat the binary figures plus a validation the codec micro-benchmarks already "
        "measure, for a minute more",
    )
    p.add_argument(
        "--servers",
        help="servers (default: "
        + ",".join(DEFAULT_SERVERS)
        + "; with --compression: "
        + ",".join(DEFLATE_SERVERS)
        + ")",
    )
    p.add_argument("--clients", default=",".join(DEFAULT_CLIENTS), help="clients for the clients table")
    p.add_argument(
        "--window",
        type=int,
        default=WINDOW,
        help=f"messages in flight in the pipelined table (default {WINDOW}; with --compression 0: no such table)",
    )
    p.add_argument(
        "--connections",
        type=int,
        help=f"connections of the connections mode (default {CONNECTIONS}; --quick {QUICK_CONNECTIONS})",
    )
    p.add_argument(
        "--compression",
        action="store_true",
        help="permessage-deflate mode: compression on for every server and client (level 1, "
        "12-bit windows), chat-like JSON text messages; tables: round trip, cross-check with the "
        "websockets client, pipelined",
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
        help=f"smoke run: every table once, {QUICK['duration']} s each, {QUICK_CONNECTIONS} connections "
        "(explicit options still win)",
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
    p.add_argument("--no-json", action="store_true", help="write no JSON file (and so no chart)")
    p.add_argument("--no-chart", action="store_true", help="write no PNG chart beside the JSON file")
    p.add_argument(
        "--no-memory",
        action="store_true",
        help="skip the idle-connection memory table (never with --compression)",
    )
    p.add_argument(
        "--memory-connections",
        type=int,
        help=f"idle connections per server in the memory table (default {MEMORY_CONNECTIONS}; "
        f"--quick {QUICK_MEMORY_CONNECTIONS})",
    )
    p.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    p.add_argument("--report", metavar="JSON", help="render a saved result instead of running")
    p.add_argument("--list", action="store_true", help="list servers and clients, then exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or lines")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per run, with its figures")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(argv if argv is not None else sys.argv[1:])
    if argv[:1] == ["fanout"]:  # fastws bench fanout: one publisher, N subscribers (its own options)
        from . import fanout

        return fanout.main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list:
        for spec in SERVERS.values():
            print(f"server  {spec.name:<26} {spec.description}")
        for spec in CLIENTS.values():
            print(f"client  {spec.name:<26} {spec.description}")
        return 0
    if args.report:
        _report(args.report, args.markdown, parser)
        return 0

    if args.sizes is None:
        args.sizes = ",".join(str(s) for s in (DEFLATE_SIZES if args.compression else DEFAULT_SIZES))
    if args.servers is None:
        args.servers = ",".join(DEFLATE_SERVERS if args.compression else DEFAULT_SERVERS)
    if args.window < 0:
        parser.error("--window must be >= 0")
    if args.window == 0 and not args.compression:
        parser.error("--window must be > 0 (leave pipelined out of --modes instead)")
    try:
        sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
        servers = _names(args.servers, list(SERVERS), "server")
        clients = _names(args.clients, list(CLIENTS), "client")
        if args.modes is not None:
            modes = _names(args.modes, MODES, "mode")
        elif args.mode is not None:
            modes = list(LEGACY_MODES[args.mode])
        else:
            modes = list(MODES)
        kinds = _names(args.kinds, KINDS, "kind") if args.kinds else None
    except (ValueError, argparse.ArgumentTypeError) as exc:
        parser.error(str(exc))
    base = QUICK if args.quick else DEFLATE_DEFAULTS if args.compression else DEFAULTS
    duration = args.duration if args.duration is not None else base["duration"]
    warmup = args.warmup if args.warmup is not None else base["warmup"]
    repeat = args.repeat if args.repeat is not None else base["repeat"]
    connections = args.connections or (QUICK_CONNECTIONS if args.quick else CONNECTIONS)
    if duration <= 0 or warmup < 0 or repeat < 1 or connections < 1:
        parser.error("--duration must be > 0, --warmup >= 0, --repeat >= 1, --connections >= 1")
    if args.split_cores and (os.cpu_count() or 1) < 2:
        parser.error("--split-cores needs two CPUs")

    progress = Progress(quiet=args.quiet)
    config = runner.Config(
        sizes=sizes, duration=duration, warmup=warmup, repeat=repeat, split_cores=args.split_cores
    )
    if args.compression:
        config.extra["window"] = args.window
        tables = build_compression_tables(modes, servers, args.window)
    else:
        config.extra.update(window=args.window, connections=connections)
        tables = build_tables(modes, servers, clients, sizes, kinds, args.window, connections)
    if not tables:
        parser.error("nothing to measure with these --modes / --servers / --clients")

    plan = runner.schedule(tables, sizes, repeat)
    weights = [
        warmup
        + duration
        + RUN_OVERHEAD
        + (CONNECT_OVERHEAD * connections if case.client == "fastws-conns" else 0)
        for _, _, case in plan
    ]
    cumulative = list(itertools.accumulate(weights))
    if not args.quiet:
        print(
            f"fastws bench: {len(plan)} runs ({len(cases_of(tables))} cases, {len(sizes)} sizes, "
            f"{repeat} round{'s' if repeat > 1 else ''}; {len(tables)} tables), "
            f"about {cumulative[-1] / 60:.1f} min",
            file=sys.stderr,
        )
    info = machine.describe()

    def on_run(done: int, total: int, run: dict) -> None:
        if args.verbose:
            progress.note(f"[{done:>3}/{total}] {runner.describe_run(run)}")
        what = f"{format_size(run['size'])} {run.get('kind', 'binary')}  {run['server']} <- {run['client']}"
        progress.update(done, total, what, cumulative[done - 1], cumulative[-1])

    progress.update(0, len(plan), "starting the servers and clients")
    try:
        session = runner.run_session(config, tables, on_run, progress.note)
    except runner.BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    info["loadavg_end"] = machine.loadavg()
    if any(SERVERS[name].runtime == "node" for name in servers):
        info["node"] = machine.node_info(progress.note)
    data = {
        "benchmark": "echo-round-trip-deflate" if args.compression else "echo",
        "format": 2,
        "machine": info,
        "config": {
            "sizes": sizes,
            "duration": duration,
            "warmup": warmup,
            "repeat": repeat,
            "split_cores": args.split_cores,
            "cores": config.cores,
            "modes": modes,
            "kinds": kinds or "default",
            "window": args.window,
            "connections": connections,
            "servers": servers,
            "clients": clients,
            "argv": list(argv if argv is not None else sys.argv[1:]),
            **({"compression": True} if args.compression else {}),
        },
        "tables": [t.to_json() for t in tables],
        **session,
    }

    # --- hook: the idle-connection memory table (fastws/bench/memory.py), after the echo runs ---
    if not args.no_memory and not args.compression:
        usable = [
            n
            for n in servers
            if SERVERS[n].protocol == "ws" and data["servers"].get(n, {}).get("status") != "skipped"
        ]
        count = args.memory_connections or (QUICK_MEMORY_CONNECTIONS if args.quick else MEMORY_CONNECTIONS)
        if not args.quiet:
            progress.note(f"memory: {count} idle connections per server ({', '.join(usable)}) ...")
        try:
            say = (lambda _text: None) if args.quiet else progress.note
            data["memory"] = memory.measure_idle(usable, count, say)
        except Exception as exc:  # noqa: BLE001 (the echo results still count)
            progress.note(f"FAILED: memory table: {type(exc).__name__}: {exc}")
            data["memory_error"] = f"{type(exc).__name__}: {exc}"

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
        # --- hook: the PNG chart (fastws/bench/chart.py), written from the JSON data ---
        if not args.no_chart:
            png = os.path.splitext(path)[0] + ".png"
            try:
                chart.write_chart(data, png)
                print(f"chart: {png}", file=sys.stderr)
            except Exception as exc:  # noqa: BLE001 (a missing plotting library must not fail the run)
                progress.note(f"chart: not written: {type(exc).__name__}: {exc}")
    return _exit_status(data)


def _report(path: str, markdown: bool, parser: argparse.ArgumentParser) -> None:
    """Print the tables of a saved results file; a usage error (exit 2) if it is not one."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        parser.error(f"--report: cannot read {path}: {exc.strerror or exc}")
    except ValueError as exc:
        parser.error(f"--report: {path} is not JSON: {exc}")
    missing = [k for k in ("config", "tables", "runs") if k not in data] if isinstance(data, dict) else None
    if missing is None or missing:
        what = f"no {', '.join(repr(k) for k in missing)}" if missing else "not a JSON object"
        parser.error(f"--report: {path} is not a fastws bench results file ({what})")
    try:
        _print(report.analyse(data), markdown)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        parser.error(f"--report: {path} is not a fastws bench results file ({type(exc).__name__}: {exc})")


def _exit_status(data: dict) -> int:
    failed = [r for r in data["runs"] if not r["result"].get("ok") and r["result"].get("status") != "skipped"]
    skipped = [r for r in data["runs"] if r["result"].get("status") == "skipped"]
    memory_results = (data.get("memory") or {}).get("servers", {})
    memory_failed = [name for name, m in memory_results.items() if memory.status(m) == "failed"]
    memory_skipped = [name for name, m in memory_results.items() if memory.status(m) == "skipped"]
    if skipped:
        print(f"{len(skipped)} run(s) skipped (optional peer not available)", file=sys.stderr)
    if memory_skipped:
        print(f"memory table: skipped {', '.join(memory_skipped)} (not available here)", file=sys.stderr)
    if failed or memory_failed or data.get("memory_error"):
        print(
            f"{len(failed)} run(s) failed"
            + (f"; memory table failed for {', '.join(memory_failed)}" if memory_failed else "")
            + ("; memory table failed" if data.get("memory_error") else ""),
            file=sys.stderr,
        )
        return 1
    return 0


def _print(data: dict, markdown: bool) -> None:
    print(report.render_all_text(data))
    if markdown:
        print()
        print(report.as_markdown(data))


if __name__ == "__main__":
    sys.exit(main())
