"""Request bodies limited as they stream in, with the API's own error body.

Written by hand rather than with FastAPI's `max_body_size` (Starlette's RequestBodyLimitMiddleware):
that one answers a declared Content-Length over the limit with a plain-text "Content Too Large",
which no client of this API can parse as `{"error": ...}`, and its limits are fixed per route at
import time while the article limit is a setting.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Where the limit of the request at hand is kept, for the error message.
LIMIT_SCOPE_KEY = "articlechat.body_limit"
TOO_LARGE = "request body too large"


class BodyLimit:
    def __init__(self, app: ASGIApp, limit_for: Callable[[str, str], int], error: Callable[[Scope], dict]):
        self.app = app
        self.limit_for = limit_for  # (method, path) -> bytes
        self.error = error  # the 413's JSON body, in the error shape of the request's API

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = scope[LIMIT_SCOPE_KEY] = self.limit_for(scope["method"], scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:  # refused before a byte of it is read
            body = json.dumps(self.error(scope)).encode()
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"), (b"connection", b"close"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # a chunked body, or one longer than it declared
                    # FastAPI re-raises an HTTPException met while reading the body: the app's
                    # handler then answers 413 with the API's error body.
                    raise HTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, limited, send)
