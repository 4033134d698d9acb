"""The vector-store component: three Chroma collections behind one small class.

- `<prefix>-chunks`: one record per chunk (llama-index `ChromaVectorStore` over it), searched densely.
- `<prefix>-sentences`: one record per sentence of every chunk, with its embedding, so an extractive
  answer can pick the best sentences without embedding anything at question time.
- `<prefix>-articles`: the registry, one record per article (full text, sections, current version).

Atomic replacement without transactions: every chunk and sentence record carries the `version` of the
article it came from, and only the version named in the registry is ever returned. A new version is
written beside the old one, the registry record is flipped in one upsert, then the old version is
deleted. A failure at any point leaves the previous version fully visible; leftovers of a failed
write are removed by the next ingest of that article.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable

import chromadb
import numpy as np
from chromadb.api import ClientAPI
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)
from llama_index.vector_stores.chroma import ChromaVectorStore

# Registry records need a vector, but nothing ever searches them by one.
_NO_VECTOR = [0.0]
_COSINE = {"hnsw:space": "cosine"}
# Chroma rejects oversized batches; stay well below its limit.
_BATCH = 2000


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
    source: str = ""

    @property
    def section_count(self) -> int:
        return len(self.sections)


@dataclass
class ScoredChunk:
    id: str
    article_id: str
    section: str
    part: int
    start: int
    end: int
    text: str
    score: float
    title: str = ""


@dataclass
class SentenceVector:
    chunk_id: str
    start: int
    end: int
    text: str
    embedding: list[float] = field(repr=False)


def chroma_client(data_dir: str | None = None, host: str | None = None, port: int = 8000, ssl: bool = False) -> ClientAPI:
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if host:
        return chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=chroma_settings)
    return chromadb.PersistentClient(path=str(data_dir), settings=chroma_settings)


class ArticleStore:
    def __init__(self, client: ClientAPI, prefix: str = "articlechat", location: str = ""):
        self.location = location
        # embedding_function=None: we always pass vectors; Chroma's default function would try to
        # download a model.
        self._chunks = client.get_or_create_collection(f"{prefix}-chunks", metadata=_COSINE, embedding_function=None)
        self._sentences = client.get_or_create_collection(
            f"{prefix}-sentences", metadata=_COSINE, embedding_function=None
        )
        self._articles = client.get_or_create_collection(f"{prefix}-articles", embedding_function=None)
        # One record whose value changes with every commit or delete, so that in-memory indexes
        # (BM25) in this or any other process sharing the store know when to rebuild.
        self._meta = client.get_or_create_collection(f"{prefix}-meta", embedding_function=None)
        self.chunk_vectors = ChromaVectorStore(chroma_collection=self._chunks)

    # --- registry -------------------------------------------------------------------------------
    def get_article(self, article_id: str) -> ArticleRecord | None:
        got = self._articles.get(ids=[article_id], include=["documents", "metadatas"])
        if not got["ids"]:
            return None
        return _record(got["ids"][0], got["documents"][0], got["metadatas"][0])

    def list_articles(self) -> list[ArticleRecord]:
        got = self._articles.get(include=["metadatas"])
        records = [_record(i, "", m) for i, m in zip(got["ids"], got["metadatas"])]
        return sorted(records, key=lambda r: (r.title.lower(), r.id))

    def current_versions(self, article_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """article_id -> (version, title) for the ids that exist."""
        ids = sorted(set(article_ids))
        if not ids:
            return {}
        got = self._articles.get(ids=ids, include=["metadatas"])
        return {i: (m["version"], m["title"]) for i, m in zip(got["ids"], got["metadatas"])}

    def generation(self) -> str:
        got = self._meta.get(ids=["generation"], include=["metadatas"])
        return got["metadatas"][0]["value"] if got["ids"] else ""

    def _bump_generation(self) -> None:
        self._meta.upsert(ids=["generation"], embeddings=[_NO_VECTOR], metadatas=[{"value": uuid.uuid4().hex}])

    def counts(self) -> tuple[int, int]:
        return self._articles.count(), sum(r.chunk_count for r in self.list_articles())

    # --- writes ---------------------------------------------------------------------------------
    def add_version(self, nodes: list[TextNode], sentences: list[tuple[str, dict[str, Any], str, list[float]]]) -> None:
        """Write the chunks and sentences of a new version; invisible until `commit` names it."""
        for i in range(0, len(nodes), _BATCH):
            self.chunk_vectors.add(nodes[i : i + _BATCH])
        for i in range(0, len(sentences), _BATCH):
            batch = sentences[i : i + _BATCH]
            self._sentences.upsert(
                ids=[s[0] for s in batch],
                metadatas=[s[1] for s in batch],
                documents=[s[2] for s in batch],
                embeddings=[s[3] for s in batch],
            )

    def commit(self, record: ArticleRecord) -> None:
        """Make `record.version` the visible one: a single-record upsert, so it is all or nothing."""
        self._articles.upsert(
            ids=[record.id],
            documents=[record.text],
            embeddings=[_NO_VECTOR],
            metadatas=[
                {
                    "title": record.title,
                    "format": record.format,
                    "version": record.version,
                    "ingested_at": record.ingested_at,
                    "sections": json.dumps(record.sections),
                    "chunk_count": record.chunk_count,
                    "source": record.source,
                }
            ],
        )
        self._bump_generation()

    def drop_other_versions(self, article_id: str, keep_version: str | None) -> None:
        """Delete every chunk and sentence of `article_id` not of `keep_version` (None: all of them)."""
        where: dict[str, Any] = {"article_id": article_id}
        if keep_version is not None:
            where = {"$and": [where, {"version": {"$ne": keep_version}}]}
        self._chunks.delete(where=where)
        self._sentences.delete(where=where)

    def delete_article(self, article_id: str) -> bool:
        if self.get_article(article_id) is None:
            return False
        # Registry first: the article disappears at once, even if removing its chunks fails.
        self._articles.delete(ids=[article_id])
        self._bump_generation()
        self.drop_other_versions(article_id, None)
        return True

    # --- search ---------------------------------------------------------------------------------
    def search(self, embedding: list[float], top_k: int, article_ids: list[str] | None = None) -> list[ScoredChunk]:
        """The `top_k` chunks nearest to `embedding` among the current versions of the articles."""
        filters = None
        if article_ids:
            filters = MetadataFilters(
                filters=[MetadataFilter(key="article_id", value=list(article_ids), operator=FilterOperator.IN)]
            )
        # Ask for a few more than needed: records of a superseded version (only present between a
        # write and its clean-up, or after a crash) are filtered out below.
        fetch = top_k + 4
        result = self.chunk_vectors.query(
            VectorStoreQuery(query_embedding=embedding, similarity_top_k=fetch, filters=filters)
        )
        nodes = result.nodes or []
        current = self.current_versions(n.metadata["article_id"] for n in nodes)
        chunks: list[ScoredChunk] = []
        for node, score in zip(nodes, result.similarities or []):
            meta = node.metadata
            version_title = current.get(meta["article_id"])
            if version_title is None or version_title[0] != meta["version"]:
                continue
            chunks.append(_scored(node.node_id, meta, node.get_content(), float(score), version_title[1]))
        return chunks[:top_k]

    def search_sentences(self, embedding: list[float], top_k: int, article_ids: list[str] | None = None) -> list[str]:
        """Ids of the chunks holding the sentences nearest to `embedding`, best first, each once.

        A passage can hold the answer in one sentence among many unrelated ones; its own embedding
        then blurs it, while that sentence's embedding does not."""
        where = {"article_id": {"$in": list(article_ids)}} if article_ids else None
        got = self._sentences.query(query_embeddings=[embedding], n_results=top_k, where=where, include=["metadatas"])
        return list(dict.fromkeys(m["chunk_id"] for m in got["metadatas"][0]))

    def current_chunk_texts(self) -> tuple[list[str], list[str], list[str], list[str]]:
        """(ids, article ids, section paths, texts) of every chunk of the current article versions."""
        versions = [m["version"] for m in self._articles.get(include=["metadatas"])["metadatas"]]
        if not versions:
            return [], [], [], []
        got = self._chunks.get(where={"version": {"$in": versions}}, include=["documents", "metadatas"])
        metas = got["metadatas"]
        return got["ids"], [m["article_id"] for m in metas], [m["section"] for m in metas], got["documents"]

    def chunks_by_id(self, ids: list[str], embedding: list[float]) -> list[ScoredChunk]:
        """Chunks of current versions by id, scored by cosine similarity to `embedding`."""
        if not ids:
            return []
        got = self._chunks.get(ids=ids, include=["documents", "metadatas", "embeddings"])
        current = self.current_versions(m["article_id"] for m in got["metadatas"])
        query = np.asarray(embedding, dtype=np.float32)
        chunks = []
        for chunk_id, text, meta, vector in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"]):
            version_title = current.get(meta["article_id"])
            if version_title is None or version_title[0] != meta["version"]:
                continue
            score = float(np.asarray(vector, dtype=np.float32) @ query)
            chunks.append(_scored(chunk_id, meta, text, score, version_title[1]))
        return chunks

    def sentences_of(self, chunk_ids: list[str]) -> list[SentenceVector]:
        if not chunk_ids:
            return []
        got = self._sentences.get(
            where={"chunk_id": {"$in": list(chunk_ids)}}, include=["embeddings", "metadatas", "documents"]
        )
        return [
            SentenceVector(m["chunk_id"], int(m["start"]), int(m["end"]), doc, list(emb))
            for m, doc, emb in zip(got["metadatas"], got["documents"], got["embeddings"])
        ]


def _scored(chunk_id: str, meta: dict[str, Any], text: str, score: float, title: str) -> ScoredChunk:
    return ScoredChunk(chunk_id, meta["article_id"], meta["section"], int(meta["part"]), int(meta["start"]),
                       int(meta["end"]), text, score, title)


def _record(article_id: str, text: str, meta: dict[str, Any]) -> ArticleRecord:
    return ArticleRecord(
        id=article_id,
        title=meta["title"],
        text=text or "",
        format=meta["format"],
        version=meta["version"],
        ingested_at=meta["ingested_at"],
        sections=json.loads(meta["sections"]),
        chunk_count=int(meta["chunk_count"]),
        source=meta.get("source", ""),
    )
