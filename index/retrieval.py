"""Hybrid retrieval: four rankings of the chunks fused by reciprocal rank fusion.

- dense: the chunk's embedding (heading path and text) against the question's, in Chroma;
- by sentence: the chunks of the sentences nearest to the question, in Chroma (a passage holding the
  answer in one sentence among unrelated ones is blurred as a whole, not in that sentence);
- lexical: BM25 (bm25s over `index.text`'s stemmed content words), where names, numbers and quoted
  words win;
- named sections: the chunks of a section whose heading the question quotes ("What does the article
  say about Location and Logistics?"); the other three rank such a question's section no higher than
  any passage that shares a word with the heading.

Measured on the SQuAD 2.0 sample (bench.eval): dense + BM25 gave hit@5 0.938 and MRR 0.821; adding
the sentence ranking, 0.956 and 0.853 (the sentence vectors are stored for extractive answers anyway).

The BM25 index lives in memory and is rebuilt whenever the store's generation changes (any commit or
delete, in this process or another sharing the store); every candidate is checked against the current
article versions before it is returned, so a stale index can miss a new chunk for one query at most,
and never returns a deleted or replaced one.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, field

from index.store import ArticleStore, ScoredChunk
from index.text import content_tokens, heading_named_in, stem

RRF_K = 60  # the usual constant: damps the weight of the very first ranks
CANDIDATES = 20  # from each ranking, before fusion
# Sentences, not chunks: several of the nearest sentences often share a chunk, so fetch more of them
# to fill CANDIDATES distinct chunks.
SENTENCE_CANDIDATES = 60
# Fused ranks kept beyond top_k: a lexical or sentence hit may belong to a version superseded since
# the BM25 index was built, and is dropped when its chunk is fetched.
SPARE_RANKS = 4


@dataclass
class Retrieved:
    chunks: list[ScoredChunk]  # best first
    # Ids of the chunks whose section heading the question quotes (decided here, once).
    naming_section: set[str] = field(default_factory=set)


@dataclass
class _LexicalSnapshot:
    """One consistent build: readers take the whole snapshot, never ids of one build with the
    matrix of another."""

    generation: str | None = None
    ids: list[str] = field(default_factory=list)
    article_ids: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    bm25: object | None = None
    tokenizer: object | None = None


class LexicalIndex:
    def __init__(self, store: ArticleStore):
        self._store = store
        self._lock = threading.Lock()
        self._snapshot = _LexicalSnapshot()

    def _current(self) -> _LexicalSnapshot:
        generation = self._store.generation()
        if generation == self._snapshot.generation:
            return self._snapshot
        with self._lock:
            if generation != self._snapshot.generation:
                self._snapshot = self._build(generation)
            return self._snapshot

    def _build(self, generation: str) -> _LexicalSnapshot:
        import bm25s
        from bm25s.tokenization import Tokenizer

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every rebuild at DEBUG
        ids, article_ids, sections, texts = self._store.current_chunk_texts()
        # The words, stopwords and stems of index.text, so BM25 and the answer scorer's word
        # overlap agree on what a word is.
        tokenizer = Tokenizer(lower=False, splitter=content_tokens, stopwords=None, stemmer=stem)
        bm25 = None
        if texts:
            bm25 = bm25s.BM25()
            bm25.index(tokenizer.tokenize(texts, return_as="tuple", show_progress=False), show_progress=False)
        return _LexicalSnapshot(generation, ids, article_ids, sections, bm25, tokenizer)

    def search(self, query: str, k: int, article_ids: list[str] | None = None) -> list[str]:
        """Ids of up to `k` chunks sharing words with `query`, best first."""
        snap = self._current()
        if snap.bm25 is None or snap.tokenizer is None:
            return []
        bm25, tokenizer = snap.bm25, snap.tokenizer
        tokens = tokenizer.tokenize([query], update_vocab=False, return_as="ids", show_progress=False)  # type: ignore[attr-defined]
        # Restricting to some articles: rank everything, then keep theirs.
        fetch = len(snap.ids) if article_ids else min(k, len(snap.ids))
        docs, scores = bm25.retrieve(tokens, k=fetch, show_progress=False)  # type: ignore[attr-defined]
        wanted = set(article_ids or ())
        hits = [
            snap.ids[d]
            for d, s in zip(docs[0].tolist(), scores[0].tolist(), strict=True)
            if s > 0 and (not wanted or snap.article_ids[d] in wanted)
        ]
        return hits[:k]

    def named_sections(self, query: str, article_ids: list[str] | None = None) -> list[str]:
        """Ids of the chunks of every section whose heading `query` quotes, in article order."""
        snap = self._current()
        wanted = set(article_ids or ())
        return [
            chunk_id
            for chunk_id, owner, section in zip(snap.ids, snap.article_ids, snap.sections, strict=True)
            if section and (not wanted or owner in wanted) and heading_named_in(query, section)
        ]


class HybridRetriever:
    def __init__(self, store: ArticleStore):
        self.store = store
        self.lexical = LexicalIndex(store)

    def retrieve(
        self, embedding: list[float], query: str, top_k: int, article_ids: list[str] | None = None
    ) -> Retrieved:
        dense = self.store.search(embedding, CANDIDATES, article_ids)
        lexical = self.lexical.search(query, CANDIDATES, article_ids)
        by_sentence = self.store.search_sentences(embedding, SENTENCE_CANDIDATES, article_ids)[:CANDIDATES]
        named = self.lexical.named_sections(query, article_ids)
        fused: dict[str, float] = defaultdict(float)
        for ranking in ([c.id for c in dense], lexical, by_sentence, named[:CANDIDATES]):
            for rank, chunk_id in enumerate(ranking):
                fused[chunk_id] += 1.0 / (RRF_K + rank + 1)
        best = sorted(fused, key=lambda chunk_id: -fused[chunk_id])[: top_k + SPARE_RANKS]
        by_id = {c.id: c for c in dense}
        by_id.update({c.id: c for c in self.store.chunks_by_id([i for i in best if i not in by_id], embedding)})
        chunks = [by_id[i] for i in best if i in by_id][:top_k]
        return Retrieved(chunks, {c.id for c in chunks} & set(named))
