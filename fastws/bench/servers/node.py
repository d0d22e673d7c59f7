"""The Node.js peer (``node-ws``): find node and npm, install ws + bufferutil on first use.

The packages go into a cache folder, ``$FASTWS_BENCH_NODE_DIR`` or
``~/.cache/fastws/bench-node/`` (``$XDG_CACHE_HOME`` honoured), with
``npm install --no-audit --no-fund ws@8 bufferutil``; later runs reuse them.
Node is an optional peer: when node or npm is missing or the install fails,
:func:`prepare` says why in one line and the benchmark goes on without it.
``$FASTWS_BENCH_NODE`` names the node binary (default: ``node`` on PATH).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Callable, Optional

PACKAGES = ("ws@8", "bufferutil")
INSTALL_TIMEOUT = 300.0
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node_ws_echo.js")


@dataclass
class NodeSetup:
    ok: bool
    reason: str = ""  # why not, when not ok
    node: str = ""  # the node binary
    modules: str = ""  # the node_modules folder holding ws and bufferutil
    versions: dict = field(default_factory=dict)  # node, ws, bufferutil

    def to_json(self) -> dict:
        return {"ok": self.ok, "reason": self.reason or None, "modules": self.modules, **self.versions}


def cache_dir() -> str:
    if os.environ.get("FASTWS_BENCH_NODE_DIR"):
        return os.environ["FASTWS_BENCH_NODE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fastws", "bench-node")


def _package_version(modules: str, name: str) -> Optional[str]:
    try:
        with open(os.path.join(modules, name, "package.json"), encoding="utf-8") as f:
            return str(json.load(f)["version"])
    except (OSError, ValueError, KeyError):
        return None


def _installed(modules: str) -> bool:
    ws = _package_version(modules, "ws")
    return bool(ws and ws.startswith("8.") and _package_version(modules, "bufferutil"))


_prepared: Optional[NodeSetup] = None


def prepare(note: Callable[[str], None] = print) -> NodeSetup:
    """Find node, install the packages if needed (noting it in one line); never raises.

    The answer is kept for the life of the process.
    """
    global _prepared
    if _prepared is None:
        _prepared = _prepare(note)
    return _prepared


def _prepare(note: Callable[[str], None]) -> NodeSetup:
    node = os.environ.get("FASTWS_BENCH_NODE") or shutil.which("node")
    if not node or not os.access(node, os.X_OK):
        return NodeSetup(False, "node not found (install Node.js to compare with Node's ws)")
    try:
        node_version = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return NodeSetup(False, f"node does not run: {exc}")
    folder = cache_dir()
    modules = os.path.join(folder, "node_modules")
    if not _installed(modules):
        npm = shutil.which("npm", path=os.path.dirname(node) + os.pathsep + os.environ.get("PATH", ""))
        if not npm:
            return NodeSetup(False, "npm not found (needed once, to install ws and bufferutil)")
        note(f"node: installing {' '.join(PACKAGES)} into {folder} (first use) ...")
        try:
            os.makedirs(folder, exist_ok=True)
            manifest = os.path.join(folder, "package.json")
            if not os.path.exists(manifest):  # so npm installs here, not in a parent project
                with open(manifest, "w", encoding="utf-8") as f:
                    json.dump({"private": True, "description": "fastws bench: the Node.js peer"}, f)
            done = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--no-progress", *PACKAGES],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return NodeSetup(False, f"npm install failed: {exc}")
        if done.returncode != 0 or not _installed(modules):
            lines = [x.strip() for x in (done.stderr or done.stdout).splitlines() if x.strip()]
            # npm's first "error" line is the cause ("npm error code ECONNREFUSED"), the last a log path
            errors = [x for x in lines if x.startswith(("npm error", "npm ERR!"))]
            detail = (errors or lines or [f"exit status {done.returncode}"])[0]
            return NodeSetup(False, f"npm install failed: {detail}")
    versions = {
        "node": node_version,
        "ws": _package_version(modules, "ws") or "?",
        "bufferutil": _package_version(modules, "bufferutil") or "?",
    }
    return NodeSetup(True, "", node, modules, versions)
