"""Benchmark-session hooks: record the machine and library versions in the JSON."""

from __future__ import annotations

import os
import platform
from fastws.bench.machine import versions

from . import _drivers

PACKAGES = ("fastws", "websockets", "wsproto", "aiohttp", "picows", "wsaccel", "pytest-benchmark", "Cython")


def cpu_model() -> str:
    """'AMD EPYC (family 26, model 2; AVX2, AVX-512)' from /proc/cpuinfo."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    break  # first processor is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        return platform.processor() or platform.machine()
    name = fields.get("model name", platform.machine())
    flags = set(fields.get("flags", "").split())
    simd = [
        label
        for flag, label in (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("asimd", "NEON"))
        if flag in flags
    ]
    detail = []
    if "cpu family" in fields:
        detail.append(f"family {fields['cpu family']}, model {fields.get('model', '?')}")
    if simd:
        detail.append(", ".join(simd))
    return f"{name} ({'; '.join(detail)})" if detail else name


def library_versions() -> dict[str, str]:
    return versions(PACKAGES)


_LOAD_AT_START: tuple[float, ...] = ()


def pytest_sessionstart(session):
    global _LOAD_AT_START
    if hasattr(os, "getloadavg"):
        _LOAD_AT_START = tuple(round(x, 2) for x in os.getloadavg())


def pytest_benchmark_update_machine_info(config, machine_info):
    # Other work on the machine skews results; the report prints these.
    if hasattr(os, "getloadavg"):
        machine_info["loadavg_start"] = list(_LOAD_AT_START)
        machine_info["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    machine_info["cpu_model"] = cpu_model()
    machine_info["cpu_count"] = os.cpu_count()
    machine_info["libraries"] = library_versions()
    machine_info["fastws_impls"] = {impl: (_drivers.fastws_problem(impl) or "ok") for impl in ("c", "python")}


def pytest_terminal_summary(terminalreporter):
    for impl in ("c", "python"):
        problem = _drivers.fastws_problem(impl)
        if problem:
            terminalreporter.section("fastws missing", sep="!", red=True, bold=True)
            terminalreporter.write_line(f"FAILED: {problem}", red=True, bold=True)


def pytest_addoption(parser):
    parser.addoption(
        "--codec-keep-data",
        action="store_true",
        help="keep every round's timing in the --benchmark-json file (tens of MB; off by default)",
    )


def pytest_benchmark_update_json(config, benchmarks, output_json):
    # pytest-benchmark always writes the raw per-round timings with --benchmark-json
    # (~30 MB for this suite); the report needs only the summary statistics.
    if not config.getoption("--codec-keep-data"):
        for bench in output_json.get("benchmarks", []):
            bench.get("stats", {}).pop("data", None)
