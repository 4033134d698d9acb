"""Request and response bodies of the HTTP API: the documented, stable contract (see /docs)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from server.limits import (
    MAX_ARTICLE_CHARS,
    MAX_ARTICLE_IDS,
    MAX_BATCH_ARTICLES,
    MAX_HISTORY_TURNS,
    MAX_QUESTION_CHARS,
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


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: Text = Field(..., max_length=MAX_TURN_CHARS)


class AskRequest(BaseModel):
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
        json_schema_extra={"examples": [{"text": "# Harbour news\n\n## Ferries\n\nThe night ferry leaves at 22:15.\n",
                                         "title": "Harbour news", "format": "markdown", "id": "harbour-news"}]},
    )
    text: Text = Field(
        ..., min_length=1, max_length=MAX_ARTICLE_CHARS, description="The article: plain text, Markdown or HTML."
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
    def _text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is blank: send the article's text")
        return value


class IngestOut(BaseModel):
    id: str
    title: str
    status: Literal["new", "updated", "unchanged"]
    sections: int
    chunks: int


class ArticlesBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    articles: list[ArticleIn] = Field(
        ..., min_length=1, max_length=MAX_BATCH_ARTICLES,
        description=f"1 to {MAX_BATCH_ARTICLES} articles, added in order (of two with one id, the later wins).",
    )


class BatchItemOut(BaseModel):
    index: int = Field(..., description="The article's position in the request, from 0.")
    status: Literal[200, 201, 422] = Field(
        ..., description="As POST /articles would answer it: 201 new or changed, 200 unchanged, 422 unusable."
    )
    article: IngestOut | None = Field(None, description="Present unless the status is 422.")
    error: str | None = Field(None, description="With 422: what is wrong with this article.")


class ArticlesBatchOut(BaseModel):
    results: list[BatchItemOut] = Field(..., description="One per article, in request order.")
    added: int = Field(..., description="Articles new or changed (status 201).")
    unchanged: int
    failed: int = Field(..., description="Articles refused (status 422); the others were indexed.")


class ArticleSummary(BaseModel):
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


class ArticleDetail(BaseModel):
    id: str
    title: str
    format: str
    ingested_at: str
    text: str
    sections: list[SectionOut]
    headings: list[HeadingOut] = Field(..., description="Every heading of the text, in order, with its level.")


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
