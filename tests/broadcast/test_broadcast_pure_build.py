"""The broadcast and topics tests on the pure build (``fastws._connection_py`` run as Python, with
the pure codec and deflate kernels): the directory again in a subprocess with ``FASTWS_PURE=1``,
since the core is chosen when ``fastws.protocol`` is first imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.mark.timeout(240)
@pytest.mark.skipif(os.environ.get("FASTWS_PURE") == "1", reason="this process already runs the pure build")
def test_broadcast_suite_on_the_pure_build() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--ignore", Path(__file__).name, "."],
        cwd=HERE,
        env={**os.environ, "FASTWS_PURE": "1"},
        capture_output=True,
        text=True,
        timeout=230,
    )
    tail = "\n".join(result.stdout.splitlines()[-15:])
    assert result.returncode == 0, f"pure-build run failed:\n{tail}\n{result.stderr[-2000:]}"
    assert " passed" in tail and "skipped" not in tail, tail


def test_this_process_runs_the_expected_build() -> None:
    from fastws import connection

    assert connection.IMPLEMENTATION == ("python" if os.environ.get("FASTWS_PURE") == "1" else "c")
