"""What to measure: the tables, and the (server, client) pairs they need.

* ``servers``: every selected server, driven by one load client (the fastws
  callback client; the raw TCP floor by the raw TCP client).  The CPU figure
  is the server's.
* ``clients``: every selected client against the fastws (C) server.  The CPU
  figure is the client's.

Pairs needed by both tables (fastws client on fastws server) are run once.

With ``--compression`` (:func:`build_compression_tables`), permessage-deflate on
everywhere, text JSON messages:

* ``deflate``: every selected server, driven by the fastws callback client
  with compression on, one message in flight;
* ``deflate-xcheck``: fastws (C) and websockets driven by websockets' client,
  to show the load client does not decide the ratio;
* ``deflate-pipe``: every selected server, ``window`` messages in flight
  (messages/s rather than round trips/s).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

from .clients import CLIENTS, LOAD_CLIENT, REFERENCE_CLIENT
from .servers import DEFLATE_REFERENCE_SERVER, REFERENCE_SERVER, SERVERS

MODES = ("both", "servers", "clients")


@dataclass(frozen=True)
class Case:
    server: str
    client: str

    @property
    def key(self) -> str:
        return f"{self.server}|{self.client}"


@dataclass(frozen=True)
class Row:
    label: str
    case: Case


@dataclass(frozen=True)
class Table:
    key: str  # "servers" or "clients"
    title: str
    cpu_of: str  # whose CPU time per message the table shows: "server" or "client"
    rows: tuple[Row, ...]
    reference: Case  # ratios are to this row

    def to_json(self) -> dict:
        return {
            "key": self.key,
            "title": self.title,
            "cpu_of": self.cpu_of,
            "reference": asdict(self.reference),
            "rows": [{"label": r.label, **asdict(r.case)} for r in self.rows],
        }

    @classmethod
    def from_json(cls, data: dict) -> Table:
        return cls(
            data["key"],
            data["title"],
            data["cpu_of"],
            tuple(Row(r["label"], Case(r["server"], r["client"])) for r in data["rows"]),
            Case(**data["reference"]),
        )


def build_tables(mode: str, servers: Sequence[str], clients: Sequence[str]) -> list[Table]:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    tables = []
    if mode in ("both", "servers") and servers:
        rows = []
        for name in servers:
            spec = SERVERS[name]
            rows.append(Row(spec.label, Case(name, LOAD_CLIENT[spec.protocol])))
        tables.append(
            Table(
                "servers",
                "Servers (load client: fastws callback client; raw TCP floor: raw TCP client)",
                "server",
                tuple(rows),
                Case(REFERENCE_SERVER, LOAD_CLIENT["ws"]),
            )
        )
    if mode in ("both", "clients") and clients:
        rows = [Row(CLIENTS[name].label, Case(REFERENCE_SERVER, name)) for name in clients]
        tables.append(
            Table(
                "clients",
                f"Clients (server: {SERVERS[REFERENCE_SERVER].label})",
                "client",
                tuple(rows),
                Case(REFERENCE_SERVER, REFERENCE_CLIENT),
            )
        )
    return tables


DEFLATE_LOAD_CLIENT = "fastws-deflate"
DEFLATE_PIPE_CLIENT = "fastws-deflate-pipe"
DEFLATE_XCHECK_CLIENT = "websockets-deflate"
DEFLATE_XCHECK_SERVERS = ("fastws-deflate", "websockets-deflate")


def build_compression_tables(mode: str, servers: Sequence[str], window: int) -> list[Table]:
    """The tables of the permessage-deflate mode; ``mode`` "servers" leaves out the cross-check,
    ``window`` 0 the pipelined table."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    ref = DEFLATE_REFERENCE_SERVER
    tables = [
        Table(
            "deflate",
            "Round trip with permessage-deflate (load client: fastws callback client, compression on)",
            "server",
            tuple(Row(SERVERS[name].label, Case(name, DEFLATE_LOAD_CLIENT)) for name in servers),
            Case(ref, DEFLATE_LOAD_CLIENT),
        )
    ]
    xcheck = [name for name in DEFLATE_XCHECK_SERVERS if name in servers]
    if mode != "servers" and ref in xcheck and len(xcheck) > 1:
        tables.append(
            Table(
                "deflate-xcheck",
                "Cross-check: the same servers driven by the websockets client (compression on)",
                "server",
                tuple(Row(SERVERS[name].label, Case(name, DEFLATE_XCHECK_CLIENT)) for name in xcheck),
                Case(ref, DEFLATE_XCHECK_CLIENT),
            )
        )
    if window > 0:
        tables.append(
            Table(
                "deflate-pipe",
                f"Pipelined: {window} messages in flight on one connection "
                "(fastws callback client, compression on; rate = messages/s)",
                "server",
                tuple(Row(SERVERS[name].label, Case(name, DEFLATE_PIPE_CLIENT)) for name in servers),
                Case(ref, DEFLATE_PIPE_CLIENT),
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
