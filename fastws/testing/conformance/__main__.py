"""``python -m fastws.testing.conformance``: run the suite, print a summary, write reports.

Exit status 1 if any case FAILED, 2 if the target did not start or a report could
not be written (a mistake in the arguments is a usage error, status 2 too).  See
``README.md`` in this package.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import socket
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from .cases import GROUPS, all_cases
from .report import summary_text, to_html, to_json
from .targets import Session, parse_ws_url
from .verdict import FAILED, Result


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastws.testing.conformance", description=__doc__)
    parser.add_argument("--role", choices=("server", "client"), default="server",
                        help="role of the peer under test (default: server)")
    parser.add_argument("--impl", choices=("c", "pure"), default="c", help="fastws codec of the target")
    parser.add_argument("--url", help="test this ws:// server instead of starting fastws (--role server)")
    parser.add_argument("--groups", help=f"comma-separated groups (default: all of {','.join(GROUPS)})")
    parser.add_argument("--cases", help="only cases whose id starts with one of these comma-separated prefixes")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the JSON report here")
    parser.add_argument("--html", type=Path, metavar="PATH", help="write the HTML report here")
    args = parser.parse_args(argv)
    if args.url is not None:
        if args.role != "server":
            parser.error("--url needs --role server")
        try:
            host, port, _ = parse_ws_url(args.url)
        except ValueError as exc:
            parser.error(f"--url: {exc}")
    for option, path in (("--json", args.json), ("--html", args.html)):
        if path is not None and (path.is_dir() or not path.parent.is_dir()):
            parser.error(f"{option}: cannot write {str(path)!r}: "
                         + ("a directory" if path.is_dir() else "no such directory"))
    cases = all_cases(args.role)
    if args.groups:
        wanted = set(args.groups.split(","))
        unknown = wanted - set(GROUPS)
        if unknown:
            parser.error(f"unknown group(s): {', '.join(sorted(repr(g) for g in unknown))} "
                         f"(groups: {','.join(GROUPS)})")
        cases = [c for c in cases if c.group in wanted]
    if args.cases:
        prefixes = tuple(args.cases.split(","))
        cases = [c for c in cases if c.id.startswith(prefixes)]
    if not cases:
        parser.error("no case selected (check --groups and --cases)")
    if args.url is not None:
        try:
            socket.create_connection((host, port), 5).close()
        except OSError as exc:
            print(f"{parser.prog}: error: cannot connect to {host}:{port}: {exc}", file=sys.stderr)
            return 2
    config = f"{args.role}/{'url' if args.url else args.impl}"
    start = time.monotonic()
    results: list[Result] = []
    try:
        session = Session(args.role, args.impl, url=args.url)
    except (OSError, RuntimeError, TimeoutError, asyncio.TimeoutError,
            concurrent.futures.TimeoutError) as exc:
        print(f"{parser.prog}: error: the {config} target did not start: {exc or type(exc).__name__}",
              file=sys.stderr)
        return 2
    try:
        with session:
            for case in cases:
                results.append(session.run(case))
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted after {len(results)} of {len(cases)} cases", file=sys.stderr)
        return 130
    elapsed = time.monotonic() - start
    print(summary_text(config, results))
    print(f"{len(results)} cases in {elapsed:.1f}s")
    run = {config: results}
    try:
        if args.json:
            args.json.write_text(json.dumps(to_json(run, elapsed), indent=1) + "\n")
        if args.html:
            args.html.write_text(to_html(run, elapsed))
    except OSError as exc:
        print(f"{parser.prog}: error: cannot write the report: {exc}", file=sys.stderr)
        return 2
    return 1 if any(r.verdict == FAILED for r in results) else 0

if __name__ == "__main__":
    sys.exit(main())
