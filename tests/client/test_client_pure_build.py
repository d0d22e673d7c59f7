"""The JSON and sync client tests again on the pure build (FASTWS_PURE=1: pure core and codec)
with the standard library's JSON (FASTWS_JSON=stdlib), in a subprocess: both are chosen at import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastws import connection, json_messages

HERE = Path(__file__).parent


@pytest.mark.timeout(180)
@pytest.mark.skipif(os.environ.get("FASTWS_PURE") == "1", reason="this process already runs the pure build")
def test_json_and_sync_client_on_the_pure_build_with_stdlib_json() -> None:
    assert connection.IMPLEMENTATION == "c" and json_messages.BACKEND == "orjson"
    env = {**os.environ, "FASTWS_PURE": "1", "FASTWS_JSON": "stdlib"}
    check = "from fastws import connection, json_messages; print(connection.IMPLEMENTATION, json_messages.BACKEND)"
    chosen = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=60)
    assert chosen.stdout.split() == ["python", "json"], chosen.stderr
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "test_json_messages.py",
         "test_sync_client.py"],
        cwd=HERE, env=env, capture_output=True, text=True, timeout=170,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
