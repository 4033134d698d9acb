"""Request and response bodies of the HTTP API: the documented, stable contract (see /docs)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from index.metadata import MAX_META_CHARS, MAX_URL_CHARS, host_key, normalize_published, source_key, timestamp
from index.store import SearchFilters
from server.limits import (
    MAX_ARTICLE_CHARS,
    MAX_ARTICLE_IDS,
    MAX_BATCH_ARTICLES,
    MAX_BATCH_URLS,
    MAX_HISTORY_TURNS,
    MAX_QUESTION_CHARS,
    MAX_SOURCES,
    MAX_TITLE_CHARS,
    MAX_TOP_K,
    MAX_TURN_CHARS,
    MIN_TOP_K,
    question_error,
)
from server.services.articles import ARTICLE_ID_PATTERN, FORMATS


def _utf8(value: str) -> str:
    """JSON may carry a lone surrogate ("\\ud800"), which no UTF-8 text holds: refuse it here, before
    it reaches the embedder or the store."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"contains an invalid character at position {exc.start} (a lone UTF-16 surrogate such as \\ud800): "
            "send valid Unicode text"
        ) from None
    return value


Text = Annotated[str, AfterValidator(_utf8)]
ArticleId = Annotated[str, Field(pattern=ARTICLE_ID_PATTERN)]
WebURL = Annotated[str, Field(min_length=1, max_length=MAX_URL_CHARS, pattern=r"^\s*[Hh][Tt][Tt][Pp][Ss]?://\S+\s*$",
                              description="An http:// or https:// URL.")]


def _date(value: str | None) -> str | None:
    if value is None:
        return None
    if not normalize_published(value):
        raise ValueError(f"{value[:40]!r} is not a date: use ISO 8601, such as 2025-03-04 or 2025-03-04T09:30:00Z")
    return value


IsoDate = Annotated[str, AfterValidator(_date)]


class PublicationFilters(BaseModel):
    """Which articles to search, by publication (stored with each passage, filtered in the store)."""

    published_after: IsoDate | None = Field(
        None, max_length=40, description="Only articles published at or after this date or date-time (ISO 8601; a "
        "date alone is its midnight UTC, a time without a zone is UTC). Articles of unknown date are left out.",
        examples=["2025-03-01"])
    published_before: IsoDate | None = Field(
        None, max_length=40, description="Only articles published before this date or date-time (the same forms). "
        "Articles of unknown date are left out.", examples=["2025-03-08"])
    sources: list[Annotated[str, Field(min_length=1, max_length=MAX_META_CHARS)]] | None = Field(
        None, max_length=MAX_SOURCES, description="Only articles of these publications: a name as articles give it "
        "(`source`, case aside) or a web host (`gazette.example`, also as a URL). Articles of unknown source are "
        "left out.", examples=[["The Harbour Gazette"]])

    def filters(self) -> SearchFilters | None:
        """The store's filters, or None when none is set."""
        sources: set[str] = set()
        for source in self.sources or ():
            sources.add(source_key(source))
            host = host_key(source if "://" in source else f"http://{source.strip()}")
            if host and " " not in source.strip():
                sources.add(host)
        found = SearchFilters(timestamp(normalize_published(self.published_after or "")),
                              timestamp(normalize_published(self.published_before or "")), tuple(sorted(sources)))
        return found or None


MIN_CONFIDENCE = (
    "Refuse (`answered` false, a warning saying why) rather than answer when the answer's `confidence` would be "
    "below this, 0–1. The table in bench/results/confidence.json (`thresholds_held_out`) shows how many answers each "
    "value keeps and how many of those are right. In `llm` mode it is checked before the model is called; the "
    "model's unsupported sentences can then lower the answer's confidence further (see `confidence`)."
)


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: Text = Field(..., max_length=MAX_TURN_CHARS)


class AskRequest(PublicationFilters):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": "Who arranged the reception centers for returning prisoners?"}]},
    )
    question: Text = Field(
        ...,
        description=f"1–{MAX_QUESTION_CHARS} characters after trimming.",
        json_schema_extra={"minLength": 1, "maxLength": MAX_QUESTION_CHARS},
    )
    history: list[Turn] = Field(
        default_factory=list, max_length=MAX_HISTORY_TURNS, description="Earlier turns, oldest first."
    )
    article_ids: list[ArticleId] | None = Field(
        None, max_length=MAX_ARTICLE_IDS, description="Search only these articles."
    )
    top_k: int | None = Field(
        None, ge=MIN_TOP_K, le=MAX_TOP_K, strict=True, description="Passages to retrieve (default from settings)."
    )
    min_confidence: float | None = Field(None, ge=0, le=1, strict=True, description=MIN_CONFIDENCE)

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        value = value.strip()
        if problem := question_error(value):
            raise ValueError(problem)
        return value


class CitationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # built from the services' Citation dataclass
    n: int = Field(..., description="The number used in the answer's [n] markers.")
    article_id: str
    article_title: str
    section: str = Field(..., description='Heading path, e.g. "Part > Section"; empty before the first heading.')
    text: str = Field(..., description="The passage, verbatim: equal to the article text at [start, end).")
    start: int
    end: int
    score: float = Field(..., description="Cosine similarity of the passage to the question.")
    published: str | None = Field(
        None, description="When its article was published: ISO 8601 in UTC (`2025-03-04T06:30:00Z`), or the day "
        "alone (`2025-03-04`); null when unknown.")
    source: str | None = Field(None, description="The publication it appeared in (`The Harbour Gazette`), or the "
                               "web host; null when unknown (pasted text).")
    url: str | None = Field(None, description="Its article's URL (the original, to link to); null when unknown.")


class VerifiedOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    sentences: int = Field(..., ge=0, description="Sentences of the model's answer that were checked.")
    supported: int = Field(..., ge=0, description="Of those, the ones their passages support: the answer holds these.")


class AskResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # built from the services' Answer dataclass
    answer: str = Field(..., description="The answer with inline [n] markers.")
    answered: bool = Field(
        ...,
        description="False when the articles do not cover the question; citations are then the closest passages, "
        "not support.",
    )
    citations: list[CitationOut]
    mode: Literal["extractive", "llm"]
    warnings: list[str]
    confidence: float = Field(
        ..., ge=0, le=1,
        description="The probability that this response is right: a right answer, or a right refusal when "
        "`answered` is false, calibrated on labelled questions (bench/results/confidence.json). An integration "
        "that must not show a wrong answer keeps `answered` responses above a threshold it picks from that "
        "file's reliability table. In `llm` mode it is multiplied by the share of the model's sentences that "
        "stood the support check (`verified`).",
    )
    verified: VerifiedOut | None = Field(
        None,
        description="`llm` mode: how many sentences the model wrote (`sentences`) and how many its cited passages "
        "support (`supported`); only those are in `answer`, the rest are named in `warnings`. Null in "
        "`extractive` mode, whose sentences are quotes.",
    )


class ArticleIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"text": "# Harbour news\n\n## Ferries\n\nThe night ferry leaves at 22:15.\n", "title": "Harbour news",
             "format": "markdown", "id": "harbour-news"},
            {"url": "https://www.example.com/2025/03/04/ferry-strike"},
        ]},
    )
    text: Text | None = Field(
        None, min_length=1, max_length=MAX_ARTICLE_CHARS,
        description="The article: plain text, Markdown or HTML (a whole saved page is read by the article "
        "extractor). Send `text` or `url`, not both.",
    )
    url: WebURL | None = Field(
        None, description="A news page to fetch: its article (extracted, with its headings) and metadata (title, "
        "author, date, publication, canonical URL) are indexed; the id derives from the canonical URL unless given. "
        "Send `url` or `text`, not both.",
    )
    title: Text | None = Field(
        None, max_length=MAX_TITLE_CHARS, description="Default: the first heading, the HTML <title> or the text."
    )
    format: Literal[FORMATS] | None = Field(None, description="text, markdown or html; detected when omitted.")  # type: ignore[valid-type]
    id: str | None = Field(
        None, pattern=ARTICLE_ID_PATTERN, description="Default: from the title or the text. An existing id is replaced."
    )

    @field_validator("text")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("text is blank: send the article's text")
        return value

    @model_validator(mode="after")
    def _text_or_url(self) -> ArticleIn:
        if (self.text is None) == (self.url is None):
            raise ValueError("send the article as `text` or as a `url` to fetch: one of the two")
        if self.url is not None and self.format is not None:
            raise ValueError("`format` applies to `text`: a fetched page is HTML")
        return self


class IngestOut(BaseModel):
    id: str
    title: str
    status: Literal["new", "updated", "unchanged"]
    sections: int
    chunks: int
    url: str | None = Field(None, description="The article's URL, when it has one (canonical, for a fetched page).")
    aliased_url: str | None = Field(
        None, description="The page was a near-identical copy of the indexed article `id` (a syndicated story): "
        "it was not indexed again, and this URL of it was added to that article's `aliases`.")


class ArticlesBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    articles: list[ArticleIn] = Field(
        ..., min_length=1, max_length=MAX_BATCH_ARTICLES,
        description=f"1 to {MAX_BATCH_ARTICLES} articles, added in order (of two with one id, the later wins); at "
        f"most {MAX_BATCH_URLS} of them by `url` (their pages are fetched one after the other).",
    )

    @field_validator("articles")
    @classmethod
    def _few_urls(cls, value: list[ArticleIn]) -> list[ArticleIn]:
        if (urls := sum(a.url is not None for a in value)) > MAX_BATCH_URLS:
            raise ValueError(f"{urls} articles are given by URL: at most {MAX_BATCH_URLS} in one request")
        return value


