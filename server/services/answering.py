"""Answering a question, from start to end, in one place:

1. `followup.resolve`: the question's three forms (asked, search text, standalone question);
2. `PassageSearch.find`: the passages (hybrid retrieval) and their sentences scored for evidence;
3. a refusal when the evidence is below the calibrated threshold, or when the question asks for a
   number, a date or a duration that the best sentence does not hold (weak evidence never reaches the
   LLM), or when the answer's confidence would be below the caller's `min_confidence`; else the
   answer: `extractive_answer` offline, `LLMAnswerer` with an LLM, falling back to
   the extractive answer with a warning when the LLM's answer cannot be used;
4. its `confidence`, from the same evidence in both modes (confidence.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

from index.embedding import Embedder
from index.store import ArticleStore, SearchFilters
from server.components.llm import ChatLLM
from server.services import followup
from server.services.confidence import CONFIDENCE, ConfidenceModel, Features
from server.services.evidence import EVIDENCE, EvidenceModel
from server.services.extractive import extractive_answer
from server.services.llm_answer import LLMAnswerer, LLMAnswerRejected
from server.services.question import History
from server.services.results import Answer, CitationsEvent, DeltaEvent, DoneEvent, Mode, StreamEvent, refusal
from server.services.search import Passages, PassageSearch, UnknownArticles
from server.services.support import SupportChecker

__all__ = ["AnswerService", "UnknownArticles"]

# A known answer streams a few words at a time, as an LLM's does, so clients handle one kind of stream.
STREAM_WORDS = 4


class AnswerService:
    def __init__(
        self,
        store: ArticleStore,
        embedder: Embedder,
        llm: ChatLLM | None,
        *,
        top_k: int,
        evidence: EvidenceModel = EVIDENCE,
        min_second_evidence: float = EVIDENCE.min_evidence,
        confidence: ConfidenceModel = CONFIDENCE,
    ):
        self.search = PassageSearch(store, embedder, evidence)
        self.llm = llm
        self.llm_answers = LLMAnswerer(llm, SupportChecker(embedder)) if llm is not None else None
        self.top_k = top_k
        self.min_evidence = evidence.min_evidence
        self.min_second_evidence = min_second_evidence
        self.confidence = confidence

    @property
    def mode(self) -> Mode:
        return "llm" if self.llm else "extractive"

    def warm_up(self) -> None:
        """Build what the first question would otherwise wait for: the BM25 index (from the term counts
        kept beside the store, reading only the articles written since they were kept)."""
        self.search.retriever.lexical.refresh()

    def shut_down(self) -> None:
        """Keep what the next start would otherwise rebuild: the BM25 index's term counts."""
        self.search.retriever.lexical.save(wait=False)

    def check_articles(self, article_ids: list[str] | None) -> None:
        """Raises `UnknownArticles` for ids that name no indexed article."""
        self.search.check_articles(article_ids)

    def find(
        self, asked: str, history: History = (), article_ids: list[str] | None = None, top_k: int | None = None,
        filters: SearchFilters | None = None,
    ) -> Passages:
        """The passages an answer to `asked` is built from, with their evidence (bench and calibrate
        read it here); `filters`: only articles published then, by those sources."""
        question = followup.resolve(asked, history, self.llm)
        return self.search.find(question, article_ids, top_k or self.top_k, filters)

    def ask(
        self, asked: str, history: History = (), article_ids: list[str] | None = None, top_k: int | None = None,
        filters: SearchFilters | None = None, min_confidence: float | None = None,
    ) -> Answer:
        """`min_confidence`: refuse rather than give an answer less likely than this to be right."""
        found = self.find(asked, history, article_ids, top_k, filters)
        if (answer := self._without_llm(found, history, min_confidence)) is None:
            assert self.llm_answers is not None
            try:
                answer = self.llm_answers.answer(found, history)
            except LLMAnswerRejected as exc:
                answer = self._extractive(found, history, str(exc))
        return self._rated(answer, found)

    def ask_stream(
        self, asked: str, history: History = (), article_ids: list[str] | None = None, top_k: int | None = None,
        filters: SearchFilters | None = None, min_confidence: float | None = None,
    ) -> Iterator[StreamEvent]:
        """`CitationsEvent`, then `DeltaEvent`s, then `DoneEvent` with the same answer as `ask`."""
        found = self.find(asked, history, article_ids, top_k, filters)
        if (answer := self._without_llm(found, history, min_confidence)) is not None:
            yield CitationsEvent(answer.citations)
            for piece in word_pieces(answer.answer):
                yield DeltaEvent(piece)
            yield DoneEvent(self._rated(answer, found))
            return
        assert self.llm_answers is not None
        yield CitationsEvent(found.citations())
        try:
            answer = yield from self.llm_answers.stream(found, history)
        except LLMAnswerRejected as exc:  # raised before any of its text was streamed
            answer = self._extractive(found, history, str(exc))
            for piece in word_pieces(answer.answer):
                yield DeltaEvent(piece)
        yield DoneEvent(self._rated(answer, found))

    def _without_llm(self, found: Passages, history: History, min_confidence: float | None) -> Answer | None:
        """The answer when no LLM call is needed: a refusal, or the extractive answer offline."""
        if not found.answerable(self.min_evidence):
            unmentioned = [f"“{name}”" for name in found.unmentioned]
            said = [f"No passage found mentions {', '.join(unmentioned)}."] if unmentioned else []
            said += [found.mismatch] if found.mismatch else []
            return refusal(found.chunks, self.mode, [*found.warnings, *said])
        # Checked before an LLM is called (the call is saved): its answer's confidence can only be lower,
        # by the share of its sentences the passages support.
        if min_confidence is not None and (would_be := self._confidence(found, answered=True)) < min_confidence:
            return refusal(found.chunks, self.mode, [
                *found.warnings, f"The best answer found has confidence {would_be}, below the min_confidence "
                f"{min_confidence:g} asked for: not given."])
        if self.llm is None:
            return self._extractive(found, history)
        return None

    def _rated(self, answer: Answer, found: Passages) -> Answer:
        """The answer with its confidence, from the same evidence in either mode; for an LLM answer,
        times the share of its sentences that stood the support check (a model that invents some of an
        answer is less likely to have the rest right)."""
        confidence = self._confidence(found, answer.answered)
        if not answer.answered and found.answerable(self.min_evidence):
            # Refused though an answer was found (below `min_confidence`, or an LLM's refusal): the refusal
            # is right only if the question is unanswerable, so at most as likely as that answer is wrong.
            confidence = min(confidence, round(1 - self._confidence(found, answered=True), 3))
        if answer.verified and answer.verified.sentences:
            confidence = round(confidence * answer.verified.supported / answer.verified.sentences, 3)
        return replace(answer, confidence=confidence)

    def _confidence(self, found: Passages, answered: bool) -> float:
        """Rounded as responses show it, so that a `min_confidence` equal to a shown one passes."""
        return round(self.confidence.confidence(Features.of(found, answered)), 3)

    def _extractive(self, found: Passages, history: History, warning: str | None = None) -> Answer:
        return extractive_answer(found, history, self.min_second_evidence, [warning] if warning else [])


def word_pieces(text: str) -> Iterator[str]:
    """`text` in pieces of a few words, white space kept."""
    words = re.findall(r"\S+\s*", text)
    for i in range(0, len(words), STREAM_WORDS):
        yield "".join(words[i : i + STREAM_WORDS])
