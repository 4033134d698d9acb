"""Scoring the sentences of the retrieved passages: how much each supports an answer (evidence) and
which to quote first (score).

Evidence (whether there is an answer at all) is `evidence.EvidenceModel`; the score adds ranking
terms to it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.store import ScoredChunk, SentenceVector
from index.text import content_stems
from server.services.evidence import EVIDENCE, EvidenceModel

# Ranking only (never the refusal): the passage's own similarity to the question counts too, and a
# sentence holding what the question asks for (a number, a date…) gets a bonus.
PASSAGE_WEIGHT = 0.25
TYPE_BONUS = 0.1

_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundreds?|thousands?|millions?|billions?|dozens?|half|double|twice)\b", re.IGNORECASE)
_DATE = re.compile(
    r"\b(\d{4}|january|february|march|april|may|june|july|august|september|october|november|december|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow|week|month|year|"
    r"century|decade)\b", re.IGNORECASE)
_NUMBER_WORD = (r"\b(?:\d[\d,.]*|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|"
                r"thirty|forty|fifty|hundreds?|thousands?|several|many|few)")
# "How long": a span of time or a distance ("two-hour", "50 kilometers", "three years").
_DURATION = re.compile(
    _NUMBER_WORD + r"[\s-]+(?:\w+[\s-]+)?(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|"
    r"centuries|century|kilometers?|kilometres?|km|miles?|meters?|metres?|feet|foot)\b", re.IGNORECASE)
_PROPER_NOUN = re.compile(r"(?<=\S)\s+[A-Z][\w’'-]+")  # a capitalised word that does not open the sentence
# (what the question asks, what a sentence answering it holds), first match wins.
EXPECTED_KIND = [
    (re.compile(r"^\W*how long\b", re.I), _DURATION),
    (re.compile(r"^\W*(how (many|much|far|old|often|large|big)|what (number|percentage|share|amount))\b", re.I),
     _NUMBER),
    (re.compile(r"^\W*(when|what (year|date|day|time|month))\b", re.I), _DATE),
    (re.compile(r"^\W*(where|in which|which (city|country|town|place|region))\b", re.I), _PROPER_NOUN),
    (re.compile(r"^\W*(who|whom|whose)\b", re.I), _PROPER_NOUN),
]


def expected_kind(question: str) -> re.Pattern[str] | None:
    """The pattern an answer sentence should contain, from the question's wh-word."""
    return next((kind for asks, kind in EXPECTED_KIND if asks.search(question)), None)


@dataclass(frozen=True)
class ScoredSentence:
    sentence: SentenceVector
    n: int  # the citation number of its passage
    evidence: float  # see EvidenceModel: decides whether the question is answered at all
    score: float  # evidence plus the ranking terms: orders the candidates

    @property
    def text(self) -> str:
        return self.sentence.text


def score_sentences(
    search_text: str,
    embedding: np.ndarray,
    chunks: Sequence[ScoredChunk],
    sentences: Sequence[SentenceVector],
    named: set[int] = frozenset(),  # type: ignore[assignment]
    model: EvidenceModel = EVIDENCE,
) -> list[ScoredSentence]:
    """Every sentence of `chunks` scored against the question, best first.

    `named`: citation numbers of passages whose section heading the question quotes; the words of
    their heading path count as said by each of their sentences."""
    if not sentences:
        return []
    rank = {c.id: n for n, c in enumerate(chunks, start=1)}
    asked = content_stems(search_text)
    kind = expected_kind(search_text)
    cosines = np.asarray([s.embedding for s in sentences], dtype=np.float32) @ embedding
    scored = []
    for s, cosine in zip(sentences, cosines.tolist(), strict=True):
        n = rank[s.chunk_id]
        said = content_stems(s.text)
        if n in named:
            said |= content_stems(chunks[n - 1].section)
        overlap = len(asked & said) / len(asked) if asked else 0.0
        evidence = model.evidence(cosine, overlap)
        score = evidence + PASSAGE_WEIGHT * chunks[n - 1].score
        if kind is not None and kind.search(s.text):
            score += TYPE_BONUS
        scored.append(ScoredSentence(s, n, evidence, score))
    scored.sort(key=lambda t: (-t.score, t.sentence.start))
    return scored
