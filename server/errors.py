"""One error shape for every failure: `{"error": "what to fix", "detail": [...]}` with a 4xx status
(5xx only for a bug, logged). Library messages that say what went wrong but not what to do are
reworded here.

Under /v1/ (the OpenAI-compatible API) the same messages come in OpenAI's error body, `{"error":
{"message", "type", "param", "code"}}`, and an invalid request is a 400 rather than a 422, as OpenAI
answers it: the `openai` SDKs then raise their usual exceptions (BadRequestError, AuthenticationError,
NotFoundError…) with the message."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from server.body_limit import LIMIT_SCOPE_KEY, TOO_LARGE
from server.services.articles import ArticleError, ArticleNotFound, ArticleTooLarge, FetchError
from server.services.chat import ChatRequestError
from server.services.feeds import FeedNotFound
from server.services.search import UnknownArticles

log = logging.getLogger("articlechat")

INVALID_UNICODE = "contains an invalid character (a lone UTF-16 surrogate such as \\ud800): send valid Unicode text"
SEND_JSON = "send a JSON object with content-type application/json"
NOT_JSON = f"the request body is not valid JSON: {SEND_JSON}"


OPENAI_PREFIX = "/v1/"
OPENAI_BODY_EXAMPLE = '{"model": "articlechat", "messages": [{"role": "user", "content": "..."}]}'


def is_openai(path: str) -> bool:
    return path.startswith(OPENAI_PREFIX)


def error_content(path: str, status: int, message: str, *, detail: list | None = None, param: str | None = None,
                  code: str | None = None) -> dict:
    """The error body for a request on `path`: OpenAI's under /v1/, the API's own elsewhere."""
    if is_openai(path):
        kind = "server_error" if status >= 500 else "invalid_request_error"
        return {"error": {"message": message, "type": kind, "param": param, "code": code}}
    body: dict = {"error": message}
    if detail is not None:
        body["detail"] = detail
    return body


def error_status(path: str, status: int) -> int:
    return 400 if status == 422 and is_openai(path) else status


def error_response(request: Request, status: int, message: str, detail: list | None = None,
                   headers: dict | None = None, *, param: str | None = None, code: str | None = None) -> JSONResponse:
    path = request.url.path
    content = error_content(path, status, message, detail=detail, param=param, code=code)
    return JSONResponse(status_code=error_status(path, status), content=content, headers=headers)


def _methods_on(request: Request) -> list[str]:
    """Every method some route answers on this path (each method tried against the routes)."""
    routes = request.app.router.routes
    return [method for method in ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")
            if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)]


def too_large(scope: Scope, max_upload_bytes: int) -> str:
    if scope["path"].startswith("/articles"):
        return (f"the request is larger than the article limit of {max_upload_bytes} bytes "
                "(ARTICLECHAT_MAX_UPLOAD_BYTES): send a smaller article")
    where = f"{scope['method']} {scope['path']}"
    return f"the request body is larger than {scope[LIMIT_SCOPE_KEY]} bytes, the limit of {where}"


class OpenAIRequestError(Exception):
    """An error of the OpenAI-compatible API that no service raises (an unknown model id)."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.param, self.code = status, param, code


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(request, 400, NOT_JSON)
        if any(tuple(e.get("loc", ())) == ("body",) and e.get("type") == "model_attributes_type" for e in errors):
            content_type = request.headers.get("content-type", "")
            if content_type and "json" not in content_type:
                return error_response(request, 415, f"unsupported content-type {content_type!r}: {SEND_JSON}")
            example = {"/articles": '{"text": "..."} or {"url": "https://..."}',
                       "/articles/batch": '{"articles": [{"text": "..."}]}', "/feeds": '{"url": "https://..."}',
                       "/v1/chat/completions": OPENAI_BODY_EXAMPLE}.get(request.url.path, '{"question": "..."}')
            return error_response(request, 422, f"the request body must be a JSON object, such as {example}")
        messages = []
        detail = []
        for e in errors:
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            msg = e.get("msg", "invalid").removeprefix("Value error, ")
            if e.get("type") == "string_unicode":  # pydantic's words for a lone surrogate ("\ud800")
                msg = INVALID_UNICODE
            messages.append(f"{where}: {msg}")
            detail.append({"field": where, "message": msg, "type": e.get("type")})
        param = detail[0]["field"] if detail and detail[0]["field"] != "body" else None
        return error_response(request, 422, "; ".join(messages), detail, param=param)

    @app.exception_handler(ArticleError)
    async def bad_article(request: Request, exc: ArticleError):
        return error_response(request, 422, str(exc))

    @app.exception_handler(FetchError)
    async def fetch_failed(request: Request, exc: FetchError):
        # 422 for a URL to change, 502 when the site failed, 504 when it was too slow (components/fetch.py)
        return error_response(request, exc.status, str(exc))

    @app.exception_handler(FeedNotFound)
    async def unknown_feed(request: Request, exc: FeedNotFound):
        return error_response(request, 404, f"{exc}; GET /feeds lists them")

    @app.exception_handler(ChatRequestError)
    async def bad_conversation(request: Request, exc: ChatRequestError):
        return error_response(request, 422, f"{exc.param}: {exc}", param=exc.param)

    @app.exception_handler(UnknownArticles)
    async def unknown_articles(request: Request, exc: UnknownArticles):
        return error_response(request, 404, str(exc), param="article_ids", code="article_not_found")

    @app.exception_handler(ArticleNotFound)
    async def unknown_article(request: Request, exc: ArticleNotFound):
        return error_response(request, 404, f"{exc}; GET /articles lists the indexed ones")

    @app.exception_handler(ArticleTooLarge)
    async def article_too_large(request: Request, exc: ArticleTooLarge):
        return error_response(request, 413, str(exc))

    @app.exception_handler(OpenAIRequestError)
    async def openai_request_error(request: Request, exc: OpenAIRequestError):
        return error_response(request, exc.status, str(exc), param=exc.param, code=exc.code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # Starlette's own messages say what went wrong but not what to do.
        path = request.url.path
        not_found = f"no such page or endpoint: {path}; the API is described at /docs"
        if is_openai(path):
            not_found = (f"no such endpoint: {request.method} {path}; articlechat's OpenAI-compatible API has "
                         "POST /v1/chat/completions and GET /v1/models (described at /docs)")
            if path == "/v1/completions":  # what LlamaIndex's OpenAILike calls unless told the model chats
                not_found += "; legacy completions are not served: use chat completions (is_chat_model=True)"
        message = {
            TOO_LARGE: too_large(request.scope, request.app.state.container.settings.max_upload_bytes),
            "There was an error parsing the body": NOT_JSON,
            "Not Found": not_found,
            "Method Not Allowed": f"{request.method} is not allowed on {path}; the API is described at /docs",
        }.get(str(exc.detail), str(exc.detail))
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # Starlette names the methods of the first route on the path only
            headers = {**(headers or {}), "Allow": ", ".join(_methods_on(request))}
        code = {401: "invalid_api_key", 404: "unknown_url"}.get(exc.status_code)
        return error_response(request, exc.status_code, message, headers=headers, code=code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "internal error: the server log has the details")

    _describe_in_openapi(app)


def _describe_in_openapi(app: FastAPI) -> None:
    """Under /v1/ an invalid request is a 400 (documented by the routes), never FastAPI's 422."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        for path, path_item in schema.get("paths", {}).items():
            if is_openai(path):
                for operation in path_item.values():
                    operation.get("responses", {}).pop("422", None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
