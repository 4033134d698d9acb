"""Finding the passages for a question, and the scored sentences an answer is built from."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from index.embedding import Embedder
from index.retrieval import HybridRetriever
from index.store import ArticleStore, ScoredChunk, SearchFilters, SentenceVector
from index.text import content_stems, innermost_heading
from server.limits import echo_ids
from server.services.confidence import kind_missing, negation_missing, numbers_elsewhere, opposite, unmentioned
from server.services.evidence import EVIDENCE, EvidenceModel
from server.services.question import Question
from server.services.results import QUOTED_AGAIN, Citation, citations
from server.services.scoring import ScoredSentence, score_sentences
from server.services.support import MARKERS_RE

# An earlier answer's quotes, looked up to find the articles a follow-up leans on: its first few, each
# among the passages that share the most words with it.
MAX_QUOTES = 2
MIN_QUOTE_CHARS = 20
QUOTE_CANDIDATES = 3
# Evidence when no sentence could be scored: below any threshold.
NO_EVIDENCE = -1.0
# An article replaced or deleted while its passages are read may lose its old sentences, or meet its
# new version in the same result: then the search runs again (the registry names one version by then).
READ_ATTEMPTS = 3


class UnknownArticles(LookupError):
    def __init__(self, ids: list[str]):
        super().__init__(
            f"unknown article id(s): {echo_ids(ids)}; GET /articles (or `articlechat articles`) lists the indexed ones"
        )
        self.ids = ids


@dataclass
class Passages:
    """What was found for one question."""

    question: Question
    chunks: list[ScoredChunk]  # in citation order: passage n is chunks[n - 1]
    sentences: list[ScoredSentence]  # best first
    evidence: float  # the best sentence's (see scoring.EvidenceModel)
    # The question asks what a section says, naming its heading and nothing more ("What does the
    # article say about Location and Logistics?"); that section's passages come first.
    topic: bool = False
    warnings: list[str] = field(default_factory=list)
    # The question asks for a number, a date or a duration that its best sentence does not hold.
    kind_missing: bool = False
    # Names and numbers of the question that no passage mentions (see confidence.unmentioned).
    unmentioned: list[str] = field(default_factory=list)
    # Why the best sentence, though it resembles the question, does not answer it: the question asks
    # what is not so, names a number its passage lacks, or a word whose opposite the sentence says (see
    # confidence.py); "" when it may.
    mismatch: str = ""
    # The search text's embedding (the support check of LLM answers compares against it).
    embedding: np.ndarray | None = field(default=None, repr=False)

    def answerable(self, min_evidence: float) -> bool:
        """Whether an answer may be built from these passages: they hold a sentence with enough
        evidence (or the section asked about), of the kind asked for, that answers what is asked (no
        `mismatch`), and they mention what is asked about."""
        return (bool(self.chunks) and (self.evidence >= min_evidence or self.topic) and not self.kind_missing
                and not self.unmentioned and not self.mismatch)

    def citations(self, numbers: list[int] | None = None) -> list[Citation]:
        return citations(self.chunks, numbers)

    @property
    def numbers(self) -> set[int]:
        return set(range(1, len(self.chunks) + 1))


class PassageSearch:
    def __init__(self, store: ArticleStore, embedder: Embedder, evidence: EvidenceModel = EVIDENCE):
        self.store = store
        self.embedder = embedder
        self.retriever = HybridRetriever(store)
        self.evidence = evidence

    def check_articles(self, article_ids: list[str] | None) -> None:
        if not article_ids:
            return
        known = self.store.current_versions(article_ids)
        missing = [a for a in dict.fromkeys(article_ids) if a not in known]
        if missing:
            raise UnknownArticles(missing)

    def find(
        self, question: Question, article_ids: list[str] | None, top_k: int, filters: SearchFilters | None = None
    ) -> Passages:
        """The passages for `question` among the articles of `article_ids` (all when None) that `filters`
        accept (published when, by whom)."""
        self.check_articles(article_ids)
        embedding = np.asarray(self.embedder.embed_query(question.search_text), dtype=np.float32)
        # A follow-up is most likely about what the answer it leans on quoted ("What about NATO?" after
        # a quote of the EU's envoy means this article's NATO): those articles first, all of them when
        # they hold no answer.
        if question.follow_up and (quoted := self._articles_quoted(question.leans_on, embedding, article_ids,
                                                                   filters)):
            found = self._find(question, embedding, quoted, top_k, filters)
            if found.answerable(self.evidence.min_evidence):
                return found
        return self._find(question, embedding, article_ids, top_k, filters)

    def _find(
        self, question: Question, embedding: np.ndarray, article_ids: list[str] | None, top_k: int,
        filters: SearchFilters | None,
    ) -> Passages:
        for _ in range(READ_ATTEMPTS):
            found = self.retriever.retrieve(embedding.tolist(), question.search_text, top_k, article_ids, filters)
            sentences = self.store.sentences_of(found.chunks)
            consistent = _one_version_each(found.chunks, sentences)
            if len(consistent) == len(found.chunks):
                break
        chunks, named_ids = consistent, found.naming_section
        topic = _asks_only_about(question.search_text, [c for c in chunks if c.id in named_ids])
        if topic:  # the named section's passages first, in article order
            chunks = sorted((c for c in chunks if c.id in named_ids), key=lambda c: c.start) + [
                c for c in chunks if c.id not in named_ids]
        named = {n for n, c in enumerate(chunks, start=1) if c.id in named_ids}
        sentences = [s for s in sentences if s.chunk_id in {c.id for c in chunks}]
        scored = score_sentences(question.search_text, embedding, chunks, sentences, named, self.evidence,
                                 question if question.follow_up else None)
        evidence = max((s.evidence for s in scored), default=NO_EVIDENCE)
        topic = topic and bool(scored)
        missing = not topic and kind_missing(question.search_text, scored[0] if scored else None, self.embedder)
        absent = [] if topic else unmentioned(question.asked, chunks)
        mismatch = "" if topic or absent or not scored else _mismatch(question, scored[0], chunks)
        return Passages(question, chunks, scored, evidence, topic, list(question.warnings), missing, absent,
                        mismatch, embedding)

    def _articles_quoted(
        self, answer: str, embedding: np.ndarray, article_ids: list[str] | None, filters: SearchFilters | None,
    ) -> list[str]:
        """The articles whose passages hold the sentences an earlier (extractive) answer quoted, among
        those searched; none for an answer in other words (an LLM's), which is searched as usual."""
        quotes = [" ".join(q.split()) for q in MARKERS_RE.split(answer.removeprefix(QUOTED_AGAIN))]
        quotes = [q for q in quotes if len(q) >= MIN_QUOTE_CHARS][:MAX_QUOTES]
        candidates = [self.retriever.lexical.search(q, QUOTE_CANDIDATES, article_ids, filters) for q in quotes]
        wanted = list(dict.fromkeys(i for ids in candidates for i in ids))
        chunks = {c.id: c for c in self.store.chunks_by_id(wanted, embedding.tolist())} if wanted else {}
        found: list[str] = []
        for quote, ids in zip(quotes, candidates, strict=True):  # one read for all the quotes' candidates
            for chunk in (chunks[i] for i in ids if i in chunks):
                if quote in " ".join(chunk.text.split()) and chunk.article_id not in found:
                    found.append(chunk.article_id)
        return found


def _mismatch(question: Question, best: ScoredSentence, chunks: list[ScoredChunk]) -> str:
    """Why `best` does not answer `question` (the refusal's warning), or ""."""
    # A follow-up's "not" is often about the previous answer ("Why not?"): only questions that stand
    # alone are read for it.
    if not question.follow_up and negation_missing(question.asked, best):
        return "The question asks what is not so; the closest passage says what is."
    if elsewhere := numbers_elsewhere(question.asked, chunks[best.n - 1]):
        return f"The closest passage does not mention {', '.join(f'“{n}”' for n in elsewhere)}."
    if pair := opposite(question.asked, best.text):
        return f"The closest passage says “{pair[1]}” where the question asks “{pair[0]}”."
    return ""


def _one_version_each(chunks: list[ScoredChunk], sentences: list[SentenceVector]) -> list[ScoredChunk]:
    """The chunks whose sentences are still there, of one version of each article (its best chunk's)."""
    with_sentences = {s.chunk_id for s in sentences}
    version: dict[str, str] = {}
    kept = []
    for chunk in chunks:
        if chunk.id in with_sentences and version.setdefault(chunk.article_id, chunk.version) == chunk.version:
            kept.append(chunk)
    return kept


def _asks_only_about(search_text: str, naming: list[ScoredChunk]) -> bool:
    """Whether every content word of the question is in the headings (or the article titles, as in
    "What does “Harbour news” say about “Ferries”?") of the sections it names."""
    asked = content_stems(search_text)
    named_words: frozenset[str] = frozenset().union(
        *(content_stems(f"{c.title} {innermost_heading(c.section)}") for c in naming))
    return bool(asked) and asked <= named_words
