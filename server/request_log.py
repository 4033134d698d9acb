"""One log line per request, at INFO on the `articlechat.requests` logger: request id, method, path (without
its query string), status and duration, written when the response has been sent (a streamed answer: when
its stream ends). Never the body, the query string or the headers: no article text, question or key.

The request id is returned as the `X-Request-ID` response header and kept in `request.state.request_id`;
a client's own X-Request-ID (up to 64 letters, digits, `.`, `_`, `-`, `:`) is reused, so a proxy's id
follows the request through."""

from __future__ import annotations

import logging
import re
import secrets
import time

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("articlechat.requests")

HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")
MAX_LOGGED_PATH = 200


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(HEADER, "")
        request_id = incoming if _SAFE_ID.fullmatch(incoming) else secrets.token_hex(6)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500  # if the app fails before it answers
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            log.info("%s %s %s %d %.1fms", request_id, scope["method"], _printable(scope["path"]), status, elapsed)


def _printable(path: str) -> str:
    """A decoded path can hold anything (%0A): escaped, so one request stays one line."""
    path = _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", path)
    return path if len(path) <= MAX_LOGGED_PATH else path[:MAX_LOGGED_PATH] + "…"


def install(app: Starlette) -> None:
    """Outside all the app's middleware, its error handler's included: a request refused by any of them,
    and an internal error's 500, are logged and carry their request id too."""
    build = app.build_middleware_stack

    def build_with_log() -> ASGIApp:
        return RequestLogMiddleware(build())

    app.build_middleware_stack = build_with_log  # type: ignore[method-assign]
