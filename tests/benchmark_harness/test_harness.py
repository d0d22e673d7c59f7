"""Tests of the benchmark harness itself (``fastws bench``, memory per connection, the chart).

Not in ``tests/bench/``: pyproject's ``norecursedirs`` holds "bench", which
pytest matches against every directory name, so such a folder is never collected.
The whole file runs in well under a minute on two cores: quick runs, one size,
two servers, a few hundred connections.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastws.bench import chart, memory
from fastws.bench.servers import SERVERS, TEST_SERVERS

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# A server that cannot start (the registry's test entry: it exits on an unknown option); registered
# only with FASTWS_BENCH_TEST_SERVERS=1, which bench() sets and the ``registered_test_servers`` fixture mimics.
BROKEN = "test-broken"
TEST_ENV = {"FASTWS_BENCH_TEST_SERVERS": "1"}


def bench(args: list[str], timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "fastws", "bench", *args]
    return subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **TEST_ENV, **(env or {})},
    )


@pytest.fixture
def registered_test_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test-only servers in this process's registry (and in the servers it starts)."""
    for name, spec in TEST_SERVERS.items():
        monkeypatch.setitem(SERVERS, name, spec)
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)


def assert_png(path: Path) -> None:
    assert path.is_file(), f"no chart at {path}"
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 10_000, f"suspiciously small chart: {len(data)} bytes"


# --- (a) a quick run over two servers --------------------------------------------------------


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("quick") / "r.json"
    done = bench(
        ["--quick", "-q", "--servers", "fastws,websockets", "--sizes", "256", "--json", str(out)], 50
    )
    return done, out


@pytest.mark.timeout(60)
def test_quick_run_writes_well_formed_results(quick_run: tuple[subprocess.CompletedProcess, Path]) -> None:
    done, path = quick_run
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(path.read_text())
    machine = data["machine"]
    assert machine["cpus"] >= 1 and machine["cpu"] and machine["python"].startswith(("CPython", "PyPy"))
    assert machine["versions"]["fastws"] != "not installed"
    assert data["config"]["sizes"] == [256]
    runs = data["runs"]
    assert {r["server"] for r in runs} == {"fastws", "websockets"}
    for run in runs:
        result = run["result"]
        assert result["ok"], result
        assert run["size"] == 256
        assert result["round_trips_per_s"] > 0
        assert result["server_cpu_us_per_msg"] > 0
        assert result["client_cpu_us_per_msg"] > 0
    assert "roundtrip-binary" in {t["key"] for t in data["tables"]}
    # --quick includes the idle-connection memory table
    assert data["memory"]["connections"] > 0
    for name in ("fastws", "websockets"):
        assert data["memory"]["servers"][name]["ok"], data["memory"]["servers"][name]
        assert data["memory"]["servers"][name]["per_connection_kib"] > 0


@pytest.mark.timeout(60)
def test_quick_run_writes_a_chart_beside_the_results(
    quick_run: tuple[subprocess.CompletedProcess, Path],
) -> None:
    done, path = quick_run
    assert done.returncode == 0, done.stderr[-3000:]
    assert_png(path.with_suffix(".png"))


# --- (b) a server that fails to start ---------------------------------------------------------


