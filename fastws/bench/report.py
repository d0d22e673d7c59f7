"""Tables and targets from a session's runs: terminal text or Markdown.

Everything here works from the JSON the runner writes, so a saved result can
be re-rendered (``fastws bench --report fastws-bench-results/echo-....json``).

Cells are "median (min-max)" over the repetitions.  Ratios ("x fastws") are
the median of per-round ratios: the two runs of a round were taken seconds
apart, so their ratio is less exposed to the machine's drifting load than a
ratio of medians.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

from . import memory
from .common import format_size
from .modes import Case, Table
from .servers import REFERENCE_SERVER, SERVERS
from .stats import aggregate, median, paired_ratio, summary_key

# Reference figures for this kind of machine, from the brief (256 B unless noted).
REFERENCE_FIGURES = {
    ("raw-tcp", 256): {"round_trips_per_s": 51_900},
    ("picows", 256): {"round_trips_per_s": 43_300, "server_cpu_us": 11.3},
    ("aiohttp", 256): {"round_trips_per_s": 34_600, "server_cpu_us": 14.7},
    ("websockets", 256): {"round_trips_per_s": 24_600, "server_cpu_us": 24.8},
    ("picows", 1024 * 1024): {"server_cpu_us": 262.0},
}

_CPU_PATH = {"server": "server_cpu_us_per_msg", "client": "client_cpu_us_per_msg"}


def analyse(data: dict) -> dict:
    """Add ``summary`` (per case and size) and ``targets`` to a session's data."""
    data["summary"] = aggregate(data["runs"])
    data["targets"] = evaluate_targets(data)
    return data


def _tables(data: dict) -> list[Table]:
    return [Table.from_json(t) for t in data["tables"]]


def _entry(data: dict, case: Case, size: int) -> Optional[dict]:
    return data["summary"].get(summary_key(case.key, size))


# --- targets -------------------------------------------------------------------


