"""The driver and the verdicts can fail: deliberately broken tiny servers (written here,
raw asyncio streams) must get FAILED or NON-STRICT verdicts where fastws gets OK."""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Optional

import pytest

from fastws.testing.conformance import wire
from fastws.testing.conformance.cases import Case, all_cases
from fastws.testing.conformance.cases.compression import NAMES
from fastws.testing.conformance.driver import run_case
from fastws.testing.conformance.targets import ClientTarget, ServerTarget
from fastws.testing.conformance.verdict import FAILED, NON_STRICT, OK, UNSUPPORTED

CASES = {c.id: c for c in all_cases("server")}

# A policy gets each frame and the writer; it returns False to stop reading.
Policy = Callable[[wire.Frame, asyncio.StreamWriter], Awaitable[bool]]


async def echo_everything(f: wire.Frame, w: asyncio.StreamWriter) -> bool:
    """Echo every frame as is (no validation at all); answer close and close TCP."""
    w.write(wire.encode(f.opcode, f.payload, fin=f.fin, rsv=f.rsv))
    if f.opcode == wire.OP_CLOSE:
        w.close()
        return False
    return True


def close_with(code: Optional[int], tcp: bool = True) -> Policy:
    """Echo data and pings correctly, answer any close with ``code``; ``tcp=False``: never close TCP."""

    async def policy(f: wire.Frame, w: asyncio.StreamWriter) -> bool:
        if f.opcode == wire.OP_CLOSE:
            w.write(wire.encode(wire.OP_CLOSE, wire.close_payload(code)))
            if tcp:
                w.close()
            return tcp
        if f.opcode == wire.OP_PING:
            w.write(wire.encode(wire.OP_PONG, f.payload))
        elif f.opcode in (wire.OP_TEXT, wire.OP_BINARY):
            w.write(wire.encode(f.opcode, f.payload))
        return True

    return policy


def fail_on_text(code: Optional[int], lax: bool = False, frame: bool = True) -> Policy:
    """Fail the connection on the first text frame: a close frame with ``code`` (None: an empty
    close), then TCP closed; ``frame=False``: drop TCP without a close frame.  ``lax``: a validator
    that waits for the end of the message, failing on its final frame instead of the first."""

    async def policy(f: wire.Frame, w: asyncio.StreamWriter) -> bool:
        if f.opcode in (wire.OP_TEXT, wire.OP_CONT):
            if not f.fin and lax:
                return True  # a lax validator: waits for the end of the message
            if frame:
                w.write(wire.encode(wire.OP_CLOSE, wire.close_payload(code)))
            w.close()
            return False
        return await close_with(1000)(f, w)

    return policy


async def masked_echo(f: wire.Frame, w: asyncio.StreamWriter) -> bool:
    """Echo with masked frames, which a server must never send."""
    if f.opcode == wire.OP_CLOSE:
        w.write(wire.encode(wire.OP_CLOSE, f.payload))
        w.close()
        return False
    w.write(wire.encode(f.opcode, f.payload, key=b"abcd"))
    return True


async def corrupt_echo(f: wire.Frame, w: asyncio.StreamWriter) -> bool:
    """Echo binary messages with the last byte changed."""
    if f.opcode == wire.OP_BINARY and f.payload:
        w.write(wire.encode(f.opcode, f.payload[:-1] + bytes([f.payload[-1] ^ 1])))
        return True
    return await close_with(1000)(f, w)


def deflate_echo(bits: int = 15, reset: bool = False, compress: bool = True) -> Policy:
    """Echo whole messages of a permessage-deflate connection (client side: 15 bits, context
    takeover), compressed with ``bits`` and ``reset`` whatever was agreed, or not at all."""
    inflater, deflater = wire.Inflater(15, False), wire.Deflater(bits, reset)

    async def policy(f: wire.Frame, w: asyncio.StreamWriter) -> bool:
        if f.opcode in (wire.OP_TEXT, wire.OP_BINARY):
            data = inflater.decompress(f.payload) if f.rsv & wire.RSV1 else f.payload
            if compress:
                w.write(wire.encode(f.opcode, deflater.compress(data), rsv=wire.RSV1))
            else:
                w.write(wire.encode(f.opcode, data))
            return True
        return await close_with(1000)(f, w)

    return policy


