"""One error shape for every failure: `{"error": "what to fix", "detail": [...]}` with a 4xx status
(5xx only for a bug, logged). Library messages that say what went wrong but not what to do are
reworded here."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from server.body_limit import LIMIT_SCOPE_KEY, TOO_LARGE
from server.services.articles import ArticleError, ArticleNotFound, ArticleTooLarge
from server.services.search import UnknownArticles

log = logging.getLogger("articlechat")

INVALID_UNICODE = "contains an invalid character (a lone UTF-16 surrogate such as \\ud800): send valid Unicode text"
SEND_JSON = "send a JSON object with content-type application/json"
NOT_JSON = f"the request body is not valid JSON: {SEND_JSON}"


def error_response(status: int, message: str, detail: list | None = None, headers: dict | None = None) -> JSONResponse:
    body: dict = {"error": message}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(status_code=status, content=body, headers=headers)


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


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, NOT_JSON)
        if any(tuple(e.get("loc", ())) == ("body",) and e.get("type") == "model_attributes_type" for e in errors):
            content_type = request.headers.get("content-type", "")
            if content_type and "json" not in content_type:
                return error_response(415, f"unsupported content-type {content_type!r}: {SEND_JSON}")
            example = {"/articles": '{"text": "..."}', "/articles/batch": '{"articles": [{"text": "..."}]}'}.get(
                request.url.path, '{"question": "..."}'
            )
            return error_response(422, f"the request body must be a JSON object, such as {example}")
        messages = []
        detail = []
        for e in errors:
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            msg = e.get("msg", "invalid").removeprefix("Value error, ")
            if e.get("type") == "string_unicode":  # pydantic's words for a lone surrogate ("\ud800")
                msg = INVALID_UNICODE
            messages.append(f"{where}: {msg}")
            detail.append({"field": where, "message": msg, "type": e.get("type")})
        return error_response(422, "; ".join(messages), detail)

    @app.exception_handler(ArticleError)
    async def bad_article(request: Request, exc: ArticleError):
        return error_response(422, str(exc))

    @app.exception_handler(UnknownArticles)
    async def unknown_articles(request: Request, exc: UnknownArticles):
        return error_response(404, str(exc))

    @app.exception_handler(ArticleNotFound)
    async def unknown_article(request: Request, exc: ArticleNotFound):
        return error_response(404, f"{exc}; GET /articles lists the indexed ones")

    @app.exception_handler(ArticleTooLarge)
    async def article_too_large(request: Request, exc: ArticleTooLarge):
        return error_response(413, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # Starlette's own messages say what went wrong but not what to do.
        message = {
            TOO_LARGE: too_large(request.scope, request.app.state.container.settings.max_upload_bytes),
            "There was an error parsing the body": NOT_JSON,
            "Not Found": f"no such page or endpoint: {request.url.path}; the API is described at /docs",
            "Method Not Allowed": (
                f"{request.method} is not allowed on {request.url.path}; the API is described at /docs"
            ),
        }.get(str(exc.detail), str(exc.detail))
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # Starlette names the methods of the first route on the path only
            headers = {**(headers or {}), "Allow": ", ".join(_methods_on(request))}
        return error_response(exc.status_code, message, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error: the server log has the details")
