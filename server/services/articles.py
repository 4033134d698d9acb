"""The articles service: list, read, add (as text, as a file, or by URL), delete and count the indexed
articles, and seed the bundled sample. The HTTP routers, the feeds service and the CLI call it; it wraps
the ingestion service, the fetcher and the store and returns plain records, so none of them needs to
know about those."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from index.ingest import ARTICLE_ID_PATTERN, ArticleInput, IngestionService, IngestResult, Outcome
from index.metadata import ArticleMeta
from index.parsing import FORMATS, ArticleError, format_of_file
from index.store import ArticleRecord, ArticleStore
from index.text import SECTION_SEPARATOR
from server.components.fetch import FetchedPage, Fetcher, FetchError
from server.services.outline import Heading, headings, outline

__all__ = [
    "ARTICLE_ID_PATTERN",
    "FORMATS",
    "SAMPLE_ARTICLE",
    "ArticleContent",
    "ArticleError",
    "ArticleInfo",
    "ArticleInput",
    "ArticleNotFound",
    "ArticleOutline",
    "ArticleService",
    "ArticleTooLarge",
    "FetchError",
    "Heading",
    "IndexStats",
    "IngestResult",
    "Outcome",
    "SectionSpan",
    "UrlInput",
    "format_of_file",
]

log = logging.getLogger("articlechat")

SAMPLE_ARTICLE = "ukraine-russia-prisoner-exchange.txt"


class ArticleNotFound(LookupError):
    """No article has this id (the HTTP API answers 404)."""

    def __init__(self, article_id: str):
        super().__init__(f"no article with id {article_id!r}")
        self.article_id = article_id


class ArticleTooLarge(ValueError):
    """An upload over the size limit (the HTTP API answers 413)."""


@dataclass(frozen=True)
class UrlInput:
    """An article to fetch from the web: a news page's URL."""

    url: str
    article_id: str | None = None  # default: from the page's canonical URL
    title: str | None = None  # default: the page's
    meta: ArticleMeta | None = None  # known from elsewhere (a feed entry); the page's own wins


@dataclass(frozen=True)
class ArticleInfo:
    id: str
    title: str
    sections: int
    chunks: int
    ingested_at: str
    # Its publication ("" when unknown, as for pasted text); `source` is the publication's name.
    url: str = ""
    source: str = ""
    author: str = ""
    published: str = ""


@dataclass(frozen=True)
class SectionSpan:
    path: list[str]
    heading: str  # the path joined with " > ", as in citations
    heading_start: int
    start: int
    end: int


@dataclass(frozen=True)
class ArticleContent:
    id: str
    title: str
    format: str
    ingested_at: str
    text: str
    sections: list[SectionSpan]
    headings: list[Heading]
    url: str = ""
    source: str = ""
    author: str = ""
    published: str = ""
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ArticleOutline:
    """What a client needs to suggest questions or draw a table of contents, without the text."""

    id: str
    title: str
    ingested_at: str
    lede: str  # the first sentence
    headings: list[Heading]
    names: list[str]  # the names it mentions most


@dataclass(frozen=True)
class IndexStats:
    articles: int
    chunks: int
    vector_store: str
    embedding_model: str


