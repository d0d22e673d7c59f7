"""CPU time of other processes, read from /proc (Linux).

Two views of the same kernel counter (the task's ``sum_exec_runtime``):

* ``utime + stime`` from ``/proc/<pid>/stat``: whole process (all threads), in
  clock ticks (USER_HZ, 10 ms here), i.e. truncated to 10 ms.
* ``/proc/<pid>/task/*/schedstat`` first field: nanoseconds, per thread (summed).

The report uses the nanosecond view and keeps the tick view next to it as a
cross-check: over a 1 s window a 10 ms tick is a few percent of a server's CPU
time, too coarse to rank libraries that differ by a few percent.
"""

from __future__ import annotations

import os
import resource
import time
from typing import NamedTuple, Optional, Sequence

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat_fields(pid: int) -> list[bytes]:
    """Fields 3 and on of ``/proc/<pid>/stat`` (the process, all its threads)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    # The command name (field 2) may hold spaces or parentheses: split after the last ')'.
    return data[data.rindex(b")") + 2 :].split()


def stat_cpu_ticks(pid: int) -> tuple[int, int]:
    """(utime + stime in clock ticks, minor page faults) of process ``pid``, all its threads."""
    fields = _stat_fields(pid)
    return int(fields[11]) + int(fields[12]), int(fields[7])  # fields 14 + 15, and 10, of proc(5)


def user_system_ticks(pid: int) -> tuple[int, int]:
    """(utime, stime) of process ``pid`` in clock ticks, all its threads: its own code and
    libraries, then the kernel working for it (system calls: for a socket server mostly TCP)."""
    fields = _stat_fields(pid)
    return int(fields[11]), int(fields[12])


def sched_runtime_ns(pid: int) -> Optional[int]:
    """CPU time of process ``pid`` in ns (sum over its threads), or None if unavailable."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            if tid == str(pid):
                return None  # no schedstat at all on this kernel
            # a thread that just ended: ignore it
    return total


def cores_busy_ticks(cores: Sequence[int]) -> tuple[int, int]:
    """(busy, steal) clock ticks summed over ``cores``, from /proc/stat."""
    wanted = {f"cpu{c}".encode() for c in cores}
    busy = steal = 0
    with open("/proc/stat", "rb") as f:
        for line in f:
            if not line.startswith(b"cpu"):
                break
            parts = line.split()
            if parts[0] in wanted:
                # user nice system idle iowait irq softirq steal guest guest_nice
                values = [int(v) for v in parts[1:]]
                busy += values[0] + values[1] + values[2] + values[5] + values[6]
                steal += values[7] if len(values) > 7 else 0
    return busy, steal


def io_chars(pid: Optional[int] = None) -> tuple[int, int]:
    """(rchar, wchar) of process ``pid`` (this one if None): bytes through read()/write()-family
    calls, sockets included, i.e. the WebSocket bytes on the wire for an echo server on uvloop."""
    rchar = wchar = 0
    with open(f"/proc/{pid if pid is not None else 'self'}/io", "rb") as f:
        for line in f:
            if line.startswith(b"rchar:"):
                rchar = int(line.split()[1])
            elif line.startswith(b"wchar:"):
                wchar = int(line.split()[1])
    return rchar, wchar


class Snapshot(NamedTuple):
    wall_ns: int  # perf_counter_ns
    server_ticks: int  # utime + stime of the server process
    server_ns: Optional[int]  # schedstat runtime of the server process
    client_ns: int  # this (client) process's CPU time, CLOCK_PROCESS_CPUTIME_ID
    core_busy_ticks: int  # all activity on the benchmark core(s)
    core_steal_ticks: int
    server_minflt: int  # minor page faults of the server
    client_minflt: int  # ... and of this process
    # Byte counters (/proc/<pid>/io), only read with ``snapshot(..., io=True)``; -1 otherwise.
    server_rchar: int = -1
    server_wchar: int = -1
    client_rchar: int = -1
    client_wchar: int = -1


def snapshot(server_pid: Optional[int], cores: Sequence[int], io: bool = False) -> Snapshot:
    """Counters read at a window boundary (takes some tens of µs of client CPU)."""
    extra: tuple[int, ...] = ()
    if io:
        try:
            extra = (*(io_chars(server_pid) if server_pid is not None else (-1, -1)), *io_chars())
        except (OSError, ValueError):
            extra = ()
    if server_pid is not None:
        ticks, minflt = stat_cpu_ticks(server_pid)
        runtime = sched_runtime_ns(server_pid)
    else:
        ticks, minflt, runtime = 0, 0, None
    try:
        busy, steal = cores_busy_ticks(cores) if cores else (0, 0)
    except OSError:
        busy = steal = 0
    client = time.process_time_ns()
    client_minflt = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    return Snapshot(
        time.perf_counter_ns(), ticks, runtime, client, busy, steal, minflt, client_minflt, *extra
    )


def window(start: Snapshot, end: Snapshot) -> dict:
    """Differences between two snapshots, in seconds (None where unavailable)."""
    elapsed = (end.wall_ns - start.wall_ns) / 1e9
    server_s = (
        (end.server_ns - start.server_ns) / 1e9
        if start.server_ns is not None and end.server_ns is not None
        else None
    )
    server_stat_s = (end.server_ticks - start.server_ticks) / CLK_TCK
    client_s = (end.client_ns - start.client_ns) / 1e9
    busy_s = (end.core_busy_ticks - start.core_busy_ticks) / CLK_TCK
    steal_s = (end.core_steal_ticks - start.core_steal_ticks) / CLK_TCK
    io = {}
    if start.server_wchar >= 0 and end.server_wchar >= 0:
        io["server_rchar"] = end.server_rchar - start.server_rchar
        io["server_wchar"] = end.server_wchar - start.server_wchar
    if start.client_wchar >= 0 and end.client_wchar >= 0:
        io["client_rchar"] = end.client_rchar - start.client_rchar
        io["client_wchar"] = end.client_wchar - start.client_wchar
    return {
        **io,
        "elapsed_s": elapsed,
        "server_cpu_s": server_s if server_s is not None else server_stat_s,
        "server_cpu_source": "schedstat" if server_s is not None else "stat",
        "server_cpu_stat_s": server_stat_s,
        "client_cpu_s": client_s,
        "cores_busy_s": busy_s,
        "cores_steal_s": steal_s,
        "server_minflt": end.server_minflt - start.server_minflt,
        "client_minflt": end.client_minflt - start.client_minflt,
    }
