"""Memory per connection of permessage-deflate: RSS growth for N DeflateSessions.

    python bench/deflate_memory.py            # 2,000 connections, both implementations
    python bench/deflate_memory.py -n 5000 --impl c

Each measurement runs in a fresh interpreter.  A "connection" is one server
DeflateSession that compressed and decompressed either one ~1 KB JSON message
or 64 KiB of varied JSON (8 KiB messages) each way; zlib state is created on
first use, so a session that never compressed costs almost nothing.  RSS only
counts the pages zlib touched: after one small message much of a large window
is untouched; after 64 KiB the windows are full, which is where busy
long-lived connections end up.  ``DeflateSession.memory_estimate()`` (zlib's
formula) is the allocated size.

The pure-Python twin cannot reset a zlib stream, so with no context takeover
it drops its zlib objects after each message and makes new ones for the next:
between messages it holds nothing, at the price of an allocation per message.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFIGS = {
    # name: (PerMessageDeflate options, agreed response params)
    "zlib defaults (15/15 bits, memLevel 8)": ({}, []),
    "fastws server default (our 12 bits, memLevel 5; client's 15)": (
        {"server_max_window_bits": 12, "mem_level": 5},
        [],
    ),
    "websockets-like (12 bits, memLevel 5)": (
        {"server_max_window_bits": 12, "client_max_window_bits": 12, "mem_level": 5},
        [("client_max_window_bits", "12")],
    ),
    "leanest (9/9 bits, memLevel 1, no context takeover)": (
        {
            "server_max_window_bits": 9,
            "client_max_window_bits": 9,
            "mem_level": 1,
            "server_no_context_takeover": True,
            "client_no_context_takeover": True,
        },
        [
            ("server_no_context_takeover", None),
            ("client_no_context_takeover", None),
            ("client_max_window_bits", "9"),
        ],
    ),
}


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def traffic(kind: str) -> list[bytes]:
    """The messages each connection sends and receives: one ~1 KB JSON, or 64 KiB of varied JSON."""
    import random

    rnd = random.Random(0)

    def doc(items: int) -> bytes:
        return json.dumps(
            [
                {
                    "id": rnd.randrange(10**9),
                    "user": f"user{rnd.randrange(10**4)}",
                    "price": rnd.random() * 1e3,
                    "tags": rnd.sample("abcdefghij", 3),
                }
                for _ in range(items)
            ]
        ).encode()

    if kind == "one":
        return [doc(12)]
    out = []
    while sum(map(len, out)) < 64 * 1024:
        out.append(doc(80))  # ~8 KiB each
    return out


def child(impl: str, config: str, kind: str, count: int) -> dict:
    sys.path.insert(0, ROOT)
    import gc

    from fastws import deflate as pmd

    options, agreed = CONFIGS[config]
    ext = pmd.PerMessageDeflate(implementation=impl, **options)
    outgoing = traffic(kind)
    # What the peer sends, compressed once by one peer stream: every fresh session
    # decompressor reads the same sequence.
    peer = ext.make_session(agreed, is_client=True)
    incoming = [peer.compress(m) for m in outgoing]

    def connection() -> pmd.DeflateSession:
        s = ext.make_session(agreed)
        for message, payload in zip(outgoing, incoming):
            s.compress(message)
            assert s.decompress(payload, 1 << 20) == message
        return s

    warm = [connection() for _ in range(20)]  # allocator and code paths warmed up
    del warm
    gc.collect()
    before = rss_kib()
    sessions = [connection() for _ in range(count)]
    gc.collect()
    after = rss_kib()
    return {
        "kib_per_connection": (after - before) / count,
        "total_mib": (after - before) / 1024,
        "estimate_kib": sessions[0].memory_estimate() / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--count", type=int, default=2000)
    parser.add_argument("--impl", choices=["c", "python", "both"], default="both")
    parser.add_argument("--child", nargs=3, metavar=("IMPL", "CONFIG", "TRAFFIC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.count)))
        return
    impls = ["c", "python"] if args.impl == "both" else [args.impl]
    print(f"permessage-deflate memory per connection: RSS growth over {args.count} connections\n")
    print(
        "| implementation | settings | KiB/conn after one 1 KB message each way"
        " | KiB/conn after 64 KiB each way | zlib formula KiB/conn |"
    )
    print("|---|---|---:|---:|---:|")
    for impl in impls:
        for config in CONFIGS:
            row = []
            for kind in ("one", "busy"):
                out = subprocess.run(
                    [sys.executable, __file__, "-n", str(args.count), "--child", impl, config, kind],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                row.append(json.loads(out))
            print(
                f"| {impl} | {config} | {row[0]['kib_per_connection']:.1f} | {row[1]['kib_per_connection']:.1f}"
                f" | {row[0]['estimate_kib']:.1f} |"
            )


if __name__ == "__main__":
    main()
