"""The vector-store component: four Chroma collections behind one small class.

- `<prefix>-chunks`: one record per chunk, searched densely. Writes go through llama-index's
  `ChromaVectorStore` (`self.chunk_vectors`), which stores each node's metadata flat beside its JSON;
  reads use the chromadb client directly on those flat fields, so that answering a question never
  imports llama-index (~0.5 s) nor builds its node objects. Deletes are one `where` delete on the
  collection (ChromaVectorStore's filtered delete fails with this chromadb: it sends `ids=[]`).
- `<prefix>-sentences`: one record per sentence of every chunk, with its embedding, so an extractive
  answer can pick the best sentences without embedding anything at question time.
- `<prefix>-articles`: the registry, one record per article (full text, sections, current version).
- `<prefix>-meta`: a few named values (the generation, the sample-seeded marker) and the state of each
  followed feed (`feed:<id>` records), so every process sharing the store agrees on them.

llama-index has no counterpart for the last three (they hold no llama-index nodes), so they are read and
written with the chromadb client directly, through the small typed accessors at the end of this module,
as chunks are read.

What is known of an article's publication (`index/metadata.py`) is in its registry record, and the
part that searches filter on is also on each of its chunks and sentences (`published_ts`, an int, for
`$gte`/`$lt`; `source_key` and `host` for `$in`), so that the filters run in Chroma. Records written
before these keys existed lack them, and a filter on them leaves those articles out (an article of
unknown date is not "published after" any date).

Atomic replacement without transactions: every chunk and sentence record carries the `version` of the
article it came from, and only the version named in the registry is ever returned. A new version is
written beside the old one, the registry record is flipped in one upsert, then the version it replaced
is deleted. A failure at any point leaves the previous version fully visible; a failed write removes
what it wrote.

Several processes may write one store (API workers or replicas over a Chroma server): a write removes
only the version it replaced and its own failed one, never another version, which may be another
process's write in progress (removing it once left an article whose registry named a version with no
chunks). Two writes of one article at once: the later commit wins, the other's chunks stay invisible
until the sweep at a server's start removes them (versions no article names, older than
SWEEP_AFTER_SECONDS), as it does a crash's leftovers.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.types import GetResult, Include, Metadata, PyEmbedding, Where
from chromadb.base_types import InclusionExclusionOperator, LiteralValue, LogicalOperator, WhereOperator

from index.metadata import host_key, source_key

# llama-index is imported on first write, not with this module: reads never need it, and importing it
# takes ~0.5 s (the server's start, `articlechat articles`, `delete` and `ask` need none of it).
if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection
    from llama_index.core.schema import BaseNode
    from llama_index.vector_stores.chroma import ChromaVectorStore

log = logging.getLogger("articlechat")

# Registry and meta records need a vector, but nothing ever searches them by one.
_NO_VECTOR: list[PyEmbedding] = [[0.0]]
_COSINE = {"hnsw:space": "cosine"}
# Records per write call. The embedded Chroma holds the GIL through a write (its bindings release it
# for reads only), ~0.6 ms a record on 2 cores, so every other request of the server waits for it:
# 2,000 at once stalled /healthz 570 ms, 64 at once 63 ms, for +30 % write time (a write is ~3 % of
# an ingest; the embedding is the rest). Also below the embedded Chroma's 5,461 per call and a
# server's limit; ChromaVectorStore.add's own batches (41,665) are above both.
_BATCH = 64
# `search` asks Chroma for this many candidates beyond `top_k`, for records of a superseded version, which
# are dropped afterwards: they exist only between a write and its clean-up (one writer at a time) or after
# a crash, so few of them can rank high at once. A margin, not a bound: when more of them rank that high,
# a search returns fewer than `top_k`.
_SPARE_CANDIDATES = 4
# A search within at most this many chunks (some articles') reads their vectors and ranks them here:
# Chroma's own filtered search first reads every record the filter matches by scanning the collection
# (`/ask` within one article of 1,000: 125 ms, against 24 ms ranked here; a vector query filtered to
# one article took 457 ms at 400,000 sentences). Reading by id costs ~0.6 ms a chunk with its
# sentences (20 articles, 440 chunks: 265 ms against Chroma's 88 ms), so larger scopes are Chroma's.
_RANKED_HERE = 100
# Registry reads made beside a chunk read (see `chunks_by_id`); one pool for the process.
_READS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="registry-read")
# Whole-store reads (see `chunk_texts`): this many articles a query, this many records a page.
_ARTICLES_A_READ = 200
_RECORDS_A_READ = 10_000
# What a chunk read asks Chroma for: the fields StoredChunk is made of.
_CHUNK_FIELDS: Include = ["documents", "metadatas"]
# A sentence's text is not read: it is its chunk's text between its offsets (~0.6 ms an ask).
_SENTENCE_FIELDS: Include = ["embeddings", "metadatas"]
_SENTENCE_MARK = "::s"
# Records of a version that never became current (a crash between writing and committing) or that
# was replaced (a crash before its clean-up) are swept once they are this old: a younger one may
# belong to a write still in progress in another process sharing the store.
SWEEP_AFTER_SECONDS = 600
# How old a generation read may be for `generation(max_age=...)`. The in-memory indexes check it on
# every question, and reading it is one Chroma get: 1.07 ms against a Chroma server on this machine
# (0.17 ms embedded), for /ask at ~20-40 ms. Read at most this often per process, another process's
# write reaches this one's lexical index within this long (plus its update), well inside the 1 s in
# which a write must be seen by every process; this process's own writes are seen at once.
GENERATION_MAX_AGE_SECONDS = 0.1
# Names of the records of the meta collection.
_GENERATION = "generation"
_SAMPLE_SEEDED = "sample-seeded"
_FEED, _FEED_PREFIX = "feed", "feed:"


@dataclass
class ArticleRecord:
    id: str
    title: str
    text: str
    format: str
    version: str
    ingested_at: str
    sections: list[dict[str, Any]]
    chunk_count: int
    source: str = ""  # where it was read from (a path, "bundled:…", a URL)
    # What the article says of its publication (index/metadata.py); "" when unknown. `site` is the
    # publication's name, the API's `source`.
    url: str = ""
    site: str = ""
    author: str = ""
    published: str = ""
    aliases: list[str] = field(default_factory=list)  # other URLs of the same story (syndicated copies)
    signature: str = ""  # MinHash of its text (index/duplicates.py), for articles found by URL

    @property
    def section_count(self) -> int:
        return len(self.sections)


@dataclass(frozen=True)
class ArticleHead:
    """What a citation shows of its article, read with the article's current version."""

    version: str
    title: str
    url: str = ""
    site: str = ""
    published: str = ""
    chunk_count: int = 0


