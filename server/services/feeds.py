"""The feeds service: follow RSS and Atom feeds, and ingest the page of each of their entries.

A run fetches the feed (feedparser reads RSS 0.9x–2.0, RSS 1.0 and Atom), then the page of every entry
it has not seen at this version (its `updated`, else `published`, stamp): a new or changed entry is
fetched and ingested like `POST /articles {"url"}` (new, updated or unchanged), a seen one is skipped
without a request. At most ARTICLECHAT_FEED_MAX_PAGES pages are fetched in a run; the others are
"deferred" to the next. An entry whose page fails is reported with its error and tried again next
run; the others go on.

A feed's state (its URL and title, when it was polled, what the last run did, and the stamps of the
entries seen) is in the store (`ArticleStore.feed_state`), so every process sharing the store agrees
on it. Two processes polling one feed at the same moment both fetch it; ingestion is idempotent, and
the later state written wins.
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urljoin

from index.ingest import IngestResult
from index.metadata import ArticleMeta, clean_field, is_web_url
from index.store import ArticleStore
from index.urls import normalize_url
from server.components.fetch import Fetcher, FetchError, URLRefused, check_url
from server.limits import MAX_FEED_ENTRIES
from server.services.articles import ArticleError, ArticleService, UrlInput

log = logging.getLogger("articlechat")

EntryStatus = Literal["new", "updated", "unchanged", "seen", "failed", "deferred"]
COUNTED: tuple[EntryStatus, ...] = ("new", "updated", "unchanged", "seen", "failed", "deferred")
# How often the poller looks for a feed that is due, at most.
POLL_CHECK_SECONDS = 30.0


class FeedNotFound(LookupError):
    def __init__(self, feed_id: str):
        super().__init__(f"no followed feed has the id {feed_id!r}")
        self.feed_id = feed_id


@dataclass
class EntryOutcome:
    url: str
    status: EntryStatus
    article: IngestResult | None = None
    error: str | None = None
    error_status: int | None = None  # what POST /articles would have answered (422, 502, 504)


@dataclass
class FeedInfo:
    id: str
    url: str
    title: str
    added_at: str
    last_polled_at: str | None
    last_error: str | None  # the feed itself could not be read at the last poll
    entries: int  # in the feed at the last poll
    articles: int  # entries ingested so far (their articles are new, updated or unchanged)
    last_run: dict[str, int] = field(default_factory=dict)  # entries by status at the last poll


@dataclass
class FeedRun:
    feed: FeedInfo
    entries: list[EntryOutcome]
    created: bool = False

    def count(self, status: EntryStatus) -> int:
        return sum(e.status == status for e in self.entries)


def feed_id(url: str) -> str:
    return hashlib.sha256(normalize_url(url).encode()).hexdigest()[:16]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class FeedService:
    def __init__(self, store: ArticleStore, articles: ArticleService, fetcher: Fetcher, *, max_pages: int):
        self.store = store
        self.articles = articles
        self.fetcher = fetcher
        self.max_pages = max_pages
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def list_feeds(self) -> list[FeedInfo]:
        return sorted((_info(s) for s in self.store.feed_states()), key=lambda f: (f.title.lower(), f.url))

    def follow(self, url: str) -> FeedRun:
        """Follow a feed (if not yet) and poll it now. A new feed whose first fetch fails is not kept."""
        url = check_url(url)
        existing = self.store.feed_state(feed_id(url))
        run = self.poll(url, keep_on_failure=existing is not None)
        run.created = existing is None
        return run

    def unfollow(self, id_: str) -> None:
        if not self.store.delete_feed_state(id_):
            raise FeedNotFound(id_)

    def poll(self, url: str, *, keep_on_failure: bool = True) -> FeedRun:
        """One run over a feed (see the module's docstring). FetchError when the feed itself cannot be
        read (its error is then kept as the feed's `last_error` when `keep_on_failure`)."""
        id_ = feed_id(url)
        with self._lock(id_):
            state = self.store.feed_state(id_) or {"id": id_, "url": url, "title": "", "added_at": _now(),
                                                   "seen": {}, "articles": 0}
            try:
                title, entries = self._read_feed(url)
            except FetchError as exc:
                if keep_on_failure:
                    self.store.put_feed_state(id_, {**state, "last_polled_at": _now(), "last_error": str(exc)})
                raise
            outcomes = self._ingest(entries, state["seen"])
            # Entries gone from the feed are forgotten; a seen one keeps its stamp until its page is ingested again.
            seen = {e.key: state["seen"][e.key] for e in entries if e.key in state["seen"]}
            for entry, outcome in zip(entries, outcomes, strict=True):
                if outcome.status in ("new", "updated", "unchanged"):
                    seen[entry.key] = entry.stamp
            counts = {status: sum(o.status == status for o in outcomes) for status in COUNTED}
            state.update(title=title or state["title"], last_polled_at=_now(), last_error=None, seen=seen,
                         entries=len(entries), last_run=counts,
                         articles=state.get("articles", 0) + counts["new"] + counts["updated"] + counts["unchanged"])
            self.store.put_feed_state(id_, state)
        log.info("feed %s: %s", url, ", ".join(f"{n} {s}" for s, n in counts.items() if n))
        return FeedRun(_info(state), outcomes)

    def poll_due(self, interval: float, configured: Iterable[str] = ()) -> list[FeedRun]:
        """Poll every feed not polled for `interval` seconds (the configured ones are followed first if
        they are not yet); a feed that fails is logged and the others go on."""
        states = {s["id"]: s for s in self.store.feed_states()}
        urls = {feed_id(u): u for u in configured}
        urls.update({i: s["url"] for i, s in states.items()})
        runs = []
        for id_, url in urls.items():
            last = states.get(id_, {}).get("last_polled_at")
            if last and (time.time() - datetime.fromisoformat(last).timestamp()) < interval:
                continue
            try:
                runs.append(self.poll(url))
            except ArticleError as exc:
                log.warning("feed %s could not be polled: %s", url, exc)
            except Exception:  # the poller must outlive any one feed's bug
                log.exception("polling feed %s failed", url)
        return runs

    def _lock(self, id_: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(id_, threading.Lock())

    def _read_feed(self, url: str) -> tuple[str, list[_Entry]]:
        import feedparser

        fetched = self.fetcher.fetch(url, "feed")
        parsed = feedparser.parse(fetched.content, response_headers={"content-location": fetched.url})
        if not parsed.entries and (parsed.get("bozo") or not parsed.feed):
            why = f" ({parsed.get('bozo_exception')})" if parsed.get("bozo") else ""
            raise URLRefused(f"{url} is not an RSS or Atom feed{why}: send the feed's URL, not a page's")
        entries: list[_Entry] = []
        keys: set[str] = set()
        for raw in parsed.entries[:MAX_FEED_ENTRIES]:
            link = urljoin(fetched.url, str(raw.get("link") or ""))
            if not is_web_url(link):
                continue
            key = str(raw.get("id") or link)
            if key in keys:
                continue
            keys.add(key)
            # dict.get: feedparser's own get() maps a missing "updated" to "published", with a warning.
            stamp = str(dict.get(raw, "updated") or dict.get(raw, "published") or "")
            when = dict.get(raw, "published_parsed") or dict.get(raw, "updated_parsed")
            published = datetime.fromtimestamp(calendar.timegm(when), UTC).isoformat() if when else ""
            meta = ArticleMeta(author=str(raw.get("author") or ""), published=published)
            entries.append(_Entry(key, link, stamp, meta))
        return clean_field(str(parsed.feed.get("title") or "")), entries

    def _ingest(self, entries: list[_Entry], seen: dict[str, str]) -> list[EntryOutcome]:
        """Each entry's outcome: its new, changed or failing page ingested, up to max_pages of them."""
        outcomes: list[EntryOutcome | None] = []
        wanted: list[tuple[int, _Entry]] = []
        for entry in entries:
            if entry.key in seen and seen[entry.key] == entry.stamp:
                outcomes.append(EntryOutcome(entry.link, "seen"))
            elif len(wanted) >= self.max_pages:
                outcomes.append(EntryOutcome(entry.link, "deferred"))
            else:
                wanted.append((len(outcomes), entry))
                outcomes.append(None)
        results = self.articles.add_many(UrlInput(e.link, meta=e.meta) for _, e in wanted)
        for (position, entry), result in zip(wanted, results, strict=True):
            if isinstance(result, ArticleError):
                status = getattr(result, "status", 422)
                outcomes[position] = EntryOutcome(entry.link, "failed", error=str(result), error_status=status)
            else:
                outcomes[position] = EntryOutcome(entry.link, result.status, result)
        return [o for o in outcomes if o is not None]


@dataclass(frozen=True)
class _Entry:
    key: str  # its id, else its link
    link: str
    stamp: str  # its updated (else published) date as the feed writes it: a new one is a changed entry
    meta: ArticleMeta  # what the feed says of it (the page's own metadata wins)


def _info(state: dict[str, Any]) -> FeedInfo:
    return FeedInfo(state["id"], state["url"], state.get("title") or "", state.get("added_at") or "",
                    state.get("last_polled_at"), state.get("last_error"), int(state.get("entries", 0)),
                    int(state.get("articles", 0)), dict(state.get("last_run") or {}))


class FeedPoller:
    """`articlechat serve`'s background thread: polls the followed feeds (and ARTICLECHAT_FEEDS) every
    `interval` seconds. Each process of a server polls, and skips a feed another polled less than
    `interval` ago (the times are in the store)."""

    def __init__(self, feeds: FeedService, interval: float, configured: list[str]):
        self.feeds = feeds
        self.interval = interval
        self.configured = configured
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feed-poller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(wait)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.feeds.poll_due(self.interval, self.configured)
            except Exception:
                log.exception("polling the feeds failed")
            self._stop.wait(min(self.interval, POLL_CHECK_SECONDS))

