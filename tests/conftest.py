"""Shared fixtures: the real embedding model (loaded once), real embedded Chroma stores in temporary
directories, and the real app served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from index.embedding import Embedder, make_embedder
from server.app import create_app
from server.container import Container
from server.settings import Settings
from tests.news_server import NewsSite
from tests.openai_standin import OpenAIStandin

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "index" / "data" / "ukraine-russia-prisoner-exchange.txt"
SAMPLE_ID = "ukraine-russia-prisoner-exchange"


def eventually(check: Callable[[], object], within: float = 1.0, poll: float = 0.02) -> float:
    """Seconds until `check()` is true, called every `poll` seconds; AssertionError after `within`."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > within:
            raise AssertionError(f"not true within {within} s: {getattr(check, '__name__', check)}")
        time.sleep(poll)
    return time.monotonic() - started


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return make_embedder(None)


@pytest.fixture(scope="session", autouse=True)
def no_network() -> Iterator[None]:
    """Every container the tests build resolves host names with `offline_resolver`: `.test` hosts and loopback
    names are 127.0.0.1, nothing else resolves, so no URL a test (or the fuzzer) sends is fetched from
    another machine."""
    from server.components import fetch
    from tests.news_server import offline_resolver

    real = fetch.system_resolver
    fetch.system_resolver = offline_resolver
    yield
    fetch.system_resolver = real


@pytest.fixture(scope="session")
def news_site() -> Iterator[NewsSite]:
    """The fixture news pages and feeds, served on 127.0.0.1 (tests/news_server.py)."""
    site = NewsSite().start()
    yield site
    site.stop()


def make_settings(data_dir: Path, **overrides) -> Settings:
    # _env_file=None: a developer's own .env must not leak into the tests. A fetch gives up after 3 s: no
    # test waits on a network timeout.
    base = {"data_dir": data_dir, "openai_api_key": None, "openai_base_url": None, "chroma_host": None,
            "fetch_timeout": 3, "feeds": [], "feed_interval": None}
    return Settings(_env_file=None, **{**base, **overrides})


@pytest.fixture(scope="module")
def standin():
    """An OpenAI-compatible stand-in LLM on 127.0.0.1 (tests/openai_standin.py): no real LLM runs in CI."""
    with OpenAIStandin(model="standin-model") as server:
        yield server


@pytest.fixture
def make_container(tmp_path_factory, embedder):
    def make(**overrides) -> Container:
        data_dir = overrides.pop("data_dir", None) or tmp_path_factory.mktemp("store")
        return Container(make_settings(data_dir, **overrides), embedder=embedder)

    return make


class StreamPace:
    """Around the app: sends each piece of a /ask/stream response `seconds` after the previous one, as an
    LLM writing its answer does, so that browser tests can scroll, stop or reload mid-answer, every time
    at the same point. 0 (the default) passes everything through as it comes."""

    def __init__(self, app):
        self.app = app
        self.seconds = 0.0

    async def __call__(self, scope, receive, send) -> None:
        seconds = self.seconds
        if scope["type"] != "http" or scope["path"] != "/ask/stream" or not seconds:
            await self.app(scope, receive, send)
            return

        async def paced(message) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                await asyncio.sleep(seconds)
            await send(message)

        await self.app(scope, receive, paced)


class LiveServer:
    """The app on a real uvicorn server in a background thread; `pace.seconds` slows its answer streams."""

    def __init__(self, container: Container):
        self.container = container
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.pace = StreamPace(create_app(container=container))
        config = uvicorn.Config(self.pace, host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)


@pytest.fixture
def start_server():
    servers: list[LiveServer] = []

    def start(container: Container) -> LiveServer:
        server = LiveServer(container).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def sample_server(tmp_path_factory, embedder) -> Iterator[LiveServer]:
    """One extractive-mode server with the bundled sample article, shared by read-mostly tests.
    Tests that add articles use ids of their own and remove them."""
    container = Container(make_settings(tmp_path_factory.mktemp("sample-store")), embedder=embedder)
    server = LiveServer(container).start()
    yield server
    server.stop()


@pytest.fixture
def api(sample_server) -> Iterator[httpx.Client]:
    with sample_server.client() as client:
        yield client


# The browser tests (tests/test_ui*.py) drive Debian's Chromium through Playwright.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Without these, Chromium phones home at start and on a closed network waits for it.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
