"""Hybrid retrieval: four rankings of the chunks fused by reciprocal rank fusion.

- dense: the chunk's embedding (heading path and text) against the question's, in Chroma;
- by sentence: the chunks of the sentences nearest to the question, in Chroma (a passage holding the
  answer in one sentence among unrelated ones is blurred as a whole, not in that sentence);
- lexical: BM25 (`_Bm25`, over `index.text`'s stemmed content words), where names, numbers and quoted
  words win;
- named sections: the chunks of a section whose heading the question quotes ("What does the article
  say about Location and Logistics?"); the other three rank such a question's section no higher than
  any passage that shares a word with the heading.

Measured on the SQuAD 2.0 sample (bench.eval): dense + BM25 gave hit@5 0.938 and MRR 0.821; adding
the sentence ranking, 0.956 and 0.853 (the sentence vectors are stored for extractive answers anyway).

The BM25 index lives in memory and is rebuilt whenever the store's generation changes (any commit or
delete, in this process or another sharing the store, such as another API worker: it is read at most
every GENERATION_MAX_AGE_SECONDS); every candidate is checked against the current article versions
before it is returned, so a stale index can miss a new chunk for a moment, and never returns a deleted
or replaced one.

Each article's counted terms are also kept in a file beside the store (`_TermsFile`), so that a start
reads and tokenises only the articles written since: the first build reads every chunk's text out of
Chroma and tokenises it (~85 s at 8,000 articles, bench.scale), which the first questions after a
restart would wait for.

Filters by publication (date, source: `SearchFilters`) apply to every ranking: in Chroma for the dense
and sentence searches (the fields are on each chunk and sentence), and in the BM25 index from the
same fields read with the chunks, so a passage the filters exclude never enters the fusion.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import Counter, defaultdict
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from index.store import GENERATION_MAX_AGE_SECONDS, ArticleStore, FilterFields, ScoredChunk, SearchFilters, StoredChunk
from index.text import BM25_STOPWORDS, fold, innermost_heading, lexical_terms

log = logging.getLogger("articlechat")

RRF_K = 60  # the usual constant: damps the weight of the very first ranks
CANDIDATES = 20  # from each ranking, before fusion
# Sentences, not chunks: several of the nearest sentences often share a chunk, so fetch more of them
# to fill CANDIDATES distinct chunks.
SENTENCE_CANDIDATES = 60
# Fused ranks kept beyond top_k: a hit may belong to a superseded version (the vector searches do not
# filter by version, the BM25 index may be a build behind), and is dropped when its chunk is read.
SPARE_RANKS = 4
# The sentence search runs beside the chunk search (Chroma releases the GIL while it searches: ~4 ms
# saved a question on 2 cores); one pool for the process, shared by concurrent questions.
_SEARCHES = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sentence-search")
# The kept term counts are written again once this many articles were read from the store since they
# last were (a write is ~1 s at 10,000 articles; what is not yet written is read again at the next
# start), and when the server stops.
SAVE_AFTER_ARTICLES = 50


@dataclass
class Retrieved:
    chunks: list[ScoredChunk]  # best first
    # Ids of the chunks whose section heading the question quotes (decided here, once).
    naming_section: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _ArticleTerms:
    """One article version's chunks, tokenised once (re-read only when its version changes): each
    chunk's distinct terms (ids in the index's vocabulary) with their counts, and its length."""

    version: str
    ids: list[str]
    sections: list[str]
    term_ids: np.ndarray  # every chunk's distinct terms, chunk after chunk
    counts: np.ndarray  # how often each occurs in its chunk
    entries: np.ndarray  # per chunk: how many of term_ids are its own
    lengths: np.ndarray  # per chunk: its terms, repeats counted
    fields: FilterFields = field(default_factory=FilterFields)  # what filters test (one per article version)


@dataclass(frozen=True)
class _Bm25:
    """Every chunk's BM25 weight for each of its terms, by term (the postings of term t are
    [indptr[t], indptr[t + 1])): a question's scores are the sums of its terms' postings.

    Written here rather than with bm25s (which this replaced, with the same Lucene formula): bm25s
    builds from token lists with loops in Python, so every write re-indexed every chunk's words (12.3 s
    at 8,085 articles, bench.scale), while this computes the weights from the counted terms each
    article keeps, in numpy (2.0 s for 8,016 articles' 177,456 chunks)."""

    indptr: np.ndarray
    docs: np.ndarray
    weights: np.ndarray
    count: int  # chunks

    def scores(self, term_ids: list[int]) -> np.ndarray:
        scores = np.zeros(self.count, dtype=np.float32)
        for t in term_ids:  # a term repeated in the question counts again, as in bm25s
            if t + 1 < len(self.indptr):
                start, end = self.indptr[t], self.indptr[t + 1]
                scores[self.docs[start:end]] += self.weights[start:end]  # a chunk is once in a term's postings
        return scores


@dataclass(frozen=True)
class _LexicalSnapshot:
    """One consistent build: readers take the whole snapshot, never ids of one build with the
    matrix of another."""

    generation: str | None = None
    articles: dict[str, _ArticleTerms] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)
    article_ids: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    fields: dict[str, FilterFields] = field(default_factory=dict)  # article id -> its filter fields
    bm25: _Bm25 | None = None
    # Folded innermost heading (" location and logistics ") -> indices of its chunks, in order: a
    # question is matched against its own word runs, not against every chunk (200,000 at 10,000 articles).
    headings: dict[str, list[int]] = field(default_factory=dict)
    longest_heading: int = 0  # in words


