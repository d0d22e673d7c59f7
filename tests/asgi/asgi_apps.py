"""The same three WebSocket endpoints as a Starlette app and as a FastAPI app, served by
``uvicorn asgi_apps:starlette_app --ws fastws.asgi:WebSocketProtocol`` (test_asgi_apps.py):

* ``/echo``: every text and binary message back;
* ``/chat/{room}?name=...``: a JSON chat room (join/leave notices, messages to everyone in the room);
* ``/private``: refused with a custom HTTP response (ASGI ``websocket.http.response``);

plus, for the headless browser, ``/page`` (asgi_page.html), and ``/report`` where the page
sends what it saw, read back with ``GET /reports``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

PAGE = (Path(__file__).parent / "asgi_page.html").read_text()
ROOMS: dict[str, set[WebSocket]] = {}
REPORTS: list[Any] = []


async def echo(ws: WebSocket) -> None:
    await ws.accept()
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await ws.send_text(message["text"])
        else:
            await ws.send_bytes(message["bytes"])


async def chat(ws: WebSocket) -> None:
    room, name = ws.path_params["room"], ws.query_params.get("name", "anonymous")
    await ws.accept()
    members = ROOMS.setdefault(room, set())
    members.add(ws)
    try:
        await broadcast(room, {"type": "join", "name": name, "members": len(members)})
        while True:
            data = await ws.receive_json()
            await broadcast(room, {"type": "message", "name": name, "text": data["text"]})
    except WebSocketDisconnect:
        pass
    finally:
        members.discard(ws)
        await broadcast(room, {"type": "leave", "name": name, "members": len(members)})


async def broadcast(room: str, event: dict[str, Any]) -> None:
    for member in list(ROOMS.get(room, ())):
        try:
            await member.send_json(event)
        except (WebSocketDisconnect, RuntimeError, OSError):
            ROOMS[room].discard(member)  # gone meanwhile


async def private(ws: WebSocket) -> None:
    await ws.send_denial_response(
        Response(
            "members only\n", status_code=403, headers={"x-denied-by": "asgi-app"}, media_type="text/plain"
        )
    )


async def report(ws: WebSocket) -> None:
    await ws.accept()
    REPORTS.append(await ws.receive_json())
    await ws.send_text("report received")
    await ws.close()


async def page(request: Request) -> Response:
    return HTMLResponse(PAGE, headers={"Cache-Control": "no-store"})


async def reports(request: Request) -> Response:
    return JSONResponse(REPORTS)


starlette_app = Starlette(
    routes=[
        WebSocketRoute("/echo", echo),
        WebSocketRoute("/chat/{room}", chat),
        WebSocketRoute("/private", private),
        WebSocketRoute("/report", report),
        Route("/page", page),
        Route("/reports", reports),
    ]
)

fastapi_app = FastAPI()
fastapi_app.add_api_websocket_route("/echo", echo)
fastapi_app.add_api_websocket_route("/chat/{room}", chat)
fastapi_app.add_api_websocket_route("/private", private)
fastapi_app.add_api_websocket_route("/report", report)
fastapi_app.add_api_route("/page", page)
fastapi_app.add_api_route("/reports", reports)
