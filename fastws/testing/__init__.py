"""Testing tools shipped with fastws: the crafted-frame conformance suite (``fastws.testing.conformance``)
and the helpers that write checked-in generated files (``fastws.testing.generated``)."""
