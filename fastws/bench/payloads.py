"""Compressible text payloads for the permessage-deflate mode: chat-like JSON documents.

Each message is a JSON document of exactly ``size`` bytes (ASCII, so as many
characters as bytes): a batch of chat messages with ids, user objects, ISO
timestamps, text made of common words, reactions and flags, the kind of
document a chat or notification service pushes.  It compresses like such
traffic does (zlib level 1, 12-bit window: 2.8x at 256 B, 3.0x at 8 KiB and
100 KiB), neither random (incompressible) nor one repeated string.

A run sends a *pool* of distinct documents of the same size in turn, not one
document again and again: with context takeover, an identical message sent
twice in a row would compress to a back-reference to the previous copy (a few
bytes), which real traffic never does.  The pool holds at least 128 KiB of
documents (4 times the largest window), so no message can find its own
earlier copy in any window.  Every process builds the same pool from the same
seed: every client sends the same bytes, in the same order.
"""

from __future__ import annotations

import functools
import json
import random

JSON_SEED = 0xC0_4D_E5_5E
POOL_BYTES = 128 * 1024
POOL_MIN = 4
POOL_MAX = 512

_WORDS = (  # noqa: SIM905
    "the be to of and a in that have it for not on with he as you do at this but his by from they we "
    "say her she or an will my one all would there their what so up out if about who get which go me "
    "when make can like time no just him know take people into year your good some could them see "
    "other than then now look only come its over think also back after use two how our work first "
    "well way even new want because any these give day most us deploy build release merge review "
    "ticket meeting lunch coffee tomorrow today thanks please update sprint customer server latency "
    "cache bug fix test staging prod dashboard alert metrics rollback ship docs design sync call "
    "notes agenda weekend great sounds plan check done ready"
).split()
_FIRST = (  # noqa: SIM905
    "alice bob carol dave erin frank grace heidi ivan judy mallory nick olivia peggy quentin rupert "
    "sybil trent ursula victor walter xena yusuf zoe amir beatriz chen dmitri elif fatima goran hana"
).split()
_LAST = (  # noqa: SIM905
    "smith jones garcia miller davis lopez wilson anderson thomas taylor moore jackson martin lee "
    "thompson white harris clark lewis walker young allen king wright scott green baker adams nelson "
    "hill"
).split()
_CHANNELS = ("general", "random", "engineering", "release-train", "support", "design", "ops-alerts", "sales")
_REACTIONS = ("+1", "tada", "eyes", "rocket", "heart", "joy", "white_check_mark", "fire")
_EPOCH = 1_764_000_000  # 2025-11-24T16:00:00Z


def _timestamp(seconds: int, millis: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[:1].upper() + text[1:] + rng.choice((".", ".", ".", "!", "?"))


def _message(rng: random.Random, msg_id: int, now: int) -> dict:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    user_id = 1000 + _FIRST.index(first) * 40 + _LAST.index(last)
    msg: dict = {
        "id": msg_id,
        "user": {"id": user_id, "name": f"{first}.{last}", "display": f"{first.title()} {last.title()}"},
        "ts": _timestamp(now, rng.randrange(1000)),
        "text": " ".join(_sentence(rng, rng.randint(4, 14)) for _ in range(rng.randint(1, 3))),
        "edited": rng.random() < 0.1,
    }
    if rng.random() < 0.35:
        msg["reactions"] = [
            {"name": name, "count": rng.randint(1, 9)} for name in rng.sample(_REACTIONS, rng.randint(1, 3))
        ]
    if rng.random() < 0.2:
        msg["thread"] = {"parent": msg_id - rng.randint(1, 50), "replies": rng.randint(1, 12)}
    return msg


def _dumps(doc: dict) -> str:
    return json.dumps(doc, separators=(",", ":"))


def json_document(size: int, index: int = 0) -> str:
    """Document ``index`` of the pool for ``size``: valid JSON of exactly ``size`` ASCII characters."""
    rng = random.Random(JSON_SEED ^ (size * 7919) ^ (index * 104729))
    now = _EPOCH + index * 97 + rng.randrange(3600)
    msg_id = 900_000_000 + index * 1000 + rng.randrange(1000)
    doc: dict = {
        "type": "message.batch",
        "channel": rng.choice(_CHANNELS),
        "seq": index,
        "messages": [],
    }
    messages: list = doc["messages"]
    used = len(_dumps(doc))  # grows by each message's JSON, plus a comma after the first
    while True:
        candidate = _message(rng, msg_id + len(messages), now + 7 * len(messages))
        cost = len(_dumps(candidate)) + (1 if messages else 0)
        if used + cost > size:
            # The last one, with its text cut to what is left (filled up below), if it fits at all.
            candidate["text"] = ""
            if not messages:  # a small document: one plain message
                candidate.pop("reactions", None)
                candidate.pop("thread", None)
            cost = len(_dumps(candidate)) + (1 if messages else 0)
            if used + cost <= size:
                messages.append(candidate)
                used += cost
            break
        messages.append(candidate)
        used += cost
    if not messages:
        raise ValueError(f"{size} bytes is too small for a chat document")
    # Fill the rest with more words in the last message's text (ASCII: 1 char = 1 byte).
    gap = size - used
    last = messages[-1]
    extra = last["text"]
    while len(extra) < len(last["text"]) + gap:
        extra += (" " if extra else "") + rng.choice(_WORDS)
    last["text"] = extra[: len(last["text"]) + gap]
    text = _dumps(doc)
    assert len(text) == size and text.isascii(), (len(text), size)
    return text


def pool_length(size: int) -> int:
    """How many distinct documents a run of ``size``-byte messages cycles through."""
    return max(POOL_MIN, min(POOL_MAX, -(-POOL_BYTES // size)))


@functools.lru_cache(maxsize=8)
def json_pool(size: int) -> tuple[str, ...]:
    """The documents a run sends, in order (then again from the first)."""
    return tuple(json_document(size, i) for i in range(pool_length(size)))


def compression_ratio(size: int, level: int = 1, window_bits: int = 12, mem_level: int = 5) -> float:
    """Payload bytes / compressed bytes for the pool sent twice through one context-takeover
    stream (what permessage-deflate does; the second pass is measured)."""
    import zlib

    pool = [d.encode() for d in json_pool(size)]
    comp = zlib.compressobj(level, zlib.DEFLATED, -window_bits, mem_level)
    for d in pool:
        comp.compress(d)
        comp.flush(zlib.Z_SYNC_FLUSH)
    out = 0
    for d in pool:
        out += len(comp.compress(d) + comp.flush(zlib.Z_SYNC_FLUSH)) - 4
    return sum(map(len, pool)) / out
