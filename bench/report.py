"""Markdown report of a codec benchmark run (a pytest-benchmark ``--benchmark-json`` file).

    python -m bench.report bench/results/codec-<timestamp>.json [-o report.md]

For each group: every implementation's median time per call, throughput (GB/s of
``extra_info["bytes"]``; M frames/s where calls handle frames), run-to-run spread
(IQR as % of the median) and **fastws-c speedup** = that row's median / fastws-c's
median (> 1: fastws-c is faster).  Then the targets, each marked met / not met.

Only the standard library is used, so a JSON from any machine can be reported.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

REFERENCE = "fastws-c"

_OP_ORDER = (
    "mask",
    "parse-binary",
    "parse-text",
    "parse-binary-gc",
    "build-server",
    "build-client",
    "utf8-ascii",
    "utf8-mixed",
)
_IMPL_ORDER = (
    "fastws-c",
    "fastws-c (inplace)",
    "fastws-c (Utf8Validator)",
    "fastws-c (build_parts)",
    "fastws-python",
    "fastws-python (inplace)",
    "fastws-python (Utf8Validator)",
)


@dataclass
class Row:
    impl: str
    library: str
    median: float  # seconds per call
    iqr: float
    rounds: int
    nbytes: int
    frames: int
    info: dict[str, Any]

    @property
    def gbps(self) -> float:
        return self.nbytes / self.median / 1e9

    @property
    def mfps(self) -> float:
        return self.frames / self.median / 1e6


def is_reference(impl: str) -> bool:
    """Physical / harness reference rows (not libraries): shown last, in italics."""
    return impl.startswith(("memcpy", "("))


@dataclass
class Group:
    name: str
    op: str
    size: int
    rows: list[Row]

    def get(self, impl: str) -> Row | None:
        for row in self.rows:
            if row.impl == impl:
                return row
        return None


def load(path: str) -> tuple[dict[str, Any], list[Group]]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    groups: dict[str, Group] = {}
    for b in data.get("benchmarks", []):
        info = b.get("extra_info", {})
        impl = info.get("impl") or b["name"]
        stats = b["stats"]
        row = Row(
            impl=impl,
            library=info.get("library", impl),
            median=stats["median"],
            iqr=stats.get("iqr", 0.0),
            rounds=stats.get("rounds", 0),
            nbytes=int(info.get("bytes", 0)),
            frames=int(info.get("frames", 0)),
            info=info,
        )
        name = b.get("group") or b["name"]
        g = groups.setdefault(name, Group(name, info.get("op", ""), int(info.get("size", 0)), []))
        g.rows.append(row)

    def impl_key(row: Row) -> tuple:
        if row.impl in _IMPL_ORDER:
            return (0, _IMPL_ORDER.index(row.impl), 0.0)
        if is_reference(row.impl):
            return (2, 0, row.median)
        return (1, 0, row.median)

    for g in groups.values():
        g.rows.sort(key=impl_key)

    def group_key(g: Group) -> tuple:
        op = _OP_ORDER.index(g.op) if g.op in _OP_ORDER else len(_OP_ORDER)
        return (op, g.size, g.name)

    return data, sorted(groups.values(), key=group_key)


# --- formatting ---------------------------------------------------------------------


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return (
                f"{seconds / scale:.3g} {unit}" if seconds / scale < 100 else f"{seconds / scale:.0f} {unit}"
            )
    return f"{seconds / 1e-9:.3g} ns" if seconds < 1e-7 else f"{seconds / 1e-9:.0f} ns"


def fmt_num(x: float) -> str:
    if x == 0:
        return "0"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 0.01:
        return f"{x:.2f}"
    return f"{x:.2g}"


def table(header: list[str], rows: Iterable[list[str]], align: str) -> list[str]:
    out = ["| " + " | ".join(header) + " |"]
    out.append("| " + " | ".join("---:" if a == "r" else "---" for a in align) + " |")
    out.extend("| " + " | ".join(r) + " |" for r in rows)
    return out


def group_table(g: Group) -> list[str]:
    ref = g.get(REFERENCE)
    with_frames = any(r.frames for r in g.rows)
    header = ["implementation", "median / call", "spread (IQR)", "GB/s"]
    align = "lrrr"
    if with_frames:
        header.append("M frames/s")
        align += "r"
    header.append("fastws-c speedup")
    align += "r"
    body = []
    for r in g.rows:
        line = [
            f"**{r.impl}**" if r.impl == REFERENCE else f"*{r.impl}*" if is_reference(r.impl) else r.impl,
            fmt_time(r.median),
            f"{100 * r.iqr / r.median:.0f}%" if r.median else "-",
            fmt_num(r.gbps),
        ]
        if with_frames:
            line.append(fmt_num(r.mfps) if r.frames else "-")
        line.append(f"{r.median / ref.median:.2f}×" if ref else "n/a")
        body.append(line)
    title = f"### {g.name}"
    sub = []
    first = g.rows[0] if g.rows else None
    if first is not None and first.frames > 1:
        sub.append(f"{first.frames} frames, {first.nbytes} bytes per call.")
    if "GC on" in g.name:
        sub.append("Garbage collector **on** during the timed call (off in every other group).")
    if not ref:
        sub.append("**fastws-c missing from this group.**")
    return [title, "", *([" ".join(sub), ""] if sub else []), *table(header, body, align), ""]


# --- targets --------------------------------------------------------------------------


@dataclass
class Target:
    label: str
    group: str  # group name, or a prefix ending in "*" = every matching group, worst one counts
    ours: str  # fastws implementation row
    theirs: str  # peer row
    threshold: float
    strict: bool = False  # ">" instead of ">="
    show_ns: bool = False


TARGETS = (
    Target(
        "masking 1 MiB, in place: fastws-c vs aiohttp",
        "mask 1 MiB",
        "fastws-c (inplace)",
        "aiohttp (inplace)",
        1.0,
    ),
    Target(
        "masking 16 B, per call (ns), in place: fastws-c <= aiohttp",
        "mask 16 B",
        "fastws-c (inplace)",
        "aiohttp (inplace)",
        1.0,
        show_ns=True,
    ),
    Target("parse 125 B binary: fastws-c vs picows", "parse binary 125 B", "fastws-c", "picows", 1.15),
    Target("parse 125 B text: fastws-c vs picows", "parse text 125 B", "fastws-c", "picows", 1.15),
    Target("parse 125 B binary: fastws-c vs aiohttp", "parse binary 125 B", "fastws-c", "aiohttp", 2.0),
    Target("parse 125 B text: fastws-c vs aiohttp", "parse text 125 B", "fastws-c", "aiohttp", 2.0),
    Target(
        "parse 64 KiB binary (GB/s): fastws-c vs aiohttp", "parse binary 64 KiB", "fastws-c", "aiohttp", 1.2
    ),
    Target("parse 64 KiB text (GB/s): fastws-c vs aiohttp", "parse text 64 KiB", "fastws-c", "aiohttp", 1.2),
    Target("build 125 B server: fastws-c vs picows", "build server 125 B", "fastws-c", "picows", 1.0),
    Target("build 125 B client: fastws-c vs picows", "build client 125 B", "fastws-c", "picows", 1.0),
    Target(
        "UTF-8 incremental, ASCII: fastws-c Utf8Validator vs bytes.decode",
        "utf8 ascii 1 MiB",
        "fastws-c (Utf8Validator)",
        "bytes.decode",
        1.0,
    ),
    Target(
        "UTF-8 incremental, mixed: fastws-c Utf8Validator vs bytes.decode",
        "utf8 mixed 1 MiB",
        "fastws-c (Utf8Validator)",
        "bytes.decode",
        1.0,
    ),
    Target(
        "parse 125 B binary: fastws-python vs websockets",
        "parse binary 125 B",
        "fastws-python",
        "websockets",
        1.0,
        strict=True,
    ),
    Target(
        "parse 125 B text: fastws-python vs websockets",
        "parse text 125 B",
        "fastws-python",
        "websockets",
        1.0,
        strict=True,
    ),
    Target(
        "parse, every size/kind (worst): fastws-python vs websockets",
        "parse *",
        "fastws-python",
        "websockets",
        1.0,
        strict=True,
    ),
    Target(
        "parse 125 B binary: fastws-python vs wsproto", "parse binary 125 B", "fastws-python", "wsproto", 3.0
    ),
    Target("parse 125 B text: fastws-python vs wsproto", "parse text 125 B", "fastws-python", "wsproto", 3.0),
    Target(
        "parse, every size/kind (worst): fastws-python vs wsproto", "parse *", "fastws-python", "wsproto", 3.0
    ),
)


def evaluate(target: Target, groups: list[Group]) -> tuple[float | None, str]:
    """(ratio = peer median / ours, detail); the worst group when ``group`` is a prefix."""
    if target.group.endswith("*"):
        candidates = [g for g in groups if g.name.startswith(target.group[:-1]) and "GC on" not in g.name]
    else:
        candidates = [g for g in groups if g.name == target.group]
    worst: tuple[float, str] | None = None
    passing = measured = 0
    for g in candidates:
        ours, theirs = g.get(target.ours), g.get(target.theirs)
        if ours is None or theirs is None:
            continue
        ratio = theirs.median / ours.median
        measured += 1
        passing += ratio > target.threshold if target.strict else ratio >= target.threshold
        if target.show_ns:
            detail = f"{ours.median * 1e9:.1f} ns vs {theirs.median * 1e9:.1f} ns"
            floor = g.get("(call overhead)")
            if floor is not None:
                detail += f" (harness floor {floor.median * 1e9:.1f} ns)"
        elif g.op.startswith("parse") or g.op.startswith("build"):
            detail = f"{fmt_num(ours.mfps)} vs {fmt_num(theirs.mfps)} M frames/s ({fmt_num(ours.gbps)} vs {fmt_num(theirs.gbps)} GB/s)"
        else:
            detail = f"{fmt_num(ours.gbps)} vs {fmt_num(theirs.gbps)} GB/s"
        if len(candidates) > 1:
            detail = f"worst: {g.name}, {detail}"
        if worst is None or ratio < worst[0]:
            worst = (ratio, detail)
    if worst is None:
        return None, "not measured (row missing)"
    if measured > 1:
        return worst[0], f"met in {passing} of {measured} groups; {worst[1]}"
    return worst


def targets_section(groups: list[Group]) -> tuple[list[str], int, int]:
    body = []
    met_count = 0
    for t in TARGETS:
        ratio, detail = evaluate(t, groups)
        want = f"{'>' if t.strict else '>='} {t.threshold:g}"
        if ratio is None:
            verdict = "not measured"
        else:
            met = ratio > t.threshold if t.strict else ratio >= t.threshold
            met_count += met
            verdict = "met" if met else "**NOT MET**"
        body.append([t.label, want, f"{ratio:.2f}" if ratio is not None else "-", verdict, detail])
    lines = [
        "## Targets",
        "",
        (
            "ratio = peer's median time / fastws' median time, on the same input (> 1: fastws is faster;"
            " for per-call ns targets, ratio >= 1 means fastws' ns <= the peer's)."
        ),
        "",
        *table(["target", "want", "ratio", "verdict", "measured"], body, "lrrll"),
        "",
        f"{met_count} of {len(TARGETS)} targets met.",
        "",
    ]
    return lines, met_count, len(TARGETS)


# --- whole report -----------------------------------------------------------------------


def machine_section(data: dict[str, Any], path: str) -> list[str]:
    mi = data.get("machine_info", {})
    cpu = mi.get("cpu_model") or mi.get("cpu", {}).get("brand_raw") or mi.get("processor", "?")
    libs = mi.get("libraries", {})
    py = f"{mi.get('python_implementation', 'Python')} {mi.get('python_version', '?')}"
    opts = data.get("benchmarks", [{}])[0].get("options", {}) if data.get("benchmarks") else {}
    lines = [
        f"- date: {data.get('datetime', '?')}",
        f"- machine: {cpu}, {mi.get('cpu_count', '?')} CPUs, {mi.get('system', '')} {mi.get('release', '')}".rstrip(),
        f"- Python: {py}",
        (
            f"- load average (1/5/15 min) at start: {mi.get('loadavg_start', '?')}, "
            f"at end: {mi.get('loadavg_end', '?')} (on {mi.get('cpu_count', '?')} CPUs: "
            "a 1-minute load near 1 or more means other work competed for the cores)"
        ),
        "- libraries: " + ", ".join(f"{k} {v}" for k, v in libs.items()),
        (
            f"- settings: min_rounds={opts.get('min_rounds')}, max_time={opts.get('max_time')} s, "
            f"min_time={opts.get('min_time')} s, warmup={opts.get('warmup')}, "
            f"disable_gc={opts.get('disable_gc')}, timer={opts.get('timer')}"
        ),
        f"- source: `{path}`",
    ]
    problems = {k: v for k, v in mi.get("fastws_impls", {}).items() if v != "ok"}
    for impl, why in problems.items():
        lines.append(f"- **fastws {impl} missing: {why}**")
    return lines


def entry_points(groups: list[Group]) -> list[str]:
    seen: dict[tuple[str, str], Row] = {}
    for g in groups:
        family = g.op.split("-")[0]
        for r in g.rows:
            seen.setdefault((family, r.impl), r)
    body = []
    for (family, impl), r in seen.items():
        notes = r.info.get("notes", "")
        if family == "parse":
            validated = r.info.get("utf8_validated")
            sem = r.info.get("delivers", "")
            extra = "; ".join(
                x
                for x in (
                    sem,
                    "text UTF-8 validated"
                    if validated
                    else "text NOT UTF-8 validated"
                    if validated is False
                    else "",
                )
                if x
            )
            notes = "; ".join(x for x in (extra, notes) if x)
        body.append([family, impl, f"`{r.info.get('api', '?')}`", notes])
    return ["## Entry points", "", *table(["op", "implementation", "entry point", "notes"], body, "llll"), ""]


def render(path: str) -> tuple[str, int, int]:
    data, groups = load(path)
    lines = ["# fastws codec benchmarks", "", *machine_section(data, path), ""]
    target_lines, met, total = targets_section(groups)
    lines += target_lines
    sections = (
        ("mask", "Masking (XOR with a 4-byte key)"),
        ("parse", "Parsing (server side, masked client frames; one call = the whole buffer)"),
        ("build", "Building one binary frame (server: unmasked, client: masked)"),
        ("utf8", "UTF-8 validation"),
    )
    for prefix, title in sections:
        gs = [g for g in groups if g.op.startswith(prefix)]
        if not gs:
            continue
        lines += [f"## {title}", ""]
        for g in gs:
            lines += group_table(g)
    others = [g for g in groups if not g.op.startswith(tuple(p for p, _ in sections))]
    for g in others:
        lines += group_table(g)
    lines += entry_points(groups)
    return "\n".join(lines).rstrip() + "\n", met, total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", help="pytest-benchmark JSON (--benchmark-json)")
    ap.add_argument("-o", "--output", help="also write the Markdown here")
    args = ap.parse_args(argv)
    text, _, _ = render(args.json)
    sys.stdout.write(text)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
