"""Answering: retrieve passages, decide whether they answer the question, and compose the answer
with inline [n] markers — extractively (offline default) or with an OpenAI-compatible LLM.

Citation numbers are the passages' retrieval ranks (1 = closest), in both modes and in the stream,
so a marker never changes meaning between the first `citations` event and the final answer.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Iterator, Literal, Sequence

import numpy as np

from index.embedding import Embedder
from index.retrieval import HybridRetriever, heading_named_in
from index.store import ArticleStore, ScoredChunk, SentenceVector
from server.components.llm import ChatLLM, LLMError
from server.services.followup import content_stems, needs_context, rewrite_messages, search_query

NOT_COVERED = "The indexed articles do not cover this question."
LLM_NOT_COVERED = "NOT_IN_ARTICLES"
MAX_ANSWER_SENTENCES = 2
# A second sentence joins the answer only if it scores nearly as well as the best one.
SECOND_SENTENCE_MARGIN = 0.06
# How much the passage's own similarity and the question's word overlap count in a sentence's score.
PASSAGE_WEIGHT = 0.25
OVERLAP_WEIGHT = 0.25
# Closest passages shown with a refusal.
CLOSEST_ON_REFUSAL = 3
# A follow-up should move the conversation on: a sentence quoted in an earlier answer scores less.
ALREADY_SAID_PENALTY = 0.15
# Questions asking for a number, a date, a place or a person favour sentences holding one.
TYPE_BONUS = 0.1
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundreds?|thousands?|millions?|billions?|dozens?|half|double|twice)\b", re.IGNORECASE)
_DATE = re.compile(
    r"\b(\d{4}|january|february|march|april|may|june|july|august|september|october|november|december|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|tomorrow|week|month|year|"
    r"century|decade)\b", re.IGNORECASE)
_NUMBER_WORD = (r"\b(?:\d[\d,.]*|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
                r"forty|fifty|hundreds?|thousands?|several|many|few)")
# "How long": a span of time or a distance ("two-hour", "50 kilometers", "three years").
_DURATION = re.compile(
    _NUMBER_WORD + r"[\s-]+(?:\w+[\s-]+)?(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|"
    r"centuries|century|kilometers?|kilometres?|km|miles?|meters?|metres?|feet|foot)\b", re.IGNORECASE)
_PROPER_NOUN = re.compile(r"(?<=\S)\s+[A-Z][\w’'-]+")  # a capitalised word that does not open the sentence
EXPECTED_KIND = [
    (re.compile(r"^\W*how long\b", re.I), _DURATION),
    (re.compile(r"^\W*(how (many|much|far|old|often|large|big)|what (number|percentage|share|amount))\b", re.I), _NUMBER),
    (re.compile(r"^\W*(when|what (year|date|day|time|month))\b", re.I), _DATE),
    (re.compile(r"^\W*(where|in which|which (city|country|town|place|region))\b", re.I), _PROPER_NOUN),
    (re.compile(r"^\W*(who|whom|whose)\b", re.I), _PROPER_NOUN),
]


def expected_kind(question: str) -> re.Pattern | None:
    """The pattern an answer sentence should contain, from the question's wh-word."""
    return next((kind for asks, kind in EXPECTED_KIND if asks.search(question)), None)

SYSTEM_PROMPT = """You answer questions about news articles using only the numbered passages provided.
Rules:
- Use only facts stated in the passages. Do not use outside knowledge.
- After every sentence that uses a passage, add its marker, e.g. [1] or [2][3].
- Be concise: one to four sentences.
- If the passages do not answer the question, reply exactly: NOT_IN_ARTICLES"""

# A rewritten follow-up longer than this is not a question but a ramble (or an answer).
MAX_REWRITE_CHARS = 500

MARKER_RE = re.compile(r"\s?\[(\d+(?:\s*,\s*\d+)*)\]")


class UnknownArticles(LookupError):
    def __init__(self, ids: list[str]):
        super().__init__(
            f"unknown article id(s): {', '.join(ids)}; GET /articles (or `articlechat articles`) lists the indexed ones"
        )
        self.ids = ids


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


