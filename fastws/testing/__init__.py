"""Testing tools shipped with fastws: the crafted-frame conformance suite (``fastws.testing.conformance``)."""