class LexicalIndex:
    """BM25 over the chunks of the current article versions, kept in step with the store.

    After a change only the articles whose version changed are read and tokenised again; the BM25
    weights are then recomputed from every article's kept term counts (`_bm25`). A
    write in this process rebuilds it at once (the store calls `refresh`); a write by another process
    shows in the store's generation (read at most every GENERATION_MAX_AGE_SECONDS), and the first
    search that sees it rebuilds it while concurrent searches go on with the previous snapshot rather
    than wait (measured: without this, each write made every waiting search pay for a full rebuild;
    see bench/load.py)."""

    def __init__(self, store: ArticleStore):
        self._store = store
        self._lock = threading.Lock()
        self._snapshot = _LexicalSnapshot()
        # Term -> id, for every term ever indexed (only added to, under the lock; a snapshot's matrix
        # knows the ids below its size).
        self._vocabulary: dict[str, int] = {}
        path = store.derived_path("bm25-terms.npz")
        self._file = _TermsFile(path) if path is not None else None
        self._unsaved = 0  # articles read from the store since the file was written (or read)
        self._save_started = False  # a background write is on its way (one at a time, not one per write)
        self._saving = threading.Lock()
        store.subscribe(self.refresh)

    def refresh(self) -> None:
        """Bring the index up to the store's current generation (waits for a rebuild in progress)."""
        with self._lock:
            self._rebuild()

    def _current(self) -> _LexicalSnapshot:
        snapshot = self._snapshot
        generation = self._store.generation(GENERATION_MAX_AGE_SECONDS)
        if snapshot.generation is not None and generation == snapshot.generation:
            return snapshot
        # The first build is waited for; later ones are left to whoever started them.
        if self._lock.acquire(blocking=snapshot.generation is None):
            try:
                self._rebuild()
            finally:
                self._lock.release()
        return self._snapshot

    def _rebuild(self) -> None:
        generation = self._store.generation()
        if generation == self._snapshot.generation:
            return
        versions = self._store.article_versions()
        kept = self._snapshot.articles
        if self._snapshot.generation is None and not self._vocabulary and self._file is not None:
            kept, self._vocabulary = self._file.read()  # the vocabulary is empty before any build
        articles = {a: t for a, t in kept.items() if versions.get(a) == t.version}
        changed = {a: v for a, v in versions.items() if a not in articles}
        read: dict[str, list[StoredChunk]] = defaultdict(list)
        for chunk in self._store.chunk_texts(changed):
            read[chunk.article_id].append(chunk)
        for article_id, chunks in read.items():
            articles[article_id] = self._counted(changed[article_id], chunks)
        ids, owners, sections = [], [], []
        for article_id in sorted(articles):
            a = articles[article_id]
            ids += a.ids
            owners += [article_id] * len(a.ids)
            sections += a.sections
        headings: dict[str, list[int]] = defaultdict(list)
        for index, section in enumerate(sections):
            if section and (heading := fold(innermost_heading(section))).strip():
                headings[heading].append(index)
        longest = max((len(h.split()) for h in headings), default=0)
        bm25 = _bm25([articles[a] for a in sorted(articles)], len(self._vocabulary))
        self._snapshot = _LexicalSnapshot(
            generation, articles, ids, owners, sections, {a: t.fields for a, t in articles.items()}, bm25,
            dict(headings), longest
        )
        self._unsaved += len(read)
        if self._unsaved >= SAVE_AFTER_ARTICLES and not self._save_started:
            try:  # not a daemon: a process that ends meanwhile (`articlechat ask`) finishes the write first
                threading.Thread(target=self.save, name="bm25-save").start()
                self._save_started = True
            except RuntimeError:  # the interpreter is exiting: the next start reads these articles again
                pass

    def save(self, wait: bool = True) -> None:
        """Write the current snapshot's term counts to the store's file, if articles were read since
        the last write (called after builds that read many, and when the server stops). `wait=False`:
        not while a build is running (a server stopped during its first build stops at once)."""
        if self._file is None:
            return
        with self._saving:  # one write at a time; a second one waits, then writes what is newer
            if not self._lock.acquire(blocking=wait):
                return
            try:
                snapshot, terms, unsaved = self._snapshot, list(self._vocabulary), self._unsaved
                self._unsaved, self._save_started = 0, False
            finally:
                self._lock.release()
            if unsaved and snapshot.generation is not None:
                try:
                    self._file.write(snapshot.articles, terms)
                except OSError as exc:  # a read-only or full disk: the next start rebuilds, nothing else
                    log.warning("could not keep the BM25 term counts in %s: %s", self._file.path, exc)

    def _counted(self, version: str, chunks: list[StoredChunk]) -> _ArticleTerms:
        term_ids: list[int] = []
        counts: list[int] = []
        entries, lengths = [], []
        for chunk in chunks:
            counted = Counter(lexical_terms(chunk.text))
            term_ids += [self._vocabulary.setdefault(t, len(self._vocabulary)) for t in counted]
            counts += counted.values()
            entries.append(len(counted))
            lengths.append(counted.total())
        return _ArticleTerms(version, [c.id for c in chunks], [c.section for c in chunks],
                             np.asarray(term_ids, dtype=np.int32), np.asarray(counts, dtype=np.float32),
                             np.asarray(entries, dtype=np.int64), np.asarray(lengths, dtype=np.float32),
                             chunks[0].filter_fields)

    def lookup(
        self, query: str, k: int, article_ids: list[str] | None = None, filters: SearchFilters | None = None
    ) -> tuple[list[str], list[str]]:
        """(`search`, `named_sections`) from one snapshot."""
        snap = self._current()
        return (self._search(snap, query, k, article_ids, filters),
                self._named_sections(snap, query, article_ids, filters))

    def search(
        self, query: str, k: int, article_ids: list[str] | None = None, filters: SearchFilters | None = None
    ) -> list[str]:
        """Ids of up to `k` chunks sharing words with `query`, best first."""
        return self._search(self._current(), query, k, article_ids, filters)

    def named_sections(
        self, query: str, article_ids: list[str] | None = None, filters: SearchFilters | None = None
    ) -> list[str]:
        """Ids of the chunks of every section whose heading `query` quotes, in article order."""
        return self._named_sections(self._current(), query, article_ids, filters)

    @staticmethod
    def _allowed(
        snap: _LexicalSnapshot, article_ids: list[str] | None, filters: SearchFilters | None
    ) -> set[str] | None:
        """The articles a search may return, or None for all of them."""
        if not article_ids and not filters:
            return None
        allowed = set(article_ids) if article_ids else set(snap.fields)
        if filters:
            allowed = {a for a in allowed if a in snap.fields and filters.accepts(snap.fields[a])}
        return allowed

    def _search(self, snap: _LexicalSnapshot, query: str, k: int, article_ids: list[str] | None,
                filters: SearchFilters | None = None) -> list[str]:
        if snap.bm25 is None or k <= 0:
            return []
        scores = snap.bm25.scores([i for t in lexical_terms(query) if (i := self._vocabulary.get(t)) is not None])
        if (allowed := self._allowed(snap, article_ids, filters)) is not None:
            scores[[a not in allowed for a in snap.article_ids]] = 0
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.lexsort((top, -scores[top]))]  # best first; of equal scores, the earlier chunk
        return [snap.ids[d] for d in top.tolist() if scores[d] > 0]

    @classmethod
    def _named_sections(cls, snap: _LexicalSnapshot, query: str, article_ids: list[str] | None,
                        filters: SearchFilters | None = None) -> list[str]:
        # `heading_named_in` for every heading at once: a quoted heading is one of the query's runs of
        # whole folded words.
        folded = fold(query).split()
        runs = {
            " " + " ".join(folded[i:j]) + " "
            for i in range(len(folded))
            for j in range(i + 1, min(len(folded), i + snap.longest_heading) + 1)
        }
        found = sorted(i for run in runs for i in snap.headings.get(run, ()))
        allowed = cls._allowed(snap, article_ids, filters)
        return [snap.ids[i] for i in found if allowed is None or snap.article_ids[i] in allowed]


