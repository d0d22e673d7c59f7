"""fastws echo server: the callback API (``fastws.echo.EchoListener``), on uvloop.

The codec is whatever ``fastws.codec`` picks: the C one, or the pure-Python
twin when ``FASTWS_PURE=1`` is in the environment (the registry's
``fastws-pure`` entry sets it).  The implementation actually loaded is reported
in the ready line and checked against the environment, so a missing C build
cannot pass itself off as "fastws".

With ``--deflate`` (either preset) it accepts permessage-deflate with its
defaults, ``compression="deflate"``: level 1, memLevel 5, a 12-bit window for
its compressor, messages under 128 bytes sent uncompressed.  The "equal" preset
states them explicitly (a ``PerMessageDeflate``), so a change of default does
not change the comparison silently.
"""

from __future__ import annotations

import os
from typing import Optional

from ..common import MAX_SIZE
from ._common import main, version

# ``--engine isal`` / ``--engine zlib-ng`` (with --deflate; a prototype for issue 4, not a fastws
# feature): the deflate kernels are fastws's pure-Python twin (fastws/_deflate_py.py) loaded a
# second time with its ``zlib`` module swapped for python-isal's ``isal_zlib`` or zlib-ng's
# ``zlib_ng``, both drop-in zlib APIs; handed to fastws through PerMessageDeflate(implementation=...).
ENGINES = {"isal": ("isal.isal_zlib", "isal"), "zlib-ng": ("zlib_ng.zlib_ng", "zlib-ng")}


def _engine_kernels(name: str):  # type: ignore[no-untyped-def]
    import importlib
    import importlib.util

    from fastws import _deflate_py

    module_name, distribution = ENGINES[name]
    engine = importlib.import_module(module_name)
    spec = importlib.util.spec_from_file_location(
        f"fastws._deflate_{name.replace('-', '_')}", _deflate_py.__file__
    )
    assert spec is not None and spec.loader is not None
    kernels = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(kernels)
    kernels.zlib = engine  # type: ignore[attr-defined]  # the twin calls zlib.compressobj & co at run time
    kernels.IMPLEMENTATION = f"python+{name}"  # type: ignore[attr-defined]
    return kernels, f"{distribution} {version(distribution)}"


async def start(host: str, port: int, deflate: Optional[str] = None, engine: Optional[str] = None):
    from fastws import codec
    from fastws import deflate as deflate_module
    from fastws.echo import EchoListener
    from fastws.server import serve

    want = "python" if os.environ.get("FASTWS_PURE", "") not in ("", "0") else "c"
    if codec.IMPLEMENTATION != want:
        raise SystemExit(
            f"fastws codec is {codec.IMPLEMENTATION!r}, expected {want!r} (is the C extension built?)"
        )
    compression: object = None  # same settings for every library: no permessage-deflate
    settings: dict = {}
    kernels, engine_version = None, None
    if engine is not None:
        if engine not in ENGINES:
            raise SystemExit(f"--engine: unknown engine {engine!r} (known: {', '.join(ENGINES)})")
        if not deflate:
            raise SystemExit("--engine needs --deflate")
        kernels, engine_version = _engine_kernels(engine)
    if deflate == "equal":
        compression = deflate_module.PerMessageDeflate(
            server_max_window_bits=12, mem_level=5, level=1, implementation=kernels
        )
    elif deflate == "default":
        compression = "deflate"
    if deflate:
        from fastws.server import _compression_extensions

        ext = _compression_extensions(compression)[0]  # what serve() will use (the default's instance)
        settings = {
            "preset": deflate,
            "level": ext.level,
            "mem_level": ext.mem_level,
            "server_max_window_bits": ext.server_max_window_bits,
            "threshold": ext.threshold,
            "kernels": getattr(ext, "_mod", deflate_module).IMPLEMENTATION,
        }
        if getattr(getattr(ext, "_mod", deflate_module), "COMPRESSION_BACKEND", "zlib") != "zlib":
            settings["kernels"] += "+" + getattr(ext, "_mod", deflate_module).COMPRESSION_BACKEND  # "c+isal"
        if engine_version:
            settings["engine"] = engine_version
        elif deflate_module.IMPLEMENTATION != want:
            raise SystemExit(
                f"fastws deflate kernels are {deflate_module.IMPLEMENTATION!r}, expected {want!r}"
            )
    server = await serve(
        EchoListener,
        host,
        port,
        max_size=MAX_SIZE,
        ping_interval=None,  # no keepalive pings, as in the other servers measured here
        compression=compression,  # type: ignore[arg-type]
    )

    async def stop() -> None:
        server.close()
        await server.wait_closed()

    info = {"impl": f"fastws codec={codec.IMPLEMENTATION}", "fastws": version("fastws")}
    if settings:
        info["deflate"] = settings
    return server.port, info, stop


def _new_loop():
    from fastws.runner import new_event_loop

    return new_event_loop("uvloop")


if __name__ == "__main__":
    main("fastws_echo", start, _new_loop)
