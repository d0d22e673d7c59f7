"""The fuzz targets, by name: each module has ``test_one_input(data)`` (raises on a finding)
and ``seeds()`` (the starting corpus, built from tests/vectors and the conformance cases)."""

from __future__ import annotations

NAMES = ("parser", "utf8", "mask", "handshake", "extensions", "inflate", "connection")