class ArticleService:
    def __init__(
        self,
        store: ArticleStore,
        ingestion: IngestionService,
        *,
        max_upload_bytes: int,
        seed_sample: bool = True,
        legacy_seed_marker: Path | None = None,
        fetcher: Fetcher | None = None,
    ):
        self.store = store
        self.ingestion = ingestion
        self.fetcher = fetcher
        self.max_upload_bytes = max_upload_bytes
        self._seed_sample = seed_sample
        # Before the marker lived in the store, it was this file in the data directory.
        self._legacy_seed_marker = legacy_seed_marker

    # --- reading ----------------------------------------------------------------------------------
    def list_articles(self) -> list[ArticleInfo]:
        return [_info(r) for r in self.store.list_articles()]

    def get(self, article_id: str) -> ArticleContent:
        record = self.store.get_article(article_id)
        if record is None:
            raise ArticleNotFound(article_id)
        sections = [
            SectionSpan(list(s["path"]), SECTION_SEPARATOR.join(s["path"]), s["heading_start"], s["start"],
                        s["end"])
            for s in record.sections
        ]
        return ArticleContent(record.id, record.title, record.format, record.ingested_at, record.text, sections,
                              headings(record.text, sections), record.url, record.site, record.author,
                              record.published, list(record.aliases))

    def outline(self, article_id: str) -> ArticleOutline:
        article = self.get(article_id)
        found = outline(article.text, article.sections)
        return ArticleOutline(article.id, article.title, article.ingested_at, found.lede, found.headings, found.names)

    def counts(self) -> tuple[int, int]:
        """(articles, chunks)."""
        return self.store.counts()

    def stats(self) -> IndexStats:
        articles, chunks = self.counts()
        return IndexStats(articles, chunks, self.store.location, self.ingestion.embedder.name)

    # --- writing ----------------------------------------------------------------------------------
    def add_text(
        self, text: str, fmt: str | None = None, *, article_id: str | None = None, title: str | None = None
    ) -> IngestResult:
        """Add or replace an article given as text (format detected when None). Raises ArticleError
        for an unusable article."""
        return self.ingestion.ingest_text(text, fmt, article_id=article_id, title=title)

    def add_file(
        self, data: bytes, filename: str, *, article_id: str | None = None, title: str | None = None, source: str = ""
    ) -> IngestResult:
        """Add or replace an article from a file's bytes; its name gives the format (.txt, .md, .html) and
        the default id. Raises ArticleError for an unusable file."""
        return self.ingestion.ingest_bytes(data, filename, article_id=article_id, title=title, source=source)

    def add_url(
        self, url: str, *, article_id: str | None = None, title: str | None = None, meta: ArticleMeta | None = None
    ) -> IngestResult:
        """Fetch a news page and add or replace its article (index/ingest.py: extracted, with its metadata;
        its id from its canonical URL unless given; a copy of an indexed article becomes its alias).
        Raises FetchError (server/components/fetch.py) when the page cannot be had, ArticleError when it
        holds no article."""
        return self.ingestion.ingest_one(self._page_input(self._fetch(url), article_id, title, meta))

    def add_many(
        self, items: Iterable[ArticleInput | UrlInput], on_done: Callable[[int, Outcome], None] | None = None
    ) -> list[Outcome]:
        """Add or replace several articles, embedded together (much faster than one by one); the pages of
        URL items are fetched first, one at a time. Each gets its IngestResult, or the ArticleError (a
        FetchError for a page that could not be had) that refused it; `on_done(index, outcome)` reports
        progress."""
        outcomes: dict[int, Outcome] = {}
        positions: list[int] = []  # the index in `items` of each article handed to the ingestion

        def report(index: int, outcome: Outcome) -> None:
            outcomes[index] = outcome
            if on_done:
                on_done(index, outcome)

        def inputs() -> Iterable[ArticleInput]:
            for index, item in enumerate(items):
                if isinstance(item, UrlInput):
                    try:
                        item = self._page_input(self._fetch(item.url), item.article_id, item.title, item.meta)
                    except FetchError as exc:
                        report(index, exc)
                        continue
                positions.append(index)
                yield item

        self.ingestion.ingest_many(inputs(), lambda j, outcome: report(positions[j], outcome))
        return [outcomes[i] for i in sorted(outcomes)]

    def _fetch(self, url: str) -> FetchedPage:
        if self.fetcher is None:
            raise FetchError("this service was built without a fetcher: it cannot add articles by URL")
        return self.fetcher.fetch(url, "page")

    @staticmethod
    def _page_input(page: FetchedPage, article_id: str | None, title: str | None,
                    meta: ArticleMeta | None) -> ArticleInput:
        return ArticleInput(page.text(), None, "html", article_id, title, page.url, page_url=page.url, meta=meta)

    def add_upload(
        self, data: bytes, filename: str, *, article_id: str | None = None, title: str | None = None
    ) -> IngestResult:
        """`add_file` for an upload: refused with ArticleTooLarge above `max_upload_bytes`."""
        if len(data) > self.max_upload_bytes:
            raise ArticleTooLarge(f"{filename} is larger than {self.max_upload_bytes} bytes")
        return self.add_file(data, filename, article_id=article_id, title=title)

    def delete(self, article_id: str) -> None:
        """Remove an article and all its chunks; ArticleNotFound when there is none."""
        if not self.ingestion.delete(article_id):
            raise ArticleNotFound(article_id)

    def sweep(self) -> int:
        """Remove what crashed or failed writes left behind (invisible, but it takes space)."""
        return self.store.sweep()

    # --- the bundled sample -----------------------------------------------------------------------
    def seed_sample(self) -> IngestResult | None:
        """Index the bundled sample article on the first start into an empty store; never again (the
        store remembers), so that deleting it is respected across restarts and processes."""
        if not self._seed_sample or self.store.sample_seeded():
            return None
        result = None
        legacy = self._legacy_seed_marker is not None and self._legacy_seed_marker.exists()
        if not legacy and not self.store.list_articles():
            data = resources.files("index").joinpath("data", SAMPLE_ARTICLE).read_bytes()
            result = self.add_file(data, SAMPLE_ARTICLE, source=f"bundled:{SAMPLE_ARTICLE}")
            log.info("indexed the bundled sample article %s (%s)", result.article_id, result.status)
        self.store.mark_sample_seeded()
        return result


def _info(record: ArticleRecord) -> ArticleInfo:
    return ArticleInfo(record.id, record.title, record.section_count, record.chunk_count, record.ingested_at,
                       record.url, record.site, record.author, record.published)
