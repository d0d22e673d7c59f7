"""A PNG of the results: grouped bars per message size, one colour per library.

    python -m fastws.bench.chart fastws-bench-results/echo-<stamp>.json [-o out.png]

Two panels per table whose mode the chart knows (CPU µs per message, and the
rate: round trips/s or messages/s): round trip, pipelined, many connections,
clients, cross-check, and the permessage-deflate tables; then memory per idle
connection when the results hold a ``memory`` entry (:func:`memory.measure_idle`).
Tables of other modes are skipped, missing figures left blank.  Each figure is
the median over the ok runs of its (server, client, kind, size) (``stats.aggregate``).

matplotlib (Agg) is imported only when a chart is drawn.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import textwrap
from dataclasses import dataclass, field
from typing import Optional, Sequence

from .memory import status as memory_status
from .common import format_size
from .modes import LEGACY_TABLE_MODES, MODES, Case
from .servers import SERVERS
from .stats import aggregate, median, summary_key

LOG_SPAN = 10.0  # log scale once the largest value is this many times the smallest


@dataclass
class Series:
    label: str
    colour_key: str  # the same library gets the same colour in every panel
    values: list[Optional[float]]  # one per group; None: no figure


@dataclass
class Panel:
    title: str
    ylabel: str
    groups: list[str]
    series: list[Series] = field(default_factory=list)
    side_by_side: bool = True  # False: one bar per group (each series owns one group)

    def values(self) -> list[float]:
        return [v for s in self.series for v in s.values if v is not None and v > 0]


def table_mode(table: dict) -> Optional[str]:
    """The table's mode if the chart knows it, else None."""
    mode = table.get("mode") or LEGACY_TABLE_MODES.get(str(table.get("key")))
    return mode if mode in MODES else None


def _short_title(title: str) -> str:
    """'Servers (load client: ...)' -> 'Servers': the parenthesis is in the terminal report."""
    return title.split(" (")[0].strip() or title


def table_panels(data: dict, table: dict, summary: dict) -> list[Panel]:
    """The CPU and rate panels of one table (none for an unknown table)."""
    rows = table.get("rows") or []
    mode = table_mode(table)
    if mode is None or not rows:
        return []
    sizes = list(
        table.get("sizes")
        or (data.get("config") or {}).get("sizes")
        or sorted({e["size"] for e in summary.values()})
    )
    cpu_of = table.get("cpu_of", "server")
    # Colour by whatever varies between the rows: the server, or the client (the clients table).
    vary = "server" if len({r.get("server") for r in rows}) > 1 else "client"
    title = _short_title(str(table.get("title", table["key"])))
    if table.get("kind") == "text" and "text" not in title:
        title += ", text messages"  # the short title lost the ", text" suffix of the full one
    groups = [format_size(s) for s in sizes]
    cpu = Panel(f"{title}: {cpu_of} CPU per message", "µs / message (lower is better)", groups)
    unit = str(
        table.get("unit") or ("messages/s" if mode in ("pipelined", "connections") else "round trips/s")
    )
    rate = Panel(f"{title}: {unit}", f"{unit} (higher is better)", groups)
    for row in rows:
        case = Case.from_json(row).key
        cells = [summary.get(summary_key(case, size)) for size in sizes]
        colour_key = str(row.get(vary))
        label = str(row.get("label", colour_key))
        cpu.series.append(Series(label, colour_key, [median(c, f"{cpu_of}_cpu_us") for c in cells]))
        rate.series.append(Series(label, colour_key, [median(c, "round_trips_per_s") for c in cells]))
    return [p for p in (cpu, rate) if p.values()]


def memory_panel(results: dict) -> Optional[Panel]:
    """Memory per idle connection (the ``memory`` entry of the results), or None."""
    servers = results.get("servers") or {}
    if not servers:
        return None
    n = results.get("connections")
    title = "Memory per idle connection" + (f" (server RSS growth / {n:,} connections)" if n else "")
    # A server the measurement does not apply to (raw TCP, an absent Node.js) gets no slot;
    # one that failed gets a blank one.
    servers = {name: r for name, r in servers.items() if memory_status(r) != "skipped"}
    labels = [SERVERS[name].label if name in SERVERS else name for name in servers]
    panel = Panel(title, "KiB / connection (lower is better)", labels, side_by_side=False)
    for i, (name, r) in enumerate(servers.items()):
        values: list[Optional[float]] = [None] * len(servers)
        values[i] = r.get("per_connection_kib") if memory_status(r) == "ok" else None  # failed: blank
        panel.series.append(Series(labels[i], name, values))
    return panel if panel.values() else None


