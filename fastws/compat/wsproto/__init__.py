"""wsproto's public API on fastws's codec (``WSConnection`` and the ``wsproto.*`` modules).

Use it directly (``from fastws.compat import wsproto``) or register it under the
``wsproto`` name with ``fastws.compat.install()`` so unmodified wsproto users
(hypercorn, trio-websocket, ...) run on it.
"""

from __future__ import annotations

from typing import Generator, Optional, Union

from .connection import Connection, ConnectionState, ConnectionType
from .events import Event
from .handshake import H11Handshake
from .typing import Headers

__version__ = "1.3.2"  # the wsproto API this module follows


class WSConnection:
    """The local end of a WebSocket connection: the handshake, then the connection."""

    def __init__(self, connection_type: ConnectionType) -> None:
        self.client = connection_type is ConnectionType.CLIENT
        self.handshake = H11Handshake(connection_type)
        self.connection: Optional[Connection] = None

    @property
    def state(self) -> ConnectionState:
        if self.connection is None:
            return self.handshake.state
        return self.connection.state

    def initiate_upgrade_connection(self, headers: Headers, path: Union[bytes, str]) -> None:
        self.handshake.initiate_upgrade_connection(headers, path)

    def send(self, event: Event) -> bytes:
        """The bytes to write to the peer for ``event``."""
        connection = self.connection
        if connection is not None:
            return connection.send(event)
        data = self.handshake.send(event)
        self.connection = self.handshake.connection
        return data

    def receive_data(self, data: Optional[bytes]) -> None:
        """Take bytes from the peer (None: the peer closed the transport); see ``events()``."""
        connection = self.connection
        if connection is not None:
            connection.receive_data(data)
            return
        self.handshake.receive_data(data)
        self.connection = self.handshake.connection

    def events(self) -> Generator[Event, None, None]:
        """The events the received bytes produced."""
        yield from self.handshake.events()
        if self.connection is not None:
            yield from self.connection.events()


__all__ = ["ConnectionType", "WSConnection"]