@dataclass(frozen=True)
class SearchFilters:
    """Which articles a search may return, by publication: `published_ts >= published_after` and
    `< published_before` (Unix seconds), and the publication's name or its URL's host among `sources`
    (folded by `index.metadata.source_key` / `host_key`). An article lacking a field a filter names is
    left out."""

    published_after: int | None = None
    published_before: int | None = None
    sources: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.published_after is not None or self.published_before is not None or bool(self.sources)

    def where(self) -> list[Where]:
        conditions: list[Where] = []
        if self.published_after is not None:
            after: dict[WhereOperator | LogicalOperator, LiteralValue] = {"$gte": self.published_after}
            conditions.append({"published_ts": after})
        if self.published_before is not None:
            before: dict[WhereOperator | LogicalOperator, LiteralValue] = {"$lt": self.published_before}
            conditions.append({"published_ts": before})
        if self.sources:
            conditions.append({"$or": [_where_in("source_key", self.sources), _where_in("host", self.sources)]})
        return conditions

    def accepts(self, fields: FilterFields) -> bool:
        """The same test in Python (the in-memory BM25 index applies it)."""
        ts = fields.published_ts
        if self.published_after is not None and (ts is None or ts < self.published_after):
            return False
        if self.published_before is not None and (ts is None or ts >= self.published_before):
            return False
        return not self.sources or fields.source_key in self.sources or fields.host in self.sources


@dataclass(frozen=True)
class FilterFields:
    """The fields `SearchFilters` test, as stored on an article's chunks and sentences."""

    published_ts: int | None = None
    source_key: str = ""
    host: str = ""

    @classmethod
    def of(cls, meta: Mapping[str, object]) -> FilterFields:
        ts = meta.get("published_ts")
        return cls(ts if isinstance(ts, int) and not isinstance(ts, bool) else None,
                   str(meta.get("source_key") or ""), str(meta.get("host") or ""))

    def metadata(self) -> dict[str, str | int]:
        """The keys to store (only the known ones: Chroma has no null)."""
        found: dict[str, str | int] = {"source_key": self.source_key, "host": self.host}
        if self.published_ts is not None:
            found["published_ts"] = self.published_ts
        return {k: v for k, v in found.items() if v != ""}

    @classmethod
    def of_article(cls, published_ts: int | None, source: str, url: str) -> FilterFields:
        return cls(published_ts, source_key(source), host_key(url))


@dataclass
class ScoredChunk:
    id: str
    article_id: str
    section: str
    part: int
    start: int
    end: int
    text: str
    score: float  # cosine similarity to the query embedding, in [-1, 1]
    title: str = ""
    version: str = ""  # of its article: an answer is built from one version of each article
    # Its article's publication, as the registry has it ("" when unknown).
    url: str = ""
    source: str = ""
    published: str = ""
    sentences: range | None = None  # see StoredChunk


@dataclass
class SentenceVector:
    chunk_id: str
    start: int
    end: int
    text: str
    embedding: list[float] = field(repr=False)


@dataclass(frozen=True)
class SentenceRecord:
    """One sentence of a chunk, as `add_version` writes it: [start, end) in the stored article text."""

    id: str
    chunk_id: str
    article_id: str
    version: str
    start: int
    end: int
    text: str
    embedding: list[float] = field(repr=False)
    filter_fields: FilterFields = field(default_factory=FilterFields)  # its article's, stored with it


