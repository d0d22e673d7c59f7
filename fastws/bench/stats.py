"""Aggregating repeated runs: median and spread (min-max), paired ratios."""

from __future__ import annotations

import statistics
from typing import Any, Iterable, Optional, Sequence


def spread(values: Iterable[Optional[float]]) -> Optional[dict]:
    """{"median", "min", "max", "n"} of the values that are not None (None if there are none)."""
    data = [v for v in values if v is not None]
    if not data:
        return None
    return {"median": statistics.median(data), "min": min(data), "max": max(data), "n": len(data)}


def _get(result: dict, path: str) -> Optional[float]:
    value: Any = result
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


METRICS = {
    "round_trips_per_s": "round_trips_per_s",  # messages/s in the pipelined and connections tables
    "mb_per_s": "mb_per_s",
    "cpu_bound_round_trips_per_s": "cpu_bound_round_trips_per_s",
    "server_cpu_us": "server_cpu_us_per_msg",
    "server_cpu_stat_us": "server_cpu_stat_us_per_msg",
    "client_cpu_us": "client_cpu_us_per_msg",
    "p50_us": "latency_us.p50",
    "p99_us": "latency_us.p99",
    "others_load": "others_load",
    "server_faults": "server_faults_per_msg",
    "client_faults": "client_faults_per_msg",
    # permessage-deflate mode: bytes the server wrote / read per message (/proc/<pid>/io)
    "server_wchar": "server_wchar_per_msg",
    "server_rchar": "server_rchar_per_msg",
    "wire_ratio_out": "wire_ratio_out",
}


def aggregate(runs: Sequence[dict]) -> dict:
    """Per (case, size): each metric's spread over the successful repetitions."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for run in runs:
        groups.setdefault((run["case"], run["size"]), []).append(run)
    summary: dict[str, dict] = {}
    for (case, size), group in groups.items():
        good = [r["result"] for r in group if r["result"].get("ok")]
        entry: dict[str, Any] = {"case": case, "size": size, "runs": len(group), "ok": len(good)}
        for name, path in METRICS.items():
            entry[name] = spread(_get(r, path) for r in good)
        errors = [r["result"].get("error") for r in group if not r["result"].get("ok")]
        if errors:
            entry["errors"] = errors
        # "ok" (some run succeeded), "skipped" (an optional peer not available here) or "failed"
        statuses = {r["result"].get("status", "failed") for r in group if not r["result"].get("ok")}
        entry["status"] = "ok" if good else "skipped" if statuses == {"skipped"} else "failed"
        summary[summary_key(case, size)] = entry
    return summary


def median(entry: Optional[dict], metric: str) -> Optional[float]:
    """The median of ``metric`` in a summary entry of :func:`aggregate` (None: no figure)."""
    if entry is None or entry.get(metric) is None:
        return None
    return entry[metric]["median"]


def summary_key(case_key: str, size: int) -> str:
    return f"{case_key}|{size}"


def paired_ratio(runs: Sequence[dict], num_case: str, den_case: str, size: int, path: str) -> Optional[dict]:
    """Median over repetitions of num/den, each repetition's two runs taken side by side.

    Runs of one repetition are adjacent in time, so a ratio within a repetition
    cancels most of the slow drift of a shared machine's load.
    """
    by_rep: dict[int, dict[str, float]] = {}
    for run in runs:
        if run["size"] != size or not run["result"].get("ok"):
            continue
        if run["case"] in (num_case, den_case):
            value = _get(run["result"], path)
            if value is not None:
                by_rep.setdefault(run["rep"], {})[run["case"]] = value
    ratios = [
        pair[num_case] / pair[den_case] for pair in by_rep.values() if num_case in pair and pair.get(den_case)
    ]
    return spread(ratios)
