"""The echo servers: how to start each one (the scripts are the modules beside this, and
node_ws_echo.js for Node's ws; node.py installs ws + bufferutil on first use)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
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
    runtime: str = "python"  # "python": ``python -m module``; "node": ``node <module>`` (a script here)
    optional: bool = False  # a peer whose runtime may be missing: skipped with a note, not a failure


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
        ServerSpec(
            "node-ws",
            "Node ws + bufferutil",
            "node_ws_echo.js",
            "ws",
            "ws",
            "Node.js ws 8 with bufferutil (installed on first use with npm; skipped without node)",
            runtime="node",
            optional=True,
        ),
        # An ASGI echo app under uvicorn, one server per ``--ws`` (``fastws bench --servers uvicorn``).
        *(
            ServerSpec(
                f"uvicorn-{ws}",
                f"uvicorn --ws {ws}",
                f"{_PKG}.uvicorn_echo",
                "ws",
                "uvicorn",
                f"ASGI echo app under uvicorn, --ws {what}",
                env={"FASTWS_BENCH_UVICORN_WS": ws},
            )
            for ws, what in (
                ("fastws", "fastws.asgi:WebSocketProtocol (C)"),
                ("websockets-sansio", "websockets-sansio (uvicorn's default, 'auto')"),
                ("websockets", "websockets (legacy implementation)"),
                ("wsproto", "wsproto"),
            )
        ),
        # permessage-deflate mode (``--compression``): the same scripts with ``--deflate``.
        ServerSpec(
            "fastws-deflate",
            "fastws (C)",
            f"{_PKG}.fastws_echo",
            "ws",
            "fastws",
            "fastws (C) with permessage-deflate: level 1, memLevel 5, 12-bit window (its defaults)",
            env={"FASTWS_PURE": "0"},
            args=("--deflate", "equal"),
        ),
        ServerSpec(
            "fastws-pure-deflate",
            "fastws (pure)",
            f"{_PKG}.fastws_echo",
            "ws",
            "fastws",
            "fastws (pure, FASTWS_PURE=1) with permessage-deflate, same settings",
            env={"FASTWS_PURE": "1"},
            args=("--deflate", "equal"),
        ),
        ServerSpec(
            "websockets-deflate",
            "websockets (level 1)",
            f"{_PKG}.websockets_echo",
            "ws",
            "websockets",
            "websockets with its permessage-deflate defaults, level set to 1 (memLevel 5, 12-bit windows)",
            args=("--deflate", "equal"),
        ),
        ServerSpec(
            "websockets-deflate-default",
            "websockets (defaults, level 6)",
            f"{_PKG}.websockets_echo",
            "ws",
            "websockets",
            "websockets compression='deflate' as shipped (zlib level 6, memLevel 5, 12-bit windows)",
            args=("--deflate", "default"),
        ),
        ServerSpec(
            "aiohttp-deflate",
            "aiohttp",
            f"{_PKG}.aiohttp_echo",
            "ws",
            "aiohttp",
            "aiohttp compress=True (level 1, memLevel 8, window as offered; > 16 KiB compressed in a thread)",
            args=("--deflate", "equal"),
        ),
        # Prototypes (issue 4 findings): fastws (C) with its deflate kernels on a faster deflate
        # engine; need the ``isal`` / ``zlib-ng`` packages; not in the default list.
        ServerSpec(
            "fastws-deflate-isal",
            "fastws (C) + ISA-L (prototype)",
            f"{_PKG}.fastws_echo",
            "ws",
            "fastws",
            "prototype: fastws (C), deflate kernels = the pure twin on python-isal (ISA-L igzip), level 1",
            env={"FASTWS_PURE": "0"},
            args=("--deflate", "equal", "--engine", "isal"),
        ),
        ServerSpec(
            "fastws-deflate-zlibng",
            "fastws (C) + zlib-ng (prototype)",
            f"{_PKG}.fastws_echo",
            "ws",
            "fastws",
            "prototype: fastws (C), deflate kernels = the pure twin on zlib-ng, level 1 (deflate_quick)",
            env={"FASTWS_PURE": "0"},
            args=("--deflate", "equal", "--engine", "zlib-ng"),
        ),
    )
}

# Test only: a server that cannot start (it exits on an unknown option), to see a failure reported
# without stopping the run.  Registered only with FASTWS_BENCH_TEST_SERVERS=1 in the environment
# (tests/benchmark_harness sets it), so --list, the defaults and --help never show it.
TEST_SERVERS: dict[str, ServerSpec] = {
    "test-broken": ServerSpec(
        "test-broken",
        "broken (test)",
        f"{_PKG}.fastws_echo",
        "ws",
        "fastws",
        "test only: exits at start-up (checks that a failed server is reported and the run goes on)",
        args=("--no-such-option",),
    ),
}
if os.environ.get("FASTWS_BENCH_TEST_SERVERS", "") not in ("", "0"):
    SERVERS.update(TEST_SERVERS)

# Before/after a change: FASTWS_BENCH_BASELINE=/path/to/another/checkout (its extensions built
# in place) adds "fastws-baseline", that checkout's fastws (C) echo server, to measure in the same run.
_BASELINE = os.environ.get("FASTWS_BENCH_BASELINE", "")
if _BASELINE:
    SERVERS["fastws-baseline"] = ServerSpec(
        "fastws-baseline",
        "fastws (C) baseline",
        f"{_PKG}.fastws_echo",
        "ws",
        "fastws",
        f"fastws (C) from {_BASELINE} (FASTWS_BENCH_BASELINE), for before/after comparisons",
        # PYTHONSAFEPATH: the working directory (this checkout) must not come first on sys.path.
        env={"FASTWS_PURE": "0", "PYTHONPATH": _BASELINE, "PYTHONSAFEPATH": "1"},
    )
    SERVERS["fastws-baseline-deflate"] = replace(
        SERVERS["fastws-baseline"],
        name="fastws-baseline-deflate",
        description=f"fastws (C) from {_BASELINE} with permessage-deflate, as fastws-deflate",
        args=("--deflate", "equal"),
    )

# ``--servers uvicorn``: the ASGI echo app under uvicorn with each WebSocket implementation.
UVICORN_SERVERS = tuple(name for name in SERVERS if name.startswith("uvicorn-"))
DEFAULT_SERVERS = ("raw-tcp", "fastws", "fastws-pure", "picows", "websockets", "aiohttp", "node-ws")
REFERENCE_SERVER = "fastws"  # ratios are to this one
DEFLATE_SERVERS = (
    "fastws-deflate",
    "fastws-pure-deflate",
    "websockets-deflate",
    "websockets-deflate-default",
    "aiohttp-deflate",
)
DEFLATE_REFERENCE_SERVER = "fastws-deflate"
FLOOR_SERVER = "raw-tcp"