def evaluate_targets(data: dict) -> list[dict]:
    """The issue's targets, each ``{"target", "size", "met" (True/False/None = info), "value", "detail"}``."""
    sizes = data["config"]["sizes"]
    runs = data["runs"]
    summary = data["summary"]
    targets: list[dict] = []

    def present(case: Case, size: int) -> bool:
        entry = summary.get(summary_key(case.key, size))
        return bool(entry and entry["ok"])

    def add(name: str, size: int, ok: Optional[bool], value: str, detail: str) -> None:
        targets.append({"target": name, "size": size, "met": ok, "value": value, "detail": detail})

    for table in _tables(data):
        if table.mode in ("roundtrip", "pipelined") and not _is_deflate(table):
            for size in table.sizes_of(sizes):
                first = _first_place(data, table, size)
                if first:
                    add(f"fastws (C) first, {_short_name(table)}", size, *first)
    kinds = [t.kind for t in _tables(data) if t.mode == "roundtrip" and not _is_deflate(t)]
    for kind in kinds:
        tag = "" if kind == "binary" else f" ({kind})"
        fastws, pure = Case("fastws", "fastws", kind), Case("fastws-pure", "fastws", kind)
        websockets, raw = Case("websockets", "fastws", kind), Case("raw-tcp", "raw-tcp", kind)
        if kind == "binary" and 256 in sizes and present(fastws, 256):
            a = summary[summary_key(fastws.key, 256)]["server_cpu_us"]
            add(
                "fastws server CPU/msg < 10 µs",
                256,
                a["median"] < 10,
                f"{a['median']:.2f} µs",
                f"range {a['min']:.2f}-{a['max']:.2f}",
            )
        for size in sizes:
            if kind == "binary" and present(fastws, size) and present(raw, size):
                ratio = paired_ratio(runs, fastws.key, raw.key, size, "round_trips_per_s")
                bound = paired_ratio(runs, fastws.key, raw.key, size, "cpu_bound_round_trips_per_s")
                if ratio:
                    judged = size == 256
                    add(
                        "fastws round trips >= 95% of raw TCP" + ("" if judged else " (info)"),
                        size,
                        ratio["median"] >= 0.95 if judged else None,
                        f"{ratio['median'] * 100:.1f}%",
                        f"per-round range {ratio['min'] * 100:.1f}-{ratio['max'] * 100:.1f}%"
                        + (f"; CPU-bound {bound['median'] * 100:.1f}%" if bound else ""),
                    )
            if present(fastws, size) and present(websockets, size):
                ratio = paired_ratio(runs, fastws.key, websockets.key, size, "round_trips_per_s")
                ceiling = paired_ratio(runs, raw.key, websockets.key, size, "round_trips_per_s")
                if ratio:
                    add(
                        "fastws round trips >= 2x websockets" + tag,
                        size,
                        ratio["median"] >= 2.0,
                        f"x{ratio['median']:.2f}",
                        f"per-round range x{ratio['min']:.2f}-x{ratio['max']:.2f}"
                        + (f"; the raw TCP floor itself is x{ceiling['median']:.2f}" if ceiling else ""),
                    )
            if present(pure, size) and present(websockets, size):
                ratio = paired_ratio(runs, pure.key, websockets.key, size, "round_trips_per_s")
                cpu = paired_ratio(runs, pure.key, websockets.key, size, "server_cpu_us_per_msg")
                if ratio:
                    add(
                        "fastws (pure) round trips >= websockets" + tag,
                        size,
                        ratio["median"] >= 1.0,
                        f"x{ratio['median']:.2f}",
                        f"per-round range x{ratio['min']:.2f}-x{ratio['max']:.2f}"
                        + (f"; server CPU/msg x{cpu['median']:.2f} of websockets's" if cpu else ""),
                    )
    cli_fastws, cli_picows = Case("fastws", "fastws"), Case("fastws", "picows")
    for size in sizes:
        if present(cli_fastws, size) and present(cli_picows, size):
            ratio = paired_ratio(runs, cli_fastws.key, cli_picows.key, size, "round_trips_per_s")
            cpu = paired_ratio(runs, cli_fastws.key, cli_picows.key, size, "client_cpu_us_per_msg")
            if ratio:
                add(
                    "fastws callback client round trips >= 95% of picows client",
                    size,
                    ratio["median"] >= 0.95,
                    f"{ratio['median'] * 100:.1f}%",
                    f"per-round range {ratio['min'] * 100:.1f}-{ratio['max'] * 100:.1f}%"
                    + (f"; client CPU/msg x{cpu['median']:.3f} of picows's" if cpu else ""),
                )
    targets.extend(_deflate_targets(data, present))
    return targets


def _short_name(table: Table) -> str:
    return table.mode.replace("roundtrip", "round trip") + (
        "" if table.kind == "binary" else f", {table.kind}"
    )


def _first_place(data: dict, table: Table, size: int) -> Optional[tuple[bool, str, str]]:
    """Is the reference row first among the WebSocket rows, by rate and by CPU per message?
    (met, value, detail), or None without the reference row or anyone to compare with."""
    cpu_metric = f"{table.cpu_of}_cpu_us"
    figures = []  # (label, rate, cpu, is_reference)
    for row in table.rows:
        if row.case.client.startswith("raw-tcp"):
            continue  # the floor is not a competitor
        entry = _entry(data, row.case, size)
        rate, cpu = median(entry, "round_trips_per_s"), median(entry, cpu_metric)
        if entry and entry["ok"] and rate is not None and cpu is not None:
            figures.append((row.label, rate, cpu, row.case == table.reference))
    ref = next((f for f in figures if f[3]), None)
    if ref is None or len(figures) < 2:
        return None
    by_rate = sorted(figures, key=lambda f: -f[1])
    by_cpu = sorted(figures, key=lambda f: f[2])
    rate_rank, cpu_rank = by_rate.index(ref) + 1, by_cpu.index(ref) + 1
    best_other_rate = next(f for f in by_rate if not f[3])
    best_other_cpu = next(f for f in by_cpu if not f[3])
    value = f"rate #{rate_rank}, CPU/msg #{cpu_rank} of {len(figures)}"
    detail = (
        f"next by rate: {best_other_rate[0]} x{best_other_rate[1] / ref[1]:.2f}; "
        f"by CPU/msg: {best_other_cpu[0]} x{best_other_cpu[2] / ref[2]:.2f} (medians)"
    )
    return rate_rank == 1 and cpu_rank == 1, value, detail