@dataclass(frozen=True)
class StoredChunk:
    """A chunk record as read back from the chunk collection."""

    id: str
    article_id: str
    version: str
    section: str
    part: int
    start: int
    end: int
    text: str
    filter_fields: FilterFields = field(default_factory=FilterFields)
    # The numbers of its sentences (their ids are `sentence_id(id, n)`), or None for a chunk written
    # before the range was stored, whose sentences are found by their `chunk_id` instead.
    sentences: range | None = None

    @classmethod
    def of(cls, chunk_id: str, text: str, meta: Mapping[str, object]) -> StoredChunk:
        """From a chunk record: its id, document and (flat) metadata."""
        first, count = meta.get("first_sentence"), meta.get("sentence_count")
        sentences = range(first, first + count) if isinstance(first, int) and isinstance(count, int) else None
        return cls(
            chunk_id, _text(meta, "article_id"), _text(meta, "version"), _text(meta, "section"),
            _integer(meta, "part"), _integer(meta, "start"), _integer(meta, "end"), text, FilterFields.of(meta),
            sentences,
        )

    def scored(self, score: float, head: ArticleHead) -> ScoredChunk:
        return ScoredChunk(self.id, self.article_id, self.section, self.part, self.start, self.end, self.text, score,
                           head.title, self.version, head.url, head.site, head.published, self.sentences)


@dataclass(frozen=True)
class Scope:
    """The chunks a search within some articles ranks itself, with their vectors (`ArticleStore.scope`)."""

    chunks: list[tuple[StoredChunk, list[float]]]


def chunk_id(article_id: str, version: str, number: int) -> str:
    """The id of chunk `number` of one version of an article: named, never searched for (see
    `drop_replaced`)."""
    return f"{article_id}::{version}::{number}"


def sentence_id(chunk_id: str, number: int) -> str:
    """The id of sentence `number` (counted through the article) of a chunk: the chunk's id can be read
    back from it, and the ids of a chunk's sentences can be named without a search (see `sentences_of`)."""
    return f"{chunk_id}{_SENTENCE_MARK}{number}"


def _sentence_ids(chunks: Sequence[StoredChunk | ScoredChunk]) -> list[str]:
    """The ids of the sentences of these chunks that know their range (see StoredChunk.sentences)."""
    return [sentence_id(c.id, n) for c in chunks if c.sentences is not None for n in c.sentences]


def chunk_of_sentence(sentence_id: str) -> str:
    return sentence_id.rsplit(_SENTENCE_MARK, 1)[0]


def _article_of(chunk_id: str) -> str:
    return chunk_id.rsplit("::", 2)[0]


def chroma_client(
    data_dir: str | None = None, host: str | None = None, port: int = 8000, ssl: bool = False
) -> ClientAPI:
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if host:
        return chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=chroma_settings)
    return chromadb.PersistentClient(path=str(data_dir), settings=chroma_settings)