@pytest.mark.timeout(60)
def test_failed_server_is_reported_and_the_rest_still_runs(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    args = ["--quick", "-q", "--modes", "roundtrip", "--kinds", "binary", "--sizes", "256", "--no-memory"]
    done = bench([*args, "--servers", f"fastws,{BROKEN}", "--json", str(out)], 50)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 1, done.stderr[-3000:]  # 1: a server failed, the rest ran
    data = json.loads(out.read_text())
    by_server: dict[str, list[dict]] = {}
    for run in data["runs"]:
        by_server.setdefault(run["server"], []).append(run["result"])
    assert by_server["fastws"] and all(r["ok"] and r["round_trips_per_s"] > 0 for r in by_server["fastws"])
    assert by_server[BROKEN] and not any(r["ok"] for r in by_server[BROKEN])
    assert all(r.get("error") for r in by_server[BROKEN])
    assert data["servers"][BROKEN]["ok"] is False and data["servers"]["fastws"]["ok"] is True


# --- (c) memory per idle connection ------------------------------------------------------------


@pytest.mark.timeout(60)
def test_measure_idle_gives_positive_figures() -> None:
    lines: list[str] = []
    result = memory.measure_idle(["fastws", "websockets"], 200, lines.append)
    assert result["connections"] == 200
    assert set(result["servers"]) == {"fastws", "websockets"}
    for name, r in result["servers"].items():
        assert r["ok"] and r["error"] is None, (name, r)
        assert r["rss_after_kib"] > r["rss_before_kib"] > 0
        # a few KiB: below 1 would mean the connections were not held, above 200 something else grew
        assert 1 < r["per_connection_kib"] < 200, (name, r)
    assert any("fastws" in line for line in lines)


@pytest.mark.timeout(60)
@pytest.mark.usefixtures("registered_test_servers")
def test_measure_idle_reports_failures_and_keeps_going() -> None:
    names = ["no-such-server", BROKEN, "raw-tcp", "fastws"]
    result = memory.measure_idle(names, 50, lambda _: None)
    servers = result["servers"]
    assert list(servers) == names
    for name in names[:3]:
        assert servers[name]["ok"] is False and servers[name]["error"], (name, servers[name])
    assert "unknown" in servers["no-such-server"]["error"]
    assert "did not start" in servers[BROKEN]["error"]
    assert [servers[n]["status"] for n in names] == ["failed", "failed", "skipped", "ok"]
    assert "not a WebSocket server" in servers["raw-tcp"]["error"]
    assert servers["fastws"]["ok"] and servers["fastws"]["per_connection_kib"] > 0
    text = memory.render_text(result)
    assert "skipped: raw-tcp is not a WebSocket server" in text and "failed: unknown server" in text


@pytest.mark.timeout(10)
def test_opener_refuses_a_bad_handshake_answer() -> None:
    async def answer(response: bytes) -> BaseException | None:
        protocol = memory.Upgrade("127.0.0.1", 1)
        protocol.data_received(response)
        try:
            await asyncio.wait_for(protocol.done, 1)
        except ConnectionError as exc:
            return exc
        return None

    bad_status = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    bad_accept = b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: AAAA\r\n\r\n"
    assert "200" in str(asyncio.run(answer(bad_status)))
    assert "Accept" in str(asyncio.run(answer(bad_accept)))

    async def good() -> BaseException | None:
        protocol = memory.Upgrade("127.0.0.1", 1)
        protocol.data_received(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + protocol.accept + b"\r\n\r\n"
        )
        await asyncio.wait_for(protocol.done, 1)
        return None

    assert asyncio.run(good()) is None


# --- (d) the chart -----------------------------------------------------------------------------


def synthetic_results() -> dict:
    """Two servers over two sizes (one cell missing), a text table at one size, a table of a
    mode the chart does not know, a legacy table (no "mode": known by its key), and memory."""
    runs = []

    def run(server: str, size: int, rate: float, cpu: float, kind: str = "binary", ok: bool = True) -> None:
        case = f"{server}|fastws" + ("" if kind == "binary" else f"|{kind}")
        result = {
            "ok": ok,
            "round_trips_per_s": rate,
            "server_cpu_us_per_msg": cpu,
            "client_cpu_us_per_msg": 9.0,
        }
        runs.append(
            {
                "case": case,
                "server": server,
                "client": "fastws",
                "kind": kind,
                "size": size,
                "result": result if ok else {"ok": False, "error": "failed run: ignored"},
            }
        )

    for rate in (40_000.0, 44_000.0):  # two rounds: the median is 42,000
        run("fastws", 256, rate, 8.0)
        run("fastws", 1 << 20, rate / 50, 240.0)
        run("websockets", 256, rate / 1.6, 24.0)  # no 1 MiB run: a missing cell
    run("fastws", 256, 1.0, 1.0, ok=False)
    run("fastws", 256, 30_000.0, 9.5, kind="text")
    run("websockets", 256, 20_000.0, 26.0, kind="text")

    def rows(kind: str = "binary") -> list[dict]:
        return [
            {"label": "fastws (C)", "server": "fastws", "client": "fastws", "kind": kind},
            {"label": "websockets", "server": "websockets", "client": "fastws", "kind": kind},
        ]

    return {
        "benchmark": "echo",
        "machine": {
            "cpu": "Test CPU",
            "cpus": 2,
            "virtualization": "virtual machine",
            "kernel": "6.0",
            "python": "CPython 3.11.7",
            "date": "2026-01-01T00:00:00+00:00",
            "versions": {"fastws": "0.1.0"},
        },
        "config": {"sizes": [256, 1 << 20]},
        "tables": [
            {
                "key": "roundtrip-binary",
                "mode": "roundtrip",
                "kind": "binary",
                "unit": "round trips/s",
                "title": "Round trip (load client: fastws)",
                "cpu_of": "server",
                "sizes": [],
                "rows": rows(),
            },
            {
                "key": "roundtrip-text",
                "mode": "roundtrip",
                "kind": "text",
                "unit": "round trips/s",
                "title": "Round trip (load client: fastws), text",
                "cpu_of": "server",
                "sizes": [256],
                "rows": rows("text"),
            },
            {
                "key": "mystery-binary",
                "mode": "mystery",
                "title": "Something new",
                "cpu_of": "server",
                "rows": rows(),
            },
            {
                "key": "servers",
                "title": "Servers (legacy file)",
                "cpu_of": "server",
                "rows": [{"label": "fastws (C)", "server": "fastws", "client": "fastws"}],
            },
        ],
        "runs": runs,
        "memory": {
            "connections": 200,
            "servers": {
                "fastws": {
                    "ok": True,
                    "error": None,
                    "rss_before_kib": 1,
                    "rss_after_kib": 2,
                    "per_connection_kib": 5.5,
                },
                "websockets": {
                    "ok": False,
                    "error": "died",
                    "rss_before_kib": 0,
                    "rss_after_kib": 0,
                    "per_connection_kib": 0.0,
                },
                "raw-tcp": {
                    "ok": False,
                    "error": "skipped: not a WebSocket server",
                    "rss_before_kib": 0,
                    "rss_after_kib": 0,
                    "per_connection_kib": 0.0,
                },
            },
        },
    }


@pytest.mark.timeout(30)
def test_chart_panels_skip_unknown_tables_and_leave_missing_cells_blank() -> None:
    found = chart.panels(synthetic_results())
    titles = [p.title for p in found]
    # binary: CPU + rate; text: CPU + rate; legacy "servers": CPU + rate; memory.  No "mystery".
    assert len(found) == 7, titles
    assert not any("Something new" in t for t in titles)
    cpu, rate, text_cpu, _, legacy_cpu, _, mem = found
    assert "CPU" in cpu.title and "round trips/s" in rate.title and "Memory" in mem.title
    assert cpu.groups == ["256 B", "1 MiB"] and text_cpu.groups == ["256 B"]
    assert {s.label: s.values for s in cpu.series} == {"fastws (C)": [8.0, 240.0], "websockets": [24.0, None]}
    assert {s.label: s.values for s in rate.series}["fastws (C)"] == [
        42_000.0,
        840.0,
    ]  # medians; failed run out
    assert "text" in text_cpu.title
    assert {s.label: s.values for s in text_cpu.series} == {"fastws (C)": [9.5], "websockets": [26.0]}
    assert {s.label: s.values for s in legacy_cpu.series} == {"fastws (C)": [8.0, 240.0]}
    # memory: fastws measured, websockets failed (a blank slot), raw-tcp skipped (no slot)
    assert mem.groups == ["fastws (C)", "websockets"]
    assert [v for s in mem.series for v in s.values] == [5.5, None, None, None]
    assert (
        chart.panels({"tables": [{"key": "mystery-binary", "mode": "mystery", "rows": []}], "runs": []}) == []
    )


@pytest.mark.timeout(30)
def test_write_chart_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "chart.png"
    chart.write_chart(synthetic_results(), str(path))
    assert_png(path)
    # only unknown tables: still a (small) PNG saying so, no exception
    empty = tmp_path / "empty.png"
    chart.write_chart({"tables": [{"key": "mystery-table", "rows": []}]}, str(empty))
    assert empty.read_bytes()[:8] == PNG_SIGNATURE


@pytest.mark.timeout(30)
def test_chart_command_line_writes_beside_the_results(tmp_path: Path) -> None:
    results = tmp_path / "echo.json"
    results.write_text(json.dumps(synthetic_results()))
    assert chart.main([str(results)]) == 0
    assert_png(tmp_path / "echo.png")


# --- (e) exit status, usage errors, misbehaving client workers ---------------------------------


@pytest.mark.timeout(60)
def test_skipped_optional_peer_in_the_memory_table_is_not_a_failure() -> None:
    args = ["--quick", "-q", "--modes", "clients", "--clients", "fastws", "--sizes", "256", "--no-json"]
    done = bench(
        [*args, "--servers", "fastws,node-ws", "--memory-connections", "20"],
        50,
        env={"FASTWS_BENCH_NODE": "/nonexistent"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "memory table failed" not in done.stderr
    assert "memory table: skipped node-ws" in done.stderr
    assert "skipped:" in done.stdout and "FAILED" not in done.stdout


def test_exit_status_counts_memory_failures_not_skips(capsys: pytest.CaptureFixture[str]) -> None:
    from fastws.bench.__main__ import _exit_status

    skipped = {"ok": False, "status": "skipped", "error": "Node.js not found"}
    legacy_skipped = {"ok": False, "error": "skipped: raw-tcp is not a WebSocket server"}
    failed = {"ok": False, "status": "failed", "error": "did not start"}
    data = {
        "runs": [],
        "memory": {"connections": 1, "servers": {"node-ws": skipped, "raw-tcp": legacy_skipped}},
    }
    assert _exit_status(data) == 0
    data["memory"]["servers"]["picows"] = failed
    assert _exit_status(data) == 1
    assert "memory table failed for picows" in capsys.readouterr().err


@pytest.mark.timeout(30)
def test_report_of_a_missing_or_foreign_file_is_a_usage_error(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"config": {}, "tables": []}))
    for path, says in ((tmp_path / "missing.json", "cannot read"), (foreign, "'runs'")):
        done = bench(["--report", str(path)], 20)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and says in done.stderr, done.stderr


def test_test_servers_are_hidden_without_the_variable() -> None:
    env = {k: v for k, v in os.environ.items() if k not in TEST_ENV}
    done = subprocess.run(
        [sys.executable, "-m", "fastws", "bench", "--list"], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0 and "fastws-pure" in done.stdout and BROKEN not in done.stdout


@pytest.mark.timeout(90)
def test_misbehaving_client_workers_do_not_end_the_session(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastws.bench import runner
    from fastws.bench.modes import Case

    monkeypatch.setattr(runner, "ANSWER_SLACK", 2.0)
    chatty, stuck = (f"tests.benchmark_harness.harness_clients:{f}" for f in ("chatty", "stuck"))
    config = runner.Config(sizes=[256], duration=0.05, warmup=0.02, repeat=1)
    with runner.Session(config, note=lambda _: None) as session:
        session.start(["fastws"], [chatty, stuck, "fastws"])
        assert session.run(Case("fastws", chatty), 256)["ok"]  # its print went to stderr
        first = session.run(Case("fastws", stuck), 256)
        assert not first["ok"] and "no answer" in first["error"], first
        assert session.workers.get(stuck) is None  # killed: a late answer cannot be misread
        again = session.run(Case("fastws", stuck), 256)
        assert again["status"] == "failed" and again["error"] == first["error"]
        assert session.run(Case("fastws", "fastws"), 256)["ok"]  # the session goes on
        procs = [s.proc for s in session.servers.values()] + [w.proc for w in session.workers.values()]
    assert all(p.poll() is not None for p in procs)


def test_schedule_shuffles_each_round_and_runs_every_case_once() -> None:
    from fastws.bench import modes, runner

    sizes = [256, 8192]
    tables = modes.build_tables(
        ["roundtrip", "pipelined"], ["fastws", "picows", "websockets", "aiohttp"], ["fastws"], sizes
    )
    plan = runner.schedule(tables, sizes, 4)
    assert plan == runner.schedule(tables, sizes, 4)  # reproducible
    for size in sizes:
        rounds = [[case for s, rep, case in plan if s == size and rep == r] for r in range(4)]
        expected = sorted(map(repr, runner.cases_of(t for t in tables if size in t.sizes_of(sizes))))
        assert all(sorted(map(repr, cases)) == expected for cases in rounds)
        # No fixed order: the first case, and what follows each case, change between rounds.
        assert len({repr(cases[0]) for cases in rounds}) > 1
        assert len({tuple(map(repr, cases)) for cases in rounds}) == 4
