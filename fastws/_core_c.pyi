"""Type stub of the compiled connection core (``fastws._core_c``, from ``src/_core_c.pyx``).

``fastws._core_py`` is its pure-Python twin; ``fastws.protocol.WebSocket`` subclasses it.
"""

from typing import Any, Awaitable, Final, Optional, Union

IMPLEMENTATION: Final[str]
OPEN: Final[int]
WRITELINES_THRESHOLD: Final[int]
READ_BUFFER_SIZE: Final[int]
READY: Awaitable[None]

class ProtocolCore:
    state: int
    transport: Any
    listener: Any
    _parser: Any
    _builder: Any
    _drain_waiter: Optional[Awaitable[None]]
    _fragmented_send: bool
    _text_bytes: bool
    _deflate: Any
    _corked: Optional[list[bytes]]
    def data_received(self, data: bytes) -> None: ...
    def get_buffer(self, sizehint: int) -> memoryview: ...
    def buffer_updated(self, nbytes: int) -> None: ...
    def send(
        self, message: Union[str, bytes, bytearray, memoryview], compress: bool = True, text: bool = False
    ) -> Awaitable[None]:
        """Send a text (str) or binary (bytes-like) message; await the result for flow control.

        ``text=True`` sends bytes as a text message (they must be UTF-8; not checked)."""
