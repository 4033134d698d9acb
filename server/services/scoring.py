"""Scoring the sentences of the retrieved passages: how much each supports an answer (evidence) and
which to quote first (score).

Evidence (whether there is an answer at all) is `evidence.EvidenceModel`; the score adds ranking
terms to it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from index.store import ScoredChunk, SentenceVector
from index.text import content_stems
from server.services.evidence import EVIDENCE, EvidenceModel
from server.services.question import Question

# Ranking only (never the refusal): the passage's own similarity to the question counts too, and a
# sentence holding what the question asks for (a number, a date…, or a negative for "what did … not")
# gets a bonus.
PASSAGE_WEIGHT = 0.25
TYPE_BONUS = 0.1
# A follow-up is searched with words carried from the conversation; its own words ("What did he
# *declare*?") say what is new, and a sentence holding them ranks higher; after an ellipsis ("And
# *the Kremlin*?") they are its whole point.
FOLLOW_UP_WEIGHT = 0.15
ELLIPSIS_WEIGHT = 0.4
# A follow-up often asks what the sentence after the one quoted to it says ("Who commissioned it?"
# after a quote naming the Bayeux Tapestry: "It was commissioned by Odo…").
CONTINUATION_BONUS = 0.3
# …and a sentence that answer quoted, without the number or date the follow-up asks for, is no answer
# to it ("How long did it last?" after a quote of the talks).
REPEAT_PENALTY = 0.3

_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundreds?|thousands?|millions?|billions?|dozens?|half|double|twice)\b", re.IGNORECASE)
# "When": a date, a day, a time of day ("22:15", "3 p.m.", "at dawn") or a span back from now.
_DATE = re.compile(
    r"\b(\d{4}|january|february|march|april|may|june|july|august|september|october|november|december|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow|tonight|week|month|year|"
    r"century|decade|morning|afternoon|evening|night|noon|midnight|dawn|dusk|ago)\b|\b\d{1,2}[:.]\d{2}\b|"
    r"\b\d{1,2}\s?(?:a\.m\.|p\.m\.|am\b|pm\b|o'clock)", re.IGNORECASE)
_NUMBER_WORD = (r"\b(?:\d[\d,.]*|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|"
                r"thirty|forty|fifty|hundreds?|thousands?|several|many|few)")
# "How long": a span of time or a distance ("two-hour", "50 kilometers", "three years"), or where one
# starts ("since the 1960s").
_DURATION = re.compile(
    _NUMBER_WORD + r"[\s-]+(?:\w+[\s-]+)?(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|"
    r"centuries|century|kilometers?|kilometres?|km|miles?|meters?|metres?|feet|foot)\b|\bsince\s+(?:the\s+)?\d",
    re.IGNORECASE)
_PROPER_NOUN = re.compile(r"(?<=\S)\s+[A-Z][\w’'-]+")  # a capitalised word that does not open the sentence
# (what the question asks, what a sentence answering it holds), first match wins.
EXPECTED_KIND = [
    (re.compile(r"^\W*how long\b", re.I), _DURATION),
    (re.compile(r"^\W*(how (many|much|far|old|often|large|big)|what (number|percentage|share|amount))\b", re.I),
     _NUMBER),
    (re.compile(r"^\W*(when|(in |by |since |until )?(what|which) (year|date|day|time|month|decade|century))\b", re.I),
     _DATE),
    (re.compile(r"^\W*(where|in which|(which|what) (city|country|town|place|region))\b", re.I), _PROPER_NOUN),
    (re.compile(r"^\W*(who|whom|whose)\b", re.I), _PROPER_NOUN),
]


# A question that asks what is not so, and a sentence that says something is not, or was declined,
# refused, withheld… ("White House officials declined to confirm details" answers "What did the White
# House not confirm?"; "remained silent" answers "Why did the Kremlin not comment?"; "has yet to
# respond" answers "What has Moscow not responded to?").
_NEGATION = re.compile(r"\b(?:not|never|no|none|nothing|neither|nor|cannot|without)\b|n['’]t\b", re.IGNORECASE)
_NEGATIVE = re.compile(
    r"\b(?:not|never|no|none|nothing|neither|nor|cannot|without|unable|yet to)\b|n['’]t\b|"
    r"\b(?:declin|refus|reject|fail|den(?:y|ie)|lack|absen|silen|withh[eo]ld|ban(?:s|ned)?\b|forb[ia]d|"
    r"prohibit|exclud|cancel|postpon|suspend|abandon)", re.IGNORECASE)


def asks_negative(question: str) -> bool:
    return _NEGATION.search(question) is not None


def says_negative(sentence: str) -> bool:
    return _NEGATIVE.search(sentence) is not None


def strict_kind(kind: re.Pattern[str]) -> bool:
    """Whether an answer must hold this kind (a number, a date, a span of time), not only rank higher
    for holding it (a person, a place: their answers are often common nouns)."""
    return kind in (_NUMBER, _DATE, _DURATION)


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
    follow_up: Question | None = None,
) -> list[ScoredSentence]:
    """Every sentence of `chunks` scored against the question, best first.

    `named`: citation numbers of passages whose section heading the question quotes; the words of
    their heading path count as said by each of their sentences. `follow_up`: the question, when
    `search_text` adds words from the conversation to it."""
    if not sentences:
        return []
    rank = {c.id: n for n, c in enumerate(chunks, start=1)}
    asked = content_stems(search_text)
    kind = expected_kind(search_text)
    own = content_stems(follow_up.asked) if follow_up else frozenset()
    own_weight = ELLIPSIS_WEIGHT if follow_up and follow_up.follow_up == "ellipsis" else FOLLOW_UP_WEIGHT
    cosines = np.asarray([s.embedding for s in sentences], dtype=np.float32) @ embedding
    following, repeated = _around_quoted(sentences, follow_up.leans_on, own) if follow_up else (set(), set())
    needs_kind = kind is not None and strict_kind(kind)  # a continuation without it is no answer
    negative = asks_negative(search_text)
    scored = []
    for s, cosine in zip(sentences, cosines.tolist(), strict=True):
        n = rank[s.chunk_id]
        said = content_stems(s.text)
        if n in named:
            said |= content_stems(chunks[n - 1].section)
        overlap = len(asked & said) / len(asked) if asked else 0.0
        evidence = model.evidence(cosine, overlap)
        score = evidence + PASSAGE_WEIGHT * chunks[n - 1].score
        held = kind is not None and kind.search(s.text) is not None
        if held:
            score += TYPE_BONUS
        if negative and says_negative(s.text):  # a negative question is answered by a negative sentence
            score += TYPE_BONUS
        if own:
            score += own_weight * len(own & said) / len(own)
        if (s.chunk_id, s.start) in following and (held or not needs_kind):
            score += CONTINUATION_BONUS
        if (s.chunk_id, s.start) in repeated and needs_kind and not held:
            score -= REPEAT_PENALTY
        scored.append(ScoredSentence(s, n, evidence, score))
    scored.sort(key=lambda t: (-t.score, t.sentence.start))
    return scored


def _around_quoted(
    sentences: Sequence[SentenceVector], answer: str, own: frozenset[str]
) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
    """(chunk id, start) of each sentence that comes right after one that `answer` quotes, and of
    those quoted ones, unless the quoted one already holds most of the follow-up's own words (`own`:
    "What did he say the real measure of success would be?" after a quote of it is answered by that
    quote, not the next one)."""
    by_chunk: dict[str, list[SentenceVector]] = {}
    for s in sentences:
        by_chunk.setdefault(s.chunk_id, []).append(s)
    following, quoted = set(), set()
    for in_chunk in by_chunk.values():
        in_chunk.sort(key=lambda s: s.start)
        for s in in_chunk:
            if s.text in answer and len(own & content_stems(s.text)) * 2 <= len(own):
                quoted.add((s.chunk_id, s.start))
        for s, after in pairwise(in_chunk):
            if (s.chunk_id, s.start) in quoted and after.text not in answer:
                following.add((after.chunk_id, after.start))
    return following, quoted
