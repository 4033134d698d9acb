"""What answering produces: citations, answers and the events of a streamed answer.

Citation numbers are the passages' retrieval ranks (1 = closest), in both answer modes and in the
stream, so a marker never changes meaning between the first `citations` event and the final answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from index.metadata import parse_datetime
from index.store import ScoredChunk

Mode = Literal["extractive", "llm"]
NOT_COVERED = "The indexed articles do not cover this question."
# Opens an answer to a follow-up that could only quote again what an earlier answer quoted (the answer
# to "What is his job title?" is often in the sentence that named him), rather than pass it off as new.
QUOTED_AGAIN = "As quoted above: "
# Closest passages shown with a refusal.
CLOSEST_ON_REFUSAL = 3


@dataclass
class Citation:
    n: int
    article_id: str
    article_title: str
    section: str
    text: str
    start: int
    end: int
    score: float
    # Where and when its article was published; None when unknown (pasted text, an article indexed
    # before metadata was kept).
    published: str | None = None
    source: str | None = None
    url: str | None = None

    @classmethod
    def of(cls, n: int, chunk: ScoredChunk) -> Citation:
        return cls(n, chunk.article_id, chunk.title, chunk.section, chunk.text, chunk.start, chunk.end,
                   round(chunk.score, 4), chunk.published or None, chunk.source or None, chunk.url or None)


@dataclass(frozen=True)
class Verified:
    """How many sentences of an LLM's answer were checked against their passages, and how many stand
    (see support.py); the answer holds only those."""

    sentences: int
    supported: int


@dataclass
class Answer:
    answer: str
    answered: bool
    citations: list[Citation]
    mode: Mode
    warnings: list[str] = field(default_factory=list)
    confidence: float = 0.0  # the probability that it is right (see confidence.py)
    verified: Verified | None = None  # LLM answers only


def publication_label(chunk: ScoredChunk) -> str:
    """Where and when a passage's article was published, in words ("The Harbour Gazette, 4 March 2025"):
    the LLM reads it in the passage's header, and the support check counts it as said by the passage.
    "" when neither is known."""
    parts = [chunk.source] if chunk.source else []
    if chunk.published and (when := parse_datetime(chunk.published)) is not None:
        parts.append(f"{when.day} {when:%B} {when.year}")
    return ", ".join(parts)


def citations(chunks: list[ScoredChunk], numbers: list[int] | None = None) -> list[Citation]:
    """Citations of the passages numbered `numbers` (default: all), n = rank."""
    wanted = numbers if numbers is not None else range(1, len(chunks) + 1)
    return [Citation.of(n, chunks[n - 1]) for n in wanted]


def refusal(chunks: list[ScoredChunk], mode: Mode, warnings: list[str]) -> Answer:
    """The articles do not answer: say so, with the closest passages (labelled as not support)."""
    return Answer(NOT_COVERED, False, citations(chunks[:CLOSEST_ON_REFUSAL]), mode, list(warnings))


@dataclass
class CitationsEvent:
    """First: the passages the answer may cite."""

    citations: list[Citation]


@dataclass
class DeltaEvent:
    """The next piece of the answer's text."""

    text: str


@dataclass
class DoneEvent:
    """Last: the full answer, authoritative (the same as POST /ask would return)."""

    answer: Answer


StreamEvent = CitationsEvent | DeltaEvent | DoneEvent