def _deflate_targets(data: dict, present: Callable[[Case, int], bool]) -> list[dict]:
    """Issue 4: fastws >= 1.5x websockets at 8 KiB with permessage-deflate (other sizes: info)."""
    runs = data["runs"]
    out: list[dict] = []
    load, pipe, xcli = "fastws-deflate", "fastws-deflate-pipe", "websockets-deflate"
    pairs = [
        # (what, fastws case, peer case, metric, judged)
        ("round trips", Case("fastws-deflate", load), Case("websockets-deflate", load), "round_trips_per_s"),
        (
            "server CPU/msg (websockets / fastws)",
            Case("websockets-deflate", load),
            Case("fastws-deflate", load),
            "server_cpu_us_per_msg",
        ),
        (
            "pipelined messages/s",
            Case("fastws-deflate", pipe),
            Case("websockets-deflate", pipe),
            "round_trips_per_s",
        ),
        (
            "round trips, websockets client",
            Case("fastws-deflate", xcli),
            Case("websockets-deflate", xcli),
            "round_trips_per_s",
        ),
        (
            "round trips vs websockets defaults (level 6)",
            Case("fastws-deflate", load),
            Case("websockets-deflate-default", load),
            "round_trips_per_s",
        ),
        (
            "server CPU/msg vs websockets defaults (level 6)",
            Case("websockets-deflate-default", load),
            Case("fastws-deflate", load),
            "server_cpu_us_per_msg",
        ),
    ]
    for proto, engine in (("fastws-deflate-isal", "ISA-L"), ("fastws-deflate-zlibng", "zlib-ng")):
        pairs += [
            (
                f"round trips, prototype on {engine}",
                Case(proto, load),
                Case("websockets-deflate", load),
                "round_trips_per_s",
            ),
            (
                f"server CPU/msg, prototype on {engine}",
                Case("websockets-deflate", load),
                Case(proto, load),
                "server_cpu_us_per_msg",
            ),
            (
                f"pipelined messages/s, prototype on {engine}",
                Case(proto, pipe),
                Case("websockets-deflate", pipe),
                "round_trips_per_s",
            ),
        ]
    for size in data["config"]["sizes"]:
        for index, (what, num, den, metric) in enumerate(pairs):
            if not (present(num, size) and present(den, size)):
                continue
            ratio = paired_ratio(runs, num.key, den.key, size, metric)
            if not ratio:
                continue
            judged = size == 8 * 1024 and index < 3
            out.append(
                {
                    "target": f"deflate: fastws >= 1.5x websockets, {what}" + ("" if judged else " (info)"),
                    "size": size,
                    "met": ratio["median"] >= 1.5 if judged else None,
                    "value": f"x{ratio['median']:.2f}",
                    "detail": f"per-round range x{ratio['min']:.2f}-x{ratio['max']:.2f}",
                }
            )
    return out


# --- permessage-deflate settings --------------------------------------------------


