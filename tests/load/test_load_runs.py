"""Short versions of the load runs (``python3 -m bench.load ...`` runs the full ones).

Each starts a fastws echo server in its own process and loads it from this one: idle
memory per connection, active echoing with every echo checked, churn, slow consumers and
fast producers on both sides, and the worst case one connection can make the server hold.
"""

from __future__ import annotations

import pytest

from bench import load

pytestmark = [pytest.mark.load, pytest.mark.timeout(180)]


def test_idle_connections_cost_under_6_kib_each() -> None:
    from fastws.bench import memory

    result = memory.measure_idle(["fastws"], 1000, lambda text: None)["servers"]["fastws"]
    assert result["ok"], result
    print(result)
    assert result["per_connection_kib"] < 6.0, result


@pytest.mark.parametrize("api", ["listener", "awaitable"])
def test_active_connections_lose_and_reorder_nothing(api: str) -> None:
    result = load.active(200, 6.0, interval=0.02, api=api)
    print({k: v for k, v in result.items() if k != "rss_samples_kib"})
    assert result["error_count"] == 0, result["errors"]
    assert result["messages"] > 200 * 20  # every connection echoed many times, each checked
    # Flat after warm-up: no growth with the number of messages (a few pages of noise).
    assert result["rss_growth_after_warmup_kib"] < 1024, result["rss_samples_kib"]
    end = result["end"]
    assert end["connections"] == 0 and end["tasks"] == 1, end


@pytest.mark.parametrize("api", ["listener", "awaitable"])
def test_churn_returns_to_its_starting_level(api: str) -> None:
    result = load.churn(3000, concurrency=50, warmup=300, api=api)
    print(result)
    assert result["outcomes"] == {"1000": 3000}, result  # each cycle closed cleanly, by the server's 1000
    before, after = result["before"], result["after"]
    assert after["fds"] == before["fds"] and after["tasks"] == before["tasks"] == 1, result
    assert after["connections"] == 0, result
    assert result["rss_growth_kib"] < 2048, result  # nothing kept per cycle: < 0.7 KiB each


def test_slow_consumers_and_fast_producers_stay_within_the_bound() -> None:
    result = load.slow(3.0, connections=5, size=65536)
    print(result)
    listener_bound = load.memory_bound_kib(1 << 20, queue=False)
    queue_bound = load.memory_bound_kib(1 << 20)
    assert result["flood-echo"]["per_connection_kib"] <= listener_bound, result
    assert result["flood-slow-reader"]["per_connection_kib"] <= queue_bound, result
    assert result["producer"]["per_connection_kib"] <= listener_bound, result
    assert result["producer"]["moved"] > 0 and result["flood-echo"]["moved"] > 0


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "deflate-bombs"])
def test_worst_case_per_connection_is_within_the_documented_bound(compress: bool) -> None:
    """A handler that never reads, peers that fill its queue and leave a message half sent."""
    result = load.worst_case(8, 256 * 1024, compress=compress)
    print(result)
    assert result["per_connection_kib"] <= result["bound_kib"], result
    # ... and the bound is not loose: the queue alone is 16 x 256 KiB.
    assert result["per_connection_kib"] >= 16 * 256, result
