"""Every setting of articlechat, in one place. Environment variables use the ARTICLECHAT_ prefix (plus
the standard OPENAI_API_KEY and OPENAI_BASE_URL); a `.env` file in the working directory is read too."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from server.hosts import DEFAULT_ALLOWED_HOSTS, configured_host, configured_origin, split_list
from server.limits import MAX_TOP_K, MIN_TOP_K
from server.services.evidence import EVIDENCE

# Most `articlechat serve` worker processes: each holds the model and its own lexical index (~0.4-1.3 GB).
MAX_WORKERS = 64
# Seconds between feed polls when ARTICLECHAT_FEEDS lists feeds and ARTICLECHAT_FEED_INTERVAL is unset.
DEFAULT_FEED_INTERVAL = 3600.0


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "articlechat"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARTICLECHAT_", env_file=".env", extra="ignore")

    # Storage
    data_dir: Path = Field(default_factory=_default_data_dir,
                           description="Embedded Chroma directory, and the BM25 term counts kept for the next start.")
    chroma_host: str | None = Field(None, description="Use a Chroma server at this host instead of the embedded store.")
    chroma_port: int = Field(8000, ge=1, le=65535)
    chroma_ssl: bool = False
    collection_prefix: str = Field("articlechat", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,60}$")
    seed_sample: bool = Field(True, description="Index the bundled sample article on the first start.")

    # Embedding
    embed_model: str = Field("", description="Local sentence-transformers model dir; empty = bundled all-MiniLM-L6-v2.")
    embed_batch_size: int = Field(32, ge=1, le=512)

    # Answering
    top_k: int = Field(5, ge=MIN_TOP_K, le=MAX_TOP_K, description="Passages retrieved per question.")
    # Least evidence for an answer (see server/services/scoring.py: the best sentence's cosine
    # similarity to the question plus a share of the question's words it holds); below it the
    # product says the articles do not cover the question. Calibrated with `python -m bench.calibrate`.
    min_evidence: float = Field(EVIDENCE.min_evidence, ge=-1.0, le=2.0)
    # Least evidence of a second quoted sentence in an extractive answer (the first decides whether
    # there is an answer at all; a second one only adds to it).
    min_second_evidence: float = Field(EVIDENCE.min_evidence, ge=-1.0, le=2.0)

    # LLM (optional): any OpenAI-compatible chat-completions endpoint
    openai_api_key: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_API_KEY", "ARTICLECHAT_OPENAI_API_KEY"))
    openai_base_url: str | None = Field(
        None, validation_alias=AliasChoices("OPENAI_BASE_URL", "ARTICLECHAT_OPENAI_BASE_URL"))
    llm_model: str = "gpt-4o-mini"
    llm_timeout: float = Field(20.0, gt=0, description="Seconds before falling back to the extractive answer.")
    llm_max_tokens: int = Field(400, ge=16, le=8192)
    # A local server often answers one request at a time: beyond this many calls in flight, a question
    # waits llm_queue_seconds for a slot, then gets the extractive answer with a warning.
    llm_concurrency: int = Field(4, ge=1, le=1024, description="LLM calls in flight at most.")
    llm_queue_seconds: float = Field(5.0, ge=0, le=600, description="Seconds a question waits for an LLM slot.")

    # Pages and feeds fetched by URL (server/components/fetch.py, server/services/feeds.py)
    allow_private_urls: bool = Field(
        False, description="Fetch from loopback, private and link-local addresses too (off: server-side request "
        "forgery).")
    fetch_timeout: float = Field(10.0, gt=0, le=300, description="Seconds for each step of a fetch, and for all.")
    fetch_max_bytes: int = Field(5_000_000, ge=1, description="Largest page or feed fetched (after decompression).")
    feed_max_pages: int = Field(30, ge=1, le=1000, description="Pages of one feed fetched per run; the rest wait.")
    feeds: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Feeds `serve` follows and polls; comma-separated or a JSON list.")
    feed_interval: float | None = Field(
        None, ge=0, description="Seconds between polls of the followed feeds by `serve`; default 3600 when "
        "ARTICLECHAT_FEEDS lists feeds, else off; 0 turns polling off.")

    # Server
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # More than one needs a Chroma server: the embedded store is one process's files (README, "Scaling out").
    workers: int = Field(1, ge=1, le=MAX_WORKERS, description="`serve` worker processes (uvicorn workers).")
    max_upload_bytes: int = Field(5_000_000, ge=1)

    # Access control (README, "Access control"; enforced by server/security.py)
    api_key: SecretStr | None = Field(None, description="Bearer key of every write (and read, with protect_reads).")
    protect_reads: bool = Field(False, description="Require the API key on the read endpoints too.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Other web origins that may call the API (CORS, and writes); a,b or JSON.")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED_HOSTS), description="Host names served (DNS rebinding); * = any.")

    @field_validator("chroma_host", "openai_api_key", "openai_base_url", "api_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        listed = split_list(value)
        return [configured_origin(str(v)) for v in listed] if isinstance(listed, list) else listed

    @field_validator("feeds", mode="before")
    @classmethod
    def _feeds(cls, value: object) -> object:
        return split_list(value)

    @field_validator("feed_interval", mode="before")
    @classmethod
    def _blank_interval(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        listed = split_list(value)
        if listed == []:  # blank: the default, not a server that answers no one
            return list(DEFAULT_ALLOWED_HOSTS)
        return [configured_host(str(v)) for v in listed] if isinstance(listed, list) else listed

    @model_validator(mode="after")
    def _reads_need_a_key(self) -> Settings:
        if self.protect_reads and self.api_key is None:
            raise ValueError("ARTICLECHAT_PROTECT_READS=true needs ARTICLECHAT_API_KEY: set the key too")
        return self

    @property
    def poll_interval(self) -> float:
        """Seconds between feed polls by `serve`; 0 when it does not poll."""
        if self.feed_interval is not None:
            return self.feed_interval
        return DEFAULT_FEED_INTERVAL if self.feeds else 0.0

    @property
    def llm_enabled(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url)

    @property
    def store_location(self) -> str:
        if self.chroma_host:
            scheme = "https" if self.chroma_ssl else "http"
            return f"{scheme}://{self.chroma_host}:{self.chroma_port}"
        return str(self.data_dir.expanduser().resolve())


@lru_cache
def get_settings() -> Settings:
    return Settings()