def deflate_settings_rows(data: dict) -> list[list[str]]:
    """One row per server of the deflate tables: its settings and what was negotiated."""
    negotiated: dict[str, str] = {}
    for run in data["runs"]:
        r = run["result"]
        if r.get("ok") and run["client"] == "fastws-deflate" and "extension" in r:
            negotiated.setdefault(run["server"], r["extension"])
    labels: dict[str, str] = {}
    for table in _tables(data):
        if _is_deflate(table):
            for row in table.rows:
                labels.setdefault(row.case.server, row.label)
    rows = []
    for name, label in labels.items():
        d = data["servers"].get(name, {}).get("deflate")
        if not d:
            continue
        notes = []
        if d.get("engine"):
            notes.append(f"prototype: fastws's pure deflate kernels on {d['engine']} (`{d['kernels']}`)")
        elif d.get("kernels"):
            notes.append(f"{d['kernels']} kernels")
        if d.get("executor_above"):
            notes.append(f"messages over {d['executor_above'] // 1024} KiB compressed in a thread")
        if "client_max_window_bits" in d:
            notes.append(f"asks clients for client_max_window_bits={d['client_max_window_bits']}")
        rows.append(
            [
                label,
                str(d.get("level")),
                str(d.get("mem_level")),
                str(d.get("server_max_window_bits")),
                f"{d['threshold']} B" if d.get("threshold") else "none",
                negotiated.get(name, "-"),
                "; ".join(notes),
            ]
        )
    return rows


_SETTINGS_HEAD = [
    "server",
    "level",
    "memLevel",
    "server window bits",
    "uncompressed below",
    "agreed",
    "notes",
]
_CLIENT_SETTINGS = (
    "Load clients (fastws callback and websockets): offer `permessage-deflate; server_max_window_bits=12; "
    "client_max_window_bits=12`, compress at level 1, memLevel 5, 12-bit window, and inflate what the "
    "server sends; the same zlib (system libz) everywhere, except that fastws's C kernels built with "
    "ISA-L (notes: c+isal kernels) compress with its igzip, in the fastws server and the fastws load client."
)


# --- rendering -------------------------------------------------------------------


def _fmt_rate(s: Optional[dict]) -> tuple[str, str]:
    if not s:
        return "-", ""
    return f"{s['median']:,.0f}", f"{s['min'] / 1000:.1f}k-{s['max'] / 1000:.1f}k" if s["n"] > 1 else ""


def _fmt_us(s: Optional[dict]) -> tuple[str, str]:
    if not s:
        return "-", ""
    digits = 2 if s["median"] < 100 else 1 if s["median"] < 1000 else 0
    spread = f"{s['min']:.{digits}f}-{s['max']:.{digits}f}" if s["n"] > 1 else ""
    return f"{s['median']:.{digits}f}", spread


def _fmt_ratio(s: Optional[dict]) -> str:
    return f"x{s['median']:.2f}" if s else "-"


def _cell(value: str, spread: str) -> str:
    return f"{value} ({spread})" if spread else value


def _same_core(data: dict) -> bool:
    return not data["config"].get("split_cores")


def _is_deflate(table: Table) -> bool:
    return table.key.startswith("deflate")


def _wire_columns(table: Table) -> bool:
    # Not for the pipelined table: the window's messages in flight at either end make its
    # bytes-per-message figure off by up to window/messages.
    return _is_deflate(table) and table.key != "deflate-pipe"


def _fmt_plain(s: Optional[dict], fmt: str) -> str:
    return fmt.format(s["median"]) if s else "-"


def _row_status(entry: dict) -> str:
    return "skipped" if entry.get("status") == "skipped" else "FAILED"


