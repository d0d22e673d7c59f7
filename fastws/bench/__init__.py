"""Echo round-trip benchmark: one connection, one message in flight, many libraries.

    fastws bench                 # default run (~2-3 minutes)
    fastws bench --quick         # smoke run, a few seconds per table
    fastws bench --compression   # permessage-deflate on everywhere, JSON text (~3-4 minutes)
    fastws bench --help

Layout (each part is replaceable on its own, so this can grow into ``fastws bench``):

* ``servers/``   one echo server script per library, each run in its own pinned
                 subprocess (``python -m fastws.bench.servers.<module>``); the
                 registry in ``servers/__init__.py`` says how to start each one.
* ``clients/``   one load client per library, all built on ``clients/_base.py``
                 (the measured window, latency samples, /proc snapshots).
* ``worker.py``  a long-lived, pinned client process that runs one client kind
                 on request (JSON lines on stdin/stdout), so imports are paid once.
* ``modes.py``   which (server, client) pairs each table needs.
* ``runner.py``  starts servers and workers, interleaves the runs, collects results.
* ``payloads.py`` the chat-like JSON documents of the permessage-deflate mode.
* ``stats.py``   medians, spreads, percentiles.
* ``report.py``  terminal / Markdown tables and the targets.

Importing this package is cheap on purpose: server and client subprocesses
import it, and only the library each one drives is loaded.
"""
