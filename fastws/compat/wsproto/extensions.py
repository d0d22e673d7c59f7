"""``wsproto.extensions``: the extension interface and permessage-deflate (RFC 7692).

Negotiation behaves as wsproto's (the same offers, answers and leniency).  Once
enabled, ``PerMessageDeflate`` runs inside the connection: fastws's deflate
kernel compresses, zlib inflates frame by frame (as wsproto does, so a compressed
message arrives in the same pieces).  Its per-frame hooks are therefore not
called; a custom extension with frame hooks of its own is refused by the
connection (``NotImplementedError``) rather than silently skipped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Optional, Tuple, Union

from .frame_protocol import CloseReason, Opcode, RsvBits


class Extension(ABC):
    """A WebSocket extension, negotiated in the handshake."""

    name: str

    def enabled(self) -> bool:
        return False

    @abstractmethod
    def offer(self) -> Union[bool, str]:
        """The client's offer: parameters, or True (offer without parameters) / False."""

    def accept(self, offer: str) -> Union[bool, str, None]:
        """The server's answer to an offer (None: decline)."""
        return None

    def finalize(self, offer: str) -> None:
        """The client learns the server's answer."""

    def frame_inbound_header(
        self, proto: Any, opcode: Opcode, rsv: RsvBits, payload_length: int
    ) -> Union[CloseReason, RsvBits]:
        return RsvBits(False, False, False)

    def frame_inbound_payload_data(self, proto: Any, data: bytes) -> Union[bytes, CloseReason]:
        return data

    def frame_inbound_complete(self, proto: Any, fin: bool) -> Union[bytes, CloseReason, None]:
        return None

    def frame_outbound(
        self, proto: Any, opcode: Opcode, rsv: RsvBits, data: bytes, fin: bool
    ) -> Tuple[RsvBits, bytes]:
        return (rsv, data)


def _check_bits(value: int) -> int:
    if value < 9 or value > 15:
        raise ValueError("Window size must be between 9 and 15 inclusive")
    return value


class PerMessageDeflate(Extension):
    """permessage-deflate with wsproto's constructor, properties and negotiation."""

    name = "permessage-deflate"

    DEFAULT_CLIENT_MAX_WINDOW_BITS = 15
    DEFAULT_SERVER_MAX_WINDOW_BITS = 15

    def __init__(
        self,
        client_no_context_takeover: bool = False,
        client_max_window_bits: Optional[int] = None,
        server_no_context_takeover: bool = False,
        server_max_window_bits: Optional[int] = None,
    ) -> None:
        self.client_no_context_takeover = client_no_context_takeover
        self.server_no_context_takeover = server_no_context_takeover
        self._client_max_window_bits = self.DEFAULT_CLIENT_MAX_WINDOW_BITS
        self._server_max_window_bits = self.DEFAULT_SERVER_MAX_WINDOW_BITS
        if client_max_window_bits is not None:
            self.client_max_window_bits = client_max_window_bits
        if server_max_window_bits is not None:
            self.server_max_window_bits = server_max_window_bits
        self._enabled = False

    @property
    def client_max_window_bits(self) -> int:
        return self._client_max_window_bits

    @client_max_window_bits.setter
    def client_max_window_bits(self, value: int) -> None:
        self._client_max_window_bits = _check_bits(value)

    @property
    def server_max_window_bits(self) -> int:
        return self._server_max_window_bits

    @server_max_window_bits.setter
    def server_max_window_bits(self, value: int) -> None:
        self._server_max_window_bits = _check_bits(value)

    def enabled(self) -> bool:
        return self._enabled

    def offer(self) -> Union[bool, str]:
        params = [
            f"client_max_window_bits={self.client_max_window_bits}",
            f"server_max_window_bits={self.server_max_window_bits}",
        ]
        if self.client_no_context_takeover:
            params.append("client_no_context_takeover")
        if self.server_no_context_takeover:
            params.append("server_no_context_takeover")
        return "; ".join(params)

    def _read(self, header: str, finalizing: bool) -> Tuple[Optional[int], Optional[int]]:
        """Apply the flags of an offer/answer; return the window sizes it names.

        Parameters are matched by prefix and unknown ones ignored (wsproto's leniency).
        A bare ``*_max_window_bits`` (allowed in an offer) means the current value.
        """
        client_bits: Optional[int] = None
        server_bits: Optional[int] = None
        for param in (p.strip() for p in header.split(";")[1:]):
            if param.startswith("client_no_context_takeover"):
                self.client_no_context_takeover = True
            elif param.startswith("server_no_context_takeover"):
                self.server_no_context_takeover = True
            elif param.startswith("client_max_window_bits"):
                client_bits = self._bits_value(param, self.client_max_window_bits, finalizing)
            elif param.startswith("server_max_window_bits"):
                server_bits = self._bits_value(param, self.server_max_window_bits, finalizing)
        return client_bits, server_bits

    @staticmethod
    def _bits_value(param: str, current: int, finalizing: bool) -> int:
        if "=" in param or finalizing:
            return int(param.split("=", 1)[1].strip())
        return current

    def finalize(self, offer: str) -> None:
        client_bits, server_bits = self._read(offer, finalizing=True)
        if client_bits is not None:
            self.client_max_window_bits = client_bits
        if server_bits is not None:
            self.server_max_window_bits = server_bits
        self._enabled = True

    def accept(self, offer: str) -> Union[bool, None, str]:
        client_bits, server_bits = self._read(offer, finalizing=False)
        params = []
        if self.client_no_context_takeover:
            params.append("client_no_context_takeover")
        if self.server_no_context_takeover:
            params.append("server_no_context_takeover")
        try:
            if client_bits is not None:
                params.append(f"client_max_window_bits={client_bits}")
                self.client_max_window_bits = client_bits
            if server_bits is not None:
                params.append(f"server_max_window_bits={server_bits}")
                self.server_max_window_bits = server_bits
        except ValueError:
            return None
        self._enabled = True
        return "; ".join(params)

    def __repr__(self) -> str:
        descr = [f"client_max_window_bits={self.client_max_window_bits}"]
        if self.client_no_context_takeover:
            descr.append("client_no_context_takeover")
        descr.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.server_no_context_takeover:
            descr.append("server_no_context_takeover")
        return f"<{type(self).__name__} {'; '.join(descr)}>"


SUPPORTED_EXTENSIONS = {PerMessageDeflate.name: PerMessageDeflate}

__all__ = ["SUPPORTED_EXTENSIONS", "Extension", "PerMessageDeflate"]
