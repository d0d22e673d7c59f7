"""The public API is visible to type checkers: mypy accepts typed use and flags mistakes.

``WebSocket`` subclasses the sans-IO ``Connection`` chosen at import time; type
checkers must see the typed source (fastws/_connection_py.py), not ``Any``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "typing"

pytestmark = pytest.mark.timeout(300)


def mypy(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--show-error-codes", str(path)],
        capture_output=True,
        text=True,
        timeout=280,
    )


def test_typed_usage_passes_strict_mypy() -> None:
    result = mypy(HERE / "good.py")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mistakes_are_flagged() -> None:
    result = mypy(HERE / "bad.py")
    assert result.returncode == 1, result.stdout
    out = result.stdout
    assert '"WebSocket" has no attribute "sendd"' in out
    assert "bad.py:10: error" in out and "[arg-type]" in out
    assert "bad.py:11: error" in out and "[assignment]" in out
