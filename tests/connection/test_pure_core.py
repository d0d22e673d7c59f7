"""The pure build of the connection core (``fastws._connection_py`` run as Python) passes the
connection suite.

The core is chosen when ``fastws.protocol`` is imported (``WebSocket`` subclasses
it), so the suite runs again in a subprocess with ``FASTWS_PURE=1`` (pure core and
pure codec, as on a machine without a compiler). The sans-IO tests
(``tests/test_connection.py``) drive both builds in this process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def test_compiled_core_is_active_here() -> None:
    from fastws import connection, protocol

    expected = "python" if os.environ.get("FASTWS_PURE") == "1" else "c"
    assert connection.IMPLEMENTATION == expected
    assert issubclass(protocol.WebSocket, connection.Connection)


@pytest.mark.timeout(600)
@pytest.mark.skipif(os.environ.get("FASTWS_PURE") == "1", reason="this process already runs the pure core")
def test_connection_suite_on_the_pure_core(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    results = tmp_path / "interop.json"
    env = {**os.environ, "FASTWS_PURE": "1", "FASTWS_INTEROP_EXPORT": str(results)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--ignore", Path(__file__).name, "."],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=580,
    )
    tail = "\n".join(result.stdout.splitlines()[-15:])
    # Its interop tests count in the matrix, as the pure build's (failed ones included).
    matrix = request.config.pluginmanager.get_plugin("fastws-interop-matrix")
    if matrix is not None and results.exists():
        matrix.merge(results, "pure build: tests/connection/")
    assert result.returncode == 0, f"pure-core run failed:\n{tail}\n{result.stderr[-2000:]}"
    assert " passed" in tail