@dataclass
class Answer:
    answer: str
    answered: bool
    citations: list[Citation]
    mode: Literal["extractive", "llm"]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Retrieval:
    question: str  # as the LLM is asked it: its standalone rewrite, if the LLM made one
    passages: list[ScoredChunk]  # rank order; citation n = index + 1
    sentences: list[tuple[float, float, SentenceVector, int]]  # (score, evidence, sentence, n), best first
    evidence: float  # the best sentence's evidence: cosine similarity to the question plus word overlap
    warnings: list[str] = field(default_factory=list)
    topic: bool = False  # the question asks what a section (passage 1) says, naming its heading

    def citation(self, n: int) -> Citation:
        p = self.passages[n - 1]
        return Citation(n, p.article_id, p.title, p.section, p.text, p.start, p.end, round(p.score, 4))


class AnswerService:
    def __init__(self, store: ArticleStore, embedder: Embedder, llm: ChatLLM | None, *, top_k: int, min_evidence: float):
        self.store = store
        self.retriever = HybridRetriever(store)
        self.embedder = embedder
        self.llm = llm
        self.top_k = top_k
        self.min_evidence = min_evidence

    @property
    def mode(self) -> Literal["extractive", "llm"]:
        return "llm" if self.llm else "extractive"

    # --- public API -----------------------------------------------------------------------------
    def ask(
        self,
        question: str,
        history: Sequence[tuple[str, str]] = (),
        article_ids: list[str] | None = None,
        top_k: int | None = None,
    ) -> Answer:
        r = self._retrieve(question, history, article_ids, top_k or self.top_k)
        answer = self._without_llm(r, history)
        if answer is not None:
            return answer
        try:
            raw = self.llm.complete(self._llm_messages(r, history))  # type: ignore[union-attr]
        except LLMError as exc:
            return self._fallback(r, history, f"The LLM failed ({exc}); showing the extractive answer.")
        return self._finish_llm(r, history, raw)

    def ask_stream(
        self,
        question: str,
        history: Sequence[tuple[str, str]] = (),
        article_ids: list[str] | None = None,
        top_k: int | None = None,
    ) -> Iterator[tuple[str, object]]:
        """Yields ("citations", [Citation]), then ("delta", str)…, then ("done", Answer)."""
        r = self._retrieve(question, history, article_ids, top_k or self.top_k)
        answer = self._without_llm(r, history)
        if answer is not None:
            yield "citations", answer.citations
            yield from _deltas(answer.answer)
            yield "done", answer
            return
        yield "citations", [r.citation(n) for n in range(1, len(r.passages) + 1)]
        yield from self._llm_stream(r, history)

    def check_articles(self, article_ids: list[str] | None) -> None:
        if not article_ids:
            return
        known = self.store.current_versions(article_ids)
        missing = [a for a in dict.fromkeys(article_ids) if a not in known]
        if missing:
            raise UnknownArticles(missing)

    # --- retrieval ------------------------------------------------------------------------------
    def standalone_question(self, question: str, history: Sequence[tuple[str, str]]) -> tuple[str, list[str]]:
        """What to search for a follow-up: the LLM's standalone rewrite when an LLM is configured,
        else (or when it fails) the question with the names and key words of earlier turns."""
        if self.llm is None or not history or not needs_context(question):
            return search_query(question, history), []
        try:
            rewritten = " ".join(self.llm.complete(rewrite_messages(question, history)).split())
        except LLMError as exc:
            problem = f"failed ({exc})"
        else:
            if rewritten and len(rewritten) <= MAX_REWRITE_CHARS and LLM_NOT_COVERED not in rewritten:
                return rewritten, []
            problem = "returned no usable question"
        warning = f"The LLM could not rewrite the follow-up: it {problem}; searched with the names of earlier turns."
        return search_query(question, history), [warning]

    def _retrieve(self, question: str, history, article_ids, top_k: int) -> _Retrieval:
        self.check_articles(article_ids)
        query, warnings = self.standalone_question(question, history)
        # With an LLM, the query is the question itself or the LLM's rewrite of it; only the offline
        # fallback (names appended, with a warning) is no question to ask.
        llm_question = query if self.llm is not None and not warnings else question
        qvec = np.asarray(self.embedder.embed_query(query), dtype=np.float32)
        passages = self.retriever.retrieve(qvec.tolist(), query, top_k, article_ids)
        asked = content_stems(query)
        # A section the question names by its heading is what it asks about: the heading's words
        # count as said by each of its sentences. A question that asks nothing more ("What does
        # the article say about Location and Logistics?") is answered by that section's opening.
        named_ids = {p.id for p in passages if p.section and heading_named_in(query, p.section)}
        # (The article's title may be named too: "What does “Harbour news” say about “Ferries”?")
        named_words = [f"{p.title} {p.section.rsplit(' > ', 1)[-1]}" for p in passages if p.id in named_ids]
        topic = bool(asked) and asked <= frozenset().union(*map(content_stems, named_words))
        if topic:
            passages = sorted((p for p in passages if p.id in named_ids), key=lambda p: p.start) + [
                p for p in passages if p.id not in named_ids]
        rank = {p.id: n for n, p in enumerate(passages, start=1)}
        named = {rank[i] for i in named_ids}
        sentences = self.store.sentences_of(list(rank))
        if not sentences:
            return _Retrieval(llm_question, passages, [], passages[0].score if passages else -1.0, warnings)
        matrix = np.asarray([s.embedding for s in sentences], dtype=np.float32)
        cosines = matrix @ qvec
        kind = expected_kind(question)
        scored = []
        for s, cos in zip(sentences, cosines.tolist()):
            n = rank[s.chunk_id]
            said = content_stems(s.text) | (content_stems(passages[n - 1].section) if n in named else frozenset())
            overlap = len(asked & said) / len(asked) if asked else 0.0
            # Evidence counts the words too: a code or name the model blurs ("KR-5531") still counts.
            evidence = cos + OVERLAP_WEIGHT * overlap
            score = evidence + PASSAGE_WEIGHT * passages[n - 1].score
            if kind is not None and kind.search(s.text):
                score += TYPE_BONUS
            scored.append((score, evidence, s, n))
        scored.sort(key=lambda t: (-t[0], t[2].start))
        return _Retrieval(llm_question, passages, scored, max(t[1] for t in scored), warnings, topic)

    # --- answers --------------------------------------------------------------------------------
    def _without_llm(self, r: _Retrieval, history: Sequence[tuple[str, str]]) -> Answer | None:
        """The answer when no LLM call is needed: a refusal (weak evidence is never sent to the
        LLM), or the extractive answer when no LLM is configured."""
        if not r.passages or (r.evidence < self.min_evidence and not r.topic):
            return self._refusal(r, self.mode)
        if self.llm is None:
            return self._extractive(r, history)
        return None

    def _refusal(self, r: _Retrieval, mode: Literal["extractive", "llm"]) -> Answer:
        closest = [r.citation(n) for n in range(1, min(CLOSEST_ON_REFUSAL, len(r.passages)) + 1)]
        return Answer(NOT_COVERED, False, closest, mode, list(r.warnings))

    def _extractive(self, r: _Retrieval, history: Sequence[tuple[str, str]], warnings: list[str] | None = None) -> Answer:
        """Quote the best sentences verbatim, each followed by its passage's marker."""
        chosen = self._choose_sentences(r, history)
        # Sentences of the best passage first, in article order; any other keeps its rank after them.
        best_n = chosen[0][3]
        chosen.sort(key=lambda t: (0, t[2].start) if t[3] == best_n else (1, 0))
        parts = [f"{t[2].text} [{t[3]}]" for t in chosen]
        cited = sorted({t[3] for t in chosen})
        return Answer(" ".join(parts), True, [r.citation(n) for n in cited], "extractive", [*r.warnings, *(warnings or [])])

    def _choose_sentences(
        self, r: _Retrieval, history: Sequence[tuple[str, str]]
    ) -> list[tuple[float, float, SentenceVector, int]]:
        if r.topic:  # what the named section says: its opening sentences
            opening = sorted((t for t in r.sentences if t[3] == 1), key=lambda t: t[2].start)
            if opening:
                return opening[:MAX_ANSWER_SENTENCES]
        already_said = " ".join(c for role, c in history if role == "assistant")
        fresh = sorted(r.sentences, key=lambda t: -(t[0] - ALREADY_SAID_PENALTY * (t[2].text in already_said)))
        chosen = [fresh[0]]
        for t in fresh[1:]:
            if len(chosen) == MAX_ANSWER_SENTENCES or t[0] < fresh[0][0] - SECOND_SENTENCE_MARGIN:
                break
            if t[1] >= self.min_evidence and t[2].text not in already_said:  # a follow-up adds, not repeats
                chosen.append(t)
        return chosen

    def _llm_messages(self, r: _Retrieval, history: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
        passages = "\n\n".join(
            f"[{n}] ({p.title}{' — ' + p.section if p.section else ''})\n{p.text}"
            for n, p in enumerate(r.passages, start=1)
        )
        messages = [{"role": "system", "content": SYSTEM_PROMPT}]
        messages += [{"role": role, "content": content} for role, content in history[-6:]]
        messages.append({"role": "user", "content": f"Passages:\n\n{passages}\n\nQuestion: {r.question}"})
        return messages

    def _llm_stream(self, r: _Retrieval, history) -> Iterator[tuple[str, object]]:
        markers = MarkerFilter(set(range(1, len(r.passages) + 1)))
        raw = ""
        decided = refusal = False
        try:
            for piece in self.llm.stream(self._llm_messages(r, history)):  # type: ignore[union-attr]
                raw += piece
                if not decided:
                    if _could_be_sentinel(raw):
                        continue  # hold back until we know whether this is a refusal
                    decided, refusal = True, raw.lstrip().startswith(LLM_NOT_COVERED)
                    piece = raw
                if not refusal and (text := markers.feed(piece)):
                    yield "delta", text
            if refusal:
                yield "delta", NOT_COVERED
            elif tail := markers.flush():
                yield "delta", tail
        except LLMError as exc:
            yield "done", self._fallback(r, history, f"The LLM failed ({exc}); showing the extractive answer.")
            return
        yield "done", self._finish_llm(r, history, raw)

    def _finish_llm(self, r: _Retrieval, history, raw: str) -> Answer:
        text = raw.strip()
        if text.startswith(LLM_NOT_COVERED):
            return self._refusal(r, "llm")
        answer, cited = clean_markers(text, set(range(1, len(r.passages) + 1)))
        if not answer.strip():
            return self._fallback(r, history, "The LLM returned an empty answer; showing the extractive answer.")
        if not cited:
            return self._fallback(
                r, history, "The LLM answer cited no passage, so it cannot be checked; showing the extractive answer."
            )
        return Answer(answer, True, [r.citation(n) for n in sorted(cited)], "llm", list(r.warnings))

    def _fallback(self, r: _Retrieval, history, warning: str) -> Answer:
        return self._extractive(r, history, [warning])


def clean_markers(text: str, allowed: set[int]) -> tuple[str, set[int]]:
    """Drop markers that name no passage we sent; split "[1, 2]" into "[1][2]"."""
    cited: set[int] = set()

    def fix(match: re.Match) -> str:
        numbers = [int(x) for x in re.split(r"\s*,\s*", match.group(1))]
        valid = [n for n in numbers if n in allowed]
        cited.update(valid)
        if not valid:
            return ""
        lead = match.group(0)[0] if match.group(0)[0].isspace() else ""
        return lead + "".join(f"[{n}]" for n in valid)

    return MARKER_RE.sub(fix, text), cited


class MarkerFilter:
    """Applies `clean_markers` to a stream, holding back a possibly unfinished "[12" at the end."""

    def __init__(self, allowed: set[int]):
        self.allowed = allowed
        self._pending = ""

    def feed(self, text: str) -> str:
        self._pending += text
        cut = self._pending.rfind("[")
        if cut != -1 and "]" not in self._pending[cut:] and len(self._pending) - cut <= 12:
            ready, self._pending = self._pending[:cut], self._pending[cut:]
        else:
            ready, self._pending = self._pending, ""
        # Hold a trailing space too: it may belong to a marker that is dropped.
        if ready.endswith(" "):
            ready, self._pending = ready[:-1], " " + self._pending
        return clean_markers(ready, self.allowed)[0]

    def flush(self) -> str:
        ready, self._pending = self._pending, ""
        return clean_markers(ready, self.allowed)[0]


def _could_be_sentinel(raw: str) -> bool:
    head = raw.lstrip()
    return len(head) < len(LLM_NOT_COVERED) and LLM_NOT_COVERED.startswith(head)


def _deltas(text: str) -> Iterator[tuple[str, str]]:
    """Stream an already-known answer a few words at a time."""
    pieces = re.findall(r"\S+\s*", text)
    for i in range(0, len(pieces), 4):
        yield "delta", "".join(pieces[i : i + 4])
