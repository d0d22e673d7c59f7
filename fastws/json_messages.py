"""JSON messages: one encoder and decoder for ``send_json`` / ``recv_json`` and ``Listener.parse_json``.

orjson when it is installed (``pip install fastws[json]``), the standard library
otherwise, with the same bytes out either way: compact (no spaces), UTF-8 as is
(no ``\\uXXXX`` escapes for non-ASCII), keys in insertion order, floats written
as orjson writes them (``1e16``, ``1e-7``, ``0.00001``), NaN and infinities as
``null``. Dict keys must be str (orjson refuses others, the standard library
would convert them), integers within 64 bits. ``FASTWS_JSON=stdlib`` forces the standard library.

A message that is not valid JSON raises :class:`InvalidJSON`; the message is
consumed and the connection stays open.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Callable, Union

from .exceptions import WebSocketError

__all__ = ["InvalidJSON", "dumps", "loads", "BACKEND"]


class InvalidJSON(WebSocketError, ValueError):
    """A message that is not valid JSON; ``message`` holds it (str or bytes), as received."""

    def __init__(self, detail: str, message: Union[str, bytes]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.message = message

    def __str__(self) -> str:
        preview = self.message[:40]
        more = "..." if len(self.message) > 40 else ""
        return f"invalid JSON in a message ({preview!r}{more}): {self.detail}"


def _float_text(value: float) -> str:
    """A float as orjson writes it (shortest round-trip digits, as repr; its exponent style)."""
    if value != value or value in (math.inf, -math.inf):
        return "null"
    text = float.__repr__(value)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    power = int(exponent)
    if power == -5:  # orjson writes [1e-5, 1e-4) in positional notation
        sign = "-" if mantissa.startswith("-") else ""
        digits = mantissa.lstrip("-").replace(".", "")
        return f"{sign}0.0000{digits}"
    return f"{mantissa}e{power}"


class _Encoder(json.JSONEncoder):
    def __init__(self) -> None:
        super().__init__(ensure_ascii=False, separators=(",", ":"), allow_nan=True)

    def iterencode(self, o: Any, _one_shot: bool = False) -> Any:
        # The pure-Python iterator: the C one cannot be told how to write floats.
        encoder = json.encoder._make_iterencode(  # type: ignore[attr-defined]
            {}, self.default, json.encoder.encode_basestring, None, _float_text,
            self.key_separator, self.item_separator, False, False, _one_shot,
        )  # fmt: skip
        return encoder(o, 0)

    def default(self, o: Any) -> Any:
        raise TypeError(f"Type is not JSON serializable: {type(o).__name__}")


_ENCODER = _Encoder()


def _stdlib_dumps(obj: Any) -> bytes:
    return "".join(_ENCODER.iterencode(obj)).encode("utf-8")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _stdlib_loads(data: Union[str, bytes]) -> Any:
    return json.loads(data, parse_constant=_refuse_constant)


dumps: Callable[[Any], bytes]
_loads: Callable[[Union[str, bytes]], Any]
try:
    if os.environ.get("FASTWS_JSON") == "stdlib":
        raise ImportError
    import orjson

    dumps = orjson.dumps
    _loads = orjson.loads
    BACKEND = "orjson"
except ImportError:
    dumps = _stdlib_dumps
    _loads = _stdlib_loads
    BACKEND = "json"


def loads(message: Union[str, bytes]) -> Any:
    """The value a message holds; InvalidJSON if it is not JSON."""
    try:
        return _loads(message)
    except ValueError as exc:  # orjson.JSONDecodeError and json.JSONDecodeError are ValueErrors
        raise InvalidJSON(str(exc), message) from None
