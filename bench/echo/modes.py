"""What to measure: the tables, and the (server, client) pairs they need.

* ``servers``: every selected server, driven by one load client (the fastws
  callback client; the raw TCP floor by the raw TCP client).  The CPU figure
  is the server's.
* ``clients``: every selected client against the fastws (C) server.  The CPU
  figure is the client's.

Pairs needed by both tables (fastws client on fastws server) are run once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

from .clients import CLIENTS, LOAD_CLIENT, REFERENCE_CLIENT
from .servers import REFERENCE_SERVER, SERVERS

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


def cases_of(tables: Iterable[Table]) -> list[Case]:
    """Each pair once, in table order."""
    seen: dict[Case, None] = {}
    for table in tables:
        for row in table.rows:
            seen.setdefault(row.case, None)
    return list(seen)
