"""``fastws bench --servers uvicorn``: the ASGI echo app under uvicorn starts with each
``--ws`` implementation and echoes (no timing is asserted: figures are for the report)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fastws.bench.servers import SERVERS, UVICORN_SERVERS

pytestmark = pytest.mark.timeout(60)
REPO = Path(__file__).resolve().parents[2]


def test_the_group_names_every_implementation() -> None:
    assert UVICORN_SERVERS == (
        "uvicorn-fastws",
        "uvicorn-websockets-sansio",
        "uvicorn-websockets",
        "uvicorn-wsproto",
    )


def test_fastws_bench_measures_them(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "fastws", "bench", "--servers", "uvicorn", "--modes", "roundtrip",
         "--sizes", "256", "--kinds", "binary", "--quick", "--no-chart", "--json", str(tmp_path / "r.json"), "-q"],
        capture_output=True, text=True, timeout=50, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (results,) = tmp_path.glob("*.json")
    runs = json.loads(results.read_text())["runs"]
    measured = {
        run["server"]
        for run in runs
        if run["result"]["ok"] and run["result"]["messages"] > 0 and run["result"]["echo_checked"] > 0
    }
    assert measured == set(UVICORN_SERVERS), runs
    impls = {name: SERVERS[name].env["FASTWS_BENCH_UVICORN_WS"] for name in UVICORN_SERVERS}
    assert impls["uvicorn-fastws"] == "fastws"
