"""pytest plugin: the interoperability matrix, generated from the tests that ran.

Tests against real peers carry ``@pytest.mark.interop(peer=..., role=..., feature=...)``;
the marks of a test are merged, the closest one first for each key, so a module
can set ``peer`` in ``pytestmark`` and each test its ``role`` and ``feature``.
``role`` and ``feature`` may be tuples: a test that covers several counts in
each of their cells.  An unknown peer, role or feature, or a mark that leaves
one of them unset, stops the session at collection.

At the end of a session, when the run was complete, the plugin writes
``docs/interop.md`` (peer x role x feature, passed/ran per cell, the tests
behind each cell) and the block between ``<!-- BEGIN generated: interop -->``
and ``<!-- END generated: interop -->`` in README.md.  Complete means: every
module in ``MODULES`` was collected, no marked test was deselected (``-k``,
``-m``, ``--deselect``, ``--lf``), and every marked test ran to a pass or a
failure (no skip, no ``-x`` stop, no interruption; not under xdist workers).
Failures are written as they are (``✗ 23/24``).  Any other run leaves both
files alone and says why in the terminal summary.  Files are only rewritten
when their content changes.  Registered from ``tests/conftest.py``.

A session run by a test in a subprocess (the pure build's rerun of tests/connection)
sets ``FASTWS_INTEROP_EXPORT`` to a file: it writes its results there instead, and
the parent session merges them with :meth:`Matrix.merge`.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

from fastws.testing.generated import markers, replace_generated_block, write_if_changed

ROLES = ("fastws server", "fastws client")
FEATURES = ("text", "binary", "large", "fragmented", "ping", "close codes", "deflate", "handshake")
MODULES = (
    "tests/connection/test_interop_websockets.py",
    "tests/connection/test_deflate_interop.py",
    "tests/interop/test_node_ws.py",
    "tests/interop/test_chromium.py",
    "tests/interop/test_nginx.py",
)
BEGIN, END = markers("interop")
HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------- peer versions


def _run(*cmd: str) -> str:
    path = shutil.which(cmd[0]) or shutil.which(cmd[0], path="/usr/sbin:/usr/local/sbin:/sbin")
    if path is None:
        return ""
    try:
        proc = subprocess.run([path, *cmd[1:]], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (proc.stdout + proc.stderr).strip()


def _websockets() -> str:
    return importlib.metadata.version("websockets")


def _node_ws() -> str:
    package = json.loads((HERE / "node" / "node_modules" / "ws" / "package.json").read_text())
    node = _run("node", "--version")
    return f"{package['version']} (Node.js {node})" if node else str(package["version"])


def _chromium() -> str:
    match = re.search(r"Chromium ([\d.]+)", _run("chromium", "--version"))
    return match.group(1) if match else ""


def _nginx() -> str:
    match = re.search(r"nginx/([\w.]+)", _run("nginx", "-v"))
    return match.group(1) if match else ""


PEERS: dict[str, Callable[[], str]] = {
    "websockets": _websockets,
    "Node ws": _node_ws,
    "Chromium": _chromium,
    "nginx": _nginx,
}


def peer_version(peer: str) -> str:
    try:
        return PEERS[peer]() or "version unknown"
    except Exception:  # noqa: BLE001  (a missing peer already failed its tests)
        return "version unknown"


# --------------------------------------------------------------------------- marks


@dataclass(frozen=True)
class Tag:
    peer: str
    roles: tuple[str, ...]
    features: tuple[str, ...]


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def tag_of(item: pytest.Item) -> Tag | None:
    """The merged ``interop`` marks of ``item`` (None if none); UsageError when incomplete or unknown."""
    merged: dict[str, Any] = {}
    for mark in item.iter_markers("interop"):  # closest first
        if mark.args:
            raise pytest.UsageError(
                f"{item.nodeid}: interop marks take keywords only (peer=, role=, feature=)"
            )
        for key, value in mark.kwargs.items():
            if key not in ("peer", "role", "feature"):
                raise pytest.UsageError(f"{item.nodeid}: unknown interop mark keyword {key!r}")
            merged.setdefault(key, value)
    if not merged:
        return None
    missing = [key for key in ("peer", "role", "feature") if key not in merged]
    if missing:
        raise pytest.UsageError(f"{item.nodeid}: interop mark without {', '.join(missing)}")
    tag = Tag(merged["peer"], _tuple(merged["role"]), _tuple(merged["feature"]))
    for what, values, allowed in (("peer", (tag.peer,), tuple(PEERS)), ("role", tag.roles, ROLES),
                                  ("feature", tag.features, FEATURES)):  # fmt: skip
        for value in values:
            if value not in allowed:
                raise pytest.UsageError(f"{item.nodeid}: interop {what} {value!r} is not one of {allowed}")
    return tag


# --------------------------------------------------------------------------- the plugin


@dataclass
class Result:
    tag: Tag
    function: str  # module::function, without parameters
    phases: dict[str, str] = field(default_factory=dict)  # when -> outcome

    @property
    def outcome(self) -> str:
        if "failed" in self.phases.values():
            return "failed"
        if "skipped" in self.phases.values():
            return "skipped"
        return "passed" if self.phases.get("call") == "passed" else "not run"


class Matrix:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[str, Result] = {}
        self.deselected: list[str] = []
        self.modules: set[str] = set()
        self.note = ""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:  # validate even when deselected later
            tag_of(item)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += [item.nodeid for item in items if tag_of(item) is not None]

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        root = self.config.rootpath
        for item in session.items:
            path = Path(str(item.path))
            try:
                self.modules.add(path.relative_to(root).as_posix())
            except ValueError:
                pass
            tag = tag_of(item)
            if tag is not None:
                self.results[item.nodeid] = Result(tag, item.nodeid.split("[", 1)[0])

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        result = self.results.get(report.nodeid)
        if result is not None:
            result.phases[report.when] = report.outcome

    def incomplete(self, exitstatus: int) -> str:
        """Why this run cannot regenerate the matrix ("" if it can)."""
        if (
            hasattr(self.config, "workerinput")
            or self.config.pluginmanager.hasplugin("xdist")
            and getattr(self.config.option, "numprocesses", None)
        ):
            return "run under pytest-xdist"
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            return "the session was interrupted"
        if self.deselected:
            return f"{len(self.deselected)} interop test(s) deselected"
        missing = [m for m in MODULES if m not in self.modules]
        if missing:
            return f"not collected: {', '.join(missing)}"
        counts: dict[str, int] = defaultdict(int)
        for result in self.results.values():
            counts[result.outcome] += 1
        if counts["skipped"] or counts["not run"]:
            return f"{counts['skipped']} interop test(s) skipped, {counts['not run']} not run"
        if not self.results:
            return "no interop test ran"
        return ""

    def merge(self, path: Path, prefix: str) -> None:
        """Add the results a subprocess session exported to ``path`` (node ids get ``prefix``)."""
        for row in json.loads(path.read_text(encoding="utf-8")):
            tag = Tag(row["peer"], tuple(row["roles"]), tuple(row["features"]))
            self.results[prefix + row["nodeid"]] = Result(tag, row["function"], row["phases"])

    def _export(self, path: str) -> None:
        rows = [
            {"nodeid": nodeid, "peer": r.tag.peer, "roles": list(r.tag.roles), "features": list(r.tag.features),
             "function": r.function, "phases": r.phases}
            for nodeid, r in self.results.items()
        ]  # fmt: skip
        Path(path).write_text(json.dumps(rows), encoding="utf-8")

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        export = os.environ.get("FASTWS_INTEROP_EXPORT")
        if export:
            self._export(export)
            return
        if not self.results and not self.deselected:
            return  # a run without interop tests: nothing to say
        why = self.incomplete(exitstatus)
        if why:
            self.note = f"interop matrix not regenerated ({why}); a full run writes docs/interop.md"
            return
        root = self.config.rootpath
        versions = {peer: peer_version(peer) for peer in PEERS}
        doc, block = render(self.results.values(), versions)
        changed = write_if_changed(root / "docs" / "interop.md", doc)
        readme = root / "README.md"
        try:
            text = replace_generated_block(readme.read_text(encoding="utf-8"), "interop", block)
        except ValueError:
            self.note = (
                f"interop matrix: README.md lacks one {BEGIN} ... {END} block; only docs/interop.md written"
            )
            return
        changed |= write_if_changed(readme, text)
        total = len(self.results)
        passed = sum(r.outcome == "passed" for r in self.results.values())
        self.note = f"interop matrix: {passed}/{total} passed; docs/interop.md and README.md " + (
            "updated" if changed else "unchanged"
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.note:
            terminalreporter.write_line(self.note)


# --------------------------------------------------------------------------- rendering


def _cell(outcomes: list[str]) -> str:
    if not outcomes:
        return "—"
    passed = outcomes.count("passed")
    return f"{'✓' if passed == len(outcomes) else '✗'} {passed}/{len(outcomes)}"


def render(results: Any, versions: dict[str, str]) -> tuple[str, str]:
    """(docs/interop.md, the README block) for these results."""
    cells: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    tests: dict[tuple[str, str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for result in results:
        tag = result.tag
        for role in tag.roles:
            for feature in tag.features:
                cells[tag.peer, role, feature].append(result.outcome)
                tests[tag.peer, role, feature][result.function].append(result.outcome)
    peers = [p for p in PEERS if any(key[0] == p for key in cells)]
    header = "| peer | fastws as | " + " | ".join(FEATURES) + " |\n"
    header += "| --- | --- | " + " | ".join("---" for _ in FEATURES) + " |\n"
    rows = ""
    for peer in peers:
        for role in ROLES:
            if not any((peer, role, f) in cells for f in FEATURES):
                continue
            row = [cells.get((peer, role, f), []) for f in FEATURES]
            rows += f"| {peer} {versions[peer]} | {role.split()[1]} | " + " | ".join(map(_cell, row)) + " |\n"
    table = header + rows
    outcomes = [r.outcome for r in results]
    passed = outcomes.count("passed")
    block = (
        f"\n{table}\n"
        f"Interop test cases passed / run, per peer, role and feature ({passed}/{len(outcomes)} in all; "
        "a case counts in every feature it covers): [docs/interop.md](docs/interop.md) lists them.\n"
    )
    doc = [
        "# Interoperability matrix\n",
        "Generated by the test suite (`tests/interop/matrix.py`) from the tests marked "
        "`@pytest.mark.interop(peer=..., role=..., feature=...)`; do not edit by hand. "
        "A full run (`python3 -m pytest`, or at least every module listed below, nothing deselected "
        "or skipped) rewrites this file and the matrix in README.md.\n",
        "Each cell is test cases passed / run. A case is one parametrization (event loop, codec "
        "implementation, deflate setting...), and counts in every role and feature it covers.\n",
        "Peers: " + " · ".join(f"{peer} {versions[peer]}" for peer in peers) + "\n",
        table,
        "## Tests behind each cell\n",
    ]
    for peer in peers:
        for role in ROLES:
            lines = []
            for feature in FEATURES:
                by_test = tests.get((peer, role, feature))
                if not by_test:
                    continue
                listed = ", ".join(
                    f"`{name.rsplit('::', 1)[1]}` ({_cell(o)})" for name, o in sorted(by_test.items())
                )
                lines.append(f"- **{feature}**: {listed}")
            if lines:
                doc.append(f"### {peer}, fastws as {role.split()[1]}\n\n" + "\n".join(lines) + "\n")
    doc.append("Modules: " + ", ".join(f"`{m}`" for m in MODULES) + ".\n")
    return "\n".join(doc), block


# --------------------------------------------------------------------------- registration


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "interop(peer, role, feature): a test against a real peer, counted in the interop matrix "
        f"(peers: {', '.join(PEERS)}; roles: {', '.join(ROLES)}; features: {', '.join(FEATURES)})",
    )
    config.pluginmanager.register(Matrix(config), "fastws-interop-matrix")
