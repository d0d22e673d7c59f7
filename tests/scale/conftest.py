"""Fixtures for tests/scale: a real redis-server per module, a fresh database per test."""

from __future__ import annotations

from typing import Iterator

import pytest
from scale_support import RedisCluster, RedisServer, redis_available


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    if not redis_available():
        pytest.fail("redis-server is not installed: run `bash tests/interop/setup.sh` (as root)")
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def redis(redis_server: RedisServer) -> RedisServer:
    if redis_server.proc is None or redis_server.proc.poll() is not None:
        redis_server.start()  # a fault test may have left it stopped
    redis_server.cli("FLUSHALL")
    return redis_server


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisCluster]:
    if not redis_available():
        pytest.fail("redis-server is not installed: run `bash tests/interop/setup.sh` (as root)")
    cluster = RedisCluster()
    try:
        yield cluster.start()
    finally:
        cluster.cleanup()
