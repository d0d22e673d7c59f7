"""Copied at test time next to uvicorn's own ``tests/protocols/test_websocket.py`` as its
``conftest.py``: the ``ws_protocol_cls`` fixture, parametrized over uvicorn's two
implementations (as uvicorn's own conftest does) plus fastws's class.

This file is ours; uvicorn's test module and helpers are fetched from the package
index by ``uvicorn_suite.py`` and never stored in this repository.
"""

from __future__ import annotations

import pytest
from uvicorn.importer import import_from_string

IMPLEMENTATIONS = {
    "wsproto": "uvicorn.protocols.websockets.wsproto_impl:WSProtocol",
    "websockets-sansio": "uvicorn.protocols.websockets.websockets_sansio_impl:WebSocketsSansIOProtocol",
    "fastws": "fastws.asgi:WebSocketProtocol",
}


@pytest.fixture(params=list(IMPLEMENTATIONS.values()), ids=list(IMPLEMENTATIONS))
def ws_protocol_cls(request: pytest.FixtureRequest) -> object:
    return import_from_string(request.param)
