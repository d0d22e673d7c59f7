"""Codec micro-benchmarks: fastws (compiled and pure Python) against its peers.

Run through ``python -m bench.run_codec`` (settings, JSON, report), or directly::

    pytest -c bench/pytest.ini bench/test_codec.py --benchmark-json=out.json

Groups (``benchmark.group``), one table each in the report:

* ``mask <size>``          XOR-mask ``size`` bytes, one call = one buffer.
* ``parse <kind> <size>``  server-side parse of a ~1 MiB buffer (>= 64 frames) of
                           masked client frames; one call = the whole buffer.
* ``parse binary <size> (GC on)``  the same for 16 B / 125 B frames with the garbage
                           collector on inside the timed call (it is off elsewhere).
* ``build <side> <size>``  encode one binary frame: ``server`` unmasked,
                           ``client`` masked with a fresh key.
* ``utf8 <kind> 1 MiB``    validate 1 MiB of ASCII or mixed multibyte UTF-8.

``extra_info`` of every benchmark: ``library`` (package), ``impl`` (row label),
``api`` (entry point driven), ``op``, ``size``, ``bytes`` and ``frames`` per
call, ``payload_bytes``; for parse also ``utf8_validated``.

fastws missing is a failure, never a skip; a peer that can't be imported is skipped.
"""

from __future__ import annotations

import pytest

from . import _drivers as drivers

GC_SIZES = (16, 125)
GC_IMPLS = ("fastws-c", "fastws-python", "picows", "picows (+payload)", "aiohttp")
from ._payloads import (
    FRAME_SIZES,
    MASK_KEY,
    MASK_SIZES,
    UTF8_BYTES,
    binary_payload,
    client_stream,
    frame_header,
    mask_input,
    size_id,
    size_label,
    utf8_input,
)


def _library(impl: str) -> str:
    return impl.split(" ")[0]


def _run(benchmark, bench: drivers.Bench, *, group: str, impl: str, op: str, size: int, **info):
    benchmark.group = group
    benchmark.extra_info.update(
        library=_library(impl),
        impl=impl,
        api=bench.api,
        op=op,
        size=size,
        **info,
    )
    if bench.notes:
        benchmark.extra_info["notes"] = bench.notes
    return benchmark(bench.fn, *bench.args)


@pytest.mark.parametrize("size", MASK_SIZES, ids=size_id)
@pytest.mark.parametrize("impl", drivers.MASK_IMPLS)
def test_mask(benchmark, impl, size):
    bench = drivers.mask(impl, mask_input(size), MASK_KEY)
    _run(
        benchmark,
        bench,
        group=f"mask {size_label(size)}",
        impl=impl,
        op="mask",
        size=size,
        bytes=size,
        frames=0,
        payload_bytes=size,
    )


def test_call_overhead(benchmark):
    """What pytest-benchmark's loop plus one trivial C call costs: the floor under
    every per-call time of a few tens of ns (reported in the 'mask 16 B' group)."""
    size = 16
    bench = drivers.mask("(call overhead)", mask_input(size), MASK_KEY)
    _run(
        benchmark,
        bench,
        group=f"mask {size_label(size)}",
        impl="(call overhead)",
        op="mask",
        size=size,
        bytes=size,
        frames=0,
        payload_bytes=size,
    )


@pytest.mark.parametrize("size", FRAME_SIZES, ids=size_id)
@pytest.mark.parametrize("kind", ["binary", "text"])
@pytest.mark.parametrize("impl", drivers.PARSE_IMPLS)
def test_parse(benchmark, impl, kind, size):
    bench = drivers.parse(impl, kind, size)
    buf, count = client_stream(kind, size)
    validated, delivered = drivers.PARSE_SEMANTICS[impl]
    result = _run(
        benchmark,
        bench,
        group=f"parse {kind} {size_label(size)}",
        impl=impl,
        op=f"parse-{kind}",
        size=size,
        bytes=len(buf),
        frames=count,
        payload_bytes=count * size,
        utf8_validated=validated if kind == "text" else None,
        delivers=delivered,
    )
    assert result == count


@pytest.mark.parametrize("size", GC_SIZES, ids=size_id)
@pytest.mark.parametrize("impl", GC_IMPLS)
def test_parse_gc_on(benchmark, impl, size):
    """Small-frame parse with the garbage collector ON inside the timed call.

    The suite normally times with the collector off (stable numbers).  Parsers that
    hand back many GC-tracked objects (fastws Frame, aiohttp WSMessage) pay for
    collections that the allocation count triggers; this group keeps that cost visible.
    """
    kind = "binary"
    bench = drivers.parse(impl, kind, size)
    bench = bench._replace(fn=drivers.with_gc(bench.fn), notes=(bench.notes + "; GC on").lstrip("; "))
    buf, count = client_stream(kind, size)
    _, delivered = drivers.PARSE_SEMANTICS[impl]
    result = _run(
        benchmark,
        bench,
        group=f"parse {kind} {size_label(size)} (GC on)",
        impl=impl,
        op=f"parse-{kind}-gc",
        size=size,
        bytes=len(buf),
        frames=count,
        payload_bytes=count * size,
        utf8_validated=None,
        delivers=delivered,
        gc="on",
    )
    assert result == count


@pytest.mark.parametrize("size", FRAME_SIZES, ids=size_id)
@pytest.mark.parametrize("side", ["server", "client"])
@pytest.mark.parametrize("impl", drivers.BUILD_IMPLS)
def test_build(benchmark, impl, side, size):
    body = binary_payload(size)
    bench = drivers.build(impl, side, body)
    wire = len(frame_header(0x2, size, masked=side == "client")) + (4 if side == "client" else 0) + size
    _run(
        benchmark,
        bench,
        group=f"build {side} {size_label(size)}",
        impl=impl,
        op=f"build-{side}",
        size=size,
        bytes=wire,
        frames=1,
        payload_bytes=size,
    )


@pytest.mark.parametrize("kind", ["ascii", "mixed"])
@pytest.mark.parametrize("impl", drivers.UTF8_IMPLS)
def test_utf8(benchmark, impl, kind):
    data = utf8_input(kind)
    bench = drivers.utf8(impl, data)
    result = _run(
        benchmark,
        bench,
        group=f"utf8 {kind} {size_label(UTF8_BYTES)}",
        impl=impl,
        op=f"utf8-{kind}",
        size=UTF8_BYTES,
        bytes=len(data),
        frames=0,
        payload_bytes=len(data),
    )
    assert result
