"""``wsproto.handshake``: the HTTP/1.1 upgrade on h11, with wsproto's events and errors.

h11 reads and writes the HTTP messages (as in wsproto, so the same requests are
accepted or refused); the key and accept token come from ``fastws.handshake``.
"""

from __future__ import annotations

from collections import deque
from typing import Generator, Iterable, List, Optional, Sequence, Union, cast

import h11

from .connection import Connection, ConnectionState, ConnectionType
from .events import AcceptConnection, Event, RejectConnection, RejectData, Request
from .extensions import Extension
from .typing import Headers
from .utilities import (
    LocalProtocolError,
    RemoteProtocolError,
    generate_accept_token,
    generate_nonce,
    normed_header_dict,
    split_comma_header,
)

WEBSOCKET_VERSION = b"13"
WEBSOCKET_UPGRADE = b"websocket"


def _bad(message: str, hint: Optional[RejectConnection] = None) -> RemoteProtocolError:
    return RemoteProtocolError(message, event_hint=hint or RejectConnection())


def _has_upgrade_token(tokens: Optional[List[str]]) -> bool:
    return tokens is not None and any(token.lower() == "upgrade" for token in tokens)


class H11Handshake:
    """The opening handshake of one connection, client or server side."""

    def __init__(self, connection_type: ConnectionType) -> None:
        self.client = connection_type is ConnectionType.CLIENT
        self._state = ConnectionState.CONNECTING
        self._h11 = h11.Connection(h11.CLIENT if self.client else h11.SERVER)
        self._connection: Optional[Connection] = None
        self._events: deque[Event] = deque()
        self._request: Optional[Request] = None
        self._nonce: Optional[bytes] = None

    @property
    def state(self) -> ConnectionState:
        return self._state

    @property
    def connection(self) -> Optional[Connection]:
        """The WebSocket connection once the handshake succeeded, else None."""
        return self._connection

    def initiate_upgrade_connection(self, headers: Headers, path: Union[bytes, str]) -> None:
        """Server side: take an upgrade request some other HTTP stack already parsed."""
        if self.client:
            raise LocalProtocolError("Cannot initiate an upgrade connection when acting as the client")
        request = h11.Request(method=b"GET", target=path, headers=headers)
        self.receive_data(h11.Connection(h11.CLIENT).send(request))

    def send(self, event: Event) -> bytes:
        if isinstance(event, Request):
            return self._send_request(event)
        if isinstance(event, AcceptConnection):
            return self._accept(event)
        if isinstance(event, RejectConnection):
            return self._reject(event)
        if isinstance(event, RejectData):
            return self._reject_data(event)
        raise LocalProtocolError(f"Event {event} cannot be sent during the handshake")

    def receive_data(self, data: Optional[bytes]) -> None:
        self._h11.receive_data(data or b"")
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError:
                raise _bad("Bad HTTP message") from None
            if event is h11.NEED_DATA or event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                return
            if not self.client:
                if isinstance(event, h11.Request):
                    self._events.append(self._received_request(event))
            elif isinstance(event, h11.InformationalResponse):
                if event.status_code == 101:
                    self._events.append(self._established(event))
                else:
                    self._events.append(
                        RejectConnection(status_code=event.status_code, headers=list(event.headers))
                    )
                    self._state = ConnectionState.CLOSED
            elif isinstance(event, h11.Response):
                self._state = ConnectionState.REJECTING
                self._events.append(
                    RejectConnection(status_code=event.status_code, headers=list(event.headers), has_body=True)
                )
            elif isinstance(event, h11.Data):
                self._events.append(RejectData(data=bytes(event.data), body_finished=False))
            elif isinstance(event, h11.EndOfMessage):
                self._events.append(RejectData(data=b"", body_finished=True))
                self._state = ConnectionState.CLOSED

    def events(self) -> Generator[Event, None, None]:
        while self._events:
            yield self._events.popleft()

    # ------------------------------------------------------------------ server

    def _received_request(self, event: h11.Request) -> Request:
        if event.method != b"GET":
            raise _bad("Request method must be GET")
        tokens: Optional[List[str]] = None
        extensions: List[str] = []
        subprotocols: List[str] = []
        host: Optional[str] = None
        key = version = None
        upgrade = b""
        headers: Headers = []
        for name, value in event.headers:
            name = name.lower()
            if name == b"host":
                host = value.decode("idna")
                continue
            if name == b"sec-websocket-extensions":
                extensions.extend(split_comma_header(value))
                continue
            if name == b"sec-websocket-protocol":
                subprotocols.extend(split_comma_header(value))
                continue
            if name == b"connection":
                tokens = split_comma_header(value)
            elif name == b"sec-websocket-key":
                key = value
            elif name == b"sec-websocket-version":
                version = value
            elif name == b"upgrade":
                upgrade = value
            headers.append((name, value))
        if not _has_upgrade_token(tokens):
            raise _bad("Missing header, 'Connection: Upgrade'")
        if version != WEBSOCKET_VERSION:
            hint = RejectConnection(
                status_code=426 if version else 400,
                headers=[(b"Sec-WebSocket-Version", WEBSOCKET_VERSION)],
            )
            raise _bad("Missing header, 'Sec-WebSocket-Version'", hint)
        if key is None:
            raise _bad("Missing header, 'Sec-WebSocket-Key'")
        if upgrade.lower() != WEBSOCKET_UPGRADE:
            raise _bad("Missing header, 'Upgrade: websocket'")
        if host is None:
            raise _bad("Missing header, 'Host'")
        self._request = Request(
            host=host,
            target=event.target.decode("ascii"),
            extensions=extensions,
            extra_headers=headers,
            subprotocols=subprotocols,
        )
        return self._request

    def _accept(self, event: AcceptConnection) -> bytes:
        request = self._request
        assert request is not None, "AcceptConnection before a Request was received"
        key = normed_header_dict(request.extra_headers)[b"sec-websocket-key"]
        headers: Headers = [
            (b"Upgrade", WEBSOCKET_UPGRADE),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Accept", generate_accept_token(key)),
        ]
        if event.subprotocol is not None:
            if event.subprotocol not in request.subprotocols:
                raise LocalProtocolError(f"unexpected subprotocol {event.subprotocol}")
            headers.append((b"Sec-WebSocket-Protocol", event.subprotocol.encode("ascii")))
        if event.extensions:
            agreed = server_extensions_handshake(cast(Sequence[str], request.extensions), event.extensions)
            if agreed:
                headers.append((b"Sec-WebSocket-Extensions", agreed))
        response = h11.InformationalResponse(
            status_code=101, headers=headers + event.extra_headers, reason=b"Switching Protocols"
        )
        self._connection = Connection(
            ConnectionType.CLIENT if self.client else ConnectionType.SERVER, event.extensions
        )
        self._state = ConnectionState.OPEN
        return self._h11.send(response) or b""

    def _reject(self, event: RejectConnection) -> bytes:
        if self._state is not ConnectionState.CONNECTING:
            raise LocalProtocolError(f"Connection cannot be rejected in state {self._state}")
        headers = list(event.headers)
        if not event.has_body:
            headers.append((b"content-length", b"0"))
        data = self._h11.send(h11.Response(status_code=event.status_code, headers=headers)) or b""
        self._state = ConnectionState.REJECTING
        if not event.has_body:
            data += self._h11.send(h11.EndOfMessage()) or b""
            self._state = ConnectionState.CLOSED
        return data

    def _reject_data(self, event: RejectData) -> bytes:
        if self._state is not ConnectionState.REJECTING:
            raise LocalProtocolError(f"Cannot send rejection data in state {self._state}")
        data = self._h11.send(h11.Data(data=event.data)) or b""
        if event.body_finished:
            data += self._h11.send(h11.EndOfMessage()) or b""
            self._state = ConnectionState.CLOSED
        return data

    # ------------------------------------------------------------------ client

    def _send_request(self, request: Request) -> bytes:
        self._request = request
        self._nonce = nonce = generate_nonce()
        headers: Headers = [
            (b"Host", request.host.encode("idna")),
            (b"Upgrade", WEBSOCKET_UPGRADE),
            (b"Connection", b"Upgrade"),
            (b"Sec-WebSocket-Key", nonce),
            (b"Sec-WebSocket-Version", WEBSOCKET_VERSION),
        ]
        if request.subprotocols:
            headers.append((b"Sec-WebSocket-Protocol", ", ".join(request.subprotocols).encode("ascii")))
        offered = _offer_header(cast(Sequence[Extension], request.extensions))
        if offered:
            headers.append((b"Sec-WebSocket-Extensions", offered))
        upgrade = h11.Request(
            method=b"GET", target=request.target.encode("ascii"), headers=headers + request.extra_headers
        )
        return self._h11.send(upgrade) or b""

    def _established(self, event: h11.InformationalResponse) -> AcceptConnection:
        assert self._request is not None and self._nonce is not None
        accept = subprotocol = None
        tokens: Optional[List[str]] = None
        agreed: List[str] = []
        upgrade = b""
        headers: Headers = []
        for name, value in event.headers:
            name = name.lower()
            if name == b"connection":
                tokens = split_comma_header(value)
            elif name == b"sec-websocket-extensions":
                agreed = split_comma_header(value)
            elif name == b"sec-websocket-accept":
                accept = value
            elif name == b"sec-websocket-protocol":
                subprotocol = value.decode("ascii")
            elif name == b"upgrade":
                upgrade = value
            else:
                headers.append((name, value))
        if not _has_upgrade_token(tokens):
            raise _bad("Missing header, 'Connection: Upgrade'")
        if upgrade.lower() != WEBSOCKET_UPGRADE:
            raise _bad("Missing header, 'Upgrade: websocket'")
        if accept != generate_accept_token(self._nonce):
            raise _bad("Bad accept token")
        if subprotocol is not None and subprotocol not in self._request.subprotocols:
            raise _bad(f"unrecognized subprotocol {subprotocol}")
        extensions = client_extensions_handshake(agreed, cast(Sequence[Extension], self._request.extensions))
        self._connection = Connection(
            ConnectionType.CLIENT if self.client else ConnectionType.SERVER,
            extensions,
            self._h11.trailing_data[0],
        )
        self._state = ConnectionState.OPEN
        return AcceptConnection(extensions=extensions, extra_headers=headers, subprotocol=subprotocol)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client={self.client}, state={self.state})"


