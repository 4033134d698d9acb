"""Ingestion service: raw article → parsed sections → chunks → embeddings → Chroma, idempotently and
atomically. The CLI (`articlechat ingest`) and the HTTP API (`POST /articles`, `/articles/batch`) both
call it.

An article found by URL (`page_url`) is read by the page extractor, keeps its metadata (URL,
publication, author, date: on its registry record, and the searchable part on every chunk and
sentence), and is looked up among the articles already indexed for a near-identical text (a
syndicated copy, index/duplicates.py): one is found, the URL becomes an alias of that article and
nothing is embedded.

Articles given together are embedded together: their texts go to the model in one call of up to
EMBED_GROUP_TEXTS texts, which it sorts by length into full batches across articles (one article at a
time leaves most batches part-empty and padded to its longest text). Each article is still written
and committed on its own, so a failure never leaves one half-visible.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from index.duplicates import DUPLICATE_JACCARD, Signature, jaccard, signature
from index.metadata import ArticleMeta
from index.parsing import ArticleError, ParsedArticle, decode_bytes, detect_format, parse_article
from index.store import ArticleRecord, ArticleStore, FilterFields, SentenceRecord, chunk_id, sentence_id

# Imported where used: llama-index (via the chunker and TextNode) and the embedder take ~1 s to
# import, and listing or deleting articles needs neither.
if TYPE_CHECKING:
    from index.chunking import Chunk, SectionNodeParser
    from index.embedding import Embedder

# Bump when parsing or chunking changes, so unchanged files are re-indexed under the new rules.
PIPELINE_VERSION = "2"
# Longest article id: ids appear in URLs, in citations and inside every chunk and sentence id.
MAX_ARTICLE_ID_CHARS = 128
ARTICLE_ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_ARTICLE_ID_CHARS - 1}}}$"
_ID_RE = re.compile(ARTICLE_ID_PATTERN)

# Hex digits of SHA-256 kept: 48 bits for the id of pasted text (ids stay short enough to read), 80 bits
# for a version (a collision between two versions of one article is out of reach).
_CONTENT_ID_HEX = 12
_VERSION_HEX = 20

# Texts embedded in one call when several articles are ingested together: enough for full batches
# sorted by length across articles, few enough that a group's vectors stay small (~1.5 MB).
EMBED_GROUP_TEXTS = 1024

Status = Literal["new", "updated", "unchanged"]


@dataclass(frozen=True)
class IngestResult:
    article_id: str
    title: str
    status: Status
    sections: int
    chunks: int
    url: str = ""  # the article's URL, when known
    # A page found to be a copy of an article already indexed (a syndicated story): this URL of it was
    # added to that article's aliases, and `article_id` names that article.
    aliased: str = ""


@dataclass(frozen=True)
class ArticleInput:
    """One article to add: its text, or a file's bytes (`filename` then gives the format)."""

    content: str | bytes
    filename: str | None = None
    fmt: str | None = None  # detected when None
    article_id: str | None = None  # derived from the file name, the title or the content when None
    title: str | None = None
    source: str = ""  # where it came from (a path); default: the file name
    # A page fetched from this URL: read by the article extractor, its id derived from its canonical
    # URL (unless `article_id`), and a near-copy of an indexed article becomes that article's alias.
    page_url: str = ""
    meta: ArticleMeta | None = None  # what is known from elsewhere (a feed entry): the page's own wins


# What ingesting one article gave: its result, or why it was refused.
Outcome = IngestResult | ArticleError


@dataclass(frozen=True)
class _Prepared:
    """An article parsed and chunked, ready to embed."""

    article: ParsedArticle
    article_id: str
    version: str
    chunks: list[Chunk]
    sections: list[dict[str, Any]]
    source: str
    meta: ArticleMeta = field(default_factory=ArticleMeta)
    aliases: tuple[str, ...] = ()  # other URLs of the page (the one fetched, when it was not canonical)
    signature: Signature | None = None  # articles found by URL (and not given an id): duplicates looked up

    @cached_property
    def sentence_spans(self) -> list[tuple[int, tuple[int, int]]]:
        """(chunk index, sentence span) of every sentence, in order."""
        return [(ci, span) for ci, c in enumerate(self.chunks) for span in c.sentences]

    def texts(self) -> list[str]:
        """What is embedded: each chunk (with its heading path), then each sentence."""
        text = self.article.text
        return [c.embed_text for c in self.chunks] + [text[s:e] for _, (s, e) in self.sentence_spans]

    def result(self, status: Status) -> IngestResult:
        return IngestResult(self.article_id, self.article.title, status, len(self.sections), len(self.chunks),
                            self.meta.url)

    @property
    def filter_fields(self) -> FilterFields:
        return FilterFields.of_article(self.meta.published_ts, self.meta.source, self.meta.url)