class _TermsFile:
    """Every article version's counted terms (`_ArticleTerms`) and the vocabulary their ids index, in one
    NumPy .npz file (arrays only, no pickle; the strings are JSON). Written whole to a temporary file
    and renamed over the old one, so a reader (another process, a start after a crash) finds the
    previous file or the new one, never half of one. Whatever it holds is used only for articles whose
    current version it has, so an old file costs reads, never a wrong result; a file written by other
    tokenising rules (`_fingerprint`), or one that cannot be read, is ignored."""

    FORMAT = 1  # bump when what is written changes
    ARRAYS = ("term_ids", "counts", "entries", "lengths")

    def __init__(self, path: Path):
        self.path = path

    def write(self, articles: Mapping[str, _ArticleTerms], terms: list[str]) -> None:
        order = sorted(articles)
        term_ids, counts, entries, lengths = (
            np.concatenate([getattr(articles[a], name) for a in order]) if order else np.zeros(0)
            for name in self.ARRAYS)
        # Only the terms still used, renumbered: those of deleted or replaced versions are not carried
        # from start to start.
        used = np.unique(term_ids).astype(np.int64)
        term_ids = np.searchsorted(used, term_ids).astype(np.int32)
        head = {"fingerprint": _fingerprint(), "vocabulary": [terms[t] for t in used.tolist()], "articles": [
            [a, t.version, t.ids, t.sections, [t.fields.published_ts, t.fields.source_key, t.fields.host]]
            for a in order for t in [articles[a]]]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            with open(partial, "wb") as f:
                np.savez(f, head=np.frombuffer(json.dumps(head).encode(), dtype=np.uint8), term_ids=term_ids,
                         counts=counts, entries=entries, lengths=lengths)
            os.replace(partial, self.path)
        finally:
            partial.unlink(missing_ok=True)

    def read(self) -> tuple[dict[str, _ArticleTerms], dict[str, int]]:
        """(article id -> its terms, the vocabulary), or nothing when there is no usable file."""
        try:
            with np.load(self.path, allow_pickle=False) as npz:
                head = json.loads(npz["head"].tobytes())
                term_ids, counts, entries, lengths = (npz[name] for name in self.ARRAYS)
            if head["fingerprint"] != _fingerprint():
                log.info("BM25 term counts in %s were counted by other rules: rebuilding them", self.path)
                return {}, {}
            vocabulary = {term: n for n, term in enumerate(head["vocabulary"])}
            return self._articles(head["articles"], term_ids, counts, entries, lengths, len(vocabulary)), vocabulary
        except FileNotFoundError:
            return {}, {}
        except Exception as exc:  # whatever is wrong with it, the store has everything: build from that
            log.warning("ignoring the BM25 term counts in %s (%s): rebuilding them", self.path, exc)
            return {}, {}

    @staticmethod
    def _articles(listed: list, term_ids: np.ndarray, counts: np.ndarray, entries: np.ndarray,
                  lengths: np.ndarray, vocabulary_size: int) -> dict[str, _ArticleTerms]:
        chunk_at = np.concatenate([[0], np.cumsum([len(a[2]) for a in listed])]).astype(np.int64)
        entry_at = np.concatenate([[0], np.cumsum(entries)]).astype(np.int64)  # by chunk
        if not len(entries) == len(lengths) == chunk_at[-1] or not len(term_ids) == len(counts) == entry_at[-1] or (
                len(term_ids) and not 0 <= term_ids.min() <= term_ids.max() < vocabulary_size):
            raise ValueError("its arrays do not match its articles")
        articles = {}
        for k, (article_id, version, ids, sections, (ts, source, host)) in enumerate(listed):
            chunks = slice(chunk_at[k], chunk_at[k + 1])
            own = slice(entry_at[chunk_at[k]], entry_at[chunk_at[k + 1]])
            articles[article_id] = _ArticleTerms(version, ids, sections, term_ids[own], counts[own], entries[chunks],
                                                 lengths[chunks], FilterFields(ts, source, host))
        return articles


def _fingerprint() -> str:
    """Changes with the rules that count terms (`lexical_terms`, its stop words and stemmer), so a file
    they counted differently is not used."""
    probe = ("Zelenskyy's officials confirmed the Kyiv-Odesa swaps: 1,000 prisoners, U.S. observers "
             "and downed drones; the talks were running, the relations strained.")
    rules = [_TermsFile.FORMAT, lexical_terms(probe), sorted(BM25_STOPWORDS)]
    return hashlib.sha256(json.dumps(rules).encode()).hexdigest()[:16]


# BM25's usual constants (Lucene's, and bm25s's defaults).
BM25_K1 = 1.5
BM25_B = 0.75


def _bm25(articles: list[_ArticleTerms], vocabulary_size: int) -> _Bm25 | None:
    """The weights of every chunk of `articles` (in this order), by term. Lucene's BM25: idf =
    ln(1 + (N - df + 0.5) / (df + 0.5)), weight = idf · tf / (tf + k1 (1 - b + b · length / mean)), as bm25s."""
    if not articles or not (count := sum(len(a.ids) for a in articles)):
        return None
    term_ids = np.concatenate([a.term_ids for a in articles])
    tf = np.concatenate([a.counts for a in articles])
    lengths = np.concatenate([a.lengths for a in articles])
    doc_of_entry = np.repeat(np.arange(count, dtype=np.int32), np.concatenate([a.entries for a in articles]))
    df = np.bincount(term_ids, minlength=vocabulary_size)
    idf = np.log1p((count - df + 0.5) / (df + 0.5)).astype(np.float32)
    norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths / max(float(lengths.mean()), 1e-9))
    weights = idf[term_ids] * tf / (tf + norm[doc_of_entry])
    by_term = np.argsort(term_ids, kind="stable")  # the postings of each term, in chunk order
    indptr = np.concatenate([[0], np.cumsum(df)])
    return _Bm25(indptr, doc_of_entry[by_term], weights[by_term].astype(np.float32), count)