def table_rows(data: dict, table: Table, size: int) -> list[list[str]]:
    runs = data["runs"]
    cpu_metric = f"{table.cpu_of}_cpu_us"
    other = "client" if table.cpu_of == "server" else "server"
    same_core = _same_core(data)
    width = len(_headers(table, same_core)) - 1
    rows = []
    for row in table.rows:
        entry = _entry(data, row.case, size)
        if entry is None:
            continue
        if not entry["ok"]:
            rows.append([row.label, _row_status(entry)] + ["-"] * (width - 1))
            continue
        rate, rate_spread = _fmt_rate(entry["round_trips_per_s"])
        cpu, cpu_spread = _fmt_us(entry[cpu_metric])
        other_cpu, _ = _fmt_us(entry[f"{other}_cpu_us"])
        is_ref = row.case == table.reference
        rate_ratio = (
            "1"
            if is_ref
            else _fmt_ratio(paired_ratio(runs, row.case.key, table.reference.key, size, "round_trips_per_s"))
        )
        cpu_ratio = (
            "1"
            if is_ref
            else _fmt_ratio(
                paired_ratio(runs, row.case.key, table.reference.key, size, _CPU_PATH[table.cpu_of])
            )
        )
        faults = entry.get(f"{table.cpu_of}_faults")
        p50, _ = _fmt_us(entry["p50_us"])
        p99, _ = _fmt_us(entry["p99_us"])
        cells = [row.label, _cell(rate, rate_spread), rate_ratio]
        if _mb_column(table):
            cells.append(_fmt_plain(entry.get("mb_per_s"), "{:,.1f}"))
        if same_core:
            cells.append(_fmt_rate(entry.get("cpu_bound_round_trips_per_s"))[0])
        cells += [
            _cell(cpu, cpu_spread),
            cpu_ratio,
            other_cpu,
            f"{faults['median']:.0f}" if faults else "-",
            p50,
            p99,
        ]
        if _wire_columns(table):
            cells += [
                _fmt_plain(entry.get("server_wchar"), "{:,.0f}"),
                _fmt_plain(entry.get("server_rchar"), "{:,.0f}"),
                _fmt_plain(entry.get("wire_ratio_out"), "{:.2f}"),
            ]
        rows.append(cells)
    return rows


def _mb_column(table: Table) -> bool:
    return table.mode in ("pipelined", "connections")


def table_notes(data: dict, table: Table) -> list[str]:
    """Why rows of ``table`` lack figures: one line per row that failed or was skipped, and one
    per (row, size) where only some rounds failed (the figures are then from the others)."""
    notes: dict[str, str] = {}
    for size in table.sizes_of(data["config"]["sizes"]):
        for row in table.rows:
            entry = _entry(data, row.case, size)
            if entry is None or entry["ok"] == entry["runs"]:
                continue
            reason = ((entry.get("errors") or ["?"])[0] or "?").split("; its stderr")[0].splitlines()[0][:160]
            if not entry["ok"] and row.label not in notes:
                notes[row.label] = f"{row.label}: {_row_status(entry)}: {reason}"
            elif entry["ok"]:
                notes[f"{row.label}|{size}"] = (
                    f"{row.label} @ {format_size(size)}: {entry['runs'] - entry['ok']} of {entry['runs']} "
                    f"rounds failed, figures from the others: {reason}"
                )
    return list(notes.values())


def _headers(table: Table, same_core: bool = True) -> list[str]:
    other = "client" if table.cpu_of == "server" else "server"
    rate = table.unit
    head = ["", f"{rate} (min-max)", "x ref"]
    if _mb_column(table):
        head.append("MB/s")
    if same_core:
        head.append("CPU-bound rt/s" if table.unit == "round trips/s" else "CPU-bound msg/s")
    head += [
        f"{table.cpu_of} CPU µs/msg (min-max)",
        "x ref",
        f"{other} µs/msg",
        f"{table.cpu_of} faults/msg",
        "p50 µs",
        "p99 µs",
    ]
    if _wire_columns(table):
        head += ["wire B/msg out", "wire B/msg in", "size / wire out"]
    return head


def _reference_label(table: Table) -> str:
    for row in table.rows:
        if row.case == table.reference:
            return row.label
    return table.reference.key


# Said under every text table: what differs between the libraries with text messages.
_KIND_NOTES = {
    "text": "text: fastws, websockets, aiohttp and Node ws check that a text message is valid UTF-8; "
    "picows hands it over as bytes, unchecked (its echo server does no UTF-8 work). fastws and "
    "Node ws echo the validated bytes (fastws: Listener.decode_text = False); websockets and "
    "aiohttp decode to str and encode it again",
}


