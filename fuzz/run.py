"""Run the fuzz targets for a bounded time each, on the sanitizer build.

    python3 -m fuzz.run                   # every target, 5 minutes each (the bounded run)
    python3 -m fuzz.run --ci              # every target, 10 s each, two at a time (what CI runs)
    python3 -m fuzz.run parser -s 60      # one target, one minute

Builds the ASan+UBSan copy first (``fuzz.build``, incremental), writes each target's
seeds (from tests/vectors and the conformance cases) to ``build/fuzz/TARGET/seeds``,
keeps what the fuzzer finds interesting in ``build/fuzz/TARGET/corpus`` (so runs
build on each other) and a crashing input in ``build/fuzz/TARGET/``. Prints
executions/s and coverage (cov: edges, ft: features, of the instrumented Python code and,
built with clang, the C code) per target; exit status 1 on any finding.
``--no-sanitize`` fuzzes the checkout's own build instead (faster, no memory checks).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from . import build as sanitizer_build
from .targets import NAMES

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "fuzz"
REGRESSIONS = Path(__file__).resolve().parent / "regressions"
BOUNDED_SECONDS = 300
CI_SECONDS = 10
_DONE = re.compile(r"#(\d+)\s+DONE\s+cov: (\d+) ft: (\d+) corp: (\d+)/")
_STAT = re.compile(r"stat::(\w+):\s+(\d+)")


@dataclass
class Result:
    target: str
    seconds: int
    returncode: int
    executions: int = 0
    exec_per_s: int = 0
    cov: int = 0
    ft: int = 0
    corpus: int = 0
    new_units: int = 0
    peak_rss_mb: int = 0
    finding: str = ""  # the input that crashed or disagreed, with the reason
    log: str = ""  # where the fuzzer's output is

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.finding


def sanitizer_env(package_dir: Path) -> dict[str, str]:
    """The environment of a worker on the sanitizer copy: its runtime preloaded, its fastws imported."""
    import atheris

    runtime = Path(atheris.path()) / "asan_with_fuzzer.so"
    if not runtime.exists():
        raise SystemExit(f"atheris has no {runtime.name} here ({runtime}); cannot preload an ASan runtime")
    return {
        "LD_PRELOAD": str(runtime),
        # CPython's arenas look like leaks to LeakSanitizer; UBSan findings abort with a trace.
        "ASAN_OPTIONS": "detect_leaks=0:allocator_may_return_null=1:quarantine_size_mb=64:symbolize=1",
        "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
        "PYTHONMALLOC": "malloc",  # every object through malloc, so ASan sees overruns of bytes objects too
        "FASTWS_FUZZ_EXPECT_PACKAGE": str(package_dir),
    }


def write_seeds(name: str) -> Path:
    """The target's seeds as files named by content (stale ones removed)."""
    target = importlib.import_module(f"fuzz.targets.{name}")
    seeds = WORK / name / "seeds"
    shutil.rmtree(seeds, ignore_errors=True)
    seeds.mkdir(parents=True)
    regressions = REGRESSIONS / name
    inputs = list(target.seeds()) + [p.read_bytes() for p in sorted(regressions.glob("*"))] if regressions.is_dir() \
        else list(target.seeds())  # fmt: skip
    for data in inputs:
        (seeds / hashlib.sha1(data).hexdigest()).write_bytes(data)
    return seeds


