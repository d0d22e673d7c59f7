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

from .common import format_size
from .modes import Case, Table
from .stats import aggregate, paired_ratio, summary_key

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


def _median(entry: Optional[dict], metric: str) -> Optional[float]:
    if entry is None or entry.get(metric) is None:
        return None
    return entry[metric]["median"]


# --- targets -------------------------------------------------------------------


def evaluate_targets(data: dict) -> list[dict]:
    sizes = data["config"]["sizes"]
    runs = data["runs"]
    summary_has = data["summary"]
    load = "fastws"
    fastws, picows = Case("fastws", load), Case("picows", load)
    raw, websockets = Case("raw-tcp", "raw-tcp"), Case("websockets", load)
    cli_fastws, cli_picows = Case("fastws", "fastws"), Case("fastws", "picows")
    targets: list[dict] = []

    def present(case: Case, size: int) -> bool:
        entry = summary_has.get(summary_key(case.key, size))
        return bool(entry and entry["ok"])

    def add(name: str, size: int, ok: Optional[bool], value: str, detail: str) -> None:
        targets.append({"target": name, "size": size, "met": ok, "value": value, "detail": detail})

    for size in sizes:
        if present(fastws, size) and present(picows, size):
            a = data["summary"][summary_key(fastws.key, size)]["server_cpu_us"]
            b = data["summary"][summary_key(picows.key, size)]["server_cpu_us"]
            ratio = paired_ratio(runs, fastws.key, picows.key, size, "server_cpu_us_per_msg")
            if a["n"] < 2 or b["n"] < 2:
                spreads = "one round: no spread"
            elif a["max"] >= b["min"] and b["max"] >= a["min"]:
                spreads = "spreads overlap"
            else:
                spreads = "spreads apart"
            add(
                "fastws server CPU/msg < picows",
                size,
                a["median"] < b["median"],
                f"{a['median']:.2f} vs {b['median']:.2f} µs (x{ratio['median']:.3f})"
                if ratio
                else f"{a['median']:.2f} vs {b['median']:.2f} µs",
                spreads,
            )
    if 256 in sizes and present(fastws, 256):
        a = data["summary"][summary_key(fastws.key, 256)]["server_cpu_us"]
        add(
            "fastws server CPU/msg < 10 µs",
            256,
            a["median"] < 10,
            f"{a['median']:.2f} µs",
            f"range {a['min']:.2f}-{a['max']:.2f}",
        )
    for size in sizes:
        if present(fastws, size) and present(raw, size):
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
    for size in sizes:
        if present(fastws, size) and present(websockets, size):
            ratio = paired_ratio(runs, fastws.key, websockets.key, size, "round_trips_per_s")
            ceiling = paired_ratio(runs, raw.key, websockets.key, size, "round_trips_per_s")
            if ratio:
                add(
                    "fastws round trips >= 2x websockets",
                    size,
                    ratio["median"] >= 2.0,
                    f"x{ratio['median']:.2f}",
                    f"per-round range x{ratio['min']:.2f}-x{ratio['max']:.2f}"
                    + (f"; the raw TCP floor itself is x{ceiling['median']:.2f}" if ceiling else ""),
                )
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
            rows.append(
                [row.label, "FAILED: " + (entry.get("errors") or ["?"])[0].splitlines()[0][:60]]
                + [""] * (width - 1)
            )
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


def _headers(table: Table, same_core: bool = True) -> list[str]:
    other = "client" if table.cpu_of == "server" else "server"
    rate = "messages/s" if table.key == "deflate-pipe" else "round trips/s"
    head = ["", f"{rate} (min-max)", "x ref"]
    if same_core:
        head.append("CPU-bound rt/s")
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


def render_text(data: dict) -> str:
    out: list[str] = []
    cfg = data["config"]
    for table in _tables(data):
        out.append("")
        out.append(f"== {table.title}")
        out.append(f"   x ref = ratio to {_reference_label(table)}, median of per-round ratios")
        if _same_core(data):
            out.append(
                "   CPU-bound rt/s = 1e6 / (server + client CPU µs/msg): the rate on a core of their own"
            )
        for size in cfg["sizes"]:
            rows = table_rows(data, table, size)
            if not rows:
                continue
            out.append(f"-- {format_size(size)}")
            out.extend(_align([_headers(table, _same_core(data)), *rows]))
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
        out.append("")
        out.append(_md_header(table, _same_core(data)))
        out.append("|" + "---|" * (len(_headers(table, _same_core(data))) + 1))
        for size in cfg["sizes"]:
            for row in table_rows(data, table, size):
                out.append(f"| {format_size(size)} | " + " | ".join(row) + " |")
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
        f"Echo round trip benchmark, {m['date']}\n"
        f"{m['cpu']} ({m['cpus']} CPUs, {m['virtualization']}), Linux {m['kernel']}, {m['python']}\n"
        f"fastws {v.get('fastws')}  uvloop {v.get('uvloop')}  picows {v.get('picows')}  "
        f"websockets {v.get('websockets')}  "
        f"aiohttp {v.get('aiohttp')}\n"
        f"{c['duration']} s measured after {c['warmup']} s warm-up, {c['repeat']} interleaved rounds; "
        f"{pinning}; " + _message_line(data)
    )


def _message_line(data: dict) -> str:
    c = data["config"]
    sizes = "/".join(format_size(s) for s in c["sizes"])
    if not c.get("compression"):
        return f"one connection, one {sizes} binary message in flight"
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
            f"websockets {v.get('websockets')}, aiohttp {v.get('aiohttp')}",
            f"- Run: {c['duration']} s measured window after {c['warmup']} s warm-up, "
            f"{c['repeat']} interleaved rounds per size; {pinning}",
            *(
                [f"- Messages: {_message_line(data)}", f"- zlib: {m.get('zlib', '?')} (system libz)"]
                if c.get("compression")
                else []
            ),
        ]
    )


def render_all_text(data: dict) -> str:
    return "\n".join([render_header(data), render_text(data), render_reference_text(data)])


def as_markdown(data: dict) -> str:
    return render_markdown_header(data) + "\n\n" + render_markdown(data)