async def run_against(policy: Policy, case: Case, extensions: Optional[str] = None) -> tuple[str, str]:
    """Run ``case`` against a tiny server applying ``policy``, answering ``extensions`` to any offer."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _, headers = await wire.read_head(reader)
        answer = extensions if "sec-websocket-extensions" in headers else None
        writer.write(wire.server_response(headers["sec-websocket-key"].encode(), answer))
        try:
            while await policy(await wire.read_frame(reader), writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        result = await run_case(ServerTarget(f"ws://127.0.0.1:{port}/"), CASES[case] if isinstance(case, str) else case)
    finally:
        server.close()
    return result.verdict, result.reason


def verdict(policy: Policy, case_id: str, extensions: Optional[str] = None) -> tuple[str, str]:
    return asyncio.run(asyncio.wait_for(run_against(policy, case_id, extensions), 30))  # type: ignore[arg-type]


pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("case_id,code", [("framing.text.126.whole", 1000), ("ping.payload.125", 1000),
                                          ("closing.code.3000", 3000), ("limits.many.1000", 1000)])
def test_a_correct_enough_server_is_ok(case_id: str, code: int) -> None:
    assert verdict(close_with(code), case_id) == (OK, "")


def test_echoing_a_reserved_opcode_fails() -> None:
    v, reason = verdict(echo_everything, "opcode.3")
    assert v == FAILED and "reserved opcode" in reason


def test_echoing_a_frame_with_rsv_bits_fails() -> None:
    assert verdict(echo_everything, "rsv.rsv2.text")[0] == FAILED


def test_wrong_close_code_is_non_strict() -> None:
    v, reason = verdict(close_with(1000), "closing.code.3000")
    assert v == NON_STRICT and "expected close 3000" in reason


def test_accepting_an_invalid_close_code_fails() -> None:
    v, reason = verdict(close_with(1000), "closing.code.1005")
    assert v == FAILED and "expected to fail with 1002" in reason


def test_tcp_left_open_after_close_fails() -> None:
    v, reason = verdict(close_with(1000, tcp=False), "closing.code.1000")
    assert v == FAILED and "TCP not closed" in reason


def test_other_error_code_is_non_strict() -> None:
    v, reason = verdict(fail_on_text(1002), "utf8.invalid.surrogate_high.whole")
    assert v == NON_STRICT and "failed with 1002, expected 1007" in reason


def test_dropping_tcp_without_close_frame_is_non_strict() -> None:
    v, reason = verdict(fail_on_text(None, frame=False), "utf8.invalid.fe.whole")
    assert v == NON_STRICT and "without a close frame" in reason


def test_failing_late_is_non_strict() -> None:
    v, reason = verdict(fail_on_text(1007, lax=True), "utf8.failfast.surrogate_high.fragment")
    assert v == NON_STRICT and "failed late" in reason


def test_failing_cleanly_instead_of_with_an_error_fails() -> None:
    assert verdict(fail_on_text(1000), "utf8.invalid.ff.whole")[0] == FAILED


def test_masked_server_frames_fail() -> None:
    v, reason = verdict(masked_echo, "framing.binary.125.whole")
    assert v == FAILED and "masked frame from the server" in reason


def test_corrupted_echo_fails() -> None:
    v, reason = verdict(corrupt_echo, "framing.binary.65536.chunk1")
    assert v == FAILED and "reply #0" in reason


def test_a_silent_server_fails_within_the_bound() -> None:
    async def silent(f: wire.Frame, w: asyncio.StreamWriter) -> bool:
        return True

    v, reason = verdict(silent, "opcode.3")
    assert v == FAILED and "did not fail the connection" in reason


def test_declined_compression_is_unsupported() -> None:
    assert verdict(close_with(1000), "compression.params.none")[0] == UNSUPPORTED


def test_compressing_echo_is_ok() -> None:
    assert verdict(deflate_echo(), "compression.offer.none.messages", "permessage-deflate") == (OK, "")


def test_uncompressed_echo_is_non_strict() -> None:
    v, reason = verdict(deflate_echo(compress=False), "compression.offer.none.messages", "permessage-deflate")
    assert v == NON_STRICT and "came back uncompressed (RSV1 clear)" in reason


def test_echo_without_context_takeover_is_non_strict() -> None:
    v, reason = verdict(deflate_echo(reset=True), "compression.offer.none.messages", "permessage-deflate")
    assert v == NON_STRICT and "no context takeover: the same" in reason


def test_window_beyond_the_agreed_one_fails() -> None:
    v, reason = verdict(deflate_echo(bits=10), "compression.offer.smwb=9+cmwb.large",
                        "permessage-deflate; server_max_window_bits=9")
    assert v == FAILED and "invalid distance too far back" in reason


def test_context_despite_no_context_takeover_fails() -> None:
    v, reason = verdict(deflate_echo(), "compression.offer.snct.messages",
                        "permessage-deflate; server_no_context_takeover")
    assert v == FAILED and "undecodable compressed message" in reason


def test_accepting_an_offer_to_decline_fails() -> None:
    v, reason = verdict(close_with(1000), "compression.negotiate.decline.unknown_param", "permessage-deflate")
    assert v == FAILED and "must decline" in reason


def test_accepting_a_less_preferred_offer_is_non_strict() -> None:
    v, reason = verdict(deflate_echo(), "compression.negotiate.accept.multiple.first_valid", "permessage-deflate")
    assert v == NON_STRICT and "less preferred offer" in reason


CLIENT_CASES = {c.id: c for c in all_cases("client")}


def client_verdict(accept: bool, case_id: str) -> tuple[str, str]:
    """A tiny client offering permessage-deflate; ``accept``: it takes any 101 and echoes
    frames uncompressed, else it drops the connection after the 101."""

    async def run() -> tuple[str, str]:
        target = ClientTarget()
        await target.start()
        host, port = target.url[5:-1].split(":")

        async def client() -> None:
            reader, writer = await asyncio.open_connection(host, int(port))
            key = wire.new_key()
            writer.write(wire.client_request(host, int(port), "/", key, "permessage-deflate; client_max_window_bits"))
            await wire.read_head(reader)
            try:
                while accept:
                    f = await wire.read_frame(reader)
                    writer.write(wire.encode(f.opcode, f.payload, key=b"abcd"))
            except asyncio.IncompleteReadError:
                pass
            writer.close()

        task = asyncio.ensure_future(client())
        try:
            result = await run_case(target, CLIENT_CASES[case_id])
        finally:
            target.close()
            task.cancel()
        return result.verdict, result.reason

    return asyncio.run(asyncio.wait_for(run(), 30))


def test_client_failing_a_bad_answer_is_ok() -> None:
    assert client_verdict(False, "compression.negotiate.reject.unknown_param") == (OK, "")


def test_client_accepting_a_bad_answer_fails() -> None:
    v, reason = client_verdict(True, "compression.negotiate.reject.unknown_param")
    assert v == FAILED and "accepted the handshake" in reason


def test_windows_meet_every_flag() -> None:
    """Every window value of the combination cases appears with each other parameter present and absent."""
    from fastws.testing.conformance.cases.compression import WINDOWS, answer_combos, offer_combos

    for combos, n in ((offer_combos(), 24), (answer_combos(), 16)):
        assert len(combos) == n and len({tuple(sorted(c.items())) for c in combos}) == n
        for window in ("server_max_window_bits", "client_max_window_bits"):
            for other in set(NAMES) - {window}:
                for present in (True, False):
                    seen = {c[window] for c in combos if c.get(window) and (other in c) == present}
                    assert seen == set(WINDOWS), (window, other, present, seen)
