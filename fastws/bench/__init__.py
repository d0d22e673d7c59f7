"""Comparative echo benchmark: many libraries, each server in its own pinned process.

    fastws bench                 # default run: every mode, ~3 minutes
    fastws bench --quick         # smoke run, under 30 s
    fastws bench --compression   # permessage-deflate on everywhere, JSON text (~3-4 minutes)
    fastws bench --help

Layout (each part is replaceable on its own):

* ``servers/``   one echo server script per library, each run in its own pinned
                 subprocess (``python -m fastws.bench.servers.<module>``, or
                 ``node servers/node_ws_echo.js`` for Node's ws); the registry in
                 ``servers/__init__.py`` says how to start each one, and
                 ``servers/node.py`` installs ws + bufferutil with npm on first use.
* ``clients/``   the load clients, all built on ``clients/_base.py`` (the measured
                 window, latency samples, /proc snapshots): one per library for
                 the round trip, and fastws's pipelined and many-connections ones.
* ``worker.py``  a long-lived, pinned client process that runs one client kind
                 on request (JSON lines on stdin/stdout), so imports are paid once.
* ``modes.py``   which tables each mode makes, and the (server, client, kind) cases they need.
* ``runner.py``  starts servers and workers, interleaves the runs, collects results.
* ``progress.py`` the progress bar / lines on stderr.
* ``payloads.py`` the chat-like JSON documents of the permessage-deflate mode.
* ``stats.py``   medians, spreads, paired ratios.
* ``report.py``  terminal / Markdown tables and the targets.
* ``machine.py`` what it ran on (CPU, Python, loop, library and Node versions).
* ``memory.py``  the idle-connection memory table; ``chart.py`` the PNG chart.

Starting one server by name (for other tools)::

    from fastws.bench import runner
    server = runner.start_server("picows", core=0)   # or "node-ws", "fastws-pure", ...
    ... connect to ws://127.0.0.1:{server.port}/, read /proc/{server.pid}/ ...
    server.stop()

``start_server`` raises ``runner.ServerSkipped`` for an optional peer that
cannot run here (Node.js missing) and ``runner.BenchError`` for a server that
did not start.

Results file (JSON, ``"format": 2``)::

    {
      "benchmark": "echo" | "echo-round-trip-deflate",
      "format": 2,
      "machine": {"date", "cpu", "cpus", "virtualization", "kernel", "os", "python", "loop",
                  "versions": {distribution: version}, "fastws_codec_default", "zlib",
                  "loadavg_start", "loadavg_end",
                  "node": {"ok", "reason", "node", "ws", "bufferutil", "modules"}   # when node-ws was asked for
                 },
      "config": {"sizes": [bytes...], "duration", "warmup", "repeat", "split_cores", "cores",
                 "modes": [...], "kinds": [...] | "default", "window", "connections",
                 "servers": [...], "clients": [...], "argv": [...]},
      "tables": [{"key": "roundtrip-binary", "title", "mode": "roundtrip" | "pipelined" |
                  "connections" | "clients" | "crosscheck", "kind": "binary" | "text",
                  "unit": "round trips/s" | "messages/s", "cpu_of": "server" | "client",
                  "sizes": [bytes...] (empty: all of config.sizes),
                  "reference": {"server", "client", "kind"},      # ratios are to this row
                  "rows": [{"label", "server", "client", "kind"}]}],
      "runs": [{"case": "server|client" (binary) or "server|client|text", "server", "client",
                "kind", "size", "rep", "index",
                "result": {"ok": true, "round_trips_per_s" (messages/s), "mb_per_s",
                           "server_cpu_us_per_msg", "client_cpu_us_per_msg",
                           "latency_us": {"p50", "p90", "p99", "max", "mean"}, "messages", ...}
                        | {"ok": false, "status": "failed" | "skipped", "error": str}}],
      "servers": {name: {"ok", "status": "ok" | "failed" | "skipped", "error", "pid", "port",
                         "impl", ...ready-line info}},
      "workers": {client name: {"version"}},
      "wall_time_s": float,
      "summary": {"server|client[|text]|size": {"case", "size", "runs", "ok", "status",
                  "<metric>": {"median", "min", "max", "n"} | null, "errors": [...]}},
      "targets": [{"target", "size", "met": true | false | null (info), "value", "detail"}],
      "memory": {"connections": N, "servers": {name: {"ok", "status": "ok" | "failed" | "skipped",
                 "error", "rss_before_kib", "rss_after_kib", "per_connection_kib"}}}  # unless --no-memory
    }

A table's cell for (row, size) is ``summary["<row case key>|<size>"]``; the
runs behind it are those with that ``case`` and ``size``.

Importing this package is cheap on purpose: server and client subprocesses
import it, and only the library each one drives is loaded.
"""