def panels(data: dict) -> list[Panel]:
    """Every panel the results give, in table order, memory last."""
    summary = aggregate(data.get("runs") or [])
    out: list[Panel] = []
    for table in data.get("tables") or []:
        if isinstance(table, dict) and "key" in table:
            out.extend(table_panels(data, table, summary))
    if isinstance(data.get("memory"), dict):
        panel = memory_panel(data["memory"])
        if panel is not None:
            out.append(panel)
    return out


def machine_summary(data: dict) -> str:
    m = data.get("machine") or {}
    parts = [
        f"{m.get('cpu', '?')} ({m.get('cpus', '?')} CPUs, {m.get('virtualization', '?')})",
        f"Linux {m['kernel']}" if m.get("kernel") else "",
        m.get("python", ""),
        (m.get("date") or "")[:10],
    ]
    versions = m.get("versions") or {}
    libs = "  ".join(f"{k} {v}" for k, v in versions.items() if v != "not installed")
    return ", ".join(p for p in parts if p) + (f"\n{libs}" if libs else "")


def _fmt(value: float) -> str:
    """Bar labels: 3 significant digits, whole numbers with separators from 1,000 up."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def _draw(ax, panel: Panel, colours: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    n = max(len(panel.series), 1) if panel.side_by_side else 1
    width = 0.8 / n
    many = n * len(panel.groups) > 12  # labels turned upright so neighbours do not overlap
    for i, series in enumerate(panel.series):
        if not any(v is not None for v in series.values):
            continue  # nothing measured: no legend entry either
        offset = (i - (n - 1) / 2) * width if panel.side_by_side else 0.0
        xs = [g + offset for g, v in enumerate(series.values) if v is not None]
        heights = [v for v in series.values if v is not None]
        bars = ax.bar(xs, heights, width, label=series.label, color=colours[series.colour_key])
        ax.bar_label(
            bars,
            labels=[_fmt(v) for v in heights],
            fontsize=7,
            rotation=90 if many else 0,
            padding=2,
        )
    values = panel.values()
    columns = 1 if n <= 3 else 2
    # Head room above the tallest bar for its label and the legend (upper right), as a share
    # of the axis height.
    room = (0.12 if not many else 0.2) + (0.07 * math.ceil(n / columns) if panel.side_by_side else 0)
    if values and max(values) / min(values) >= LOG_SPAN:
        ax.set_yscale("log")
        low, high = min(values) / 2, max(values)
        ax.set_ylim(low, high * (high / low) ** (room / (1 - room)))
    elif values:
        ax.set_ylim(0, max(values) / (1 - room))
    ax.set_xticks(range(len(panel.groups)))
    ax.set_xticklabels(panel.groups, fontsize=8)
    ax.set_title(textwrap.fill(panel.title, 70), fontsize=10)
    ax.set_ylabel(panel.ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.set_axisbelow(True)
    if panel.side_by_side:  # otherwise the groups already name the bars
        ax.legend(fontsize=7, loc="upper right", ncol=columns)


def write_chart(data: dict, path: str) -> None:
    """Draw every known table of ``data`` (a results dict as written by ``fastws bench``,
    optionally with a ``memory`` entry) to the PNG ``path``."""
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot's import
    import matplotlib.pyplot as plt

    found = panels(data)
    columns = 2 if len(found) > 1 else 1
    rows = max(1, math.ceil(len(found) / columns))
    fig = plt.figure(figsize=(7.5 * columns, 4.2 * rows + 1.0))
    keys = list(dict.fromkeys(s.colour_key for p in found for s in p.series))
    palette = plt.get_cmap("tab10" if len(keys) <= 10 else "tab20").colors
    colours = {key: palette[i % len(palette)] for i, key in enumerate(keys)}
    if not found:
        fig.text(0.5, 0.5, "no table this chart knows in these results", ha="center", va="center")
    for i, panel in enumerate(found):
        _draw(fig.add_subplot(rows, columns, i + 1), panel, colours)
    benchmark = data.get("benchmark", "fastws bench")
    fig.suptitle(f"{benchmark}\n{machine_summary(data)}", fontsize=10)
    height = fig.get_figheight()
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.8 / height))  # 0.8 inch for the three title lines
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> int:
    import json

    parser = argparse.ArgumentParser(prog="python -m fastws.bench.chart", description=__doc__.split("\n")[0])
    parser.add_argument("results", help="a JSON file written by fastws bench")
    parser.add_argument("-o", "--output", help="PNG path (default: the results path with .png)")
    args = parser.parse_args(argv)
    with open(args.results, encoding="utf-8") as f:
        data = json.load(f)
    output = args.output or os.path.splitext(args.results)[0] + ".png"
    write_chart(data, output)
    print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
