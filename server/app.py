"""The FastAPI application: thin routers over the services, one error shape for every failure."""

from __future__ import annotations

import gc
import logging
import threading
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.types import Scope

from server import errors, logs, request_log, security
from server.body_limit import BodyLimit
from server.container import Container
from server.limits import ARTICLE_BODY_SLACK_BYTES, DEFAULT_BODY_BYTES, MAX_ASK_BODY_BYTES, MAX_CHAT_BODY_BYTES
from server.routers import articles, ask, feeds, health, openai_compat
from server.settings import Settings, get_settings

log = logging.getLogger("articlechat")

# What uvicorn imports in each worker process of `articlechat serve --workers N` (see `worker_app`).
WORKER_APP = "server.app:worker_app"
# Smaller responses gain nothing from compression (a gzip header and trailer are ~20 bytes).
GZIP_MINIMUM_BYTES = 1024


def _after_start(container: Container) -> None:
    container.articles.sweep()
    container.answers.warm_up()


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    container = container or Container(settings or get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Once per process (each worker runs its own). Load the model and open the store before the first
        # request, not during it. Workers starting together on an empty store may both seed the sample:
        # the same text gives the same version and record ids, so the second write changes nothing.
        _ = container.answers
        container.seed_sample()
        # Beside the first requests, not before them (22 s at 8,000 articles, bench.scale) nor in the
        # first question's time: the clean-up of what a crash left, and the BM25 index.
        threading.Thread(target=_after_start, args=(container,), name="after-start", daemon=True).start()
        poller = None
        if (interval := container.settings.poll_interval) > 0:  # ARTICLECHAT_FEEDS, ARTICLECHAT_FEED_INTERVAL
            from server.services.feeds import FeedPoller

            poller = FeedPoller(container.feeds, interval, container.settings.feeds)
            poller.start()
        # What start-up loaded (libraries, the model, schemas: ~200,000 objects) lives as long as the
        # server: frozen, the collector's full passes no longer walk it. Such a pass took ~100 ms
        # holding the GIL, stalling every request (bench/responsiveness.py).
        gc.freeze()
        gc.enable()  # `articlechat serve` turns it off for the start-up (server/cli.py)
        yield
        if poller is not None:
            poller.stop()
        container.answers.shut_down()
        for hook in app.state.on_shutdown:  # before uvicorn re-raises a SIGTERM it caught
            hook()

    # /docs and /redoc with their assets served by the app: FastAPI's own pages load them from a CDN,
    # which leaves a blank page offline or behind a firewall.
    app = FastAPIOffline(
        title="articlechat",
        version="0.1.0",
        description="Ask questions about indexed news articles; answers cite the passages they use.",
        lifespan=lifespan,
    )
    app.state.container = container
    app.state.on_shutdown = []
    app.include_router(ask.router)
    app.include_router(articles.router)
    app.include_router(feeds.router)
    app.include_router(health.router)
    app.include_router(openai_compat.router)
    article_limit = container.settings.max_upload_bytes + ARTICLE_BODY_SLACK_BYTES

    def body_limit(method: str, path: str) -> int:
        if path.startswith("/ask"):
            return MAX_ASK_BODY_BYTES
        if path == openai_compat.CHAT_PATH:
            return MAX_CHAT_BODY_BYTES
        return article_limit if path.startswith("/articles") else DEFAULT_BODY_BYTES

    max_upload = container.settings.max_upload_bytes

    def too_large(scope: Scope) -> dict:
        return errors.error_content(scope["path"], 413, errors.too_large(scope, max_upload))

    app.add_middleware(BodyLimit, limit_for=body_limit, error=too_large)
    errors.install(app)
    security.install(app, container.settings)  # the Host allow-list, CORS, the API key in /docs
    # The web UI's files (~75 KB) and JSON go compressed to clients that accept gzip (every browser):
    # about a third of the bytes (~26 KB). Server-Sent Events are never compressed (the middleware passes
    # text/event-stream through untouched), so each event still reaches the client as it is sent.
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES)
    request_log.install(app)  # outermost: one log line and an X-Request-ID for every request
    # The page at /, its assets under /ui: a catch-all mount at / would answer every unknown path
    # and every wrong method on an API path itself (405 "Allow: GET, HEAD" for PUT /ask).
    static = resources.files("ui").joinpath("static")
    app.mount("/ui", StaticFiles(directory=str(static)), name="ui")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(str(static.joinpath("index.html")))

    # The page names /ui/favicon.svg; browsers and other clients that ask for /favicon.ico get it too.
    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(str(static.joinpath("favicon.svg")), media_type="image/svg+xml")

    return app


def worker_app() -> FastAPI:
    """The app of one worker of `articlechat serve --workers N`. uvicorn starts each worker as a new
    process (spawn) that imports this function by name and calls it: each builds its own container from
    the settings (environment and .env) and runs the start-up above once. Its log lines carry its
    process id (uvicorn configures only its own loggers in a worker)."""
    from tqdm import tqdm

    logs.configure(worker=True)
    # tqdm (libraries run it, silent) makes a multiprocessing lock on first use: in a spawned worker, a named
    # semaphore that the worker, ended by the SIGTERM uvicorn re-raises, never unlinks, so every shutdown
    # warned of "leaked semaphore objects". Within one process a thread lock is all it needs.
    tqdm.set_lock(threading.RLock())
    return create_app()