def run_target(name: str, seconds: int, package_dir: Path | None, seeds: Path, extra: list[str]) -> Result:
    work = WORK / name
    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for old in work.glob("crash-*"):
        old.unlink()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("FASTWS_PURE", None)
    if package_dir is not None:
        env.update(sanitizer_env(package_dir))
    args = [sys.executable, "-m", "fuzz.worker", name, str(corpus), str(seeds),
            f"-max_total_time={seconds}", "-timeout=20", "-rss_limit_mb=4096", "-max_len=4096",
            "-use_value_profile=1", "-print_final_stats=1", f"-artifact_prefix={work}/", *extra]  # fmt: skip
    log = work / "last-run.log"
    with open(log, "w") as out:
        # From the sanitizer copy's directory, so that its fastws comes first (before the checkout's).
        proc = subprocess.run(args, cwd=package_dir or ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                              timeout=seconds + 300)  # fmt: skip
    text = log.read_text(errors="replace")
    result = Result(name, seconds, proc.returncode, log=str(log))
    done = _DONE.findall(text)
    if done:
        result.executions, result.cov, result.ft, result.corpus = map(int, done[-1])
    stats = dict(_STAT.findall(text))
    result.exec_per_s = int(stats.get("average_exec_per_sec", 0))
    result.new_units = int(stats.get("new_units_added", 0))
    result.peak_rss_mb = int(stats.get("peak_rss_mb", 0))
    crashes = sorted(work.glob("crash-*")) + sorted(work.glob("timeout-*")) + sorted(work.glob("oom-*"))
    if proc.returncode != 0 or crashes:
        why = next(
            (
                line
                for line in text.splitlines()
                if re.search(r"ERROR: |runtime error|Disagreement|Error:|Exception", line)
            ),
            "",
        )
        where = crashes[-1] if crashes else "no input saved"
        result.finding = f"{where}: {why.strip()[:500]}"
    return result


def run(
    names: list[str], seconds: int, jobs: int = 1, sanitize: bool = True, extra: list[str] = ()
) -> list[Result]:
    package_dir = sanitizer_build.build() if sanitize else None
    seeds = {name: write_seeds(name) for name in names}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [
            pool.submit(run_target, name, seconds, package_dir, seeds[name], list(extra)) for name in names
        ]
        results = [f.result() for f in futures]
    (WORK / "summary.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    return results


def table(results: list[Result]) -> str:
    lines = [
        f"{'target':<11} {'s':>4} {'execs':>9} {'exec/s':>7} {'cov':>5} {'ft':>6} {'corpus':>6} {'rss MB':>6}  result"
    ]
    for r in results:
        lines.append(f"{r.target:<11} {r.seconds:>4} {r.executions:>9} {r.exec_per_s:>7} {r.cov:>5} {r.ft:>6} "
                     f"{r.corpus:>6} {r.peak_rss_mb:>6}  {'ok' if r.ok else 'FOUND ' + r.finding}")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Fuzz fastws (atheris, ASan+UBSan build, C vs pure).")
    parser.add_argument("targets", nargs="*", choices=[[], *NAMES], default=[], metavar="TARGET",
                        help=f"some of {', '.join(NAMES)} (default: all)")  # fmt: skip
    parser.add_argument(
        "-s", "--seconds", type=int, default=None, help=f"per target (default {BOUNDED_SECONDS})"
    )
    parser.add_argument(
        "-j", "--jobs", type=int, default=None, help="targets run at once (default 1; --ci: 2)"
    )
    parser.add_argument(
        "--ci", action="store_true", help=f"the short run: {CI_SECONDS} s per target, 2 at once"
    )
    parser.add_argument("--no-sanitize", action="store_true", help="fuzz the checkout's build, no ASan/UBSan")
    args, extra = parser.parse_known_args()
    seconds = args.seconds or (CI_SECONDS if args.ci else BOUNDED_SECONDS)
    jobs = args.jobs or (2 if args.ci else 1)
    started = time.monotonic()
    results = run(args.targets or list(NAMES), seconds, jobs, sanitize=not args.no_sanitize, extra=extra)
    print(table(results))
    print(f"{time.monotonic() - started:.0f} s; logs and corpora in {WORK}")
    failed = [r for r in results if not r.ok]
    for r in failed:
        print(f"\n{r.target}: {r.finding}\n  log: {r.log}\n  keep the input as fuzz/regressions/{r.target}/<what-it-found>;"
              f" python3 -m fuzz.run {r.target} -s 5 then replays it on the sanitizer build,"
              f" pytest tests/test_fuzz_short.py -k regression on the normal one")  # fmt: skip
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
