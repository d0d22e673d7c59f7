"""What the numbers were measured on: CPU, kernel, Python, event loop, library versions
(Node.js, ws and bufferutil too when the Node peer ran), load."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from importlib import metadata
from typing import Callable, Sequence

DISTRIBUTIONS = ("fastws", "uvloop", "picows", "aiofastnet", "websockets", "aiohttp", "Cython")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hypervisor() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return "virtual machine" if " hypervisor" in f.read(4096) else "bare metal"
    except OSError:
        return "?"


def versions(names: Sequence[str] = DISTRIBUTIONS) -> dict[str, str]:
    """Installed version of each distribution ("not installed" when missing)."""
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def fastws_codec() -> str:
    try:
        from fastws import codec

        return codec.IMPLEMENTATION
    except Exception as exc:  # noqa: BLE001 (recorded, not fatal)
        return f"unavailable ({exc})"


def _zlib_version() -> str:
    import zlib

    return zlib.ZLIB_RUNTIME_VERSION


def node_info(note: Callable[[str], None]) -> dict:
    """Node.js, ws and bufferutil versions of the Node peer (``ok`` False and ``reason`` if skipped)."""
    from .servers import node

    return node.prepare(note).to_json()


def loadavg() -> list[float]:
    try:
        with open("/proc/loadavg", encoding="ascii") as f:
            return [float(x) for x in f.read().split()[:3]]
    except (OSError, ValueError):
        return []


def describe() -> dict:
    libraries = versions()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "virtualization": hypervisor(),
        "kernel": platform.release(),
        "os": platform.platform(terse=True),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_build": sys.version.replace("\n", " "),
        "loop": f"uvloop {libraries['uvloop']} (every Python server and client)",
        "versions": libraries,
        "zlib": _zlib_version(),
        "fastws_codec_default": fastws_codec(),
        "loadavg_start": loadavg(),
    }