class HybridRetriever:
    def __init__(self, store: ArticleStore):
        self.store = store
        self.lexical = LexicalIndex(store)

    def retrieve(
        self, embedding: list[float], query: str, top_k: int, article_ids: list[str] | None = None,
        filters: SearchFilters | None = None,
    ) -> Retrieved:
        scope = self.store.scope(article_ids, filters)
        sentence_search = _SEARCHES.submit(self.store.search_sentences, embedding, SENTENCE_CANDIDATES, article_ids,
                                           filters, scope)
        dense = self.store.nearest_chunks(embedding, CANDIDATES, article_ids, filters, scope)
        lexical, named = self.lexical.lookup(query, CANDIDATES, article_ids, filters)
        by_sentence = sentence_search.result()[:CANDIDATES]
        fused: dict[str, float] = defaultdict(float)
        for ranking in (dense, lexical, by_sentence, named[:CANDIDATES]):
            for rank, chunk_id in enumerate(ranking):
                fused[chunk_id] += 1.0 / (RRF_K + rank + 1)
        best = sorted(fused, key=lambda chunk_id: -fused[chunk_id])[: top_k + SPARE_RANKS]
        # One read for the chunks kept, whichever ranking found them; it drops superseded versions.
        chunks = self.store.chunks_by_id(best, embedding)[:top_k]
        return Retrieved(chunks, {c.id for c in chunks} & set(named))
