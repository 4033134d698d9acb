"""Ingestion service: raw article → parsed sections → chunks → embeddings → Chroma, idempotently and
atomically. The CLI (`articlechat ingest`) and the HTTP API (`POST /articles`) both call it."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from llama_index.core.schema import TextNode

from index.chunking import Chunk, SectionNodeParser
from index.embedding import Embedder
from index.parsing import ArticleError, ParsedArticle, decode_bytes, detect_format, parse_article
from index.store import ArticleRecord, ArticleStore, SentenceRecord

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

Status = Literal["new", "updated", "unchanged"]


@dataclass(frozen=True)
class IngestResult:
    article_id: str
    title: str
    status: Status
    sections: int
    chunks: int


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
    def __init__(self, store: ArticleStore, embedder: Embedder):
        self.store = store
        self.embedder = embedder
        self.parser = SectionNodeParser(count_tokens=embedder.count_tokens, max_tokens=embedder.max_tokens)
        # One writer at a time per process: the version flip must not interleave.
        self._write_lock = threading.Lock()
        self._flights_lock = threading.Lock()
        self._flights: dict[tuple[str, str], threading.Lock] = {}
        self._flight_users: dict[tuple[str, str], int] = {}

    def ingest_bytes(
        self, data: bytes, filename: str, *, article_id: str | None = None, title: str | None = None, source: str = ""
    ) -> IngestResult:
        detect_format(filename, "")  # an unsupported file type is reported before decoding
        raw = decode_bytes(data, filename)
        return self.ingest_text(
            raw, detect_format(filename, raw), article_id=article_id, title=title, filename=filename,
            source=source or filename,
        )

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
        if not raw.strip():
            raise ArticleError("the article text is empty")
        fmt = fmt or detect_format(filename, raw)
        article = parse_article(raw, fmt, filename=filename, title=title)
        article_id = validate_article_id(
            article_id or derive_article_id(filename=filename, title=title, text=article.text)
        )
        chunks = self.parser.chunk(article)
        version = self._version(article)
        sections = _section_dicts(article)

        with self._in_flight(article_id, version):  # the same article sent twice at once: embedded once
            existing = self.store.get_article(article_id)
            if existing is not None and existing.version == version:
                return IngestResult(article_id, article.title, "unchanged", len(sections), len(chunks))
            self._write(article, article_id, version, chunks, sections, source)
        status: Status = "new" if existing is None else "updated"
        return IngestResult(article_id, article.title, status, len(sections), len(chunks))

    @contextmanager
    def _in_flight(self, article_id: str, version: str) -> Iterator[None]:
        """One ingest of a given version of an article at a time in this process: a second one waits
        for the first, then finds it unchanged (one 201, the others 200)."""
        key = (article_id, version)
        with self._flights_lock:
            lock = self._flights.setdefault(key, threading.Lock())
            self._flight_users[key] = self._flight_users.get(key, 0) + 1
        try:
            with lock:
                yield
        finally:
            with self._flights_lock:
                self._flight_users[key] -= 1
                if not self._flight_users[key]:
                    del self._flights[key], self._flight_users[key]

    def _write(
        self, article: ParsedArticle, article_id: str, version: str, chunks: list[Chunk],
        sections: list[dict[str, Any]], source: str,
    ) -> None:
        # Everything that can fail slowly (embedding) happens before the first write.
        chunk_vectors = self.embedder.embed_texts([c.embed_text for c in chunks])
        sentence_spans = [(ci, s) for ci, c in enumerate(chunks) for s in c.sentences]
        sentence_vectors = self.embedder.embed_texts([article.text[s:e] for _, (s, e) in sentence_spans])

        nodes = []
        for i, (chunk, vector) in enumerate(zip(chunks, chunk_vectors, strict=True)):
            nodes.append(
                TextNode(
                    id_=_chunk_id(article_id, version, i),
                    text=chunk.text,
                    embedding=vector,
                    metadata={
                        "article_id": article_id,
                        "version": version,
                        "section": chunk.section,
                        "part": chunk.part,
                        "start": chunk.start,
                        "end": chunk.end,
                    },
                )
            )
        sentences = []
        for j, ((ci, (s, e)), vector) in enumerate(zip(sentence_spans, sentence_vectors, strict=True)):
            chunk_id = _chunk_id(article_id, version, ci)
            sentences.append(
                SentenceRecord(f"{chunk_id}::s{j}", chunk_id, article_id, version, s, e, article.text[s:e], vector)
            )

        record = ArticleRecord(
            id=article_id,
            title=article.title,
            text=article.text,
            format=article.format,
            version=version,
            ingested_at=datetime.now(UTC).isoformat(timespec="seconds"),
            sections=sections,
            chunk_count=len(chunks),
            source=source,
        )
        with self._write_lock:
            try:
                self.store.add_version(nodes, sentences)
                self.store.commit(record)
            except BaseException:
                # Nothing half-written stays behind: keep only the version the registry names now.
                current = self.store.get_article(article_id)
                self.store.drop_other_versions(article_id, current.version if current else None)
                raise
            self.store.drop_other_versions(article_id, version)

    def delete(self, article_id: str) -> bool:
        with self._write_lock:
            return self.store.delete_article(article_id)

    def _version(self, article: ParsedArticle) -> str:
        payload = json.dumps(
            [PIPELINE_VERSION, self.embedder.name, self.embedder.max_tokens, article.title, article.text,
             _section_dicts(article)]
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:_VERSION_HEX]


def _chunk_id(article_id: str, version: str, index: int) -> str:
    return f"{article_id}::{version}::{index}"


def _section_dicts(article: ParsedArticle) -> list[dict[str, Any]]:
    return [
        {"path": list(s.path), "heading_start": s.heading_start, "start": s.start, "end": s.end}
        for s in article.sections
    ]
