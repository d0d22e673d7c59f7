"""Run the codec micro-benchmarks, save the JSON, print the Markdown report.

    python -m bench.run_codec              # full run, ~2-3 minutes on a 2-core VM
    python -m bench.run_codec --quick      # fewer rounds, for a smoke check
    python -m bench.run_codec -k "parse and 125B"   # a subset (pytest -k)
    python -m bench.run_codec -- --benchmark-verbose  # anything after -- goes to pytest

Writes ``bench/results/codec-<UTC timestamp>.json`` (pytest-benchmark's
``--benchmark-json``), ``.md`` (the report, also printed) and ``.log`` (pytest's
output).  Exit status: pytest's (non-zero when a benchmark failed, e.g. when
``fastws._codec_c`` is not built: fastws is never skipped).

Settings: at least 5 rounds and 0.25 s per benchmark, 20 µs minimum round
(pytest-benchmark loops fast calls to reach it), a short warmup, and the garbage
collector disabled while timing (``--gc`` turns it back on; with it on, parse
results for small frames are dominated by when the collector happens to run, see
bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import re
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"

if __package__ in (None, ""):  # run as `python bench/run_codec.py`
    sys.path.insert(0, str(ROOT))
    from bench import report
else:
    from . import report

_SUMMARY = re.compile(r"^\d+ (passed|failed|skipped|deselected|errors?)\b.* in [\d.]+s")

FULL = {"min_rounds": 5, "max_time": 0.25}
QUICK = {"min_rounds": 3, "max_time": 0.05}


def pytest_command(
    json_path: Path, *, quick: bool, gc: bool, keyword: str | None, extra: list[str]
) -> list[str]:
    s = QUICK if quick else FULL
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(BENCH_DIR / "pytest.ini"),
        "--rootdir",
        str(ROOT),
        str(BENCH_DIR / "test_codec.py"),
        "-q",
        "-rfE",
        f"--benchmark-json={json_path}",
        f"--benchmark-min-rounds={s['min_rounds']}",
        f"--benchmark-max-time={s['max_time']}",
        "--benchmark-min-time=0.00002",
        "--benchmark-warmup=on",
        "--benchmark-warmup-iterations=2",
        "--benchmark-columns=median,iqr,rounds,iterations",
        "--benchmark-sort=name",
    ]
    if not gc:
        cmd.append("--benchmark-disable-gc")
    if keyword:
        cmd += ["-k", keyword]
    return cmd + extra


def run_streaming(cmd: list[str], log_path: Path) -> int:
    """Run pytest; show its progress lines and final summary, keep everything in the log."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    in_tables = False
    with (
        open(log_path, "w", encoding="utf-8") as log,
        subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        ) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if " benchmark " in line and line.startswith("-"):
                in_tables = True  # pytest-benchmark's own tables: log only
            elif line.startswith(("=", "FAILED", "ERROR")):
                in_tables = False
            if _SUMMARY.match(line):
                in_tables = False  # "-q" mode's final "N passed, M failed in Xs"
            if not in_tables and not line.startswith(("Legend:", "  Outliers", "  OPS")):
                sys.stdout.write(line)
                sys.stdout.flush()
        return proc.wait()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    ap = argparse.ArgumentParser(description="Run the fastws codec benchmarks and print the report.")
    ap.add_argument("--quick", action="store_true", help="3 rounds / 0.05 s per benchmark (smoke check)")
    ap.add_argument("--gc", action="store_true", help="leave the garbage collector on while timing")
    ap.add_argument("-k", dest="keyword", help="pytest -k expression selecting benchmarks")
    ap.add_argument(
        "--json", type=Path, help="JSON output path (default bench/results/codec-<timestamp>.json)"
    )
    args = ap.parse_args(argv)

    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    json_path = (args.json or RESULTS / f"codec-{stamp}.json").resolve()
    json_path.parent.mkdir(parents=True, exist_ok=True)
    log_path = json_path.with_suffix(".log")
    md_path = json_path.with_suffix(".md")

    cmd = pytest_command(json_path, quick=args.quick, gc=args.gc, keyword=args.keyword, extra=extra)
    print("$ " + " ".join(cmd), flush=True)
    status = run_streaming(cmd, log_path)

    if not json_path.exists():
        print(f"no benchmark JSON was written (pytest exit status {status}); see {log_path}", file=sys.stderr)
        return status or 1
    text, met, total = report.render(str(json_path))
    md_path.write_text(text, encoding="utf-8")
    print()
    print(text)
    print(f"{met} of {total} targets met")
    print(f"JSON:   {json_path}\nreport: {md_path}\nlog:    {log_path}")
    if status:
        print(f"pytest exit status {status}: some benchmarks FAILED (see the log)", file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
