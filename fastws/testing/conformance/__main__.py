"""``python -m fastws.testing.conformance``: run the suite, print a summary, write reports.

Exit status 1 if any case FAILED.  See ``README.md`` in this package.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from .cases import GROUPS, all_cases
from .report import summary_text, to_html, to_json
from .targets import Session
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
    if args.url and args.role != "server":
        parser.error("--url needs --role server")
    cases = all_cases(args.role)
    if args.groups:
        wanted = set(args.groups.split(","))
        unknown = wanted - set(GROUPS)
        if unknown:
            parser.error(f"unknown group(s): {', '.join(sorted(unknown))}")
        cases = [c for c in cases if c.group in wanted]
    if args.cases:
        prefixes = tuple(args.cases.split(","))
        cases = [c for c in cases if c.id.startswith(prefixes)]
    config = f"{args.role}/{'url' if args.url else args.impl}"
    start = time.monotonic()
    results: list[Result] = []
    with Session(args.role, args.impl, url=args.url) as session:
        for case in cases:
            results.append(session.run(case))
    elapsed = time.monotonic() - start
    print(summary_text(config, results))
    print(f"{len(results)} cases in {elapsed:.1f}s")
    run = {config: results}
    if args.json:
        args.json.write_text(json.dumps(to_json(run, elapsed), indent=1) + "\n")
    if args.html:
        args.html.write_text(to_html(run, elapsed))
    return 1 if any(r.verdict == FAILED for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
