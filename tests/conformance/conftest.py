"""Conformance suite wiring: one target per (role, impl), started once and reused by
every case of that configuration; the reports are written at the end of a session
that ran the complete suite (all four configurations, nothing deselected)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from fastws.testing.conformance.cases import all_cases
from fastws.testing.conformance.report import write_outputs
from fastws.testing.conformance.targets import Session
from fastws.testing.conformance.verdict import Result

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = (("server", "c"), ("server", "pure"), ("client", "c"), ("client", "pure"))

#: "role/impl" -> case id -> result, filled by test_conformance.py
RESULTS: dict[str, dict[str, Result]] = {}
_NOTE: list[str] = []


class Targets:
    """The target of the configuration being tested; switching closes the previous one
    (tests are generated configuration by configuration).  A target that failed to
    start is not retried: the later cases of its configuration fail with its error."""

    def __init__(self) -> None:
        self.key: Optional[tuple[str, str]] = None
        self.session: Optional[Session] = None
        self._failed: dict[tuple[str, str], BaseException] = {}

    def get(self, role: str, impl: str) -> Session:
        key = (role, impl)
        if key in self._failed:
            error = self._failed[key]
            raise RuntimeError(f"the {role}/{impl} target did not start: {error!r}") from error
        if self.key != key:
            self.close()
            try:
                session = Session(role, impl)
            except Exception as exc:
                self._failed[key] = exc
                raise
            self.key, self.session = key, session
        assert self.session is not None
        return self.session

    def close(self) -> None:
        if self.session is not None:
            session, self.session, self.key = self.session, None, None
            session.close()


@pytest.fixture(scope="session")
def targets() -> Iterator[Targets]:
    manager = Targets()
    yield manager
    manager.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write docs/conformance.* and the README block, only after a complete run (and only
    the files whose content changed)."""
    for role, impl in CONFIGS:
        got = RESULTS.get(f"{role}/{impl}", {})
        if set(got) != {c.id for c in all_cases(role)}:
            return  # partial run (selection, -x, an error): keep the published reports
    run = {f"{r}/{i}": [RESULTS[f"{r}/{i}"][c.id] for c in all_cases(r)] for r, i in CONFIGS}
    written = write_outputs(run, ROOT / "docs", ROOT / "README.md")
    _NOTE.append("conformance reports: " + (
        "updated " + ", ".join(p.relative_to(ROOT).as_posix() for p in written) if written
        else "docs/conformance.json, docs/conformance.html and README.md unchanged"))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for note in _NOTE:
        terminalreporter.write_line(note)
