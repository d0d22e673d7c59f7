"""fastws benchmarks (not part of the test suite; run ``python -m bench.run_codec``)."""
