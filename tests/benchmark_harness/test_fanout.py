"""Tests of ``fastws bench fanout``: a smoke run with tiny counts on real servers and
subscriber processes, the delivery checks against a server that misbehaves on purpose
(tests/benchmark_harness/fanout_faulty.py), and the report and usage errors.
The file runs in about half a minute on two cores.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastws.bench import fanout
from fastws.bench.fanout_subscriber import HEADER, Tally, bodies, bucket_of, message, percentile
from fastws.bench.runner import ServerProcess, _spawn

ROOT = Path(__file__).resolve().parents[2]


def bench(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [sys.executable, "-m", "fastws", "bench", "fanout", *args],
            cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:  # say which cell it was in
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr or ""
        pytest.fail(f"fastws bench fanout {' '.join(args)}: still running after {timeout} s; stderr:\n{stderr[-3000:]}")


# --- a smoke run: real servers, 20 subscribers in two processes ---------------------------------


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("fanout") / "f.json"
    args = ["--quick", "--subscribers", "20", "--duration", "0.1", "--warmup", "2", "--sizes", "64,1K"]
    done = bench([*args, "--servers", "raw-tcp,fastws,websockets", "--json", str(out)], 100)
    return done, out


@pytest.mark.timeout(120)
def test_smoke_run_delivers_every_message_and_reports_figures(smoke) -> None:  # type: ignore[no-untyped-def]
    done, path = smoke
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(path.read_text())
    assert data["config"]["subscribers"] == 20 and data["config"]["compressions"] == [False, True]
    cells = {(r["server"], r["compression"], r["size"]): r["result"] for r in data["runs"]}
    # raw TCP has no permessage-deflate: it is in the uncompressed table only
    assert set(cells) == {
        *((n, False, s) for n in ("raw-tcp", "fastws", "websockets") for s in (64, 1024)),
        *((n, True, s) for n in ("fastws", "websockets") for s in (64, 1024)),
    }
    for key, r in cells.items():
        assert r["ok"], (key, r)
        assert r["messages"] >= fanout.MIN_MESSAGES
        assert r["deliveries"] == r["messages"] * 20
        assert r["server_cpu_us_per_delivery"] > 0
        # its split from /proc/<pid>/stat (10 ms ticks: a short run may show 0 of either)
        assert r["server_user_us_per_delivery"] >= 0 and r["server_system_us_per_delivery"] >= 0
        assert 0 < r["latency_ms"]["p50"] <= r["latency_ms"]["p99"]
        # every delivery carries at least the message (the WebSocket frame adds a header)
        if not key[1]:
            assert r["server_wchar_per_delivery"] >= key[2], (key, r)
    # chat-like text compresses: with deflate each 1 KiB delivery is well under 1 KiB on the wire
    for name in ("fastws", "websockets"):
        assert cells[(name, True, 1024)]["server_wchar_per_delivery"] < 700, name
    assert "fastws.broadcast" in data["servers"]["fastws"]["impl"]
    assert "Fan-out, no compression" in done.stdout and "permessage-deflate" in done.stdout
    assert "websockets / fastws" in done.stdout  # the target line of the compressed table
    assert "split: user (the library and Python) / system" in done.stdout


@pytest.mark.timeout(120)
def test_report_renders_a_saved_run(smoke) -> None:  # type: ignore[no-untyped-def]
    done, path = smoke
    assert done.returncode == 0, done.stderr[-3000:]
    shown = bench(["--report", str(path), "--markdown"], 30)
    assert shown.returncode == 0, shown.stderr
    assert "| raw TCP (floor) |" in shown.stdout and "websockets broadcast()" in shown.stdout


@pytest.mark.timeout(30)
def test_usage_errors_exit_2_with_a_precise_message(tmp_path: Path) -> None:
    done = bench(["--sizes", "16"], 20)
    assert done.returncode == 2 and "25-byte header" in done.stderr
    done = bench(["--servers", "fastws,nope"], 20)
    assert done.returncode == 2 and "unknown server: nope" in done.stderr
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    done = bench(["--report", str(bad)], 20)
    assert done.returncode == 2 and "not a fan-out results file" in done.stderr


# --- the delivery checks, against a server that misbehaves ---------------------------------------


def _faulty_server(fault: str) -> ServerProcess:
    cmd = [sys.executable, "-m", "tests.benchmark_harness.fanout_faulty", "--host", "127.0.0.1", "--watch-stdin"]
    server = ServerProcess(f"faulty-{fault}", *_spawn(cmd, {"FANOUT_FAULT": fault}, f"faulty {fault}"))
    server.wait_ready(time.monotonic() + 30)
    return server


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("drop", "message 3 never arrived (lost; 3 was the last sent)"),
        ("duplicate", "expected message 4, got 3 (duplicated or reordered)"),
        ("alter", "message 3 altered (body differs)"),
        ("close", "closed by the server (1011 'on purpose')"),
    ],
)
def test_a_lost_duplicated_altered_or_closed_delivery_fails_the_cell(fault: str, error: str) -> None:
    server = _faulty_server(fault)
    try:
        result = asyncio.run(
            fanout.run_cell(
                server, "ws", 200, False, subscribers=6, processes=2, duration=0.1, warmup=1, core=0, ack_timeout=3
            )
        )
    finally:
        server.stop()
    assert result["ok"] is False
    assert error in result["error"], result


# --- the pieces ------------------------------------------------------------------------------------


def test_tally_checks_sequence_and_body_per_connection() -> None:
    acks: list[int] = []
    tally = Tally(100, 2, 1, acks.append)
    body = bodies(100)
    for seq in range(3):
        for conn in range(2):
            assert tally.receive(conn, seq, message(seq, body[seq % len(body)], time.monotonic_ns()), time.monotonic_ns()) == seq + 1
    assert acks == [0, 1, 2] and tally.deliveries == 6 and len(tally.latencies) == 4  # seq 0 is warm-up
    assert tally.error is None
    assert tally.receive(0, 3, b"short", 0) == -1
    assert "malformed message of 5 bytes" in (tally.error or "") and acks[-1] == -1


def test_a_connection_may_join_late_during_the_warm_up_only() -> None:
    body = bodies(100)
    tally = Tally(100, 1, 2, lambda seq: None)
    assert tally.receive(0, -1, message(1, body[1], 0), 5) == 2  # message 0 missed: still warming up
    assert tally.error is None
    late = Tally(100, 1, 2, lambda seq: None)
    late.receive(0, -1, message(2, body[2], 0), 5)
    assert late.error == "connection 0: its first message is 2, after the warm-up (2): lost"


def test_messages_are_text_of_the_exact_size() -> None:
    for size in (26, 64, 1024, 16 * 1024):
        pool = bodies(size)
        assert len(pool) > 1 and all(len(b) == size - HEADER for b in pool)
        m = message(7, pool[0], 123456789)
        assert len(m) == size and m.decode("utf-8") and m[:HEADER] == b"00000007" + b"%016x" % 123456789 + b"|"
    with pytest.raises(ValueError, match="more than 25 bytes"):
        bodies(25)


def test_percentiles_of_the_histogram_within_one_percent() -> None:
    samples = [1_000 * i for i in range(1, 1001)]  # 1 µs .. 1 ms
    hist: dict[int, int] = {}
    for s in samples:
        hist[bucket_of(s)] = hist.get(bucket_of(s), 0) + 1
    p50, p99 = percentile(hist, 0.5), percentile(hist, 0.99)
    assert p50 is not None and p99 is not None
    assert abs(p50 - 500.5) / 500.5 < 0.01 and abs(p99 - 990) / 990 < 0.01
    assert percentile({}, 0.5) is None


def test_raises_the_open_file_limit_for_many_subscribers() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        fanout._raise_file_limit(min(hard, soft + 10))
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= min(hard, soft + 10)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert os.cpu_count()


# --- two workers over Redis ---------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_two_workers_over_redis_deliver_everything_and_count_the_whole_tree() -> None:
    import shutil

    if not shutil.which("redis-server"):
        pytest.fail("redis-server is not installed: run `bash tests/interop/setup.sh` (as root)")
    server = fanout.launch("fastws-redis-2", False, 0, print)
    try:
        server.wait_ready(time.monotonic() + 60)
        # the launcher, redis-server, the fastws supervisor and its two workers: all in the CPU figure
        tree = fanout.process_tree(server.pid)
        assert len(tree) >= 5, tree
        for size in (64, 1024):
            result = asyncio.run(
                fanout.run_cell(
                    server, "ws", size, False, subscribers=12, processes=2, duration=0.1, warmup=2, core=0,
                    publish_path="/publish",
                )  # fmt: skip
            )
            assert result["ok"], result
            assert result["deliveries"] == result["messages"] * 12
            assert result["server_cpu_us_per_delivery"] > 0
    finally:
        server.stop()
    assert not server.alive()
    for pid in tree[1:]:  # stopping the launcher stops Redis and the workers too
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