class ArticleStore:
    def __init__(self, client: ClientAPI, prefix: str = "articlechat", location: str = "",
                 derived_dir: Path | None = None):
        self.location = location
        self._prefix = prefix
        # A local directory for what is derived from the store and could be rebuilt from it (the BM25
        # index's term counts), kept so that a start need not rebuild it; None: nothing is kept.
        self._derived_dir = derived_dir
        self._listeners: list[Callable[[], None]] = []
        self._counts: tuple[str, tuple[int, int]] | None = None  # (generation, counts), see `counts`
        self._generation_read: tuple[float, str] | None = None  # (monotonic time, value), see `generation`
        # embedding_function=None: we always pass vectors; Chroma's default function would try to
        # download a model.
        self._chunks = client.get_or_create_collection(f"{prefix}-chunks", metadata=_COSINE, embedding_function=None)
        # Raw chromadb collections: llama-index has nothing for sentence vectors, a registry or named values.
        self._sentences = client.get_or_create_collection(
            f"{prefix}-sentences", metadata=_COSINE, embedding_function=None
        )
        self._articles = client.get_or_create_collection(f"{prefix}-articles", embedding_function=None)
        # Named values: the generation, one record whose value changes with every commit or delete, so that
        # in-memory indexes (BM25) in this or any other process sharing the store know when to rebuild; and
        # the sample-seeded marker.
        self._meta = client.get_or_create_collection(f"{prefix}-meta", embedding_function=None)

    def derived_path(self, name: str) -> Path | None:
        """Where to keep `name`, derived from this store (one file per collection prefix), or None."""
        return self._derived_dir / f"{self._prefix}-{name}" if self._derived_dir is not None else None

    @cached_property
    def chunk_vectors(self) -> ChromaVectorStore:
        from llama_index.vector_stores.chroma import ChromaVectorStore

        return ChromaVectorStore(chroma_collection=self._chunks)

    # --- registry -------------------------------------------------------------------------------
    def get_article(self, article_id: str) -> ArticleRecord | None:
        got = self._articles.get(ids=[article_id], include=["documents", "metadatas"])
        for record_id, text, meta in zip(got["ids"], _documents(got), _metadatas(got), strict=True):
            return _record(record_id, text, meta)
        return None

    def _article_ids(self) -> list[str]:
        return [i for got in _pages(self._articles, []) for i in got["ids"]]

    def list_articles(self) -> list[ArticleRecord]:
        records = [_record(i, "", m) for got in _pages(self._articles, ["metadatas"])
                   for i, m in zip(got["ids"], _metadatas(got), strict=True)]
        return sorted(records, key=lambda r: (r.title.lower(), r.id))

    def current_versions(self, article_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """article_id -> (version, title) for the ids that exist."""
        ids = sorted(set(article_ids))
        out = {}
        for start in range(0, len(ids), _RECORDS_A_READ):  # the sweep asks for every article
            got = self._articles.get(ids=ids[start : start + _RECORDS_A_READ], include=["metadatas"])
            out.update({i: (_text(m, "version"), _text(m, "title"))
                        for i, m in zip(got["ids"], _metadatas(got), strict=True)})
        return out

    def generation(self, max_age: float = 0.0) -> str:
        """The store's generation, which every commit or delete changes (in any process). With `max_age`,
        a value read at most that many seconds ago will do (see GENERATION_MAX_AGE_SECONDS)."""
        last = self._generation_read
        now = time.monotonic()
        if last is not None and now - last[0] < max_age:
            return last[1]
        value = self._meta_value(_GENERATION) or ""
        self._remember_generation(now, value)
        return value

    def _remember_generation(self, read_at: float, value: str) -> None:
        last = self._generation_read
        if last is None or last[0] <= read_at:  # a slower read started earlier does not overwrite it
            self._generation_read = (read_at, value)

    def sample_seeded(self) -> bool:
        """Whether the bundled sample article was indexed once (kept in the store, so a Chroma server
        shared by several app instances remembers it too)."""
        return self._meta_value(_SAMPLE_SEEDED) is not None

    def mark_sample_seeded(self) -> None:
        self._set_meta_value(_SAMPLE_SEEDED, datetime.now(UTC).isoformat(timespec="seconds"))

    def counts(self) -> tuple[int, int]:
        """(articles, chunks), recounted only when the generation changed: counting chunks reads every
        article's record, too much for each /healthz probe of a large store."""
        generation = self.generation(GENERATION_MAX_AGE_SECONDS)
        if self._counts is None or self._counts[0] != generation:
            # Read after the generation: a write landing in between is recounted on the next call.
            self._counts = generation, (self._articles.count(), sum(r.chunk_count for r in self.list_articles()))
        return self._counts[1]

    # --- writes ---------------------------------------------------------------------------------
    def add_version(self, nodes: Sequence[BaseNode], sentences: Sequence[SentenceRecord]) -> None:
        """Write the chunks and sentences of a new version; invisible until `commit` names it."""
        written_at = int(time.time())  # see `sweep`
        for node in nodes:
            node.metadata["written_at"] = written_at
        for i in range(0, len(nodes), _BATCH):
            self.chunk_vectors.add(list(nodes[i : i + _BATCH]))
        for i in range(0, len(sentences), _BATCH):
            batch = sentences[i : i + _BATCH]
            metadatas: list[Metadata] = [
                {"chunk_id": s.chunk_id, "article_id": s.article_id, "version": s.version, "start": s.start,
                 "end": s.end, "written_at": written_at, **s.filter_fields.metadata()}
                for s in batch
            ]
            embeddings: list[PyEmbedding] = [s.embedding for s in batch]
            self._sentences.upsert(
                ids=[s.id for s in batch], metadatas=metadatas, documents=[s.text for s in batch], embeddings=embeddings
            )

    def commit(self, record: ArticleRecord) -> None:
        """Make `record.version` the visible one: a single-record upsert, so it is all or nothing."""
        meta: Metadata = {
            "title": record.title,
            "format": record.format,
            "version": record.version,
            "ingested_at": record.ingested_at,
            "sections": json.dumps(record.sections),
            "chunk_count": record.chunk_count,
            "source": record.source,
            **_publication(record),
        }
        self._articles.upsert(ids=[record.id], documents=[record.text], embeddings=_NO_VECTOR, metadatas=[meta])
        self._bump_generation()

    def add_aliases(self, article_id: str, urls: Iterable[str]) -> bool:
        """Keep `urls` as other addresses of the article (syndicated copies); False when it is gone. The
        version stays: nothing is searched differently. Read-modify-write: two processes adding aliases
        to one article at the same moment may keep only one's."""
        got = self._articles.get(ids=[article_id], include=["documents", "metadatas"])
        if not got["ids"]:
            return False
        record = _record(article_id, _documents(got)[0], _metadatas(got)[0])
        new = [u for u in dict.fromkeys(urls) if u != record.url and u not in record.aliases]
        if new:
            meta: Metadata = {**_metadatas(got)[0], "aliases": json.dumps(record.aliases + new)}  # type: ignore[dict-item]
            self._articles.upsert(ids=[article_id], documents=[record.text], embeddings=_NO_VECTOR, metadatas=[meta])
        return True

    def similar_candidates(self, bands: Mapping[str, str]) -> list[ArticleRecord]:
        """The articles sharing at least one LSH band with `bands` (index/duplicates.py): the candidates
        for a near-duplicate of a text, found by one query of the registry. Their texts are left out."""
        if not bands:
            return []
        where: Where = {"$or": [{key: value} for key, value in bands.items()]}
        got = self._articles.get(where=where, include=["metadatas"])
        return [_record(i, "", m) for i, m in zip(got["ids"], _metadatas(got), strict=True)]

    def drop_replaced(self, article_id: str, replaced: ArticleHead | None, keep_version: str | None = None) -> None:
        """After a commit of `keep_version` (or a delete, None): delete the chunks and sentences of
        `replaced`, the version the registry named before. Other versions of the article left behind
        (a crash's, or another process's write in progress) are the sweep's.

        By id (the registry's chunk count names the chunks, their sentence ranges the sentences): a
        read filtered on `article_id` scans the collection, so each ingest slowed as the store grew (45
        ms a collection at 400,000 sentences; 10,000 articles hold 1.2 million)."""
        if replaced is None or replaced.version == keep_version:
            return
        ids = [chunk_id(article_id, replaced.version, n) for n in range(replaced.chunk_count)]
        chunks = _got_chunks(self._chunks.get(ids=ids, include=_CHUNK_FIELDS)) if ids else []
        sentences = _sentence_ids(chunks)
        if unranged := [c.id for c in chunks if c.sentences is None]:  # written before ranges were stored
            sentences += self._sentences.get(where=_where_in("chunk_id", unranged), include=[])["ids"]
        for collection, doomed in ((self._sentences, sentences), (self._chunks, [c.id for c in chunks])):
            for start in range(0, len(doomed), _RECORDS_A_READ):
                collection.delete(ids=doomed[start : start + _RECORDS_A_READ])

    def drop_version(self, article_id: str, version: str) -> None:
        """Delete the chunks and sentences of one version of `article_id` (a failed write's)."""
        where: Where = {"$and": [{"article_id": article_id}, {"version": version}]}
        self._chunks.delete(where=where)
        self._sentences.delete(where=where)

    def sweep(self, older_than: float = SWEEP_AFTER_SECONDS) -> int:
        """Delete the chunks and sentences of versions that are not current (left by a crash or a failed
        write) and were written more than `older_than` seconds ago; returns how many chunks went."""
        current = [version for version, _ in self.current_versions(self._article_ids()).values()]
        not_current: dict[InclusionExclusionOperator, list[LiteralValue]] = {"$nin": list(current or [""])}
        older: dict[WhereOperator | LogicalOperator, LiteralValue] = {"$lt": int(time.time() - older_than)}
        where: Where = {"$and": [{"version": not_current}, {"written_at": older}]}
        stale = len(self._chunks.get(where=where, include=[])["ids"])
        if stale:
            self._chunks.delete(where=where)
            log.info("swept %d chunks of versions no article uses", stale)
        self._sentences.delete(where=where)
        return stale

    def delete_article(self, article_id: str) -> bool:
        record = self.get_article(article_id)
        if record is None:
            return False
        # Registry first: the article disappears at once, even if removing its chunks fails.
        self._articles.delete(ids=[article_id])
        self._bump_generation()
        self.drop_replaced(article_id, ArticleHead(record.version, record.title, chunk_count=record.chunk_count))
        return True

    # --- search ---------------------------------------------------------------------------------
    def search(
        self, embedding: list[float], top_k: int, article_ids: list[str] | None = None,
        filters: SearchFilters | None = None,
    ) -> list[ScoredChunk]:
        """The `top_k` chunks nearest to `embedding` among the current versions of the articles (of
        `article_ids`, and that `filters` accept, when given)."""
        scope = self.scope(article_ids, filters)
        ids = self.nearest_chunks(embedding, top_k + _SPARE_CANDIDATES, article_ids, filters, scope)
        return sorted(self.chunks_by_id(ids, embedding), key=lambda c: -c.score)[:top_k]

    def nearest_chunks(
        self, embedding: list[float], k: int, article_ids: list[str] | None = None,
        filters: SearchFilters | None = None, scope: Scope | None = None,
    ) -> list[str]:
        """Ids of the `k` chunks nearest to `embedding`, best first, of any version (`chunks_by_id` reads
        the current ones): ranked here within `scope` when given, else by Chroma. Ids alone: Chroma reads a
        result's fields one record at a time, ~0.1 ms each at 400,000 records, so the fields of only
        the few chunks an answer keeps are read, in one go."""
        if scope is not None:
            return _nearest([c.id for c, _ in scope.chunks], [v for _, v in scope.chunks], embedding, k)
        queries: list[PyEmbedding] = [embedding]
        got = self._chunks.query(query_embeddings=queries, n_results=k, where=_search_where(article_ids, filters),
                                 include=[])
        return got["ids"][0] if got["ids"] else []

    def search_sentences(
        self, embedding: list[float], top_k: int, article_ids: list[str] | None = None,
        filters: SearchFilters | None = None, scope: Scope | None = None,
    ) -> list[str]:
        """Ids of the chunks holding the `top_k` sentences nearest to `embedding`, best first, each once.

        A passage can hold the answer in one sentence among many unrelated ones; its own embedding
        then blurs it, while that sentence's embedding does not. The ids may name chunks of a
        superseded version: `chunks_by_id` drops those."""
        if scope is not None and all(c.sentences is not None for c, _ in scope.chunks):
            ids = _sentence_ids([c for c, _ in scope.chunks])
            got = self._sentences.get(ids=ids, include=["embeddings"]) if ids else None
            nearest = _nearest(got["ids"], _embeddings(got), embedding, top_k) if got else []
        else:
            queries: list[PyEmbedding] = [embedding]
            found = self._sentences.query(query_embeddings=queries, n_results=top_k,
                                          where=_search_where(article_ids, filters), include=[])
            nearest = found["ids"][0] if found["ids"] else []
        return list(dict.fromkeys(chunk_of_sentence(i) for i in nearest))

    def scope(self, article_ids: list[str] | None, filters: SearchFilters | None = None) -> Scope | None:
        """For a search within these articles: their current chunks that `filters` accept, with their
        vectors, to be ranked here (read once, for both searches); None for a search of every article,
        or within more than _RANKED_HERE chunks (Chroma's filter then)."""
        if not article_ids:
            return None
        heads = self.article_heads(article_ids)
        if sum(h.chunk_count for h in heads.values()) > _RANKED_HERE:
            return None
        ids = [chunk_id(a, h.version, n) for a, h in heads.items() for n in range(h.chunk_count)]
        got = self._chunks.get(ids=ids, include=[*_CHUNK_FIELDS, "embeddings"]) if ids else None
        chunks = zip(_got_chunks(got), _embeddings(got), strict=True) if got else []
        return Scope([(c, v) for c, v in chunks if not filters or filters.accepts(c.filter_fields)])

    def article_versions(self) -> dict[str, str]:
        """article_id -> current version, for every article."""
        return {i: _text(m, "version") for got in _pages(self._articles, ["metadatas"])
                for i, m in zip(got["ids"], _metadatas(got), strict=True)}

    def chunk_texts(self, versions: Mapping[str, str]) -> list[StoredChunk]:
        """The chunks of exactly these (article_id -> version) pairs, in article then chunk order."""
        # The current versions' chunks by id (the registry's chunk counts name them): a read filtered
        # on `article_id` scans the collection. In pages: a read of more than ~32,000 records fails
        # (Chroma reads their fields in one SQLite statement, and SQLite allows 32,766 variables), which
        # the lexical index's first build met at ~1,500 articles of 22 passages (bench.scale).
        heads: dict[str, ArticleHead] = {}
        articles = sorted(versions)
        for start in range(0, len(articles), _RECORDS_A_READ):
            heads.update(self.article_heads(articles[start : start + _RECORDS_A_READ]))
        named = [chunk_id(a, h.version, n) for a in articles if (h := heads.get(a)) is not None
                 and h.version == versions[a] for n in range(h.chunk_count)]
        chunks = [c for start in range(0, len(named), _RECORDS_A_READ) for c in _got_chunks(
            self._chunks.get(ids=named[start : start + _RECORDS_A_READ], include=_CHUNK_FIELDS))]
        # Other versions (a superseded one, still stored) by a filtered read, some articles at a time.
        ids = [a for a in articles if (h := heads.get(a)) is None or h.version != versions[a]]
        for start in range(0, len(ids), _ARTICLES_A_READ):
            group = {a: versions[a] for a in ids[start : start + _ARTICLES_A_READ]}
            where: Where = {"$and": [_where_in("article_id", group), _where_in("version", sorted(set(group.values())))]}
            for got in _pages(self._chunks, _CHUNK_FIELDS, where):
                chunks += [c for c in _got_chunks(got) if group.get(c.article_id) == c.version]
        chunks.sort(key=lambda c: (c.article_id, c.start, c.part))
        return chunks

    def current_chunk_texts(self) -> tuple[list[str], list[str], list[str], list[str]]:
        """(ids, article ids, section paths, texts) of every chunk of the current article versions."""
        chunks = self.chunk_texts(self.article_versions())
        return [c.id for c in chunks], [c.article_id for c in chunks], [c.section for c in chunks], [
            c.text for c in chunks]

    def chunks_by_id(self, ids: list[str], embedding: list[float]) -> list[ScoredChunk]:
        """Chunks of current versions by id (in the order of `ids`; unknown ids are skipped), scored by
        cosine similarity to `embedding`.

        Read with their vectors and scored here: a Chroma query restricted to `ids` scans the whole
        collection (46 ms at 90,000 chunks against 1 ms for this read, bench.scale's 4,000 articles),
        and fails when another process's write removed one of the ids meanwhile."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        # Their articles' heads are read beside them (a chunk id names its article; Chroma lets go of
        # the GIL while it reads): ~1 ms of a question's ~13.
        heads = _READS.submit(self.article_heads, {_article_of(i) for i in wanted})
        got = self._chunks.get(ids=wanted, include=[*_CHUNK_FIELDS, "embeddings"])
        chunks = _got_chunks(got)
        scores = dict(zip(got["ids"], _cosines(_embeddings(got), embedding).tolist(), strict=True))
        order = {chunk_id: n for n, chunk_id in enumerate(wanted)}
        found = [c.scored(scores[c.id], head) for c, head in self._current(chunks, heads.result())]
        return sorted(found, key=lambda c: order[c.id])

    def sentences_of(self, chunks: Sequence[StoredChunk | ScoredChunk]) -> list[SentenceVector]:
        """The sentences of these chunks, in the chunks' order then the text's. No version check: a chunk
        id names its version, so the sentences of current chunks (what `search` and `chunks_by_id`
        return) are current.

        Read by id: a read filtered on `chunk_id` scans the collection (50 vs 1.3 ms at 400,000
        sentences), which only the chunks written before their sentence range was stored still need."""
        ids = _sentence_ids(chunks)
        unranged = [c.id for c in chunks if c.sentences is None]
        reads = ([self._sentences.get(ids=ids, include=_SENTENCE_FIELDS)] if ids else []) + (
            [self._sentences.get(where=_where_in("chunk_id", unranged), include=_SENTENCE_FIELDS)] if unranged else [])
        by_id = {c.id: c for c in chunks}
        order = {c.id: n for n, c in enumerate(chunks)}
        found = []
        for got in reads:
            for m, emb in zip(_metadatas(got), _embeddings(got), strict=True):
                chunk, start, end = by_id[_text(m, "chunk_id")], _integer(m, "start"), _integer(m, "end")
                text = chunk.text[start - chunk.start : end - chunk.start]
                found.append(SentenceVector(chunk.id, start, end, text, emb))
        return sorted(found, key=lambda s: (order[s.chunk_id], s.start))

    # --- helpers --------------------------------------------------------------------------------
    def _current(
        self, chunks: list[StoredChunk], heads: dict[str, ArticleHead]
    ) -> list[tuple[StoredChunk, ArticleHead]]:
        """The chunks whose (article_id, version) is their article's current version in the registry,
        each with its article's head (title, URL, publication), in the given order: the one version
        filter of every read. `heads`: those read already."""
        if unread := {c.article_id for c in chunks} - heads.keys():  # a chunk id that did not name its article
            heads = {**heads, **self.article_heads(unread)}
        kept = []
        for chunk in chunks:
            head = heads.get(chunk.article_id)
            if head is not None and head.version == chunk.version:
                kept.append((chunk, head))
        return kept

    def article_heads(self, article_ids: Iterable[str]) -> dict[str, ArticleHead]:
        """article_id -> its head, for the ids that exist."""
        ids = sorted(set(article_ids))
        if not ids:
            return {}
        got = self._articles.get(ids=ids, include=["metadatas"])
        return {
            i: ArticleHead(_text(m, "version"), _text(m, "title"), _text(m, "url", ""), _text(m, "site", ""),
                           _text(m, "published", ""), _integer(m, "chunk_count"))
            for i, m in zip(got["ids"], _metadatas(got), strict=True)
        }

    # --- followed feeds (server/services/feeds.py) ---------------------------------------------------
    def feed_states(self) -> list[dict[str, Any]]:
        got = self._meta.get(where={"kind": _FEED}, include=["metadatas"])
        return [json.loads(_text(m, "value")) for m in _metadatas(got)]

    def feed_state(self, feed_id: str) -> dict[str, Any] | None:
        value = self._meta_value(_FEED_PREFIX + feed_id)
        return json.loads(value) if value is not None else None

    def put_feed_state(self, feed_id: str, state: Mapping[str, Any]) -> None:
        meta: Metadata = {"kind": _FEED, "value": json.dumps(state)}
        self._meta.upsert(ids=[_FEED_PREFIX + feed_id], embeddings=_NO_VECTOR, metadatas=[meta])

    def delete_feed_state(self, feed_id: str) -> bool:
        if self._meta_value(_FEED_PREFIX + feed_id) is None:
            return False
        self._meta.delete(ids=[_FEED_PREFIX + feed_id])
        return True

    def _meta_value(self, name: str) -> str | None:
        got = self._meta.get(ids=[name], include=["metadatas"])
        return next((_text(m, "value") for m in _metadatas(got)), None)

    def _set_meta_value(self, name: str, value: str) -> None:
        meta: Metadata = {"value": value}
        self._meta.upsert(ids=[name], embeddings=_NO_VECTOR, metadatas=[meta])

    def subscribe(self, on_change: Callable[[], None]) -> None:
        """Call `on_change` after every commit or delete made through this store object (other
        processes' writes show in `generation`)."""
        self._listeners.append(on_change)

    def _bump_generation(self) -> None:
        generation = uuid.uuid4().hex
        self._set_meta_value(_GENERATION, generation)
        # Timed after the write: a read that started before it cannot overwrite the new value.
        self._remember_generation(time.monotonic(), generation)
        for on_change in self._listeners:
            try:
                on_change()
            except Exception:  # a listener's failure must not fail the write that is already made
                log.exception("updating after a store change failed")


def _record(article_id: str, text: str, meta: Mapping[str, object]) -> ArticleRecord:
    sections = json.loads(_text(meta, "sections"))
    if not isinstance(sections, list):
        raise _corrupt("sections", sections)
    return ArticleRecord(
        id=article_id,
        title=_text(meta, "title"),
        text=text,
        format=_text(meta, "format"),
        version=_text(meta, "version"),
        ingested_at=_text(meta, "ingested_at"),
        sections=sections,
        chunk_count=_integer(meta, "chunk_count"),
        # Absent in records written before they were added:
        source=_text(meta, "source", default=""),
        url=_text(meta, "url", ""),
        site=_text(meta, "site", ""),
        author=_text(meta, "author", ""),
        published=_text(meta, "published", ""),
        aliases=list(json.loads(_text(meta, "aliases", "[]"))),
        signature=_text(meta, "signature", ""),
    )


def _publication(record: ArticleRecord) -> dict[str, str | int]:
    """The registry's keys for what is known of an article's publication, and its duplicate signature's
    LSH bands (index/duplicates.py); only the known ones (Chroma has no null)."""
    from index.duplicates import Signature
    from index.metadata import timestamp

    found: dict[str, str | int] = {"url": record.url, "site": record.site, "author": record.author,
                                   "published": record.published, "signature": record.signature}
    if record.aliases:
        found["aliases"] = json.dumps(record.aliases)
    found = {k: v for k, v in found.items() if v}
    if (ts := timestamp(record.published)) is not None:
        found["published_ts"] = ts
    if record.signature and (signature := Signature.decode(record.signature)) is not None:
        found.update(signature.bands())
    return found


def _search_where(article_ids: list[str] | None, filters: SearchFilters | None) -> Where | None:
    """The Chroma `where` of a chunk or sentence search: these articles, these publications."""
    conditions: list[Where] = [_where_in("article_id", article_ids)] if article_ids else []
    if filters:
        conditions += filters.where()
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}


# --- raw chromadb results: typed accessors ---------------------------------------------------------
# GetResult and QueryResult type every column as Optional (None when not requested in `include`) and
# every metadata value as any of Chroma's value types; these return plain typed values or fail loudly.

_T = TypeVar("_T")


def _column(values: list[_T] | None, name: str, count: int) -> list[_T]:
    if values is None:
        if count == 0:
            return []
        raise RuntimeError(f"Chroma returned no {name} although they were requested")
    if len(values) != count:
        raise RuntimeError(f"Chroma returned {len(values)} {name} for {count} records")
    return values


def _metadatas(got: GetResult) -> list[Mapping[str, object]]:
    metas = _column(got["metadatas"], "metadatas", len(got["ids"]))
    # A record written without metadata reads back as None.
    return [m if m is not None else {} for m in metas]


def _documents(got: GetResult) -> list[str]:
    # A record written without a document reads back as None.
    return [d or "" for d in _column(got["documents"], "documents", len(got["ids"]))]


def _embeddings(got: GetResult) -> list[list[float]]:
    count = len(got["ids"])
    vectors = got["embeddings"]
    if vectors is None:
        return _column(None, "embeddings", count)
    if count == 0:
        return []
    return np.asarray(vectors, dtype=np.float32).reshape(count, -1).tolist()


def _pages(collection: Collection, include: Include, where: Where | None = None) -> Iterator[GetResult]:
    """Every record (`where` matches) in pages of _RECORDS_A_READ: one read of more than ~32,000
    records fails (see `ArticleStore.chunk_texts`). A write between two pages may move a record across
    their boundary; it also bumps the generation, so the lexical index reads again."""
    for offset in itertools.count(0, _RECORDS_A_READ):
        got = collection.get(where=where, include=include, limit=_RECORDS_A_READ, offset=offset)
        yield got
        if len(got["ids"]) < _RECORDS_A_READ:
            return


def _got_chunks(got: GetResult) -> list[StoredChunk]:
    return [StoredChunk.of(i, text, meta) for i, text, meta in zip(got["ids"], _documents(got), _metadatas(got),
                                                                   strict=True)]


def _nearest(ids: list[str], vectors: list[list[float]], query: list[float], k: int) -> list[str]:
    """The `k` of `ids` whose vectors are nearest to `query` by cosine, best first."""
    cosines = _cosines(vectors, query)
    return [ids[i] for i in np.argsort(-cosines, kind="stable")[:k]]


def _cosines(vectors: list[list[float]], query: list[float]) -> np.ndarray:
    if not len(vectors):
        return np.zeros(0, dtype=np.float32)
    matrix = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
    q = np.asarray(query, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(q)
    return (matrix @ q) / np.where(norms > 0, norms, 1.0)


def _text(meta: Mapping[str, object], key: str, default: str | None = None) -> str:
    value = meta.get(key, default)
    if not isinstance(value, str):
        raise _corrupt(key, value)
    return value


def _integer(meta: Mapping[str, object], key: str) -> int:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _corrupt(key, value)
    return int(value)


def _corrupt(key: str, value: object) -> RuntimeError:
    return RuntimeError(f"unexpected stored value for {key!r}: {value!r}")


def _where_in(key: str, values: Iterable[str]) -> Where:
    members: dict[InclusionExclusionOperator, list[LiteralValue]] = {"$in": list(values)}
    return {key: members}