class BatchItemOut(BaseModel):
    index: int = Field(..., description="The article's position in the request, from 0.")
    status: Literal[200, 201, 422, 502, 504] = Field(
        ..., description="As POST /articles would answer it: 201 new or changed, 200 unchanged, 422 unusable; for an "
        "article given by URL also 502 (the site failed) or 504 (it was too slow)."
    )
    article: IngestOut | None = Field(None, description="Present unless the status is 422.")
    error: str | None = Field(None, description="With 422: what is wrong with this article.")


class ArticlesBatchOut(BaseModel):
    results: list[BatchItemOut] = Field(..., description="One per article, in request order.")
    added: int = Field(..., description="Articles new or changed (status 201).")
    unchanged: int
    failed: int = Field(..., description="Articles refused (status 422, 502 or 504); the others were indexed.")


class Publication(BaseModel):
    """What is known of where and when an article was published (null when unknown, as for pasted text)."""

    url: str | None = Field(None, description="The original (its canonical URL), to link to.")
    source: str | None = Field(None, description="The publication (`The Harbour Gazette`), or the web host.")
    author: str | None = None
    published: str | None = Field(
        None, description="ISO 8601 in UTC (`2025-03-04T06:30:00Z`), or the day alone (`2025-03-04`).")


class ArticleSummary(Publication):
    id: str
    title: str
    sections: int
    chunks: int
    ingested_at: str


class SectionOut(BaseModel):
    path: list[str]
    heading: str = Field(..., description="The path joined with ' > ', as in citations.")
    heading_start: int
    start: int
    end: int


class HeadingOut(BaseModel):
    title: str
    level: int = Field(..., ge=1, description="1 for a top-level heading, 2 for a heading under it, and so on.")
    start: int = Field(..., description="The heading is the article text at [start, end).")
    end: int


class ArticleDetail(Publication):
    id: str
    title: str
    format: str
    ingested_at: str
    text: str
    sections: list[SectionOut]
    aliases: list[str] = Field(
        default_factory=list, description="Other URLs of the same story (syndicated copies found near-identical).")
    headings: list[HeadingOut] = Field(..., description="Every heading of the text, in order, with its level.")


class FeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"url": "https://www.example.com/rss"}]})
    url: WebURL = Field(..., description="An RSS or Atom feed.")


class FeedOut(BaseModel):
    id: str = Field(..., description="For DELETE /feeds/{id}.")
    url: str
    title: str
    added_at: str
    last_polled_at: str | None
    last_error: str | None = Field(..., description="Why the feed itself could not be read at the last poll.")
    entries: int = Field(..., description="Entries in the feed at the last poll.")
    articles: int = Field(..., description="Entry pages ingested so far, over all polls.")
    last_run: dict[str, int] = Field(
        ..., description="The last poll's entries by status: new, updated, unchanged, seen, failed, deferred.")


class FeedEntryOut(BaseModel):
    url: str
    status: Literal["new", "updated", "unchanged", "seen", "failed", "deferred"] = Field(
        ..., description="new/updated/unchanged: its page was ingested (as POST /articles would say); seen: not "
        "changed since it was ingested, not fetched; failed: see `error`; deferred: beyond "
        "ARTICLECHAT_FEED_MAX_PAGES for this run, left for the next.")
    article: IngestOut | None = None
    error: str | None = None
    error_status: int | None = Field(None, description="With `failed`: what POST /articles would have answered.")


class FeedRunOut(BaseModel):
    feed: FeedOut
    entries: list[FeedEntryOut] = Field(..., description="In the feed's order.")
    new: int
    updated: int
    unchanged: int
    seen: int
    failed: int
    deferred: int


class ArticleOutline(BaseModel):
    id: str
    title: str
    ingested_at: str
    lede: str = Field(..., description="The article's first sentence (cut with … past 300 characters).")
    headings: list[HeadingOut] = Field(..., description="Every heading, in order, with its level; none for an "
                                       "article without headings.")
    names: list[str] = Field(..., description="Up to 8 names (people, places, organisations) the article "
                             "mentions most: those of two or more words first.")


class Health(BaseModel):
    status: Literal["ok"]
    articles: int
    chunks: int
    vector_store: str
    answer_mode: Literal["extractive", "llm"]
    llm_model: str | None
    embedding_model: str


class ErrorBody(BaseModel):
    error: str = Field(..., description="What went wrong and what to fix.")
    detail: list | None = None