def render_text(data: dict) -> str:
    out: list[str] = []
    cfg = data["config"]
    for table in _tables(data):
        out.append("")
        out.append(f"== {table.title}")
        out.append(f"   x ref = ratio to {_reference_label(table)}, median of per-round ratios")
        if _same_core(data):
            out.append("   CPU-bound = 1e6 / (server + client CPU µs/msg): the rate on a core of their own")
        if _mb_column(table):
            out.append("   MB/s = payload bytes echoed per second, each way")
        if table.kind in _KIND_NOTES and not _is_deflate(table):
            out.append("   " + _KIND_NOTES[table.kind])
        for size in cfg["sizes"]:
            rows = table_rows(data, table, size)
            if not rows:
                continue
            out.append(f"-- {format_size(size)}")
            out.extend(_align([_headers(table, _same_core(data)), *rows]))
        out.extend("   " + note for note in table_notes(data, table))
    idle_rows = memory_rows(data)
    if idle_rows:
        out.append("")
        out.append(f"== {_memory_title(data)}")
        out.extend(_align([_MEMORY_HEAD, *idle_rows]))
    settings = deflate_settings_rows(data)
    if settings:
        out.append("")
        out.append("== permessage-deflate settings")
        out.extend(_align([_SETTINGS_HEAD, *settings]))
        out.append("  " + _CLIENT_SETTINGS.replace("`", ""))
    out.append("")
    out.append("== Targets")
    for t in data["targets"]:
        mark = {True: "MET    ", False: "NOT MET", None: "info   "}[t["met"]]
        out.append(f"  [{mark}] {t['target']} @ {format_size(t['size'])}: {t['value']}  ({t['detail']})")
    out.extend(_noise_lines(data))
    return "\n".join(out)


# --- idle-connection memory (data["memory"], measured by memory.py) ----------------------

_MEMORY_HEAD = ["server", "RSS before KiB", "RSS after KiB", "KiB per connection", "x ref"]


def _memory_title(data: dict) -> str:
    n = data["memory"].get("connections", "?")
    return f"Memory: resident set size of each server before and after {n} idle connections"


def memory_rows(data: dict) -> list[list[str]]:
    servers = (data.get("memory") or {}).get("servers") or {}
    ref = servers.get(REFERENCE_SERVER) or {}
    ref_kib = ref.get("per_connection_kib") if ref.get("ok") else None
    rows = []
    for name, m in servers.items():
        label = SERVERS[name].label if name in SERVERS else name
        status = memory.status(m)
        if status != "ok":
            what = "skipped" if status == "skipped" else "FAILED"
            rows.append([label, f"{what}: {(memory.reason(m) or '?')[:80]}", "", "", ""])
            continue
        per = m.get("per_connection_kib")
        ratio = (
            "1"
            if name == REFERENCE_SERVER
            else f"x{per / ref_kib:.2f}"
            if per is not None and ref_kib
            else "-"
        )
        rows.append(
            [
                label,
                f"{m.get('rss_before_kib', 0):,}",
                f"{m.get('rss_after_kib', 0):,}",
                f"{per:.1f}" if per is not None else "-",
                ratio,
            ]
        )
    return rows


