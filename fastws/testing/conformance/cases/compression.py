"""compression: permessage-deflate (RFC 7692), only where negotiated.

* ``params.<p>``: each parameter alone, every window value (against a client: the
  server's answer to the client's default offer, ``client_max_window_bits`` without a value).
* ``offer.<combo>.{messages,large,fragmented}``: every combination of the four
  parameters in the client's offer (``client_max_window_bits`` absent, without a
  value or with one), windows 8, 9, 12, 15 spread so each meets each flag.  Against a
  server the driver offers it; against a client the driver tells the client to
  offer it and answers as :func:`answer_to` says.
* ``answer.<combo>.{...}`` (client only): every combination in the server's answer
  to the client's default offer.
* ``negotiate.{decline,accept,reject}.<name>``: offers a server must decline or
  answer in a particular way; answers a client must reject (fail the handshake).
* the rest: large and fragmented messages, RSV1 misuse on the default agreement.

Combination names: ``snct``/``cnct`` (server_/client_no_context_takeover),
``smwb=N`` (server_max_window_bits), ``cmwb`` / ``cmwb=N`` (client_max_window_bits
without / with a value), ``none``; joined by ``+``.  The driver inflates the
peer's messages with exactly the agreed window and context rules, so a peer that
compresses beyond them is caught; the verdict also wants compressible echoes
compressed and the same message twice smaller the second time when context
takeover is on (NON-STRICT otherwise).
"""

from __future__ import annotations

import itertools
import random
import string
import zlib
from typing import TYPE_CHECKING, Optional

from ..wire import OP_BINARY, OP_CONT, OP_PING, OP_PONG, OP_TEXT, RSV1, DeflateParams, format_deflate
from . import OFF, Case, Reply, Script, echo, fail, reject

if TYPE_CHECKING:
    from ..driver import Peer

Message = tuple[int, bytes, bool]  # opcode, payload, compressed


