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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from index.ingest import derive_article_id
from index.parsing import decode_bytes
from server.services.articles import (
    ArticleError,
    ArticleInput,
    ArticleNotFound,
    FetchError,
    IngestResult,
    Outcome,
    UrlInput,
    format_of_file,
)
from server.services.feeds import EntryOutcome, FeedInfo, FeedRun
from server.settings import Settings

log = logging.getLogger("articlechat")
NOTE = "server.json"
# A write of a batch of articles: embedding them takes seconds to minutes on 2 cores.
WRITE_TIMEOUT_SECONDS = 600
# Articles per POST /articles/batch (at most the API's 100): enough to fill the model's batches.
REMOTE_BATCH_ARTICLES = 32


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
        # The server's body limit, if it shares these settings; the JSON envelope fits in the slack.
        self._max_body = settings.max_upload_bytes

    def add_many(
        self, items: Iterable[ArticleInput | UrlInput], on_done: Callable[[int, Outcome], None] | None = None
    ) -> list[Outcome]:
        """ArticleService.add_many through POST /articles/batch, a request per REMOTE_BATCH_ARTICLES
        articles (and under the body limit); a URL through POST /articles {"url"}, the server fetching it.
        Files are decoded here, so the request carries text."""
        outcomes: dict[int, Outcome] = {}

        def finished(index: int, outcome: Outcome) -> None:
            outcomes[index] = outcome
            if on_done:
                on_done(index, outcome)

        batch: list[tuple[int, dict[str, str]]] = []
        size = 0
        for index, item in enumerate(items):
            if isinstance(item, UrlInput):
                finished(index, self._add_url(item))
                continue
            try:
                article = _json_article(item)
            except ArticleError as exc:
                finished(index, exc)
                continue
            article_size = len(json.dumps(article))
            if batch and (len(batch) == REMOTE_BATCH_ARTICLES or size + article_size > self._max_body):
                self._send(batch, finished)
                batch, size = [], 0
            batch.append((index, article))
            size += article_size
        if batch:
            self._send(batch, finished)
        return [outcomes[i] for i in sorted(outcomes)]

    def _add_url(self, item: UrlInput) -> Outcome:
        fields = {k: v for k, v in (("url", item.url), ("id", item.article_id), ("title", item.title)) if v}
        response = self._client.post("/articles", json=fields)
        if response.status_code >= 400:
            error = FetchError(_error(response))
            error.status = response.status_code
            return error
        return _ingest_result(response.json())

    def post(self, path: str, body: dict) -> httpx.Response:
        return self._client.post(path, json=body)

    def _send(self, batch: list[tuple[int, dict[str, str]]], finished: Callable[[int, Outcome], None]) -> None:
        response = self._client.post("/articles/batch", json={"articles": [article for _, article in batch]})
        if response.status_code != 207:
            error = ArticleError(_error(response))
            for index, _ in batch:
                finished(index, error)
            return
        for (index, _), result in zip(batch, response.json()["results"], strict=True):
            if result["status"] >= 400:
                finished(index, ArticleError(result["error"]))
            else:
                finished(index, _ingest_result(result["article"]))

    def delete(self, article_id: str) -> None:
        response = self._client.delete(f"/articles/{article_id}")
        if response.status_code == 404:
            raise ArticleNotFound(article_id)
        if response.status_code >= 400:
            raise ArticleError(_error(response))


class RemoteFeeds:
    """FeedService.follow, sent to a running server's POST /feeds."""

    def __init__(self, articles: RemoteArticles):
        self._articles = articles

    def follow(self, url: str) -> FeedRun:
        response = self._articles.post("/feeds", {"url": url})
        if response.status_code >= 400:
            error = FetchError(_error(response))
            error.status = response.status_code
            raise error
        body = response.json()
        entries = [EntryOutcome(e["url"], e["status"], _ingest_result(e["article"]) if e["article"] else None,
                                e["error"], e["error_status"]) for e in body["entries"]]
        return FeedRun(FeedInfo(**body["feed"]), entries, response.status_code == 201)


def _ingest_result(a: dict) -> IngestResult:
    return IngestResult(a["id"], a["title"], a["status"], a["sections"], a["chunks"], a.get("url") or "",
                        a.get("aliased_url") or "")


def _json_article(item: ArticleInput) -> dict[str, str]:
    """An article as POST /articles/batch takes it."""
    text = item.content
    if isinstance(text, bytes):
        name = item.filename or "the upload"
        format_of_file(name)
        text = decode_bytes(text, name)
    fmt = item.fmt or (format_of_file(item.filename) if item.filename else None)
    fields = {"text": text, "format": fmt, "id": item.article_id, "title": item.title}
    if not item.article_id and item.filename:  # the id the server would derive from the file name
        fields["id"] = derive_article_id(filename=item.filename, title=item.title, text=text)
    return {k: v for k, v in fields.items() if v}


def _error(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return f"the server answered {response.status_code}"
