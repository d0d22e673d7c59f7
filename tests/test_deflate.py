"""permessage-deflate (RFC 7692): the zlib kernels (both twins) and the sans-IO negotiation.

Kernel tests take the ``deflate`` fixture and run against the compiled
``fastws._deflate_c`` and the pure-Python ``fastws._deflate_py``; a missing
compiled module fails them (skipped only with FASTWS_NO_EXTENSIONS=1), as for
the codec.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import random
import tracemalloc
import zlib
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets import frames as ws_frames
from websockets.extensions import permessage_deflate as ws_pmd

from fastws import deflate as pmd
from fastws.exceptions import InvalidHandshake, ProtocolError
from fastws.handshake import format_extensions, negotiate_extensions, parse_extensions

NO_EXTENSIONS = os.environ.get("FASTWS_NO_EXTENSIONS") == "1"  # as in tests/conftest.py
MODULES = {"c": "fastws._deflate_c", "python": "fastws._deflate_py"}
TAIL = b"\x00\x00\xff\xff"
MiB = 1 << 20


def zlib_compresses(mod) -> bool:
    """The module compresses with zlib, as Python's zlib module does: byte-identical output.

    A compiled twin built with ISA-L (``COMPRESSION_BACKEND == "isal"``) compresses
    with igzip: the same wire format, other bytes (levels other than 0).
    """
    return getattr(mod, "COMPRESSION_BACKEND", "zlib") == "zlib"


def load_deflate(name: str):
    try:
        return importlib.import_module(MODULES[name])
    except ImportError as exc:
        if name == "c" and NO_EXTENSIONS:
            pytest.skip("FASTWS_NO_EXTENSIONS=1: the compiled deflate kernels are deliberately not built")
        pytest.fail(f"cannot import {MODULES[name]}: {exc!r}", pytrace=False)


@pytest.fixture(scope="session", params=["c", "python"])
def deflate(request):
    """The deflate kernels under test, once per implementation."""
    return load_deflate(request.param)


@pytest.fixture(scope="session")
def both_deflates():
    return load_deflate("c"), load_deflate("python")


def json_message(rnd: random.Random, items: int) -> bytes:
    return json.dumps(
        [
            {
                "id": rnd.randrange(10**6),
                "user": rnd.choice(["alice", "bob", "carol", "dave"]),
                "price": round(rnd.uniform(0, 1000), 2),
                "tags": rnd.sample(["a", "b", "c", "d", "e", "f"], 3),
                "active": rnd.random() < 0.5,
            }
            for _ in range(items)
        ]
    ).encode()


def messages(seed: int = 0, count: int = 30) -> list[bytes]:
    """A mix the real traffic looks like: JSON of many sizes, some random bytes, some tiny or empty."""
    rnd = random.Random(seed)
    out = [b"", b"x", b"Hello", json_message(rnd, 1)]
    for i in range(count):
        kind = i % 3
        if kind == 0:
            out.append(json_message(rnd, rnd.randint(1, 300)))
        elif kind == 1:
            out.append(rnd.randbytes(rnd.randint(0, 5000)))
        else:
            out.append(bytes(rnd.randint(0, 70000)))  # long runs of zeros: long matches
    return out


def peak_rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# =========================================================================== kernels


class TestRfcExamples:
    """RFC 7692 §7.2.3, byte for byte."""

    def test_hello(self, deflate):
        # §7.2.3.1: "Hello" in one compressed frame: 0xc1 0x07 0xf2 0x48 0xcd 0xc9 0xc9 0x07 0x00.
        assert deflate.Compressor().compress(b"Hello") == bytes.fromhex("f248cdc9c90700")
        assert deflate.Decompressor().decompress(bytes.fromhex("f248cdc9c90700"), 100) == b"Hello"

    def test_sharing_the_window(self, deflate):
        # §7.2.3.2: with context takeover the second "Hello" is a back-reference: f2 00 11 00 00.
        c, d = deflate.Compressor(), deflate.Decompressor()
        first, second = c.compress(b"Hello"), c.compress(b"Hello")
        assert first == bytes.fromhex("f248cdc9c90700")
        if zlib_compresses(deflate):
            assert second == bytes.fromhex("f200110000")
        else:  # ISA-L: another back-reference encoding
            assert len(second) <= 5
        assert d.decompress(first, 100) == b"Hello"
        assert d.decompress(second, 100) == b"Hello"

    def test_no_context_takeover_repeats_the_first_encoding(self, deflate):
        c = deflate.Compressor(no_context_takeover=True)
        assert c.compress(b"Hello") == c.compress(b"Hello") == bytes.fromhex("f248cdc9c90700")

    def test_stored_block(self, deflate):
        # §7.2.3.3: a DEFLATE block with no compression.
        payload = bytes.fromhex("000500faff48656c6c6f00")
        assert deflate.Decompressor().decompress(payload, 100) == b"Hello"
        # zlib's level 0 produces exactly that.
        assert deflate.Compressor(level=0).compress(b"Hello") == payload

    @pytest.mark.parametrize("payload", ["f348cdc9c90700", "f348cdc9c9070000"])
    def test_bfinal_block(self, deflate, payload):
        # §7.2.3.4: a block with BFINAL set; bytes after it are ignored, the next message starts afresh.
        d = deflate.Decompressor()
        assert d.decompress(bytes.fromhex(payload), 100) == b"Hello"
        assert d.decompress(bytes.fromhex("f248cdc9c90700"), 100) == b"Hello"
        assert d.decompress(bytes.fromhex(payload), 100) == b"Hello"

    def test_two_blocks(self, deflate):
        # §7.2.3.5: two DEFLATE blocks in one message, which is what fragments produce.
        payload = bytes.fromhex("f24805000000ffffcac9c90700")
        assert deflate.Decompressor().decompress(payload, 100) == b"Hello"
        c = deflate.Compressor()
        assert c.compress_fragment(b"He", False) + c.compress_fragment(b"llo", True) == payload


class TestRoundTrip:
    @pytest.mark.parametrize("takeover", [True, False], ids=["takeover", "no-takeover"])
    def test_messages(self, deflate, takeover):
        c = deflate.Compressor(no_context_takeover=not takeover)
        d = deflate.Decompressor(no_context_takeover=not takeover)
        for message in messages(1):
            compressed = c.compress(message)
            assert not compressed.endswith(TAIL) or message == b""
            assert d.decompress(compressed, None) == message

    def test_context_takeover_shrinks_repeats(self, deflate):
        msg = json_message(random.Random(2), 20)
        c = deflate.Compressor()
        first, second = c.compress(msg), c.compress(msg)
        assert len(second) < len(first) // 5
        # The second message needs the first one's window: a fresh decompressor cannot read it.
        with pytest.raises(ProtocolError) as info:
            deflate.Decompressor().decompress(second, None)
        assert info.value.code == 1007

    def test_no_context_takeover_messages_stand_alone(self, deflate):
        c = deflate.Compressor(no_context_takeover=True)
        for message in messages(3, 10):
            assert deflate.Decompressor().decompress(c.compress(message), None) == message

    def test_no_context_takeover_after_an_empty_last_fragment(self, deflate):
        # An empty final fragment still ends the message: the next one stands alone.
        msg = json_message(random.Random(5), 20)
        c = deflate.Compressor(no_context_takeover=True)
        for _ in range(3):
            payload = c.compress_fragment(msg, False) + c.compress_fragment(b"", True)
            assert deflate.Decompressor().decompress(payload, None) == msg

    def test_input_types(self, deflate):
        c, d = deflate.Compressor(), deflate.Decompressor()
        text = "héllo wörld ✓ " * 20
        for data in (text, text.encode(), bytearray(text.encode()), memoryview(text.encode())):
            compressed = c.compress(data)
            assert d.decompress(memoryview(compressed), 10_000) == text.encode()
            assert d.decompress(bytearray(c.compress(data)), 10_000) == text.encode()
        with pytest.raises(TypeError):
            c.compress(12)
        with pytest.raises(TypeError):
            d.decompress("text", 100)

    def test_empty_messages(self, deflate):
        c, d = deflate.Compressor(), deflate.Decompressor()
        for _ in range(3):
            compressed = c.compress(b"")
            assert compressed == b"\x00"
            assert d.decompress(compressed, 0) == b""
        assert d.decompress(b"", 0) == b""  # an empty payload: just the appended empty block

    def test_large_message(self, deflate):
        # Larger than the C scratch buffer keeps (4 MiB): it is released afterwards.
        rnd = random.Random(4)
        big = b"".join(json_message(rnd, 200) for _ in range(300))
        assert len(big) > 5 * MiB
        c, d = deflate.Compressor(), deflate.Decompressor()
        for _ in range(2):
            assert d.decompress(c.compress(big), len(big)) == big
        assert d.decompress(c.compress(b"small"), 10) == b"small"

    def test_incompressible_message(self, deflate):
        data = random.Random(5).randbytes(300_000)
        c, d = deflate.Compressor(), deflate.Decompressor()
        compressed = c.compress(data)
        assert len(data) < len(compressed) < len(data) + 200
        assert d.decompress(compressed, len(data)) == data

    @pytest.mark.parametrize("level", [-1, 0, 1, 6, 9])
    @pytest.mark.parametrize("mem_level", [1, 5, 8, 9])
    def test_levels(self, deflate, level, mem_level):
        c, d = deflate.Compressor(level=level, mem_level=mem_level), deflate.Decompressor()
        for message in messages(6, 6):
            assert d.decompress(c.compress(message), None) == message

    def test_reset(self, deflate):
        c, d = deflate.Compressor(), deflate.Decompressor()
        d.decompress(c.compress(b"Hello"), 100)
        c.reset()
        d.reset()
        assert c.compress(b"Hello") == bytes.fromhex("f248cdc9c90700")
        assert d.decompress(bytes.fromhex("f248cdc9c90700"), 100) == b"Hello"
        deflate.Compressor().reset()  # before first use: nothing to reset
        deflate.Decompressor().reset()


class TestWindowBits:
    @pytest.mark.parametrize("bits", range(8, 16))
    @pytest.mark.parametrize("takeover", [True, False], ids=["takeover", "no-takeover"])
    def test_each_value(self, deflate, bits, takeover):
        c = deflate.Compressor(bits, not takeover)
        d = deflate.Decompressor(bits, not takeover)
        assert c.window_bits == d.window_bits == bits
        for message in messages(bits, 12):
            assert d.decompress(c.compress(message), None) == message

    @pytest.mark.parametrize("bits", range(8, 16))
    def test_decompressor_matches_zlib(self, deflate, bits):
        # Python's zlib, told the same window, reads our output.
        zobj = zlib.decompressobj(-bits)
        c = deflate.Compressor(bits)
        for message in messages(bits + 100, 10):
            assert zobj.decompress(c.compress(message) + TAIL) == message

    def test_8_bits_fit_a_256_byte_window(self, deflate):
        # zlib refuses an 8-bit raw compressor; ours runs at 9 bits, whose matches never reach
        # further than 250 bytes back. Inflating 7 bytes at a time with an 8-bit window proves
        # it: a longer distance would be "invalid distance too far back".
        c = deflate.Compressor(8)
        zobj = zlib.decompressobj(-8)
        rnd = random.Random(8)
        words = [bytes(rnd.choice(b"abcdefghij") for _ in range(rnd.randint(3, 12))) for _ in range(200)]
        for level in (1, 9):
            c = deflate.Compressor(8, level=level)
            for _ in range(40):
                message = b" ".join(rnd.choice(words) for _ in range(rnd.randint(1, 400)))
                pending, out = c.compress(message) + TAIL, b""
                while True:
                    chunk = zobj.decompress(pending, 7)
                    out += chunk
                    pending = zobj.unconsumed_tail
                    if not pending and len(chunk) < 7:
                        break
                assert out == message

    def test_larger_window_than_agreed_is_refused(self, deflate):
        # A peer breaking its window agreement is caught as corrupt data.
        rnd = random.Random(9)
        words = [rnd.randbytes(8) for _ in range(400)]
        c, d = deflate.Compressor(15), deflate.Decompressor(9)
        with pytest.raises(ProtocolError) as info:
            for _ in range(50):
                d.decompress(c.compress(b"".join(rnd.choice(words) for _ in range(2000))), None)
        assert info.value.code == 1007
        assert info.value.reason == "invalid compressed data: invalid distance too far back"

    @pytest.mark.parametrize("bits", [0, 7, 16, -15, 31])
    def test_out_of_range(self, deflate, bits):
        with pytest.raises(ValueError, match="window_bits"):
            deflate.Compressor(bits)
        with pytest.raises(ValueError, match="window_bits"):
            deflate.Decompressor(bits)

    def test_other_settings_out_of_range(self, deflate):
        for kwargs in ({"level": 10}, {"level": -2}, {"mem_level": 0}, {"mem_level": 10}):
            with pytest.raises(ValueError):
                deflate.Compressor(**kwargs)
        with pytest.raises(ValueError, match="max_size"):
            deflate.Decompressor().decompress(b"\x00", -1)


class TestFragments:
    @pytest.mark.parametrize("takeover", [True, False], ids=["takeover", "no-takeover"])
    def test_fragments_make_the_message(self, deflate, takeover):
        rnd = random.Random(10)
        c = deflate.Compressor(no_context_takeover=not takeover)
        d = deflate.Decompressor(no_context_takeover=not takeover)
        for message in messages(11, 12):
            cuts = sorted(rnd.randint(0, len(message)) for _ in range(rnd.randint(0, 5)))
            pieces = [message[a:b] for a, b in zip([0, *cuts], [*cuts, len(message)])]
            frames = [c.compress_fragment(p, i == len(pieces) - 1) for i, p in enumerate(pieces)]
            for frame in frames[:-1]:
                assert frame.endswith(TAIL)  # sync-flushed: the peer can inflate each frame at once
            assert d.decompress(b"".join(frames), None) == message
            # Interleaved with whole messages on the same stream.
            assert d.decompress(c.compress(b"between"), 100) == b"between"

    def test_each_frame_inflates_as_it_arrives(self, deflate):
        c = deflate.Compressor()
        zobj = zlib.decompressobj(-15)
        pieces = [b"first piece ", b"second piece ", b"first piece again"]
        got = b""
        for i, piece in enumerate(pieces):
            frame = c.compress_fragment(piece, i == 2)
            got += zobj.decompress(frame + (TAIL if i == 2 else b""))
            assert got == b"".join(pieces[: i + 1])

    def test_text_fragments(self, deflate):
        c, d = deflate.Compressor(), deflate.Decompressor()
        frames = [c.compress_fragment("héllo ", False), c.compress_fragment("wörld", True)]
        assert d.decompress(b"".join(frames), 100).decode() == "héllo wörld"

    def test_no_context_takeover_resets_after_final_fragment(self, deflate):
        c = deflate.Compressor(no_context_takeover=True)
        first = c.compress_fragment(b"Hel", False) + c.compress_fragment(b"lo", True)
        second = c.compress_fragment(b"Hel", False) + c.compress_fragment(b"lo", True)
        assert first == second
        assert deflate.Decompressor().decompress(second, 100) == b"Hello"


class TestLimits:
    def test_exact_limit(self, deflate):
        c, d = deflate.Compressor(), deflate.Decompressor()
        data = bytes(range(256)) * 40
        assert d.decompress(c.compress(data), len(data)) == data
        with pytest.raises(ProtocolError) as info:
            d.decompress(c.compress(data), len(data) - 1)
        assert info.value.code == 1009
        assert info.value.reason == f"decompressed message exceeds {len(data) - 1} bytes"

    @pytest.mark.parametrize("size", [0, 1, 4, 5, 6])
    def test_tiny_limits(self, deflate, size):
        c = deflate.Compressor()
        payload = c.compress(b"Hello")
        d = deflate.Decompressor()
        if size >= 5:
            assert d.decompress(payload, size) == b"Hello"
        else:
            with pytest.raises(ProtocolError) as info:
                d.decompress(payload, size)
            assert info.value.code == 1009

    def test_limit_with_bfinal_block(self, deflate):
        with pytest.raises(ProtocolError) as info:
            deflate.Decompressor().decompress(bytes.fromhex("f348cdc9c90700"), 4)
        assert info.value.code == 1009

    # Around the compiled twin's steps: 16 KiB built in its scratch buffer, then a bytes
    # object of 8x the input (at most 256 KiB), grown by half, then by an eighth past 1 MiB.
    SIZES: ClassVar[list[int]] = [16383, 16384, 16385, 24576, 24577, 262144, 262145, (1 << 20) + 1, 1_500_001]

    @pytest.mark.parametrize("kind", ["zeros", "text", "random"])
    def test_limits_around_the_growth_steps(self, deflate, kind):
        rnd = random.Random(7)
        if kind == "zeros":
            source = bytes(max(self.SIZES))
        elif kind == "text":
            source = json_message(rnd, max(self.SIZES) // 80)
        else:
            source = rnd.randbytes(max(self.SIZES))
        c, d = deflate.Compressor(), deflate.Decompressor()
        for size in self.SIZES:
            data = source[:size]
            assert len(data) == size
            payload = c.compress(data)
            assert d.decompress(payload, size) == data
            assert d.decompress(c.compress(data), None) == data
            with pytest.raises(ProtocolError) as info:
                d.decompress(c.compress(data), size - 1)
            assert info.value.code == 1009
            c, d = deflate.Compressor(), deflate.Decompressor()  # the 1009 reset d's stream

    def test_large_message_with_bfinal_block(self, deflate):
        data = bytes(range(256)) * 400 + os.urandom(50_000)
        z = zlib.compressobj(6, zlib.DEFLATED, -15)
        payload = z.compress(data) + z.flush(zlib.Z_FINISH) + b"ignored"
        d = deflate.Decompressor()
        assert d.decompress(payload, len(data)) == data
        assert d.decompress(payload, None) == data  # a new stream each time
        with pytest.raises(ProtocolError) as info:
            d.decompress(payload, len(data) - 1)
        assert info.value.code == 1009
        assert d.decompress(deflate.Compressor().compress(b"after"), 100) == b"after"

    def test_corrupt_after_a_large_output(self, deflate):
        d = deflate.Decompressor()
        with pytest.raises(ProtocolError) as info:
            d.decompress(self.zeros_bomb(3) + TestLimits.TRIPWIRE, 4 * MiB)
        assert info.value.code == 1007
        assert info.value.reason == "invalid compressed data: invalid block type"
        assert d.decompress(deflate.Compressor().compress(b"after"), 100) == b"after"

    def test_zeros_bomb(self, deflate):
        # 10 MiB of zeros compress to about 10 KB.
        bomb = deflate.Compressor(level=9).compress(bytes(10 * MiB))
        assert len(bomb) < 12_000
        d = deflate.Decompressor()
        with pytest.raises(ProtocolError) as info:
            d.decompress(bomb, MiB)
        assert info.value.code == 1009
        # The stream was reset: the decompressor reads a fresh stream again.
        assert d.decompress(deflate.Compressor().compress(b"after"), 100) == b"after"

    @staticmethod
    def gigabyte_bomb(gib: int) -> bytes:
        return TestLimits.zeros_bomb(gib * 1024)

    @staticmethod
    def zeros_bomb(mib: int) -> bytes:
        """One message that inflates to ``mib`` MiB of zeros: a compressed 1 MiB zero block, repeated.

        After the first block the window is all zeros, so every further MiB of
        zeros compresses to the very same bytes (about 1 KB at level 9).
        """
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        zeros = bytes(MiB)
        first = c.compress(zeros) + c.flush(zlib.Z_SYNC_FLUSH)
        repeat = c.compress(zeros) + c.flush(zlib.Z_SYNC_FLUSH)
        assert repeat == c.compress(zeros) + c.flush(zlib.Z_SYNC_FLUSH)
        return first + repeat * (mib - 1)

    def test_bomb_helper_is_a_real_bomb(self):
        bomb = self.gigabyte_bomb(1)[: 2 * 1100]  # a couple of blocks, checked with zlib itself
        out = zlib.decompressobj(-15).decompress(bomb)
        assert len(out) >= MiB and not any(out)

    # After a sync flush the stream is byte aligned: this byte starts a block of the
    # reserved type 3 (BFINAL 0, BTYPE 11), which zlib rejects.
    TRIPWIRE = b"\x06"

    def test_tripwire_is_corrupt(self, deflate):
        with pytest.raises(ProtocolError) as info:
            deflate.Decompressor().decompress(self.zeros_bomb(2) + self.TRIPWIRE, None)
        assert info.value.code == 1007
        assert info.value.reason == "invalid compressed data: invalid block type"

    @pytest.mark.parametrize("max_size", [MiB, 16 * MiB])
    def test_multi_gigabyte_bomb(self, deflate, max_size):
        # 4 GiB of zeros in ~4.2 MB, with a corrupt byte where the output reaches
        # max_size + 1 MiB: decompressing on after the limit would meet it (1007), so a
        # 1009 proves that decompression stopped within 1 MiB of output past the limit,
        # leaving the rest of the input (the other ~4 GiB) unread; the work is bounded by
        # the limit, not by the size of the bomb.
        head = self.zeros_bomb(max_size // MiB + 1)
        bomb = head + self.TRIPWIRE + self.gigabyte_bomb(4)[len(head) :]
        assert len(bomb) < 5 * MiB
        d = deflate.Decompressor()
        tracemalloc.start()
        exact_peak = reset_peak_rss()
        rss_before = peak_rss_kib()
        try:
            with pytest.raises(ProtocolError) as info:
                d.decompress(bomb, max_size)
            _, traced_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        rss_growth = (peak_rss_kib() - rss_before) * 1024
        assert info.value.code == 1009, info.value.reason
        assert info.value.reason == f"decompressed message exceeds {max_size} bytes"
        if deflate.IMPLEMENTATION == "c":
            # One output bytes object, never grown past max_size + 1 bytes.
            assert traced_peak < max_size + 256 * 1024, traced_peak
        else:
            # Output taken 64 KiB at a time into one BytesIO (grown by 1/8 at most), input
            # handed to zlib 64 KiB at a time (so unconsumed_tail copies stay small).
            assert traced_peak < 1.2 * max_size + 256 * 1024, traced_peak
        if exact_peak:
            assert rss_growth < 50 * MiB, rss_growth


class TestPeakMemory:
    """Peak traced memory while decompressing: about the limit for a bomb, one copy for a message."""

    @staticmethod
    def peak(call):
        tracemalloc.start()
        try:
            try:
                result = call()
            except ProtocolError as exc:
                result = exc
            return result, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    @pytest.mark.parametrize("limit", [4 * MiB, 16 * MiB])
    def test_bomb_costs_about_the_limit(self, deflate, limit):
        bomb = TestLimits.zeros_bomb(64)  # 64 MiB of zeros in ~70 KB
        d = deflate.Decompressor()
        error, peak = self.peak(lambda: d.decompress(bomb, limit))
        assert isinstance(error, ProtocolError) and error.code == 1009
        assert peak <= 1.2 * limit, peak / limit
        assert d.decompress(deflate.Compressor().compress(b"after"), 100) == b"after"

    @pytest.mark.parametrize("size", [4 * MiB, 16 * MiB])
    def test_accepted_message_is_held_once(self, deflate, size):
        # Inflated into the result itself (bytes grown in place, BytesIO), never copied out.
        data = bytes(range(251)) * (size // 251) + b"end"
        c = zlib.compressobj(1, zlib.DEFLATED, -15)
        payload = (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]
        d = deflate.Decompressor()
        out, peak = self.peak(lambda: d.decompress(payload, 4 * size))
        assert out == data
        del out
        assert peak <= 1.2 * len(data), peak / len(data)


class TestCorruptData:
    CASES: ClassVar[dict[str, bytes]] = {
        "invalid block type": bytes.fromhex("ff"),
        "invalid stored block lengths": bytes.fromhex("000500fbff48656c6c6f"),
        "invalid distance too far back": bytes.fromhex("f200110000"),  # a back-reference with no history
        "invalid code lengths set": bytes.fromhex("04c0818000000080a0fd"),
        "invalid bit length repeat": bytes.fromhex("05c0b10d000000c2a0f74f6d0f07140680"),
    }

    @pytest.mark.parametrize("reason", list(CASES))
    def test_1007(self, deflate, reason):
        d = deflate.Decompressor()
        with pytest.raises(ProtocolError) as info:
            d.decompress(self.CASES[reason], MiB)
        assert info.value.code == 1007
        assert info.value.reason == f"invalid compressed data: {reason}"
        # Reset after the error: a fresh stream decodes.
        assert d.decompress(bytes.fromhex("f248cdc9c90700"), 100) == b"Hello"

    def test_random_garbage_never_crashes(self, both_deflates):
        rnd = random.Random(12)
        for _ in range(500):
            data = rnd.randbytes(rnd.randint(0, 64))
            results = []
            for mod in both_deflates:
                try:
                    results.append(mod.Decompressor().decompress(data, 4096))
                except ProtocolError as exc:
                    assert exc.code in (1007, 1009)
                    results.append((exc.code, exc.reason))
            assert results[0] == results[1], data.hex()

    def test_truncated_messages(self, both_deflates):
        # A payload cut short breaks the sync-flush rule; it cannot always be told from a
        # complete one: it inflates to something or fails with 1007, the same in both twins.
        message = json_message(random.Random(17), 20)
        full = both_deflates[0].Compressor().compress(message)
        for cut in range(0, len(full), max(1, len(full) // 50)):
            results = []
            for mod in both_deflates:
                try:
                    results.append(mod.Decompressor().decompress(full[:cut], MiB))
                except ProtocolError as exc:
                    assert exc.code == 1007
                    results.append(exc.reason)
            assert results[0] == results[1]


class SameOutput:
    """What the twins' compressed messages must share: the bytes when both compress with zlib.

    With the compiled twin on ISA-L: each side's output inflates to the message with
    the other twin's decompressor and with Python's zlib at the agreed window (8 bits
    included), and ISA-L's total is at most 25% larger than zlib's (and not suspiciously
    small: at least half; with small windows ISA-L compresses ~25% better).
    """

    def __init__(self, c_mod, py_mod, settings: dict) -> None:
        self.identical = zlib_compresses(c_mod)
        wbits = settings.get("window_bits", 15)
        reset = settings.get("no_context_takeover", False)
        self.c_reads_py = c_mod.Decompressor(wbits, reset)
        self.py_reads_c = py_mod.Decompressor(wbits, reset)
        self.wbits, self.reset = wbits, reset
        self.zlib_reads_c = zlib.decompressobj(wbits=-wbits)
        self.sizes = [0, 0]

    def add(self, a: bytes, b: bytes, message) -> None:
        if self.identical:
            assert a == b
            return
        raw = message.encode() if isinstance(message, str) else bytes(message)
        assert self.py_reads_c.decompress(a, None) == raw
        assert self.c_reads_py.decompress(b, None) == raw
        if self.reset:
            self.zlib_reads_c = zlib.decompressobj(wbits=-self.wbits)
        assert self.zlib_reads_c.decompress(a + TAIL) == raw
        assert not a.endswith(TAIL) or raw == b""
        self.sizes[0] += len(a)
        self.sizes[1] += len(b)

    def done(self, sizes: bool = True) -> None:
        if sizes and not self.identical:
            assert 0.5 <= self.sizes[0] / self.sizes[1] <= 1.25, self.sizes


class TestTwins:
    """Both twins drive the same zlib: same bytes out (unless the compiled one uses ISA-L), same errors."""

    SETTINGS: ClassVar[list[dict]] = [
        {},
        {"window_bits": 8},
        {"window_bits": 9, "mem_level": 1, "no_context_takeover": True},
        {"window_bits": 12, "mem_level": 5},
        {"level": 9},
        {"level": 6, "no_context_takeover": True},
    ]

    @pytest.mark.parametrize(
        "settings", SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "default"
    )
    def test_identical_output(self, both_deflates, settings):
        c_mod, py_mod = both_deflates
        cc, pc = c_mod.Compressor(**settings), py_mod.Compressor(**settings)
        check = SameOutput(c_mod, py_mod, settings)
        rnd = random.Random(13)
        for message in messages(14, 20):
            if rnd.random() < 0.3:
                cut = rnd.randint(0, len(message))
                a = cc.compress_fragment(message[:cut], False) + cc.compress_fragment(message[cut:], True)
                b = pc.compress_fragment(message[:cut], False) + pc.compress_fragment(message[cut:], True)
            else:
                a, b = cc.compress(message), pc.compress(message)
            check.add(a, b, message)
        check.done()

    @given(st.lists(st.binary(max_size=3000) | st.text(max_size=500), max_size=8), st.sampled_from(SETTINGS))
    def test_identical_output_property(self, both_deflates, batch, settings):
        c_mod, py_mod = both_deflates
        cc, pc = c_mod.Compressor(**settings), py_mod.Compressor(**settings)
        wbits = settings.get("window_bits", 15)
        cd = c_mod.Decompressor(wbits, settings.get("no_context_takeover", False))
        pd = py_mod.Decompressor(wbits, settings.get("no_context_takeover", False))
        check = SameOutput(c_mod, py_mod, settings)
        for message in batch:
            a, b = cc.compress(message), pc.compress(message)
            raw = message.encode() if isinstance(message, str) else message
            check.add(a, b, raw)
            assert cd.decompress(a, None) == pd.decompress(b, None) == raw
        check.done(sizes=False)

    def test_level_0(self, both_deflates):
        # Stored blocks are cut where zlib's output space ends, which differs between the
        # twins' buffer strategies: same content, not always the same bytes. Only level 0.
        c_mod, py_mod = both_deflates
        cc, pc = c_mod.Compressor(level=0), py_mod.Compressor(level=0)
        for message in messages(18, 10):
            a, b = cc.compress(message), pc.compress(message)
            assert (
                py_mod.Decompressor().decompress(a, None)
                == c_mod.Decompressor().decompress(b, None)
                == message
            )
            if len(message) < 16_000:
                assert a == b

    def test_attributes(self, both_deflates):
        for mod in both_deflates:
            c = mod.Compressor(10, True, 3, 4)
            assert (c.window_bits, c.no_context_takeover, c.level, c.mem_level) == (10, True, 3, 4)
            d = mod.Decompressor(11, True)
            assert (d.window_bits, d.no_context_takeover) == (11, True)
            assert mod.IMPLEMENTATION in ("c", "python")


def in_pieces(d, data, max_size, budget: int) -> tuple[bytes, list[int]]:
    """``data`` inflated ``budget`` bytes at a time: the message and each call's output size."""
    d.start(data, max_size)
    pieces = []
    while True:
        result = d.inflate(budget)
        pieces.append(d.produced)
        if result is not None:
            assert not d.pending
            return result, pieces
        assert d.pending