def send_messages(*messages: Message, fragments: int = 1, chunk: Optional[int] = None) -> Script:
    """Compress (in order, so the context is right) and send messages, each in ``fragments`` frames."""

    async def script(peer: Peer) -> None:
        data = b""
        for opcode, payload, compressed in messages:
            body = peer.compress(payload) if compressed else payload
            step = max(1, -(-len(body) // fragments))
            parts = [body[i : i + step] for i in range(0, len(body), step)] or [b""]
            for i, part in enumerate(parts):
                rsv = RSV1 if compressed and i == 0 else 0  # RSV1 on the first frame only (§6.1)
                data += peer.frame(opcode if i == 0 else OP_CONT, part, fin=i == len(parts) - 1, rsv=rsv)
        await peer.send(data, chunk=chunk)

    return script


def replies(*messages: Message) -> tuple[Reply, ...]:
    return tuple((op, payload) for op, payload, _ in messages)


TEXT = ("A compressible sentence, repeated. " * 60).encode()
MIXED: tuple[Message, ...] = (
    (OP_TEXT, TEXT, True),
    (OP_TEXT, TEXT, True),  # same again: with context takeover, mostly back-references
    (OP_BINARY, bytes(range(256)) * 64, True),
    (OP_TEXT, b"short, not compressed", False),
    (OP_TEXT, TEXT[::-1], True),
)


def param_sets(role: str) -> list[tuple[str, DeflateParams]]:
    sets: list[tuple[str, DeflateParams]] = [
        ("none", {}),
        ("server_no_context_takeover", {"server_no_context_takeover": None}),
        ("client_no_context_takeover", {"client_no_context_takeover": None}),
        ("no_context_takeover", {"server_no_context_takeover": None, "client_no_context_takeover": None}),
    ]
    for bits in range(8, 16):
        sets.append((f"server_max_window_bits={bits}", {"server_max_window_bits": str(bits)}))
    if role == "server":  # an offer-only form: the server may then pick the client's window
        sets.append(("client_max_window_bits", {"client_max_window_bits": None}))
    for bits in range(8, 16):
        sets.append((f"client_max_window_bits={bits}", {"client_max_window_bits": str(bits)}))
    sets.append(("all.9", {"server_no_context_takeover": None, "client_no_context_takeover": None,
                           "server_max_window_bits": "9", "client_max_window_bits": "9"}))
    sets.append(("windows.8.takeover", {"server_max_window_bits": "8", "client_max_window_bits": "8"}))
    return sets


WINDOWS = ("8", "9", "12", "15")
NAMES = {"server_no_context_takeover": "snct", "client_no_context_takeover": "cnct",
         "server_max_window_bits": "smwb", "client_max_window_bits": "cmwb"}


def label(params: DeflateParams) -> str:
    """``snct+smwb=9+cmwb``-style name of a parameter set."""
    parts = [NAMES[k] if v is None else f"{NAMES[k]}={v}" for k, v in params.items()]
    return "+".join(parts) or "none"


def _params(snct: int, cnct: int, smwb: Optional[str], cmwb: Optional[str], *, cmwb_valueless: bool = False
            ) -> DeflateParams:
    out: DeflateParams = {}
    if snct:
        out["server_no_context_takeover"] = None
    if cnct:
        out["client_no_context_takeover"] = None
    if smwb:
        out["server_max_window_bits"] = smwb
    if cmwb or cmwb_valueless:
        out["client_max_window_bits"] = cmwb
    return out


def offer_combos() -> list[DeflateParams]:
    """The 24 offers: snct, cnct, smwb each absent or present, cmwb absent, valueless or valued."""
    out = []
    k = 0  # smwb-carrying offers: 6*snct + 3*cnct + form, so each window meets each flag
    for snct, cnct, smwb, form in itertools.product((0, 1), (0, 1), (0, 1), ("absent", "valueless", "valued")):
        s_bits = WINDOWS[k % 4] if smwb else None
        k += smwb
        # valued cmwb: 8 offers; opposite corners of (snct, cnct, smwb) share a window
        c_bits = WINDOWS[(2 * cnct + smwb) ^ (3 * snct)] if form == "valued" else None
        out.append(_params(snct, cnct, s_bits, c_bits, cmwb_valueless=form == "valueless"))
    return out


def answer_combos() -> list[DeflateParams]:
    """The 16 answers to the default offer (``client_max_window_bits`` without a value)."""
    out = []
    for snct, cnct, smwb, cmwb in itertools.product((0, 1), repeat=4):
        s_bits = WINDOWS[(2 * cnct + cmwb) ^ (3 * snct)] if smwb else None
        c_bits = WINDOWS[(2 * snct + 1 - smwb) ^ (3 * cnct)] if cmwb else None
        out.append(_params(snct, cnct, s_bits, c_bits))
    return out


def _lower(bits: str) -> str:
    """The next smaller window of :data:`WINDOWS` (8 stays 8)."""
    return WINDOWS[max(0, WINDOWS.index(bits) - 1)]


def answer_to(offer: DeflateParams, full: bool) -> DeflateParams:
    """The driver's answer to a client's ``offer``.

    ``full``: everything a server may add: both no_context_takeover flags, the
    server window one step below the offered one (or 10, unasked, §7.1.2.1), a
    client window (one step below the offered one, or 11).  Otherwise only what
    accepting requires: server_no_context_takeover and server_max_window_bits echoed.
    """
    smwb, cmwb = offer.get("server_max_window_bits"), offer.get("client_max_window_bits")
    if not full:
        return _params("server_no_context_takeover" in offer, 0, smwb, None)
    s_bits = _lower(smwb) if smwb else "10"
    c_bits = (_lower(cmwb) if cmwb else "11") if "client_max_window_bits" in offer else None
    return _params(1, 1, s_bits, c_bits)


def setting_cases(prefix: str, doc: str, params: DeflateParams, offer: Optional[DeflateParams] = None
                  ) -> list[Case]:
    """Several messages, a 1 MiB one and a fragmented one under one negotiated setting."""
    return [
        Case(f"{prefix}.messages", f"{doc}: two messages twice each, a 40 KiB one, a short uncompressed one",
             send_messages(*SETTING), echo(*replies(*SETTING)), deflate=params, offer=offer),
        Case(f"{prefix}.large", f"{doc}: a 1 MiB message, matches at 384 B to 24 KiB",
             send_messages((OP_BINARY, LARGE, True)), echo((OP_BINARY, LARGE)), deflate=params, offer=offer,
             timeout=30),
        Case(f"{prefix}.fragmented", f"{doc}: a 64 KiB message in 9 fragments, then the same message twice "
                                     "in 3 fragments", _fragmented(), echo(*replies(*FRAGMENTED)),
             deflate=params, offer=offer),
    ]


def _windowed(n: int, seed: int) -> bytes:
    """``n`` bytes of ASCII text and random letters, each random run repeated at its own
    distance (384 B to 24 KiB): only a window of that size finds the match."""
    rng = random.Random(seed)
    filler = b"The quick brown fox jumps over the lazy dog. "
    parts = []
    for bits in range(8, 15):
        run = "".join(rng.choices(string.ascii_letters, k=3 << (bits - 1))).encode()
        parts += [filler * 20, run, filler * 3, run]
    block = b"".join(parts)
    return (block * (n // len(block) + 1))[:n]


LARGE = _windowed(2**20, 7692)
MEDIUM = _windowed(40 * 1024, 1)
FRAGMENTED_TEXT = _windowed(64 * 1024, 2)
#: 192 bytes, within reach of any window: with context takeover the second copy is a back-reference
PAIR = (b"Pack my box with five dozen liquor jugs; how vexingly quick daft zebras jump! Sphinx of black "
        b"quartz, judge my vow. The five boxing wizards jump quickly; jackdaws love my big sphinx of quartz.")
SETTING: tuple[Message, ...] = (
    (OP_TEXT, TEXT, True),
    (OP_TEXT, TEXT, True),  # context takeover: smaller on the wire (checked if 2100 B fit the window)
    (OP_TEXT, PAIR, True),
    (OP_TEXT, PAIR, True),  # context takeover: smaller on the wire, whatever the window
    (OP_BINARY, MEDIUM, True),
    (OP_TEXT, b"short, not compressed", False),
    (OP_TEXT, TEXT[::-1], True),
)
FRAGMENTED: tuple[Message, ...] = ((OP_TEXT, FRAGMENTED_TEXT, True), (OP_TEXT, PAIR, True), (OP_TEXT, PAIR, True))


def _fragmented() -> Script:
    big, small = send_messages(FRAGMENTED[0], fragments=9), send_messages(*FRAGMENTED[1:], fragments=3)

    async def script(peer: Peer) -> None:
        await big(peer)
        await small(peer)

    return script


# Offers a server must decline: its answer holds no permessage-deflate (RFC 7692 §7).
DECLINE = (
    ("unknown_param", "permessage-deflate; foo", "a parameter not defined for an offer"),
    ("duplicate.snct", "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
     "a repeated parameter"),
    ("duplicate.cmwb", "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
     "a repeated parameter"),
    ("smwb=7", "permessage-deflate; server_max_window_bits=7", "a window below 8 (§7.1.2.1)"),
    ("smwb=16", "permessage-deflate; server_max_window_bits=16", "a window above 15 (§7.1.2.1)"),
    ("smwb=08", "permessage-deflate; server_max_window_bits=08", "a leading zero (§7.1.2.1)"),
    ("smwb.valueless", "permessage-deflate; server_max_window_bits", "server_max_window_bits needs a value"),
    ("cmwb=16", "permessage-deflate; client_max_window_bits=16", "a window above 15 (§7.1.2.2)"),
    ("snct=1", "permessage-deflate; server_no_context_takeover=1", "a value on a valueless parameter"),
)
# Offer headers a server must accept, and the offer its answer must accept.
ACCEPT_OFFER = (
    ("multiple.first_unknown", "permessage-deflate; foo, permessage-deflate; server_max_window_bits=9",
     {"server_max_window_bits": "9"}, "the first offer is declined, the second accepted"),
    ("multiple.first_out_of_range",
     "permessage-deflate; server_max_window_bits=16, permessage-deflate; server_no_context_takeover",
     {"server_no_context_takeover": None}, "the second offer accepted"),
    ("multiple.first_valid", "permessage-deflate; server_max_window_bits=10, permessage-deflate",
     {"server_max_window_bits": "10"}, "the first (preferred) offer accepted (§5; the second: NON-STRICT)"),
    ("other_extension_first", "x-fastws-unknown, permessage-deflate; client_max_window_bits",
     {"client_max_window_bits": None}, "an unknown extension is not answered, permessage-deflate is"),
    ("quoted", 'permessage-deflate; server_max_window_bits="10"', {"server_max_window_bits": "10"},
     "a quoted-string value is the same value (RFC 6455 §9.1)"),
)
# Answers a client must reject (fail the handshake): (name, its offer (None: default), answer, why).
REJECT = (
    ("unknown_param", None, "permessage-deflate; foo", "a parameter not defined for a response (§7)"),
    ("duplicate_param", None, "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
     "a repeated parameter (§7)"),
    ("smwb=7", None, "permessage-deflate; server_max_window_bits=7", "a window below 8 (§7.1.2.1)"),
    ("smwb=16", None, "permessage-deflate; server_max_window_bits=16", "a window above 15 (§7.1.2.1)"),
    ("smwb=08", None, "permessage-deflate; server_max_window_bits=08", "a leading zero (§7.1.2.1)"),
    ("cmwb=16", None, "permessage-deflate; client_max_window_bits=16", "a window above 15 (§7.1.2.2)"),
    ("cmwb.valueless", None, "permessage-deflate; client_max_window_bits",
     "client_max_window_bits without a value, which only an offer may carry (§7.1.2.2)"),
    ("snct=1", None, "permessage-deflate; server_no_context_takeover=1", "a value on a valueless parameter"),
    ("cmwb.not_offered", {}, "permessage-deflate; client_max_window_bits=10",
     "client_max_window_bits the client did not offer (§7.1.2.2)"),
    ("cmwb.above_offer", {"client_max_window_bits": "10"}, "permessage-deflate; client_max_window_bits=12",
     "a client window above the offered one (§7.1.2.2)"),
    ("smwb.above_offer", {"server_max_window_bits": "10"}, "permessage-deflate; server_max_window_bits=12",
     "a server window above the one the client allowed (§7.1.2.1)"),
    ("smwb.missing", {"server_max_window_bits": "10"}, "permessage-deflate",
     "server_max_window_bits asked for but not in the answer (§7.1.2.1)"),
    ("snct.missing", {"server_no_context_takeover": None}, "permessage-deflate",
     "server_no_context_takeover asked for but not in the answer (§7.1.1.1)"),
    ("not_offered", OFF, "permessage-deflate", "an extension the client did not offer (RFC 6455 §4.1)"),
    ("unknown_extension", None, "x-fastws-unknown", "an extension the client did not offer (RFC 6455 §4.1)"),
)
# Answers a client must accept: (name, its offer, answer header, the parameters it amounts to, why).
ACCEPT_ANSWER = (
    ("smwb.below_offer", {"server_max_window_bits": "12"}, "permessage-deflate; server_max_window_bits=9",
     {"server_max_window_bits": "9"}, "a server window below the allowed one (§7.1.2.1: the same or smaller)"),
    ("smwb.unasked", {}, "permessage-deflate; server_max_window_bits=9", {"server_max_window_bits": "9"},
     "a server window the client did not ask for (§7.1.2.1: MAY)"),
    ("quoted", None, 'permessage-deflate; server_max_window_bits="10"', {"server_max_window_bits": "10"},
     "a quoted-string value (RFC 6455 §9.1)"),
)
HELLO = (OP_TEXT, b"hello, uncompressed", False)


def negotiation_cases(role: str) -> list[Case]:
    out = []
    if role == "server":
        for name, header, why in DECLINE:
            out.append(Case(f"compression.negotiate.decline.{name}", f"offer with {why}: declined; {header}",
                            send_messages(HELLO), echo(replies(HELLO)[0]), extensions=header))
        for name, header, params, why in ACCEPT_OFFER:
            out.append(Case(f"compression.negotiate.accept.{name}", f"{why}; {header}", send_messages(*MIXED),
                            echo(*replies(*MIXED)), deflate=params, extensions=header))  # type: ignore[arg-type]
        return out
    for name, offer, header, why in REJECT:
        out.append(Case(f"compression.negotiate.reject.{name}", f"answer with {why}; the client must fail the "
                        f"handshake; {header}", send_messages(HELLO), reject(), extensions=header,
                        offer=offer))  # type: ignore[arg-type]
    for name, offer, header, params, why in ACCEPT_ANSWER:
        out.append(Case(f"compression.negotiate.accept.{name}", f"{why}; {header}", send_messages(*MIXED),
                        echo(*replies(*MIXED)), deflate=params, extensions=header, offer=offer))  # type: ignore[arg-type]
    return out


def combination_cases(role: str) -> list[Case]:
    out = []
    for i, offer in enumerate(offer_combos()):
        name = f"compression.offer.{label(offer)}"
        if role == "server":
            out += setting_cases(name, f"offer {format_deflate(offer)}", offer)
        else:
            answer = answer_to(offer, full=i % 2 == 1)
            out += setting_cases(name, f"client offers {format_deflate(offer)}, answered "
                                       f"{format_deflate(answer)}", answer, offer=offer)
    if role == "client":
        for answer in answer_combos():
            out += setting_cases(f"compression.answer.{label(answer)}",
                                 f"answer {format_deflate(answer)} to the default offer", answer)
    return out


def cases(role: str) -> list[Case]:
    out = []
    for name, params in param_sets(role):
        out.append(Case(f"compression.params.{name}", f"5 messages with permessage-deflate; {name}",
                        send_messages(*MIXED), echo(*replies(*MIXED)), deflate=params))
    out += combination_cases(role) + negotiation_cases(role)
    on: DeflateParams = {}
    rng = random.Random(6455)
    big_text = ("The quick brown fox jumps over the lazy dog. " * 40000).encode()[: 2**20 * 2]
    big_random = bytes(rng.getrandbits(8) for _ in range(2**18)) * 4
    table: list[tuple[str, str, Script, object]] = [
        ("large.text", "2 MiB compressible text", send_messages((OP_TEXT, big_text, True)),
         echo((OP_TEXT, big_text))),
        ("large.random", "1 MiB of incompressible data", send_messages((OP_BINARY, big_random, True)),
         echo((OP_BINARY, big_random))),
        ("fragmented", "compressed message in 7 fragments, RSV1 on the first only",
         send_messages(*MIXED[:3], fragments=7), echo(*replies(*MIXED[:3]))),
        ("fragmented.chunk1", "compressed message in 3 fragments, 1-byte writes",
         send_messages((OP_TEXT, TEXT, True), fragments=3, chunk=1), echo((OP_TEXT, TEXT))),
        ("large.fragmented", "2 MiB compressed text in 16 fragments",
         send_messages((OP_TEXT, big_text, True), fragments=16), echo((OP_TEXT, big_text))),
        ("uncompressed", "message with RSV1 clear on a compressed connection",
         send_messages((OP_BINARY, b"plain" * 100, False)), echo((OP_BINARY, b"plain" * 100))),
        ("empty", "compressed empty message", send_messages((OP_TEXT, b"", True)), echo((OP_TEXT, b""))),
        ("ping_between_fragments", "ping between the fragments of a compressed message",
         _ping_between(TEXT), echo((OP_PONG, b"mid"), (OP_TEXT, TEXT))),
        ("bfinal", "message compressed into a final (BFINAL) block, no tail to strip (RFC 7692 §7.2.3.4)",
         _raw_deflate(TEXT, zlib.Z_FINISH), echo((OP_TEXT, TEXT))),
        ("tail_kept", "compressed message still ending with 00 00 ff ff (an extra empty block is valid)",
         _raw_deflate(TEXT, zlib.Z_SYNC_FLUSH), echo((OP_TEXT, TEXT))),
        ("rsv1_continuation", "RSV1 set on a continuation frame (only the first frame may carry it)",
         _frames((OP_TEXT, "c", False, RSV1), (OP_CONT, "", True, RSV1)), fail(1002)),
        ("rsv1_ping", "RSV1 on a ping (control frames are never compressed)",
         _frames((OP_PING, "", True, RSV1)), fail(1002)),
        ("rsv2", "RSV2 on a text frame (not defined by permessage-deflate)",
         _frames((OP_TEXT, "c", True, 2)), fail(1002)),
        ("rsv3", "RSV3 on a binary frame", _frames((OP_BINARY, "c", True, 1)), fail(1002)),
        ("corrupt", "compressed message that is not deflate data (reserved block type)",
         _frames((OP_BINARY, b"\xff\xff\xff\xff", True, RSV1)), fail(1007)),
        ("invalid_utf8", "compressed text that inflates to invalid UTF-8",
         send_messages((OP_TEXT, b"ok \xed\xa0\x80 ok", True)), fail(1007)),
    ]
    for name, doc, script, expect in table:
        out.append(Case(f"compression.{name}", doc, script, expect, deflate=on, timeout=30))  # type: ignore[arg-type]
    return out


def _frames(*specs: tuple) -> Script:
    """Frames given as (opcode, payload, fin, rsv); payload "c" is a compressed b"hello", a str is literal."""

    async def script(peer: Peer) -> None:
        data = b""
        for opcode, payload, fin, rsv in specs:
            if payload == "c":
                payload = peer.compress(b"hello")
            elif isinstance(payload, str):
                payload = payload.encode()
            data += peer.frame(opcode, payload, fin=fin, rsv=rsv)
        await peer.send(data)

    return script


def _ping_between(data: bytes) -> Script:
    async def script(peer: Peer) -> None:
        body = peer.compress(data)
        half = len(body) // 2
        await peer.send(peer.frame(OP_TEXT, body[:half], fin=False, rsv=RSV1) + peer.frame(OP_PING, b"mid")
                        + peer.frame(OP_CONT, body[half:]))

    return script


def _raw_deflate(data: bytes, flush: int) -> Script:
    """A message compressed by a fresh 15-bit compressor, ended with ``flush``, nothing stripped."""

    async def script(peer: Peer) -> None:
        z = zlib.compressobj(6, zlib.DEFLATED, -15)
        await peer.send(peer.frame(OP_TEXT, z.compress(data) + z.flush(flush), rsv=RSV1))

    return script
