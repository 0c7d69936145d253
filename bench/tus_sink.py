"""A bare tus endpoint that keeps nothing: it answers creation, HEAD and PATCH exactly enough
for tuspy and counts the bytes it receives. Served by the same HTTP server as ``opendems
serve`` (uvicorn with httptools and uvloop), it measures what the HTTP stack alone lets
through on this machine, before OpenDEMS hashes, encrypts or stores a byte.

Run: python -m uvicorn bench.tus_sink:app --port N
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_OFFSETS: dict[str, int] = {}


async def _answer(send: Send, status: int, headers: dict[str, str]) -> None:
    raw = [(k.encode(), v.encode()) for k, v in {"tus-resumable": "1.0.0", **headers}.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b""})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    method, path = scope["method"], scope["path"]
    received = 0
    while True:  # every request's body is read whole (PATCH: counted, then dropped)
        message = await receive()
        received += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    upload = path.rsplit("/", 1)[-1]
    if method == "POST":
        upload = secrets.token_hex(8)
        _OFFSETS[upload] = 0
        await _answer(send, 201, {"location": f"/files/{upload}", "upload-offset": "0"})
    elif method == "PATCH" and upload in _OFFSETS:
        _OFFSETS[upload] += received
        await _answer(send, 204, {"upload-offset": str(_OFFSETS[upload])})
    elif method == "HEAD" and upload in _OFFSETS:
        await _answer(send, 200, {"upload-offset": str(_OFFSETS[upload]), "cache-control": "no-store"})
    else:
        await _answer(send, 404, {})
