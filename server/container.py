"""Builds the components named by the settings, once, for the CLI and the HTTP app alike."""

from __future__ import annotations

import logging
from functools import cached_property
from importlib import resources

from index.embedding import Embedder, LocalEmbedder
from index.ingest import IngestionService, IngestResult
from index.store import ArticleStore, chroma_client
from server.components.llm import OpenAIChat
from server.services.answering import AnswerService
from server.settings import Settings

log = logging.getLogger("articlechat")

SAMPLE_ARTICLE = "ukraine-russia-prisoner-exchange.txt"
# Registry marker: the sample was indexed once, so deleting it later is respected across restarts.
_SEEDED_MARKER = ".sample-seeded"


class Container:
    def __init__(self, settings: Settings, embedder: Embedder | None = None):
        self.settings = settings
        if embedder is not None:  # tests share one loaded model across apps
            self.embedder = embedder

    @cached_property
    def embedder(self) -> Embedder:
        return LocalEmbedder(self.settings.embed_model or None, batch_size=self.settings.embed_batch_size)

    @cached_property
    def store(self) -> ArticleStore:
        s = self.settings
        if not s.chroma_host:
            s.data_dir.expanduser().mkdir(parents=True, exist_ok=True)
        client = chroma_client(str(s.data_dir.expanduser()), s.chroma_host, s.chroma_port, s.chroma_ssl)
        return ArticleStore(client, s.collection_prefix, location=s.store_location)

    @cached_property
    def ingestion(self) -> IngestionService:
        return IngestionService(self.store, self.embedder)

    @cached_property
    def answers(self) -> AnswerService:
        s = self.settings
        llm = (
            OpenAIChat(s.llm_model, s.openai_api_key, s.openai_base_url, s.llm_timeout, s.llm_max_tokens)
            if s.llm_enabled
            else None
        )
        return AnswerService(self.store, self.embedder, llm, top_k=s.top_k, min_evidence=s.min_evidence)

    def seed_sample(self) -> IngestResult | None:
        """Index the bundled sample article on the first start into an empty store; never again, so
        that deleting it is respected across restarts."""
        if not self.settings.seed_sample:
            return None
        marker = self.settings.data_dir.expanduser() / _SEEDED_MARKER
        if marker.exists():
            return None
        result = None
        if not self.store.list_articles():
            data = resources.files("index").joinpath("data", SAMPLE_ARTICLE).read_bytes()
            result = self.ingestion.ingest_bytes(data, SAMPLE_ARTICLE, source=f"bundled:{SAMPLE_ARTICLE}")
            log.info("indexed the bundled sample article %s (%s)", result.article_id, result.status)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        return result
