"""The echo servers: how to start each one (the scripts themselves are the modules beside this)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class ServerSpec:
    name: str  # what --servers takes
    label: str  # table row
    module: str  # run as ``python -m <module>``
    protocol: str  # "ws", or "tcp" for the raw floor (driven by the raw TCP client)
    distribution: str  # whose version is recorded
    description: str
    env: Mapping[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()


_PKG = __name__

SERVERS: dict[str, ServerSpec] = {
    spec.name: spec
    for spec in (
        ServerSpec(
            "raw-tcp",
            "raw TCP (floor)",
            f"{_PKG}.tcp_raw",
            "tcp",
            "uvloop",
            "asyncio.Protocol echo on uvloop, no WebSocket",
        ),
        ServerSpec(
            "fastws",
            "fastws (C)",
            f"{_PKG}.fastws_echo",
            "ws",
            "fastws",
            "fastws callback API (EchoListener), C codec",
            env={"FASTWS_PURE": "0"},
        ),
        ServerSpec(
            "fastws-pure",
            "fastws (pure)",
            f"{_PKG}.fastws_echo",
            "ws",
            "fastws",
            "fastws callback API (EchoListener), FASTWS_PURE=1",
            env={"FASTWS_PURE": "1"},
        ),
        ServerSpec(
            "picows",
            "picows",
            f"{_PKG}.picows_echo",
            "ws",
            "picows",
            "picows WSListener echo, uvloop transport",
        ),
        ServerSpec(
            "picows-aiofastnet",
            "picows (aiofastnet)",
            f"{_PKG}.picows_echo",
            "ws",
            "picows",
            "picows WSListener echo on its own aiofastnet transport (not uvloop)",
            args=("--aiofastnet",),
        ),
        ServerSpec(
            "websockets",
            "websockets",
            f"{_PKG}.websockets_echo",
            "ws",
            "websockets",
            "websockets.asyncio server, compression=None",
        ),
        ServerSpec(
            "aiohttp",
            "aiohttp",
            f"{_PKG}.aiohttp_echo",
            "ws",
            "aiohttp",
            "aiohttp web.WebSocketResponse, compress=False",
        ),
    )
}

DEFAULT_SERVERS = ("raw-tcp", "fastws", "fastws-pure", "picows", "websockets", "aiohttp")
REFERENCE_SERVER = "fastws"  # ratios are to this one
FLOOR_SERVER = "raw-tcp"