def _offer_header(extensions: Sequence[Extension]) -> bytes:
    offers: dict[str, Union[str, bool]] = {}
    for ext in extensions:
        offers[ext.name] = ext.offer()
    items: List[bytes] = []
    for name, params in offers.items():
        if params is True:
            items.append(name.encode("ascii"))
        elif params is not False:
            items.append(b"%s; %s" % (name.encode("ascii"), params.encode("ascii")))
    return b", ".join(items)


def server_extensions_handshake(requested: Iterable[str], supported: List[Extension]) -> Optional[bytes]:
    """The ``Sec-WebSocket-Extensions`` answer to the offers, or None when nothing is agreed."""
    accepted: dict[str, Union[bool, bytes]] = {}
    for offer in requested:
        name = offer.split(";", 1)[0].strip()
        for ext in supported:
            if ext.name != name:
                continue
            answer = ext.accept(offer)
            if answer is True:
                accepted[ext.name] = True
            elif isinstance(answer, str):
                accepted[ext.name] = answer.encode("ascii")
    if not accepted:
        return None
    items = []
    for name, params in accepted.items():
        if params is True or params == b"":
            items.append(name.encode("ascii"))
        else:
            items.append(b"%s; %s" % (name.encode("ascii"), cast(bytes, params)))
    return b", ".join(items)


def client_extensions_handshake(accepted: Iterable[str], supported: Sequence[Extension]) -> List[Extension]:
    """The offered extensions the server agreed to, each finalized with its answer."""
    agreed: List[Extension] = []
    for answer in accepted:
        name = answer.split(";", 1)[0].strip()
        for ext in supported:
            if ext.name == name:
                ext.finalize(answer)
                agreed.append(ext)
                break
        else:
            raise _bad(f"unrecognized extension {name}")
    return agreed


__all__ = ["H11Handshake", "client_extensions_handshake", "server_extensions_handshake"]
