"""Builds the components named by the settings, once, for the CLI and the HTTP app alike.

Each is built, and its modules imported, on first use: `articlechat articles` opens the store and
nothing else (no llama-index, no model, no OpenAI client), which keeps it well under a second."""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING

from index.ingest import IngestionService, IngestResult
from index.store import ArticleStore, chroma_client
from server.services.articles import ArticleService
from server.settings import Settings

if TYPE_CHECKING:
    from index.embedding import Embedder
    from server.components.fetch import Fetcher
    from server.services.answering import AnswerService
    from server.services.chat import ChatService
    from server.services.feeds import FeedService

log = logging.getLogger("articlechat")

# Where the "sample was seeded" marker lived before the store kept it: still honoured.
_LEGACY_SEEDED_MARKER = ".sample-seeded"


class Container:
    def __init__(self, settings: Settings, embedder: Embedder | None = None):
        self.settings = settings
        if embedder is not None:  # tests share one loaded model across apps
            self.embedder = embedder

    @cached_property
    def embedder(self) -> Embedder:
        from index.embedding import make_embedder

        return make_embedder(self.settings.embed_model or None, batch_size=self.settings.embed_batch_size)

    @cached_property
    def store(self) -> ArticleStore:
        s = self.settings
        if not s.chroma_host:
            s.data_dir.expanduser().mkdir(parents=True, exist_ok=True)
        client = chroma_client(str(s.data_dir.expanduser()), s.chroma_host, s.chroma_port, s.chroma_ssl)
        return ArticleStore(client, s.collection_prefix, location=s.store_location, derived_dir=s.data_dir.expanduser())

    @cached_property
    def ingestion(self) -> IngestionService:
        return IngestionService(self.store, lambda: self.embedder)

    @cached_property
    def articles(self) -> ArticleService:
        s = self.settings
        legacy_marker = None if s.chroma_host else s.data_dir.expanduser() / _LEGACY_SEEDED_MARKER
        return ArticleService(
            self.store, self.ingestion, max_upload_bytes=s.max_upload_bytes, seed_sample=s.seed_sample,
            legacy_seed_marker=legacy_marker, fetcher=self.fetcher,
        )

    @cached_property
    def fetcher(self) -> Fetcher:
        from server.components import fetch

        s = self.settings
        return fetch.Fetcher(allow_private=s.allow_private_urls, timeout=s.fetch_timeout, max_bytes=s.fetch_max_bytes,
                             resolver=fetch.system_resolver)

    @cached_property
    def feeds(self) -> FeedService:
        from server.services.feeds import FeedService

        return FeedService(self.store, self.articles, self.fetcher, max_pages=self.settings.feed_max_pages)

    @cached_property
    def answers(self) -> AnswerService:
        from server.components.llm import LimitedLLM, OpenAIChat
        from server.services.answering import AnswerService
        from server.services.evidence import EVIDENCE

        s = self.settings
        llm = (
            LimitedLLM(OpenAIChat(s.llm_model, s.openai_api_key, s.openai_base_url, s.llm_timeout, s.llm_max_tokens),
                       s.llm_concurrency, s.llm_queue_seconds)
            if s.llm_enabled
            else None
        )
        return AnswerService(
            self.store, self.embedder, llm, top_k=s.top_k,
            evidence=replace(EVIDENCE, min_evidence=s.min_evidence), min_second_evidence=s.min_second_evidence,
        )

    @cached_property
    def chat(self) -> ChatService:
        from server.services.chat import ChatService

        return ChatService(self.answers)

    def seed_sample(self) -> IngestResult | None:
        """Index the bundled sample article on the first start into an empty store (see ArticleService)."""
        return self.articles.seed_sample()