class TestPiecewise:
    """start() and inflate(budget): one message inflated a slice at a time (as a connection
    does across turns of its loop), with decompress()'s result and errors."""

    @pytest.mark.parametrize("takeover", [True, False])
    @pytest.mark.parametrize("budget", [1, 100, 16383, 16384, 65536])
    def test_pieces_make_the_message(self, deflate, takeover, budget):
        c = deflate.Compressor(no_context_takeover=not takeover)
        d = deflate.Decompressor(no_context_takeover=not takeover)
        for message in messages(3, 12) + [bytes(range(256)) * 1200]:
            data, pieces = in_pieces(d, c.compress(message), None, budget)
            assert data == message
            assert sum(pieces) == len(message)
            # Every call but the last produced exactly the budget: no call does more.
            assert pieces[:-1] == [budget] * (len(pieces) - 1) and pieces[-1] <= budget

    @pytest.mark.parametrize("budget", [1, 7, 100])
    def test_a_pause_while_zlib_owes_output(self, deflate, budget):
        """All input may be handed to zlib while it still owes output (a long back-reference,
        here one completed by the appended 00 00 ff ff): the next call must take that output
        before the message ends (found by fuzzing)."""
        z = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = (z.compress(b"a" * 9000) + z.flush(zlib.Z_SYNC_FLUSH))[:16]  # cut inside the block
        whole = deflate.Decompressor().decompress(data, None)
        assert whole == b"a" * len(whole) and len(whole) == 2550
        assert in_pieces(deflate.Decompressor(), data, None, budget)[0] == whole

    def test_a_paused_message_survives_other_streams(self, deflate):
        """The compiled twin starts output in a buffer shared by every stream: a paused message
        must not be left in it while another stream inflates."""
        c1, c2 = deflate.Compressor(), deflate.Compressor()
        d1, d2 = deflate.Decompressor(), deflate.Decompressor()
        first, other = bytes(range(256)) * 40, b"other " * 2000  # 10 KiB and 12 KiB: in the shared buffer
        d1.start(c1.compress(first), None)
        assert d1.inflate(5000) is None and d1.produced == 5000
        assert d2.decompress(c2.compress(other), None) == other
        assert in_pieces(d2, c2.compress(other[::-1]), None, 3000)[0] == other[::-1]
        assert d1.inflate(0) == first

    def test_bomb_fails_at_the_limit(self, deflate):
        d = deflate.Decompressor()
        d.start(TestLimits.zeros_bomb(3), MiB)
        for _ in range(16):
            assert d.inflate(65536) is None and d.produced == 65536
        with pytest.raises(ProtocolError) as info:
            d.inflate(65536)
        assert info.value.code == 1009 and info.value.reason == f"decompressed message exceeds {MiB} bytes"
        assert d.produced == 1  # the byte past max_size
        assert not d.pending
        assert d.decompress(deflate.Compressor().compress(b"after"), 100) == b"after"

    def test_corrupt_data_fails_when_reached(self, deflate):
        d = deflate.Decompressor()
        d.start(TestLimits.zeros_bomb(1) + TestLimits.TRIPWIRE, 4 * MiB)
        pauses = 0
        with pytest.raises(ProtocolError) as info:
            while d.inflate(MiB // 4) is None:
                pauses += 1
        assert pauses == 3  # the fourth slice ends the zeros, and zlib reads the next block's header
        assert (info.value.code, info.value.reason) == (1007, "invalid compressed data: invalid block type")
        assert not d.pending and d.decompress(bytes.fromhex("f248cdc9c90700"), 100) == b"Hello"

    def test_bfinal_block_ends_the_stream(self, deflate):
        d = deflate.Decompressor()
        payload = bytes.fromhex("f348cdc9c90700")  # "Hello" in a final block
        assert in_pieces(d, payload, 100, 2) == (b"Hello", [2, 2, 1])
        assert in_pieces(d, bytes.fromhex("f248cdc9c90700"), 100, 2)[0] == b"Hello"  # a new stream

    def test_misuse(self, deflate):
        d = deflate.Decompressor()
        with pytest.raises(RuntimeError, match="no message to inflate"):
            d.inflate(10)
        d.start(deflate.Compressor().compress(b"x" * 1000), None)
        with pytest.raises(RuntimeError, match="a message is being inflated"):
            d.start(b"", None)
        with pytest.raises(RuntimeError, match="a message is being inflated"):
            d.decompress(b"", None)
        with pytest.raises(ValueError, match="budget must be >= 0"):
            d.inflate(-1)
        with pytest.raises(ValueError, match="max_size must be >= 0 or None"):
            deflate.Decompressor().start(b"", -1)
        assert d.inflate(10) is None and d.pending
        d.reset()  # drops the message (and the context)
        assert not d.pending
        assert d.decompress(deflate.Compressor().compress(b"y" * 1000), None) == b"y" * 1000

    def test_input_is_held_until_the_message_is_done(self, deflate):
        data = bytearray(deflate.Compressor().compress(bytes(range(256)) * 100))
        d = deflate.Decompressor()
        d.start(data, None)
        assert d.inflate(1000) is None
        with pytest.raises(BufferError):  # exported to the decompressor: not resized under it
            data.extend(b"x")
        assert d.inflate(0) == bytes(range(256)) * 100
        data.extend(b"x")  # released

    def test_twins_pause_alike(self, both_deflates):
        rnd = random.Random(5)
        c_mod, py_mod = both_deflates
        zc = zlib.compressobj(6, zlib.DEFLATED, -15)
        streams = c_mod.Decompressor(), py_mod.Decompressor()
        for message in messages(9, 20):
            data = (zc.compress(message) + zc.flush(zlib.Z_SYNC_FLUSH))[:-4]
            if rnd.random() < 0.2:
                data = data[: rnd.randint(0, len(data))] + rnd.randbytes(rnd.randint(0, 8))
            budget, max_size = rnd.choice([1, 7, 4096, 16385]), rnd.choice([None, 1000, 50000])
            results = []
            for d in streams:
                try:
                    results.append(in_pieces(d, data, max_size, budget))
                except ProtocolError as exc:
                    results.append((exc.code, exc.reason, d.produced))
            assert results[0] == results[1]
            if not isinstance(results[0][0], bytes):  # both failed: both start afresh, as a new stream
                zc = zlib.compressobj(6, zlib.DEFLATED, -15)


def traced_growth(churn, rounds: int) -> int:
    """Bytes still allocated (tracemalloc) after ``rounds`` calls of ``churn``, run once before."""
    churn()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(rounds):
            churn()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


class TestResources:
    def test_no_leak(self, deflate):
        # zlib allocates through PyMem_RawMalloc in both twins, so tracemalloc sees it.
        def churn():
            for bits in (9, 15):
                c, d = deflate.Compressor(bits), deflate.Decompressor(bits)
                d.decompress(c.compress(b"some message " * 100), None)

        churn()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(200):
                churn()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert after - before < 64 * 1024

    def test_no_leak_with_large_and_failing_messages(self, deflate):
        big = bytes(range(256)) * 2000  # 512 KB
        payload = deflate.Compressor().compress(big)
        bomb = TestLimits.zeros_bomb(2)
        corrupt = TestLimits.zeros_bomb(1) + TestLimits.TRIPWIRE

        def churn():
            d = deflate.Decompressor()
            assert d.decompress(payload, None) == big
            for data, code in ((bomb, 1009), (corrupt, 1007)):
                with pytest.raises(ProtocolError) as info:
                    d.decompress(data, MiB + 100)
                assert info.value.code == code

        # gc: the tracebacks held by pytest.raises make cycles with churn's frame
        assert traced_growth(churn, 50) < 64 * 1024

    def test_no_leak_with_messages_left_pending(self, deflate):
        payload = deflate.Compressor().compress(bytes(range(256)) * 2000)

        def churn():
            d = deflate.Decompressor()
            d.start(payload, None)
            assert d.inflate(300_000) is None  # a bytes object of its own, then dropped with d
            d2 = deflate.Decompressor()
            d2.start(payload, None)
            assert d2.inflate(100) is None
            d2.reset()  # dropped by reset

        assert traced_growth(churn, 100) < 64 * 1024

    def test_state_is_created_on_first_use(self, deflate):
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            idle = [(deflate.Compressor(), deflate.Decompressor()) for _ in range(100)]
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert (after - before) / len(idle) < 1024  # no 256 KiB zlib state per idle connection


class TestZlibInterop:
    @pytest.mark.parametrize("bits", [9, 12, 15])
    def test_zlib_compressed_input(self, deflate, bits):
        zobj = zlib.compressobj(6, zlib.DEFLATED, -bits, 9)
        d = deflate.Decompressor(bits)
        for message in messages(15, 10):
            payload = zobj.compress(message) + zobj.flush(zlib.Z_SYNC_FLUSH)
            assert payload.endswith(TAIL)
            assert d.decompress(payload[:-4], None) == message

    def test_full_flush_input(self, deflate):
        # Z_FULL_FLUSH also ends with an empty stored block; a fresh decompressor can join anywhere.
        zobj = zlib.compressobj(6, zlib.DEFLATED, -15)
        for message in messages(16, 5):
            payload = zobj.compress(message) + zobj.flush(zlib.Z_FULL_FLUSH)
            assert deflate.Decompressor().decompress(payload[:-4], None) == message


# =========================================================================== websockets interop


# (server_no_context_takeover, client_no_context_takeover, server_max_window_bits, client_max_window_bits)
COMBOS = [
    (False, False, 15, 15),
    (True, False, 15, 15),
    (False, True, 15, 15),
    (True, True, 15, 15),
    (False, False, 10, 12),
    (True, False, 9, 9),
    (False, True, 12, 9),
    (False, False, 8, 15),  # our server at 8 bits: websockets inflates with a 256-byte window
    (False, False, 15, 8),  # our client at 8 bits
]


def ws_frame(data: bytes, fin: bool = True, continuation: bool = False):
    opcode = ws_frames.Opcode.CONT if continuation else ws_frames.Opcode.BINARY
    return ws_frames.Frame(opcode, data, fin=fin)


def assert_exchange(ours: pmd.DeflateSession, theirs, msgs: list[bytes]) -> None:
    """Messages both ways, whole and fragmented, between our session and a websockets extension."""
    rnd = random.Random(len(msgs))
    for message in msgs:
        # ours -> websockets
        frame = theirs.decode(ws_frames.Frame(ws_frames.Opcode.BINARY, ours.compress(message), rsv1=True))
        assert frame.data == message
        # websockets -> ours
        encoded = theirs.encode(ws_frame(message))
        assert encoded.rsv1
        assert ours.decompress(encoded.data, None) == message
        if len(message) > 10 and rnd.random() < 0.3:
            cut = rnd.randint(1, len(message) - 1)
            # ours, fragmented -> websockets: RSV1 on the first frame only
            first = ws_frames.Frame(
                ws_frames.Opcode.BINARY, ours.compress_fragment(message[:cut], False), fin=False, rsv1=True
            )
            last = ws_frames.Frame(ws_frames.Opcode.CONT, ours.compress_fragment(message[cut:], True))
            assert theirs.decode(first).data + theirs.decode(last).data == message
            # websockets, fragmented -> ours
            f1 = theirs.encode(ws_frame(message[:cut], fin=False))
            f2 = theirs.encode(ws_frame(message[cut:], continuation=True))
            assert f1.rsv1 and not f2.rsv1
            assert ours.decompress(f1.data + f2.data, None) == message


# websockets cannot compress with an 8-bit window (zlib refuses it): those combinations
# are left out where websockets compresses (our side of 8 bits is tested above).
@pytest.mark.parametrize("snct,cnct,sbits,cbits", [c for c in COMBOS if c[3] != 8])
def test_websockets_interop_we_are_server(deflate, snct, cnct, sbits, cbits):
    agreed = pmd.DeflateParams(snct, cnct, sbits, cbits).to_params()
    ours = pmd.PerMessageDeflate(implementation=deflate).make_session(agreed)
    theirs = ws_pmd.PerMessageDeflate(snct, cnct, sbits, cbits)  # client: remote=server, local=client
    assert_exchange(ours, theirs, messages(sbits * 16 + cbits, 15))


@pytest.mark.parametrize("snct,cnct,sbits,cbits", [c for c in COMBOS if c[2] != 8])
def test_websockets_interop_we_are_client(deflate, snct, cnct, sbits, cbits):
    offered = pmd.client_offer(client_max_window_bits=True)
    answer = pmd.DeflateParams(snct, cnct, sbits, cbits).to_params()
    ours = pmd.client_accept(answer, offered, implementation=deflate)
    theirs = ws_pmd.PerMessageDeflate(cnct, snct, cbits, sbits)  # server: remote=client, local=server
    assert_exchange(ours, theirs, messages(sbits * 16 + cbits + 1, 15))


@pytest.mark.parametrize(
    "factory_kwargs",
    [
        {},
        {"client_max_window_bits": 10},
        {"client_max_window_bits": None},
        {"server_max_window_bits": 11},
        {"server_no_context_takeover": True},
        {"client_no_context_takeover": True, "server_max_window_bits": 9},
    ],
    ids=str,
)
@pytest.mark.parametrize(
    "server_kwargs",
    [{}, {"server_max_window_bits": 12, "client_max_window_bits": 10}, {"client_no_context_takeover": True}],
    ids=str,
)
def test_websockets_client_negotiates_with_our_server(deflate, factory_kwargs, server_kwargs):
    client = ws_pmd.ClientPerMessageDeflateFactory(**factory_kwargs)
    header = format_extensions([(client.name, client.get_request_params())])
    server = pmd.PerMessageDeflate(implementation=deflate, **server_kwargs)
    response, accepted = negotiate_extensions(parse_extensions([header]), [server])
    assert response is not None
    [(_ext, agreed)] = accepted
    [(_name, params)] = parse_extensions([response])
    theirs = client.process_response_params(params, [])
    ours = server.make_session(agreed)
    assert_exchange(ours, theirs, messages(7, 8))


@pytest.mark.parametrize(
    "offer_kwargs",
    [
        {},
        {"client_max_window_bits": 11},
        {"client_max_window_bits": None},
        {"server_max_window_bits": 10},
        {"server_no_context_takeover": True, "client_no_context_takeover": True},
    ],
    ids=str,
)
@pytest.mark.parametrize(
    "factory_kwargs",
    [{}, {"server_max_window_bits": 12, "client_max_window_bits": 10}, {"client_no_context_takeover": True}],
    ids=str,
)
def test_our_client_negotiates_with_websockets_server(deflate, offer_kwargs, factory_kwargs):
    offered = pmd.client_offer(**offer_kwargs)
    header = format_extensions([(pmd.EXTENSION_NAME, offered)])
    [(name, params)] = parse_extensions([header])
    server = ws_pmd.ServerPerMessageDeflateFactory(**factory_kwargs)
    response_params, theirs = server.process_request_params(params, [])
    [(name, response)] = parse_extensions([format_extensions([(name, response_params)])])
    ours = pmd.client_accept(response, offered, implementation=deflate)
    assert_exchange(ours, theirs, messages(8, 8))


# =========================================================================== negotiation (server)


def offers(header: str) -> list:
    return [params for name, params in parse_extensions([header]) if name == pmd.EXTENSION_NAME]


def answer(header: str, **options) -> str | None:
    ext = pmd.PerMessageDeflate(**options)
    response, _ = negotiate_extensions(parse_extensions([header]), [ext])
    return response


class TestServerNegotiation:
    def test_remembered_parameters_decode_as_the_first_time(self):
        """Decoded parameter lists are remembered: the same answer again, invalid ones refused
        every time, and lists of lists (unhashable) still decoded."""
        for params, offer in (([("client_max_window_bits", None)], True), ([("server_max_window_bits", "10")], False)):
            first = pmd.parse_params(params, offer=offer)
            assert pmd.parse_params(list(params), offer=offer) is first
            assert pmd.parse_params([list(p) for p in params], offer=offer) == first
        for _ in range(2):
            with pytest.raises(ValueError, match="needs a value"):
                pmd.parse_params([("server_max_window_bits", None)], offer=True)
        import itertools

        combos = itertools.product(range(8, 16), [*map(str, range(8, 16)), None], (False, True), (False, True))
        for (server_bits, client_bits, server_reset, offer) in combos:  # 256 x 2 distinct lists
            params = [("server_max_window_bits", str(server_bits)), ("client_max_window_bits", client_bits)]
            if server_reset:
                params.append(("server_no_context_takeover", None))
            if client_bits is None and not offer:
                continue  # a value is required in an answer
            assert pmd.parse_params(params, offer=offer) == pmd._parse_params(params, offer)
        assert len(pmd._PARSED_PARAMS) <= pmd._PARSED_PARAMS_MAX

    def test_rfc_examples(self):
        # RFC 7692 §5.1 / §7.1: the plain offer, accepted with no parameters.
        assert answer("permessage-deflate") == "permessage-deflate"
        # §7.1.2.2: "I accept a limit on my window"; no limit wanted, nothing answered.
        assert answer("permessage-deflate; client_max_window_bits") == "permessage-deflate"
        # §5.2: a first offer with a parameter, then a plain fallback: the first is acceptable.
        assert (
            answer("permessage-deflate; server_max_window_bits=10, permessage-deflate")
            == "permessage-deflate; server_max_window_bits=10"
        )
        # The same with the first offer unacceptable (9..15 only in the RFC's §5.2 example variant).
        assert (
            answer("permessage-deflate; server_max_window_bits=16, permessage-deflate")
            == "permessage-deflate"
        )
        # §7.1.1: context takeover parameters.
        assert (
            answer("permessage-deflate; server_no_context_takeover")
            == "permessage-deflate; server_no_context_takeover"
        )
        assert (
            answer("permessage-deflate; client_no_context_takeover")
            == "permessage-deflate; client_no_context_takeover"
        )
        # Chrome's offer.
        assert answer("permessage-deflate; client_max_window_bits") == "permessage-deflate"

    def test_browser_offers(self):
        chrome = "permessage-deflate; client_max_window_bits"
        firefox = "permessage-deflate"
        lean = {"server_max_window_bits": 9, "client_max_window_bits": 9, "mem_level": 1}
        assert answer(chrome, **lean) == "permessage-deflate; client_max_window_bits=9"
        assert answer(firefox, **lean) == "permessage-deflate"  # cannot limit Firefox's window

    def test_server_window_limits(self):
        ext = pmd.PerMessageDeflate(server_max_window_bits=10)
        assert ext.negotiate(offers("permessage-deflate; server_max_window_bits=12")[0:1]) == [
            ("server_max_window_bits", "10")
        ]
        assert ext.negotiate(offers("permessage-deflate; server_max_window_bits=9")) == [
            ("server_max_window_bits", "9")
        ]
        assert ext.negotiate(offers("permessage-deflate; server_max_window_bits=8")) == [
            ("server_max_window_bits", "8")
        ]
        # Not asked for: applied silently, not answered.
        assert ext.negotiate(offers("permessage-deflate")) == []
        session = ext.make_session([])
        assert session.compressor.window_bits == 10
        assert session.decompressor.window_bits == 15

    def test_client_window_limits(self):
        ext = pmd.PerMessageDeflate(client_max_window_bits=10)
        assert ext.negotiate(offers("permessage-deflate; client_max_window_bits")) == [
            ("client_max_window_bits", "10")
        ]
        assert ext.negotiate(offers("permessage-deflate; client_max_window_bits=9")) == [
            ("client_max_window_bits", "9")
        ]
        assert ext.negotiate(offers("permessage-deflate; client_max_window_bits=12")) == [
            ("client_max_window_bits", "10")
        ]
        assert ext.negotiate(offers("permessage-deflate")) == []  # the client cannot be limited
        # No preference of ours: the client's own hint is confirmed, and we inflate with it.
        plain = pmd.PerMessageDeflate()
        assert plain.negotiate(offers("permessage-deflate; client_max_window_bits=11")) == [
            ("client_max_window_bits", "11")
        ]
        assert plain.make_session([("client_max_window_bits", "11")]).decompressor.window_bits == 11

    def test_context_takeover_options(self):
        ext = pmd.PerMessageDeflate(server_no_context_takeover=True, client_no_context_takeover=True)
        agreed = ext.negotiate([[]])
        assert agreed == [("server_no_context_takeover", None), ("client_no_context_takeover", None)]
        session = ext.make_session(agreed)
        assert session.compressor.no_context_takeover and session.decompressor.no_context_takeover

    def test_all_parameters(self):
        header = (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover;"
            " server_max_window_bits=11; client_max_window_bits=13"
        )
        assert answer(header, client_max_window_bits=12) == (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover;"
            " server_max_window_bits=11; client_max_window_bits=12"
        )

    def test_quoted_values_and_spacing(self):
        assert answer('permessage-deflate ;server_max_window_bits="10"') == (
            "permessage-deflate; server_max_window_bits=10"
        )
        assert answer('permessage-deflate; client_max_window_bits = "9"') == (
            "permessage-deflate; client_max_window_bits=9"
        )
        assert answer("Permessage-Deflate; Server_No_Context_Takeover") == (
            "permessage-deflate; server_no_context_takeover"
        )

    @pytest.mark.parametrize(
        "bad",
        [
            "foo",
            "foo=1",
            "server_no_context_takeover=1",
            "client_no_context_takeover=true",
            "server_max_window_bits",
            "server_max_window_bits=7",
            "server_max_window_bits=16",
            "server_max_window_bits=0",
            "server_max_window_bits=08",
            "server_max_window_bits=010",
            "server_max_window_bits=+9",
            "server_max_window_bits=9.0",
            "server_max_window_bits=abc",
            'server_max_window_bits="08"',
            "server_max_window_bits=99999999999999999999999",
            "client_max_window_bits=7",
            "client_max_window_bits=16",
            "client_max_window_bits=09",
            "server_max_window_bits=10; server_max_window_bits=10",
            "server_no_context_takeover; server_no_context_takeover",
            "client_max_window_bits; client_max_window_bits=10",
        ],
    )
    def test_declined_offer(self, bad):
        # The bad offer is declined, the next one accepted: never an exception.
        assert answer(f"permessage-deflate; {bad}") is None
        assert answer(f"permessage-deflate; {bad}, permessage-deflate; client_no_context_takeover") == (
            "permessage-deflate; client_no_context_takeover"
        )

    def test_multiple_offers_and_other_extensions(self):
        header = (
            "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=20,"
            " permessage-deflate; server_max_window_bits=12; client_max_window_bits, permessage-deflate"
        )
        ext = pmd.PerMessageDeflate(client_max_window_bits=11)
        response, accepted = negotiate_extensions(parse_extensions([header]), [ext])
        assert response == "permessage-deflate; server_max_window_bits=12; client_max_window_bits=11"
        assert accepted == [(ext, [("server_max_window_bits", "12"), ("client_max_window_bits", "11")])]
        # No permessage-deflate offer at all.
        assert negotiate_extensions(parse_extensions(["x-webkit-deflate-frame"]), [ext]) == (None, [])

    def test_make_session_sides(self):
        ext = pmd.PerMessageDeflate(level=3, mem_level=4, threshold=50)
        agreed = [
            ("server_no_context_takeover", None),
            ("server_max_window_bits", "10"),
            ("client_max_window_bits", "12"),
        ]
        server = ext.make_session(agreed)
        client = ext.make_session(agreed, is_client=True)
        assert (server.compressor.window_bits, server.compressor.no_context_takeover) == (10, True)
        assert (server.decompressor.window_bits, server.decompressor.no_context_takeover) == (12, False)
        assert (client.compressor.window_bits, client.compressor.no_context_takeover) == (12, False)
        assert (client.decompressor.window_bits, client.decompressor.no_context_takeover) == (10, True)
        assert (server.compressor.level, server.compressor.mem_level, server.threshold) == (3, 4, 50)
        assert server.params == agreed and not server.is_client and client.is_client
        for message in messages(17, 10):
            assert client.decompress(server.compress(message), None) == message
            assert server.decompress(client.compress(message), None) == message
        assert "server" in repr(server) and "client" in repr(client)

    def test_make_session_rejects_invalid_params(self):
        with pytest.raises(ValueError):
            pmd.PerMessageDeflate().make_session([("client_max_window_bits", None)])
        with pytest.raises(ValueError):
            pmd.PerMessageDeflate().make_session([("nope", None)])

    def test_options_validated(self):
        for kwargs in (
            {"server_max_window_bits": 7},
            {"client_max_window_bits": 16},
            {"server_max_window_bits": True},
            {"level": 11},
            {"mem_level": 0},
            {"threshold": -1},
        ):
            with pytest.raises(ValueError):
                pmd.PerMessageDeflate(**kwargs)
        assert pmd.PerMessageDeflate().name == "permessage-deflate"
        assert "server_max_window_bits=9" in repr(pmd.PerMessageDeflate(server_max_window_bits=9))

    @given(
        st.lists(st.tuples(st.sampled_from([*pmd._NAMES, "x"]), st.none() | st.text(max_size=4)), max_size=5)
    )
    def test_negotiate_never_raises(self, params):
        result = pmd.PerMessageDeflate(client_max_window_bits=9).negotiate([params])
        if result is not None:
            pmd.PerMessageDeflate().make_session(result)  # every answer is a valid answer


# =========================================================================== negotiation (client)


class TestClient:
    def test_offers(self):
        assert pmd.client_offer() == [("client_max_window_bits", None)]
        assert pmd.client_offer(client_max_window_bits=None) == []
        assert pmd.client_offer(client_max_window_bits=False) == []
        assert pmd.client_offer(10, 9, True, True) == [
            ("server_no_context_takeover", None),
            ("client_no_context_takeover", None),
            ("server_max_window_bits", "9"),
            ("client_max_window_bits", "10"),
        ]
        assert (
            format_extensions([(pmd.EXTENSION_NAME, pmd.client_offer(server_max_window_bits=12))])
            == "permessage-deflate; server_max_window_bits=12; client_max_window_bits"
        )
        for kwargs in (
            {"client_max_window_bits": 7},
            {"server_max_window_bits": 16},
            {"server_max_window_bits": True},
        ):
            with pytest.raises(ValueError):
                pmd.client_offer(**kwargs)

    def test_accept(self):
        offered = pmd.client_offer()
        session = pmd.client_accept([], offered)
        assert (session.compressor.window_bits, session.decompressor.window_bits) == (15, 15)
        assert session.is_client and session.threshold == pmd.DEFAULT_THRESHOLD
        session = pmd.client_accept(
            [
                ("server_no_context_takeover", None),
                ("server_max_window_bits", "10"),
                ("client_max_window_bits", "9"),
            ],
            offered,
            level=2,
            mem_level=3,
            threshold=0,
        )
        assert (session.compressor.window_bits, session.compressor.no_context_takeover) == (9, False)
        assert (session.decompressor.window_bits, session.decompressor.no_context_takeover) == (10, True)
        assert (session.compressor.level, session.compressor.mem_level, session.threshold) == (2, 3, 0)

    def test_accept_unrequested_but_allowed(self):
        # The server may add these without being asked (RFC 7692 §7.1.1.1, §7.1.1.2, §7.1.2.1).
        session = pmd.client_accept(
            [
                ("server_no_context_takeover", None),
                ("client_no_context_takeover", None),
                ("server_max_window_bits", "12"),
            ],
            [],
        )
        assert session.compressor.no_context_takeover and session.decompressor.no_context_takeover
        assert session.decompressor.window_bits == 12

    def test_own_promises_kept(self):
        # We offered to compress with at most 10 bits and without context takeover: we do.
        offered = pmd.client_offer(client_max_window_bits=10, client_no_context_takeover=True)
        session = pmd.client_accept([], offered)
        assert (session.compressor.window_bits, session.compressor.no_context_takeover) == (10, True)
        session = pmd.client_accept([("client_max_window_bits", "8")], offered)
        assert session.compressor.window_bits == 8

    @pytest.mark.parametrize(
        "offer_kwargs,response,reason",
        [
            ({}, [("foo", None)], "unknown parameter 'foo'"),
            (
                {},
                [("server_no_context_takeover", None)] * 2,
                "duplicate parameter 'server_no_context_takeover'",
            ),
            ({}, [("client_max_window_bits", None)], "client_max_window_bits needs a value"),
            ({}, [("client_max_window_bits", "16")], "must be an integer from 8 to 15"),
            ({}, [("server_max_window_bits", "07")], "must be an integer from 8 to 15"),
            ({}, [("server_max_window_bits", None)], "server_max_window_bits needs a value"),
            ({}, [("server_no_context_takeover", "x")], "takes no value"),
            (
                {"client_max_window_bits": None},
                [("client_max_window_bits", "10")],
                "client_max_window_bits was not offered",
            ),
            (
                {"client_max_window_bits": 10},
                [("client_max_window_bits", "12")],
                "larger than the 10 offered",
            ),
            (
                {"server_no_context_takeover": True},
                [],
                "server_no_context_takeover was requested but not confirmed",
            ),
            ({"server_max_window_bits": 10}, [], "server_max_window_bits=10 was requested but not confirmed"),
            (
                {"server_max_window_bits": 10},
                [("server_max_window_bits", "11")],
                "larger than the 10 requested",
            ),
        ],
    )
    def test_invalid_answers(self, offer_kwargs, response, reason):
        with pytest.raises(InvalidHandshake) as info:
            pmd.client_accept(response, pmd.client_offer(**offer_kwargs))
        assert info.value.status == 101
        assert info.value.reason.startswith("invalid permessage-deflate response: ")
        assert reason in info.value.reason

    def test_invalid_own_offer(self):
        with pytest.raises(ValueError):
            pmd.client_accept([], [("bogus", None)])


# =========================================================================== end to end


@pytest.mark.parametrize("sbits", range(8, 16))
@pytest.mark.parametrize("cbits", range(8, 16))
def test_every_window_pair_end_to_end(deflate, sbits, cbits):
    offered = pmd.client_offer(client_max_window_bits=True, server_max_window_bits=sbits)
    server = pmd.PerMessageDeflate(client_max_window_bits=cbits, implementation=deflate)
    [(_name, params)] = parse_extensions([format_extensions([(pmd.EXTENSION_NAME, offered)])])
    agreed = server.negotiate([params])
    assert agreed == [("server_max_window_bits", str(sbits)), ("client_max_window_bits", str(cbits))]
    server_session = server.make_session(agreed)
    client_session = pmd.client_accept(agreed, offered, implementation=deflate)
    for message in messages(sbits * 100 + cbits, 6):
        assert client_session.decompress(server_session.compress(message), None) == message
        assert server_session.decompress(client_session.compress(message), None) == message


def test_memory_estimate():
    assert pmd.memory_estimate(9, 1, 9) == (1 << 11) + (1 << 10) + 6_000 + (1 << 9) + 7_200
    assert pmd.memory_estimate(8, 1, 8) == (1 << 11) + (1 << 10) + 6_000 + (1 << 8) + 7_200  # 8 runs as 9
    assert pmd.memory_estimate() == (1 << 17) + (1 << 17) + 6_000 + (1 << 15) + 7_200
    session = pmd.PerMessageDeflate(server_max_window_bits=9, mem_level=1).make_session(
        [("client_max_window_bits", "9")]
    )
    assert session.memory_estimate() == pmd.memory_estimate(9, 1, 9)


def test_active_implementation():
    assert pmd.IMPLEMENTATION in ("c", "python")
    assert pmd.Compressor is pmd.implementation(pmd.IMPLEMENTATION).Compressor
    with pytest.raises(ValueError):
        pmd.implementation("rust")