def _align(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        lines.append("  " + "  ".join(cells))
    return lines


def _noise_lines(data: dict) -> list[str]:
    loads = [r["result"].get("others_load") for r in data["runs"] if r["result"].get("ok")]
    loads = sorted(x for x in loads if x is not None)
    if not loads:
        return []
    n = len(loads)
    return [
        "",
        f"Other processes used {loads[n // 2] * 100:.0f}% (median; max {loads[-1] * 100:.0f}%) "
        "of the benchmark core(s) "
        f"during the measured windows ({n} runs; /proc/stat, 10 ms ticks).",
    ]


def render_markdown(data: dict) -> str:
    out: list[str] = []
    cfg = data["config"]
    for table in _tables(data):
        out.append(f"#### {table.title}")
        out.append("")
        out.append(
            f"Median of {cfg['repeat']} interleaved runs (min-max); "
            f'"x ref" = ratio to {_reference_label(table)} '
            "(median of per-round ratios)."
        )
        if table.kind in _KIND_NOTES and not _is_deflate(table):
            out.append("")
            out.append(_KIND_NOTES[table.kind][0].upper() + _KIND_NOTES[table.kind][1:] + ".")
        out.append("")
        out.append(_md_header(table, _same_core(data)))
        out.append("|" + "---|" * (len(_headers(table, _same_core(data))) + 1))
        for size in cfg["sizes"]:
            for row in table_rows(data, table, size):
                out.append(f"| {format_size(size)} | " + " | ".join(row) + " |")
        out.append("")
        notes = table_notes(data, table)
        if notes:
            out.extend(f"- {note}" for note in notes)
            out.append("")
    idle_rows = memory_rows(data)
    if idle_rows:
        out.append(f"#### {_memory_title(data)}")
        out.append("")
        out.append("| " + " | ".join(_MEMORY_HEAD) + " |")
        out.append("|" + "---|" * len(_MEMORY_HEAD))
        out.extend("| " + " | ".join(r) + " |" for r in idle_rows)
        out.append("")
    settings = deflate_settings_rows(data)
    if settings:
        out.append("#### permessage-deflate settings")
        out.append("")
        out.append("| " + " | ".join(_SETTINGS_HEAD) + " |")
        out.append("|" + "---|" * len(_SETTINGS_HEAD))
        out.extend("| " + " | ".join(r) + " |" for r in settings)
        out.append("")
        out.append(_CLIENT_SETTINGS)
        out.append("")
    out.append("#### Targets")
    out.append("")
    out.append("| target | size | result | value | detail |")
    out.append("|---|---|---|---|---|")
    for t in data["targets"]:
        mark = {True: "met", False: "**not met**", None: "info"}[t["met"]]
        out.append(f"| {t['target']} | {format_size(t['size'])} | {mark} | {t['value']} | {t['detail']} |")
    out.append("")
    ref = render_reference_markdown(data)
    if ref:
        out.extend(ref)
    noise = _noise_lines(data)
    if noise:
        out.append(noise[-1])
    return "\n".join(out)


def _md_header(table: Table, same_core: bool) -> str:
    h = _headers(table, same_core)
    return (
        "| size | " + ("server" if table.cpu_of == "server" else "client") + " | " + " | ".join(h[1:]) + " |"
    )


def reference_rows(data: dict) -> list[list[str]]:
    rows = []
    for (server, size), ref in REFERENCE_FIGURES.items():
        client = "raw-tcp" if server == "raw-tcp" else "fastws"
        entry = data["summary"].get(summary_key(Case(server, client).key, size))
        if not entry or not entry["ok"]:
            continue
        for metric, label, fmt in (
            ("round_trips_per_s", "round trips/s", "{:,.0f}"),
            ("server_cpu_us", "server CPU µs/msg", "{:.1f}"),
        ):
            if metric in ref and entry.get(metric):
                got = entry[metric]["median"]
                rows.append(
                    [
                        f"{server} @ {format_size(size)}",
                        label,
                        fmt.format(got),
                        fmt.format(ref[metric]),
                        f"x{got / ref[metric]:.2f}",
                    ]
                )
    return rows


def render_reference_markdown(data: dict) -> list[str]:
    rows = reference_rows(data)
    if not rows:
        return []
    out = [
        "#### Against the reference figures (brief, same kind of machine)",
        "",
        "| case | metric | measured | reference | measured / reference |",
        "|---|---|---|---|---|",
    ]
    out.extend("| " + " | ".join(r) + " |" for r in rows)
    out.append("")
    return out


def render_reference_text(data: dict) -> str:
    rows = reference_rows(data)
    if not rows:
        return ""
    return "\n".join(
        [
            "",
            "== Against the reference figures (brief)",
            *_align([["case", "metric", "measured", "reference", "ratio"], *rows]),
        ]
    )


def render_header(data: dict) -> str:
    m = data["machine"]
    c = data["config"]
    v = m["versions"]
    pinning = "servers core 0, clients core 1" if c.get("split_cores") else "servers and clients on core 0"
    return (
        f"Echo benchmark, {m['date']}\n"
        f"{m['cpu']} ({m['cpus']} CPUs, {m['virtualization']}), Linux {m['kernel']}, {m['python']}\n"
        f"fastws {v.get('fastws')}  uvloop {v.get('uvloop')}  picows {v.get('picows')}  "
        f"websockets {v.get('websockets')}  "
        f"aiohttp {v.get('aiohttp')}{_node_versions(data)}\n"
        f"{c['duration']} s measured after {c['warmup']} s warm-up, {c['repeat']} interleaved rounds; "
        f"{pinning}; " + _message_line(data)
    )


def _node_versions(data: dict) -> str:
    node = data["machine"].get("node")
    if not node:
        return ""
    if not node.get("ok"):
        return f"  Node ws: skipped ({node.get('reason')})"
    return f"  Node.js {node.get('node')} ws {node.get('ws')} bufferutil {node.get('bufferutil')}"


def _message_line(data: dict) -> str:
    c = data["config"]
    sizes = "/".join(format_size(s) for s in c["sizes"])
    if not c.get("compression"):
        return (
            f"{sizes} messages (binary: seeded random bytes; text: seeded UTF-8, mostly ASCII), "
            "the same bytes for every library, each echo checked; compression and keepalive off"
        )
    pools = {}
    for run in data["runs"]:
        if run["result"].get("ok") and "pool" in run["result"]:
            pools.setdefault(run["size"], run["result"]["pool"])
    pool = ", ".join(f"{n} at {format_size(s)}" for s, n in sorted(pools.items()))
    return (
        f"one connection, one {sizes} text message in flight"
        + (f" (pipelined table: {c['window']})" if c.get("window") else "")
        + "; "
        "permessage-deflate on in both directions; messages are chat-like JSON documents "
        f"(fastws/bench/payloads.py), a pool of distinct documents sent in turn ({pool}), "
        "every echo compared with what was sent"
    )


def render_markdown_header(data: dict) -> str:
    m = data["machine"]
    c = data["config"]
    v = m["versions"]
    pinning = (
        "servers and clients pinned together on core 0 (`taskset -c 0`)"
        if not c.get("split_cores")
        else "servers on core 0, clients on core 1"
    )
    return "\n".join(
        [
            f"- Date: {m['date']}",
            f"- Machine: {m['cpu']}, {m['cpus']} vCPUs ({m['virtualization']}, shared), Linux {m['kernel']}",
            f"- Python: {m['python']}; fastws {v.get('fastws')} (C codec), uvloop {v.get('uvloop')}, "
            f"picows {v.get('picows')}, "
            f"websockets {v.get('websockets')}, aiohttp {v.get('aiohttp')}"
            + _node_versions(data).replace("  ", ", ", 1),
            f"- Run: {c['duration']} s measured window after {c['warmup']} s warm-up, "
            f"{c['repeat']} interleaved rounds per size; {pinning}",
            f"- Messages: {_message_line(data)}",
            *([f"- zlib: {m.get('zlib', '?')} (system libz)"] if c.get("compression") else []),
        ]
    )


def render_all_text(data: dict) -> str:
    return "\n".join([render_header(data), render_text(data), render_reference_text(data)])


def as_markdown(data: dict) -> str:
    return render_markdown_header(data) + "\n\n" + render_markdown(data)
