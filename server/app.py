"""The FastAPI application: thin routers over the services, one error shape for every failure."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from index.parsing import ArticleError
from server.container import Container
from server.routers import articles, ask, health
from server.services.articles import ArticleNotFound, ArticleTooLarge
from server.services.search import UnknownArticles
from server.settings import Settings, get_settings

log = logging.getLogger("articlechat")


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    container = container or Container(settings or get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Load the model and open the store before the first request, not during it.
        _ = container.answers
        container.seed_sample()
        yield

    # /docs and /redoc with their assets served by the app: FastAPI's own pages load them from a CDN,
    # which leaves a blank page offline or behind a firewall.
    app = FastAPIOffline(
        title="articlechat",
        version="0.1.0",
        description="Ask questions about indexed news articles; answers cite the passages they use.",
        lifespan=lifespan,
    )
    app.state.container = container
    app.include_router(ask.router)
    app.include_router(articles.router)
    app.include_router(health.router)
    _add_error_handlers(app)
    # The page at /, its assets under /ui: a catch-all mount at / would answer every unknown path
    # and every wrong method on an API path itself (405 "Allow: GET, HEAD" for PUT /ask).
    static = resources.files("ui").joinpath("static")
    app.mount("/ui", StaticFiles(directory=str(static)), name="ui")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(str(static.joinpath("index.html")))

    return app


SEND_JSON = "send a JSON object with content-type application/json"
NOT_JSON = f"the request body is not valid JSON: {SEND_JSON}"


def _error(status: int, message: str, detail: list | None = None, headers: dict | None = None) -> JSONResponse:
    body: dict = {"error": message}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(status_code=status, content=body, headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error(400, NOT_JSON)
        if any(tuple(e.get("loc", ())) == ("body",) and e.get("type") == "model_attributes_type" for e in errors):
            content_type = request.headers.get("content-type", "")
            if content_type and "json" not in content_type:
                return _error(415, f"unsupported content-type {content_type!r}: {SEND_JSON}")
            return _error(422, 'the request body must be a JSON object, such as {"question": "..."}')
        messages = []
        detail = []
        for e in errors:
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            msg = e.get("msg", "invalid").removeprefix("Value error, ")
            messages.append(f"{where}: {msg}")
            detail.append({"field": where, "message": msg, "type": e.get("type")})
        return _error(422, "; ".join(messages), detail)

    @app.exception_handler(ArticleError)
    async def bad_article(request: Request, exc: ArticleError):
        return _error(422, str(exc))

    @app.exception_handler(UnknownArticles)
    async def unknown_articles(request: Request, exc: UnknownArticles):
        return _error(404, str(exc))

    @app.exception_handler(ArticleNotFound)
    async def unknown_article(request: Request, exc: ArticleNotFound):
        return _error(404, f"{exc}; GET /articles lists the indexed ones")

    @app.exception_handler(ArticleTooLarge)
    async def too_large(request: Request, exc: ArticleTooLarge):
        return _error(413, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        # Starlette's own messages say what went wrong but not what to do.
        message = {
            "There was an error parsing the body": NOT_JSON,
            "Not Found": f"no such page or endpoint: {request.url.path}; the API is described at /docs",
            "Method Not Allowed": (
                f"{request.method} is not allowed on {request.url.path}; the API is described at /docs"
            ),
        }.get(str(exc.detail), str(exc.detail))
        return _error(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal error: the server log has the details")
