"""A CLI write while a server runs on the same embedded store goes through that server.

Chroma's embedded store keeps its vector index in the memory of each process: rows another process
adds are in the database but not in the server's index, and every question reaching them failed
(`InternalError: Error finding id`) until the server was restarted. So `articlechat serve` leaves a
note in the data directory (`server.json`: its process id and URL), and `articlechat ingest` and
`delete` send their writes to that server's API instead of writing the store themselves. (A Chroma
server, `ARTICLECHAT_CHROMA_HOST`, has one index for every process and needs none of this.)
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from server.services.articles import ArticleError, ArticleNotFound, IngestResult
from server.settings import Settings

log = logging.getLogger("articlechat")
NOTE = "server.json"
# A write of one article: parsing and embedding a long one takes seconds on 2 cores.
WRITE_TIMEOUT_SECONDS = 300


def _note(settings: Settings) -> Path | None:
    return None if settings.chroma_host else settings.data_dir.expanduser() / NOTE


@contextmanager
def announced(settings: Settings, host: str, port: int) -> Iterator[Callable[[], None]]:
    """While the server runs, the note names it. Yields the note's removal, for the app's shutdown:
    uvicorn ends the process by re-raising the SIGTERM it caught, so code after it never runs."""
    note = _note(settings)
    if note is None:
        yield lambda: None
        return
    local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://[{local}]:{port}" if ":" in local else f"http://{local}:{port}"
    note.parent.mkdir(parents=True, exist_ok=True)
    note.write_text(json.dumps({"pid": os.getpid(), "url": url, "store": settings.store_location}))

    def remove() -> None:
        note.unlink(missing_ok=True)

    try:
        yield remove
    finally:
        remove()


def find_server(settings: Settings) -> RemoteArticles | None:
    """The articles API of a server running on this embedded store, if one is."""
    note = _note(settings)
    if note is None or not note.is_file():
        return None
    try:
        info = json.loads(note.read_text())
        os.kill(int(info["pid"]), 0)  # raises if no such process
        health = httpx.get(f"{info['url']}/healthz", timeout=2).json()
    except (OSError, ValueError, KeyError, TypeError, httpx.HTTPError):
        return None  # a note left by a server that crashed: write the store directly
    if health.get("vector_store") != settings.store_location:
        return None
    return RemoteArticles(info["url"], settings)


class RemoteArticles:
    """The writes of ArticleService, sent to a running server's HTTP API."""

    def __init__(self, url: str, settings: Settings):
        self.url = url
        key = settings.api_key
        headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}
        self._client = httpx.Client(base_url=url, headers=headers, timeout=WRITE_TIMEOUT_SECONDS)

    def add_file(
        self, data: bytes, filename: str, *, article_id: str | None = None, title: str | None = None, source: str = ""
    ) -> IngestResult:
        fields = {k: v for k, v in (("id", article_id), ("title", title)) if v}
        response = self._client.post("/articles/upload", files={"file": (filename, data)}, data=fields)
        if response.status_code >= 400:
            raise ArticleError(_error(response))
        body = response.json()
        return IngestResult(body["id"], body["title"], body["status"], body["sections"], body["chunks"])

    def delete(self, article_id: str) -> None:
        response = self._client.delete(f"/articles/{article_id}")
        if response.status_code == 404:
            raise ArticleNotFound(article_id)
        if response.status_code >= 400:
            raise ArticleError(_error(response))


def _error(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return f"the server answered {response.status_code}"
