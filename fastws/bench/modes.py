"""What to measure: the tables, and the (server, client, kind) cases they need.

Modes (``--modes``), each a table per message kind:

* ``roundtrip``: every selected server, one connection, one message in flight,
  driven by one load client (the fastws callback client; the raw TCP floor by
  the raw TCP client).  Round trips/s, latency, server CPU per message.
* ``pipelined``: the same with a window of N messages in flight on one
  connection (messages/s, MB/s); raw TCP floor with the same window.
* ``connections``: N connections at once, one message in flight on each
  (total messages/s, server CPU per message); sizes up to 100 KiB only
  (:data:`CONNECTIONS_MAX_SIZE`: 256 x 1 MiB in flight would measure swap).
* ``clients``: every selected client against the fastws (C) server; the CPU
  figure is the client's.
* ``crosscheck``: every WebSocket server driven by a second load client
  (picows), to show the fastws client is not what limits the comparison.

Kinds: binary everywhere; text (UTF-8 with some non-ASCII characters) by
default only in ``roundtrip`` at sizes up to 8 KiB, where the per-message
UTF-8 work is a visible share of the cost (:data:`DEFAULT_TEXT_MAX_SIZE`);
``kinds=[...]`` given explicitly applies to every mode and size.

A case needed by several tables (the fastws client on the fastws server) is
run once.  Table sizes: ``Table.sizes`` (empty: every size of the run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from .clients import CLIENTS, CONNECTIONS_CLIENT, LOAD_CLIENT, PIPE_CLIENT, REFERENCE_CLIENT, XCHECK_CLIENT
from .common import format_size
from .servers import DEFLATE_REFERENCE_SERVER, REFERENCE_SERVER, SERVERS

MODES = ("roundtrip", "pipelined", "connections", "clients", "crosscheck")
LEGACY_MODES = {"both": ("roundtrip", "clients"), "servers": ("roundtrip",), "clients": ("clients",)}
# Result files from before tables had a "mode": the mode of each table key they used.
LEGACY_TABLE_MODES = {
    "servers": "roundtrip",
    "clients": "clients",
    "deflate": "roundtrip",
    "deflate-xcheck": "crosscheck",
    "deflate-pipe": "pipelined",
}
CONNECTIONS_MAX_SIZE = 100 * 1024
DEFAULT_TEXT_MAX_SIZE = 8 * 1024


@dataclass(frozen=True)
class Case:
    server: str
    client: str
    kind: str = "binary"

    @property
    def key(self) -> str:
        # binary keeps the two-part key of earlier result files
        return (
            f"{self.server}|{self.client}"
            if self.kind == "binary"
            else f"{self.server}|{self.client}|{self.kind}"
        )

    def to_json(self) -> dict:
        return {"server": self.server, "client": self.client, "kind": self.kind}

    @classmethod
    def from_json(cls, data: dict) -> Case:
        return cls(data["server"], data["client"], data.get("kind", "binary"))


@dataclass(frozen=True)
class Row:
    label: str
    case: Case


@dataclass(frozen=True)
class Table:
    key: str  # e.g. "roundtrip-binary", "pipelined-binary", "clients-binary", "deflate"
    title: str
    cpu_of: str  # whose CPU time per message the table shows: "server" or "client"
    rows: tuple[Row, ...]
    reference: Case  # ratios are to this row
    mode: str = "roundtrip"  # one of MODES
    kind: str = "binary"  # "binary" or "text"
    unit: str = "round trips/s"  # what the rate column counts
    sizes: tuple[int, ...] = ()  # message sizes of this table; () = every size of the run

    def sizes_of(self, run_sizes: Sequence[int]) -> list[int]:
        return [s for s in run_sizes if not self.sizes or s in self.sizes]

    def to_json(self) -> dict:
        return {
            "key": self.key,
            "title": self.title,
            "mode": self.mode,
            "kind": self.kind,
            "unit": self.unit,
            "cpu_of": self.cpu_of,
            "sizes": list(self.sizes),
            "reference": self.reference.to_json(),
            "rows": [{"label": r.label, **r.case.to_json()} for r in self.rows],
        }

    @classmethod
    def from_json(cls, data: dict) -> Table:
        # Files from before the modes existed: "servers", "clients" and "deflate*" keys only.
        return cls(
            data["key"],
            data["title"],
            data["cpu_of"],
            tuple(Row(r["label"], Case.from_json(r)) for r in data["rows"]),
            Case.from_json(data["reference"]),
            data.get("mode") or LEGACY_TABLE_MODES.get(data["key"], "roundtrip"),
            data.get("kind", "text" if data["key"].startswith("deflate") else "binary"),
            data.get("unit", "messages/s" if data["key"] == "deflate-pipe" else "round trips/s"),
            tuple(data.get("sizes") or ()),
        )


def _kind_plan(
    mode: str, kinds: Optional[Sequence[str]], sizes: Sequence[int]
) -> list[tuple[str, tuple[int, ...]]]:
    """(kind, sizes) of the tables of ``mode``: the default policy, or ``kinds`` at every size."""
    if mode == "connections":
        sizes = [s for s in sizes if s <= CONNECTIONS_MAX_SIZE]
    plan = []
    for kind in kinds or ("binary", "text"):
        chosen = list(sizes)
        if kinds is None and kind == "text":
            chosen = [s for s in sizes if s <= DEFAULT_TEXT_MAX_SIZE] if mode == "roundtrip" else []
        if chosen:
            plan.append((kind, tuple(chosen)))
    return plan


def build_tables(
    modes: Sequence[str],
    servers: Sequence[str],
    clients: Sequence[str],
    sizes: Sequence[int],
    kinds: Optional[Sequence[str]] = None,
    window: int = 16,
    connections: int = 256,
) -> list[Table]:
    """The tables of ``modes`` (in MODES order); ``kinds`` None: the default kind policy."""
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ValueError(f"unknown mode {unknown[0]!r}; expected some of {', '.join(MODES)}")
    ws_servers = [n for n in servers if SERVERS[n].protocol == "ws"]
    ref = REFERENCE_SERVER
    tables = []
    for mode in MODES:
        if mode not in modes:
            continue
        for kind, table_sizes in _kind_plan(mode, kinds, sizes):
            binary = kind == "binary"
            cpu_of, unit = "server", "round trips/s"
            if mode == "roundtrip" and servers:
                names = servers if binary else ws_servers  # bytes are bytes: no text floor
                rows = [Row(SERVERS[n].label, Case(n, LOAD_CLIENT[SERVERS[n].protocol], kind)) for n in names]
                reference = Case(ref, LOAD_CLIENT["ws"], kind)
                title = "Round trip: one connection, one message in flight (load client: fastws callback"
                title += "; raw TCP floor: raw TCP client" if binary and len(names) > len(ws_servers) else ""
                title += ")"
            elif mode == "pipelined" and servers:
                names = servers if binary else ws_servers
                rows = [Row(SERVERS[n].label, Case(n, PIPE_CLIENT[SERVERS[n].protocol], kind)) for n in names]
                reference = Case(ref, PIPE_CLIENT["ws"], kind)
                title = f"Pipelined: {window} messages in flight on one connection (fastws callback client)"
                unit = "messages/s"
            elif mode == "connections" and ws_servers:
                rows = [Row(SERVERS[n].label, Case(n, CONNECTIONS_CLIENT, kind)) for n in ws_servers]
                reference = Case(ref, CONNECTIONS_CLIENT, kind)
                title = (
                    f"Many connections: {connections} connections, one message in flight on each "
                    f"(fastws callback client; sizes up to {format_size(CONNECTIONS_MAX_SIZE)})"
                )
                unit = "messages/s"
            elif mode == "clients" and clients:
                rows = [Row(CLIENTS[n].label, Case(ref, n, kind)) for n in clients]
                reference = Case(ref, REFERENCE_CLIENT, kind)
                title = f"Clients (server: {SERVERS[ref].label})"
                cpu_of = "client"
            elif mode == "crosscheck" and ref in ws_servers and len(ws_servers) > 1:
                rows = [Row(SERVERS[n].label, Case(n, XCHECK_CLIENT, kind)) for n in ws_servers]
                reference = Case(ref, XCHECK_CLIENT, kind)
                title = (
                    f"Cross-check: round trip with the {CLIENTS[XCHECK_CLIENT].label} client as load "
                    "(the fastws client is not the bottleneck if the ratios agree)"
                )
            else:
                continue
            suffix = "" if binary else ", text"
            tables.append(
                Table(
                    f"{mode}-{kind}", title + suffix, cpu_of, tuple(rows), reference,
                    mode, kind, unit, table_sizes,
                )  # fmt: skip
            )
    return tables


DEFLATE_LOAD_CLIENT = "fastws-deflate"
DEFLATE_PIPE_CLIENT = "fastws-deflate-pipe"
DEFLATE_XCHECK_CLIENT = "websockets-deflate"
DEFLATE_XCHECK_SERVERS = ("fastws-deflate", "websockets-deflate")


def build_compression_tables(modes: Sequence[str], servers: Sequence[str], window: int) -> list[Table]:
    """The tables of the permessage-deflate mode (the deflate round trip always; the cross-check
    with "crosscheck" in ``modes``, the pipelined table with "pipelined" in ``modes`` and ``window`` > 0)."""
    ref = DEFLATE_REFERENCE_SERVER
    tables = [
        Table(
            "deflate",
            "Round trip with permessage-deflate (load client: fastws callback client, compression on)",
            "server",
            tuple(Row(SERVERS[name].label, Case(name, DEFLATE_LOAD_CLIENT)) for name in servers),
            Case(ref, DEFLATE_LOAD_CLIENT),
            "roundtrip",
            "text",
        )
    ]
    xcheck = [name for name in DEFLATE_XCHECK_SERVERS if name in servers]
    if "crosscheck" in modes and ref in xcheck and len(xcheck) > 1:
        tables.append(
            Table(
                "deflate-xcheck",
                "Cross-check: the same servers driven by the websockets client (compression on)",
                "server",
                tuple(Row(SERVERS[name].label, Case(name, DEFLATE_XCHECK_CLIENT)) for name in xcheck),
                Case(ref, DEFLATE_XCHECK_CLIENT),
                "crosscheck",
                "text",
            )
        )
    if window > 0 and "pipelined" in modes:
        tables.append(
            Table(
                "deflate-pipe",
                f"Pipelined: {window} messages in flight on one connection "
                "(fastws callback client, compression on; rate = messages/s)",
                "server",
                tuple(Row(SERVERS[name].label, Case(name, DEFLATE_PIPE_CLIENT)) for name in servers),
                Case(ref, DEFLATE_PIPE_CLIENT),
                "pipelined",
                "text",
                "messages/s",
            )
        )
    return tables


def cases_of(tables: Iterable[Table]) -> list[Case]:
    """Each pair once, in table order."""
    seen: dict[Case, None] = {}
    for table in tables:
        for row in table.rows:
            seen.setdefault(row.case, None)
    return list(seen)