def slugify(value: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", value).strip("-").lower()
    return slug[:MAX_ARTICLE_ID_CHARS].strip("-")


def validate_article_id(article_id: str) -> str:
    if not _ID_RE.match(article_id):
        raise ArticleError(
            f"invalid article id {article_id!r}: use 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return article_id


def derive_article_id(*, filename: str | None, title: str | None, text: str) -> str:
    """Stable id: from the file name, else from the given title, else from the content."""
    for candidate in (Path(filename).stem if filename else None, title):
        if candidate and (slug := slugify(candidate)):
            return slug
    return "article-" + hashlib.sha256(text.encode()).hexdigest()[:_CONTENT_ID_HEX]


class IngestionService:
    """`load_embedder` is called on the first ingest: listing or deleting articles loads no model."""

    def __init__(self, store: ArticleStore, load_embedder: Callable[[], Embedder]):
        self.store = store
        self._load_embedder = load_embedder
        # One writer at a time per process: the version flip must not interleave.
        self._write_lock = threading.Lock()
        self._flights_lock = threading.Lock()
        self._flights: dict[tuple[str, str], threading.Lock] = {}
        self._flight_users: dict[tuple[str, str], int] = {}

    @cached_property
    def embedder(self) -> Embedder:
        return self._load_embedder()

    @cached_property
    def parser(self) -> SectionNodeParser:
        from index.chunking import SectionNodeParser

        return SectionNodeParser(count_tokens=self.embedder.count_tokens, max_tokens=self.embedder.max_tokens)

    def ingest_bytes(
        self, data: bytes, filename: str, *, article_id: str | None = None, title: str | None = None, source: str = ""
    ) -> IngestResult:
        return self.ingest_one(ArticleInput(data, filename, None, article_id, title, source))

    def ingest_text(
        self,
        raw: str,
        fmt: str | None = None,
        *,
        article_id: str | None = None,
        title: str | None = None,
        filename: str | None = None,
        source: str = "",
    ) -> IngestResult:
        return self.ingest_one(ArticleInput(raw, filename, fmt, article_id, title, source))

    def ingest_one(self, item: ArticleInput) -> IngestResult:
        """Add or replace one article; ArticleError when it is unusable."""
        (outcome,) = self.ingest_many([item])
        if isinstance(outcome, ArticleError):
            raise outcome
        return outcome

    def ingest_many(
        self, items: Iterable[ArticleInput], on_done: Callable[[int, Outcome], None] | None = None
    ) -> list[Outcome]:
        """Add or replace articles, in order (of two with one id, the later wins), embedding them in
        groups. An unusable article gets its ArticleError in the result and the others go on;
        `on_done(index, outcome)` is called as each is finished (for a progress bar). Other errors (the
        model, the store) are raised; the articles finished before stay indexed."""
        outcomes: dict[int, Outcome] = {}

        def finished(index: int, outcome: Outcome) -> None:
            outcomes[index] = outcome
            if on_done:
                on_done(index, outcome)

        group: list[tuple[int, _Prepared]] = []
        group_texts = 0
        for index, item in enumerate(items):
            try:
                prepared = self._prepare(item)
            except ArticleError as exc:
                finished(index, exc)
                continue
            if any(p.article_id == prepared.article_id for _, p in group):
                self._ingest_group(group, finished)  # the earlier one first, as if sent one by one
                group, group_texts = [], 0
            group.append((index, prepared))
            group_texts += len(prepared.chunks) + len(prepared.sentence_spans)
            if group_texts >= EMBED_GROUP_TEXTS:
                self._ingest_group(group, finished)
                group, group_texts = [], 0
        if group:
            self._ingest_group(group, finished)
        return [outcomes[i] for i in sorted(outcomes)]

    def _prepare(self, item: ArticleInput) -> _Prepared:
        raw = item.content
        if isinstance(raw, bytes):
            name = item.filename or "the upload"
            detect_format(name, "")  # an unsupported file type is reported before decoding
            raw = decode_bytes(raw, name)
        if not raw.strip():
            raise ArticleError("the article text is empty")
        fmt = item.fmt or detect_format(item.filename, raw)
        page_url = item.page_url
        article = parse_article(raw, fmt, filename=item.filename, title=item.title,
                                extract=True if page_url else None, base_url=page_url)
        meta = article.meta.or_else(item.meta or ArticleMeta())
        aliases: tuple[str, ...] = ()
        if page_url:
            meta, aliases = _page_meta(meta, page_url)
        if page_url and not item.article_id:
            from index.urls import article_id_for_url

            article_id = article_id_for_url(meta.url)
        else:
            article_id = item.article_id or derive_article_id(filename=item.filename, title=item.title,
                                                              text=article.text)
        validate_article_id(article_id)
        chunks = self.parser.chunk(article)
        fingerprint = signature(article.text) if page_url and not item.article_id else None
        return _Prepared(article, article_id, self._version(article, meta), chunks, _section_dicts(article),
                         item.source or page_url or item.filename or "", meta, aliases, fingerprint)

    def _ingest_group(self, group: list[tuple[int, _Prepared]], finished: Callable[[int, Outcome], None]) -> None:
        # The same article sent twice at once (by two requests): embedded once, the second finds it unchanged.
        with self._in_flight({(p.article_id, p.version) for _, p in group}):
            current = self.store.current_versions(p.article_id for _, p in group)
            changed: list[tuple[int, _Prepared]] = []
            copies: list[tuple[int, _Prepared, _Prepared | ArticleRecord]] = []
            for index, prepared in group:
                if current.get(prepared.article_id, ("", ""))[0] == prepared.version:
                    finished(index, prepared.result("unchanged"))
                elif prepared.article_id not in current and (
                        original := self._original_of(prepared, [p for _, p in changed])) is not None:
                    copies.append((index, prepared, original))
                else:
                    changed.append((index, prepared))
            # Everything that can fail slowly (embedding) happens before the first write.
            texts = [p.texts() for _, p in changed]
            flat = [t for article_texts in texts for t in article_texts]
            vectors = iter(self.embedder.embed_texts(flat) if flat else [])
            for (index, prepared), article_texts in zip(changed, texts, strict=True):
                article_vectors = [next(vectors) for _ in article_texts]
                self._write(prepared, article_vectors)
                finished(index, prepared.result("updated" if prepared.article_id in current else "new"))
            for index, prepared, original in copies:
                finished(index, self._alias(prepared, original))
        if changed:
            trim_heap()

    def _original_of(self, prepared: _Prepared, pending: list[_Prepared]) -> _Prepared | ArticleRecord | None:
        """The article `prepared` is a near-identical copy of (index/duplicates.py): one indexed, or one
        ingested with it (`pending`); None when it is no copy, or is not looked up (no signature)."""
        mine = prepared.signature
        if mine is None:
            return None
        bands = mine.bands().items()
        candidates: list[_Prepared | ArticleRecord] = list(self.store.similar_candidates(dict(bands)))
        candidates += [p for p in pending if p.signature is not None and p.signature.bands().items() & bands]
        best: tuple[float, _Prepared | ArticleRecord] | None = None
        for candidate in candidates:
            if _id_of(candidate) == prepared.article_id:
                continue
            if isinstance(candidate, _Prepared):
                text = candidate.article.text
            else:
                record = self.store.get_article(candidate.id)
                if record is None:
                    continue
                candidate, text = record, record.text
            similarity = jaccard(prepared.article.text, text)
            if similarity >= DUPLICATE_JACCARD and (best is None or similarity > best[0]):
                best = similarity, candidate
        return best[1] if best else None

    def _alias(self, prepared: _Prepared, original: _Prepared | ArticleRecord) -> IngestResult:
        """Keep a copy's URLs as aliases of its original (already written); nothing is embedded."""
        urls = [prepared.meta.url, *prepared.aliases]
        article_id = _id_of(original)
        with self._write_lock:
            record = self.store.get_article(article_id) if self.store.add_aliases(article_id, urls) else None
        if record is None:  # the original was deleted meanwhile
            raise ArticleError(f"the page is a copy of article {article_id!r}, which was deleted meanwhile: "
                               "add it again")
        return IngestResult(record.id, record.title, "unchanged", record.section_count, record.chunk_count,
                            record.url, prepared.meta.url)

    @contextmanager
    def _in_flight(self, keys: set[tuple[str, str]]) -> Iterator[None]:
        """One ingest of a given version of an article at a time in this process: a second one waits
        for the first, then finds it unchanged (one 201, the others 200). Locks are taken in sorted
        order, so two groups sharing articles cannot deadlock."""
        ordered = sorted(keys)
        with self._flights_lock:
            locks = [self._flights.setdefault(key, threading.Lock()) for key in ordered]
            for key in ordered:
                self._flight_users[key] = self._flight_users.get(key, 0) + 1
        try:
            with ExitStack() as stack:
                for lock in locks:
                    stack.enter_context(lock)
                yield
        finally:
            with self._flights_lock:
                for key in ordered:
                    self._flight_users[key] -= 1
                    if not self._flight_users[key]:
                        del self._flights[key], self._flight_users[key]

    def _write(self, prepared: _Prepared, vectors: list[list[float]]) -> None:
        from llama_index.core.schema import TextNode

        article, article_id, version, chunks = prepared.article, prepared.article_id, prepared.version, prepared.chunks
        chunk_vectors, sentence_vectors = vectors[: len(chunks)], vectors[len(chunks) :]
        fields = prepared.filter_fields
        nodes, first_sentence = [], 0
        for i, (chunk, vector) in enumerate(zip(chunks, chunk_vectors, strict=True)):
            nodes.append(
                TextNode(
                    id_=chunk_id(article_id, version, i),
                    text=chunk.text,
                    embedding=vector,
                    metadata={
                        "article_id": article_id,
                        "version": version,
                        "section": chunk.section,
                        "part": chunk.part,
                        "start": chunk.start,
                        "end": chunk.end,
                        # Its sentences' numbers: they are then read by id (StoredChunk.sentences).
                        "first_sentence": first_sentence,
                        "sentence_count": len(chunk.sentences),
                        **fields.metadata(),  # what searches filter on (index/store.py)
                    },
                )
            )
            first_sentence += len(chunk.sentences)
        sentences = []
        for j, ((ci, (s, e)), vector) in enumerate(zip(prepared.sentence_spans, sentence_vectors, strict=True)):
            owner = chunk_id(article_id, version, ci)
            sentences.append(SentenceRecord(sentence_id(owner, j), owner, article_id, version, s, e, article.text[s:e],
                                            vector, fields))
        meta = prepared.meta
        previous = self.store.get_article(article_id) if meta.url else None
        aliases = list(dict.fromkeys([*(previous.aliases if previous else []), *prepared.aliases]))

        record = ArticleRecord(
            id=article_id,
            title=article.title,
            text=article.text,
            format=article.format,
            version=version,
            ingested_at=datetime.now(UTC).isoformat(timespec="seconds"),
            sections=prepared.sections,
            chunk_count=len(chunks),
            source=prepared.source,
            url=meta.url,
            site=meta.source,
            author=meta.author,
            published=meta.published,
            aliases=[a for a in aliases if a != meta.url],
            signature=prepared.signature.encode() if prepared.signature is not None else "",
        )
        with self._write_lock:
            replaced = self.store.article_heads([article_id]).get(article_id)
            try:
                self.store.add_version(nodes, sentences)
                self.store.commit(record)
            except BaseException:
                # Nothing half-written stays behind: this version goes, unless the registry names it (the
                # commit landed, or another process committed the same text). Only this one: another
                # version may be another process's write in progress.
                current = self.store.current_versions([article_id]).get(article_id, (None, ""))[0]
                if current != version:
                    self.store.drop_version(article_id, version)
                raise
            self.store.drop_replaced(article_id, replaced, version)

    def delete(self, article_id: str) -> bool:
        with self._write_lock:
            return self.store.delete_article(article_id)

    def _version(self, article: ParsedArticle, meta: ArticleMeta) -> str:
        parts: list[Any] = [PIPELINE_VERSION, self.embedder.name, self.embedder.max_tokens, article.title,
                            article.text, _section_dicts(article)]
        if fields := meta.fields():  # absent for articles without metadata: their versions stay as they were
            parts.append(fields)
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:_VERSION_HEX]


@cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6") if sys.platform.startswith("linux") else None
    except OSError:  # not glibc (musl, …): nothing to trim
        return None


def trim_heap() -> None:
    """Give the memory freed by an embedding group back to the system. glibc keeps the freed pages of
    the model's large temporary arrays in its heap, so a long ingest's RSS only grew (~1.7 MB an
    article); `malloc_trim` after each group keeps it flat, at ~1 ms a call."""
    if (libc := _libc()) is not None:
        libc.malloc_trim(0)


def _id_of(article: _Prepared | ArticleRecord) -> str:
    return article.article_id if isinstance(article, _Prepared) else article.id


def _page_meta(meta: ArticleMeta, page_url: str) -> tuple[ArticleMeta, tuple[str, ...]]:
    """The metadata of a page fetched from `page_url`, and its aliases: its URL is its canonical link when
    that is on the same site (index/urls.py says why), else the URL fetched; the publication is the
    host when the page names none."""
    from dataclasses import replace

    from index.urls import normalize_url, same_site

    fetched = normalize_url(page_url)
    url = normalize_url(meta.url) if meta.url and same_site(meta.url, fetched) else fetched
    meta = replace(meta, url=url, source=meta.source or (urlsplit(url).hostname or "").removeprefix("www."))
    return meta, (fetched,) if fetched != url else ()


def _section_dicts(article: ParsedArticle) -> list[dict[str, Any]]:
    return [
        {"path": list(s.path), "heading_start": s.heading_start, "start": s.start, "end": s.end}
        for s in article.sections
    ]
