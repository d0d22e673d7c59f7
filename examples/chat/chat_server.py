"""A chat server: rooms as topics, several worker processes sharing them through Redis.

Run it with ``python3 examples/chat/run.py`` (starts Redis if REDIS_URL is not set,
then ``fastws serve chat_server:app --workers 2``); open http://127.0.0.1:8000/.

HTTP (answered in ``process_request``, before any upgrade):
  GET /                 the page (index.html)
  GET /login?name=NAME  sets the ``chat_token`` cookie for NAME and redirects to /
  GET /ws?room=R[&last=ID][&token=T]  the WebSocket: the token comes from the cookie
                        or the query (401 without a valid one), the Origin must be
                        this server's own (403 otherwise); room: [a-z0-9_-]{1,32}.

WebSocket messages are JSON text. The client sends ``{"text": "..."}``; the server
sends ``{"type": "hello", "user", "room", "worker"}`` first, then
``{"type": "message", "id", "user", "text", "time"}`` for every message of the room
(those after ``last`` first, when given), ``{"type": "resumed", "count", "complete"}``
once the history is sent, and ``{"type": "error", "error"}`` for a message it refuses.
A token is ``NAME.SIGNATURE``, an HMAC of the name with CHAT_SECRET (the same secret
in every worker and host).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import time
from pathlib import Path
from typing import Optional
from urllib.parse import quote

import fastws
from fastws import HTTPResponse
from fastws.backends.redis import BackendError, Message, RedisHub, parse_id
from fastws.handshake import Request
from fastws.workers import WorkerApp

PAGE = (Path(__file__).parent / "index.html").read_bytes()
SECRET = os.environ.get("CHAT_SECRET", "dev-secret: set CHAT_SECRET in production").encode()
ROOM = re.compile(r"[a-z0-9_-]{1,32}")
NAME = re.compile(r"[A-Za-z0-9_-]{1,24}")
MAX_TEXT = 2000
TOKEN_COOKIE = "chat_token"


def make_token(name: str) -> str:
    return f"{name}.{hmac.new(SECRET, name.encode(), hashlib.sha256).hexdigest()[:32]}"


def check_token(token: Optional[str]) -> Optional[str]:
    """The user name a token was made for, or None."""
    name, _, _ = (token or "").partition(".")
    if NAME.fullmatch(name) and hmac.compare_digest(make_token(name), token or ""):
        return name
    return None


def _first(request: Request, name: str) -> Optional[str]:
    values = request.query.get(name)
    return values[0] if values else None


def _same_origin(request: Request) -> bool:
    """A browser's Origin must be this server's own (or listed in CHAT_ORIGINS, comma-separated).

    Only browsers send Origin, and it is what stops another site's page from using a
    visitor's cookie here (cross-site WebSocket hijacking); other clients may omit it.
    """
    origin = request.header("Origin")
    if origin is None:
        return True
    allowed = {f"http://{request.header('Host')}", f"https://{request.header('Host')}"}
    allowed.update(o.strip() for o in os.environ.get("CHAT_ORIGINS", "").split(",") if o.strip())
    return origin in allowed


def process_request(ws: fastws.WebSocket, request: Request) -> Optional[HTTPResponse]:
    path = request.path_without_query
    if path in ("/", "/index.html"):
        return HTTPResponse(200, PAGE, [("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")])
    if path == "/login":
        name = _first(request, "name") or ""
        if not NAME.fullmatch(name):
            return HTTPResponse(400, "name: 1 to 24 letters, digits, _ or -\n")
        cookie = f"{TOKEN_COOKIE}={make_token(name)}; Path=/; HttpOnly; SameSite=Strict"
        room = _first(request, "room") or "lobby"
        return HTTPResponse(303, b"", [("Set-Cookie", cookie), ("Location", f"/?room={quote(room)}")])
    if path != "/ws":
        return HTTPResponse(404, "not found\n")
    if check_token(_first(request, "token") or request.cookies.get(TOKEN_COOKIE)) is None:
        return HTTPResponse(401, "missing or bad token: log in at /login?name=NAME\n")
    if not _same_origin(request):
        return HTTPResponse(403, "this Origin may not connect\n")
    if not ROOM.fullmatch(_first(request, "room") or ""):
        return HTTPResponse(400, "room: 1 to 32 of a-z, 0-9, _ and -\n")
    last = _first(request, "last")
    if last is not None:
        try:
            parse_id(last)
        except ValueError:
            return HTTPResponse(400, "last: a message id (like 1700000000000-0)\n")
    return None


def encode(message: Message) -> bytes:
    """What subscribers receive: the published JSON object with its type and stream id put first."""
    return b'{"type":"message","id":"' + message.id.encode() + b'",' + message.data[1:]


class Chat:
    """One per worker process: its Topics hub and its link to Redis, made on its own event loop."""

    hub: RedisHub

    async def startup(self) -> None:
        # A slow reader is closed with 1013 (try again later): its page reconnects and
        # resumes from its last id, so it misses nothing (skipping would lose messages).
        topics = fastws.Topics(slow="close", close_code=1013, close_reason="too slow, reconnect")
        url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        self.hub = RedisHub(topics, url, cluster=os.environ.get("REDIS_CLUSTER") == "1", encode=encode, maxlen=1000)
        await self.hub.start()

    async def shutdown(self) -> None:
        await self.hub.close()

    async def handler(self, ws: fastws.WebSocket) -> None:
        request = ws.request
        user = check_token(_first(request, "token") or request.cookies.get(TOKEN_COOKIE))
        room = _first(request, "room")
        topic = f"room:{room}"
        await ws.send(json.dumps({"type": "hello", "user": user, "room": room, "worker": os.getpid()}))
        try:
            replayed, complete = await self.hub.join(ws, topic, _first(request, "last"))
        except BackendError:
            await ws.close(1013, "chat backend unavailable, try again later")
            return
        await ws.send(json.dumps({"type": "resumed", "count": replayed, "complete": complete}))
        async for message in ws:
            error = await self._post(user, topic, message)
            if error:
                await ws.send(json.dumps({"type": "error", "error": error}))

    async def _post(self, user: Optional[str], topic: str, message: object) -> Optional[str]:
        if not isinstance(message, str):
            return "send JSON text, not binary"
        try:
            data = json.loads(message)
        except ValueError:
            return "not JSON"
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
            return f'expected {{"text": "..."}} with 1 to {MAX_TEXT} characters'
        payload = json.dumps({"user": user, "text": text, "time": int(time.time() * 1000)}, ensure_ascii=False)
        try:
            await self.hub.publish(topic, payload)
        except BackendError:
            return "not sent: the chat backend is unavailable, try again"
        return None


chat = Chat()
app = WorkerApp(
    handler=chat.handler,
    serve_options={"process_request": process_request, "ping_interval": 20, "max_size": 64 * 1024},
    on_startup=chat.startup,
    on_shutdown=chat.shutdown,
)
