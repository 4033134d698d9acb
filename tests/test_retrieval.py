"""Hybrid retrieval: BM25 finds exact names and codes the embedding model blurs, and its in-memory
index follows every add, update and delete, also those made through another handle on the store."""

from __future__ import annotations

import pytest

from tests.conftest import SAMPLE, eventually

PARAGRAPHS = [
    "The harbour authority published its annual report on shipping volumes.",
    "Container traffic grew steadily through the spring and the summer months.",
    "Inspectors flagged vessel KR-5531 for a faulty ballast pump during the audit.",
    "Cruise arrivals fell slightly compared with the previous season.",
]


def test_bm25_finds_an_exact_code(make_container):
    c = make_container(seed_sample=False)
    c.ingestion.ingest_text("Harbour report\n\n" + "\n\n".join(PARAGRAPHS) + "\n", article_id="harbour")
    answer = c.answers.ask("What happened to KR-5531?")
    assert answer.answered
    assert answer.citations[0].text == PARAGRAPHS[2]
    lexical = c.answers.search.retriever.lexical.search("KR-5531", 3)
    assert lexical and lexical[0].endswith("::2")


def test_lexical_index_follows_changes_made_elsewhere(make_container, tmp_path):
    reader = make_container(data_dir=tmp_path)
    writer = make_container(data_dir=tmp_path)  # another handle on the same store
    lexical = reader.answers.search.retriever.lexical
    assert lexical.search("ballast pump KR-5531", 5) == []

    # The reader reads the store's generation at most every GENERATION_MAX_AGE_SECONDS: within a second.
    writer.ingestion.ingest_text("Harbour report\n\n" + "\n\n".join(PARAGRAPHS) + "\n", article_id="harbour")
    eventually(lambda: len(lexical.search("ballast pump KR-5531", 5)) == 1)

    changed = [p.replace("KR-5531", "TX-0042") for p in PARAGRAPHS]
    writer.ingestion.ingest_text("Harbour report\n\n" + "\n\n".join(changed) + "\n", article_id="harbour")
    eventually(lambda: lexical.search("KR-5531", 5) == [])
    assert len(lexical.search("TX-0042", 5)) == 1

    writer.ingestion.delete("harbour")
    eventually(lambda: lexical.search("TX-0042", 5) == [])


def test_sentence_ranking_finds_an_answer_buried_in_a_long_passage(make_container):
    """One long section of unrelated sentences holds the answer in a single sentence; a short section
    is about the question's topic in general. The sentence ranking surfaces the buried one, only from
    the articles searched, and never from a version that was replaced."""
    c = make_container(seed_sample=False)
    filler = " ".join(f"The committee reviewed budget line {n} for the municipal parks department." for n in range(12))
    buried = "The new lighthouse on Gull Point was switched on by the mayor at dusk on Saturday."
    article = ("Town notes\n\nParks budget\n\n" + filler + " " + buried + " " + filler + "\n\n"
               "Coastal safety\n\nBoats should carry flares and keep a radio tuned to the coastguard channel.\n")
    c.ingestion.ingest_text(article, article_id="town")
    c.ingestion.ingest_text("Weather\n\nThe lighthouse keeper's cottage was repainted.\n", article_id="other")
    store = c.store

    query = c.embedder.embed_query("Who switched on the lighthouse on Gull Point?")
    ids = store.search_sentences(query, 5, ["town"])
    assert ids and all(i.startswith("town::") for i in ids)
    buried_chunk = next(p for p in store.chunks_by_id(ids, query) if buried in p.text)
    assert ids[0] == buried_chunk.id

    answer = c.answers.ask("Who switched on the lighthouse on Gull Point?", article_ids=["town"])
    assert answer.answered and buried in answer.answer

    c.ingestion.ingest_text(article.replace("the mayor", "the harbour master"), article_id="town")
    found = c.answers.search.retriever.retrieve(query, "lighthouse", 5, ["town"])
    assert all("the mayor" not in p.text for p in found.chunks)
    assert "harbour master" in c.answers.ask("Who switched on the lighthouse on Gull Point?").answer


FESTIVAL = """# Harbour festival

The harbour festival returned this weekend after a two-year pause.

## Programme

### Boat Parade

Forty decorated boats sailed past the pier on Saturday evening. The parade was led by the lifeboat crew.

### Food Stalls

Local fishmongers sold grilled mackerel from twelve stalls. Queues stretched along the quay by noon.

## Visitors

Organisers counted 8,500 visitors over the two days. Most came from within twenty miles.
"""


def test_a_question_naming_a_section_is_answered_by_that_section(make_container):
    """"What does the article say about <heading>?" (the UI's suggested questions ask this) gets the
    opening of that section, cited; a factual question that merely shares a heading's word does not."""
    c = make_container(seed_sample=False)
    c.ingestion.ingest_text(FESTIVAL, "markdown", article_id="festival")
    for question in ("What does the article say about “Food Stalls”?", "Tell me about the boat parade",
                     "What does “Harbour festival” say about “Food Stalls”?"):
        answer = c.answers.ask(question)
        heading = "Food Stalls" if "Food" in question else "Boat Parade"
        assert answer.answered and answer.citations[0].section == f"Programme > {heading}"
        opening = answer.citations[0].text.split(". ")[0]
        assert answer.answer.startswith(opening)

    answer = c.answers.ask("Where did most visitors come from?")
    assert answer.answered and answer.answer.startswith("Most came from within twenty miles.")


def test_quoted_headings_are_found_as_a_scan_of_every_chunk_would_find_them(make_container):
    """The heading lookup (the question's word runs against a table of headings) matches
    `heading_named_in` over every chunk, which it replaced because that scan grows with the corpus."""
    from index.retrieval import LexicalIndex
    from index.text import heading_named_in

    c = make_container()
    c.ingestion.ingest_bytes(SAMPLE.read_bytes(), SAMPLE.name)
    c.ingestion.ingest_text(FESTIVAL, "markdown", article_id="festival")
    lexical = LexicalIndex(c.store)
    snap = lexical._current()
    for query in ["What does the article say about Location and Logistics?", "Tell me about location and logistics",
                  "What about the fragile gesture in a protracted conflict?", "Anything on the Programme?",
                  "programme programme", "Location", "What is new?", ""]:
        scan = [i for i, s in zip(snap.ids, snap.sections, strict=True) if s and heading_named_in(query, s)]
        assert lexical.named_sections(query) == scan, query
        assert lexical.named_sections(query, ["festival"]) == [i for i in scan if i.startswith("festival")]


def test_every_ranking_applies_the_publication_filters(make_container):
    """Date and source filters run in Chroma for the dense and sentence rankings and in the BM25 index for
    the lexical one (and for named sections): a passage they exclude enters no ranking."""
    from index.ingest import ArticleInput
    from index.metadata import ArticleMeta, source_key, timestamp
    from index.store import SearchFilters

    c = make_container(seed_sample=False)
    articles = (("old", "Harbour Gazette", "2024-05-01"), ("new", "Coastal Times", "2025-05-01"), ("undated", "", ""))
    for article_id, source, published in articles:
        text = f"Pump report\n\nBallast pump KR-5531 failed at pier {article_id}.\n\nSafety\n\nThe crew was safe.\n"
        meta = ArticleMeta(source=source, published=published)
        c.ingestion.ingest_one(ArticleInput(text, article_id=article_id, meta=meta))
    lexical = c.answers.search.retriever.lexical
    owners = lambda ids: {i.split("::")[0] for i in ids}  # noqa: E731
    recent = SearchFilters(published_after=timestamp("2025-01-01"))
    gazette = SearchFilters(sources=(source_key("harbour gazette"),))
    assert owners(lexical.search("KR-5531", 10)) == {"old", "new", "undated"}
    assert owners(lexical.search("KR-5531", 10, filters=recent)) == {"new"}
    assert owners(lexical.search("KR-5531", 10, filters=gazette)) == {"old"}
    assert owners(lexical.named_sections("What about Safety?", filters=recent)) == {"new"}
    vector = c.embedder.embed_query("ballast pump failure")
    assert {ch.article_id for ch in c.store.search(vector, 10, filters=recent)} == {"new"}
    assert owners(c.store.search_sentences(vector, 10, filters=gazette)) == {"old"}
    assert owners(c.store.search_sentences(vector, 10, ["old", "undated"], filters=recent)) == set()


def test_bm25_weights_are_lucenes_formula_over_the_kept_term_counts(make_container):
    """The index's scores equal Lucene's BM25 computed directly from each chunk's words (as bm25s,
    which it replaced, computed them), and change as the corpus does: a word in fewer chunks weighs
    more, a longer chunk less."""
    import math
    from collections import Counter

    from index.retrieval import BM25_B, BM25_K1, LexicalIndex
    from index.text import lexical_terms

    c = make_container(seed_sample=False)
    texts = {"pumps": "The ballast pump failed. The spare pump failed too.",
             "audit": "Inspectors audited the ballast tanks and the pump room of the vessel during a long audit.",
             "tides": "Spring tides flooded the quay twice."}
    for article_id, text in texts.items():
        c.ingestion.ingest_text(text, article_id=article_id)
    lexical = LexicalIndex(c.store)
    snap = lexical._current()
    words = {chunk_id: Counter(lexical_terms(text)) for chunk_id, text in zip(
        snap.ids, (texts[a] for a in snap.article_ids), strict=True)}
    mean = sum(w.total() for w in words.values()) / len(words)

    def lucene(query: str, chunk_id: str) -> float:
        score = 0.0
        for term in lexical_terms(query):
            df = sum(term in w for w in words.values())
            tf = words[chunk_id][term]
            if df and tf:
                idf = math.log(1 + (len(words) - df + 0.5) / (df + 0.5))
                score += idf * tf / (tf + BM25_K1 * (1 - BM25_B + BM25_B * words[chunk_id].total() / mean))
        return score

    assert snap.bm25 is not None
    for query in ("ballast pump", "pump failed", "spring tides quay", "audit audit vessel", "unknown words"):
        ids = [lexical._vocabulary[t] for t in lexical_terms(query) if t in lexical._vocabulary]
        scores = snap.bm25.scores(ids)
        for n, chunk_id in enumerate(snap.ids):
            assert scores[n] == pytest.approx(lucene(query, chunk_id), rel=1e-5), (query, chunk_id)
    ranked = lexical.search("ballast pump", 3)
    assert [snap.article_ids[snap.ids.index(i)] for i in ranked] == ["pumps", "audit"]  # twice, in a shorter text
    assert lexical.search("unknown words", 3) == []


def test_a_starting_server_builds_the_bm25_index_before_any_question(make_container, start_server):
    """The first question after a start must not pay for the lexical index (tens of seconds on a large
    store): the server builds it as it starts, and keeps its term counts for the next start when it
    stops."""
    c = make_container(seed_sample=False)
    c.ingestion.ingest_text(PARAGRAPHS[2], article_id="audit")
    lexical = c.answers.search.retriever.lexical
    assert lexical._snapshot.bm25 is None  # nothing has searched yet
    kept = c.store.derived_path("bm25-terms.npz")
    server = start_server(c)
    with server.client() as api:
        assert api.get("/healthz").status_code == 200
        eventually(lambda: lexical._snapshot.bm25 is not None, within=10)
        assert lexical.search("KR-5531", 3)
    assert kept is not None and not kept.exists()  # one article read: not worth a write yet
    server.stop()
    assert kept.is_file()


def test_a_restart_reads_only_the_articles_written_since_the_bm25_terms_were_kept(make_container, tmp_path, caplog):
    """A server keeps the BM25 index's term counts beside the store when it stops, so the next start
    reads and tokenises only what changed since (at 8,000 articles the full build took 85 s, which the
    first questions waited for). The kept file never gives a wrong result: a changed article is read
    again, a deleted one is gone, and a damaged file is ignored (the index is built from the store)."""
    from index.retrieval import LexicalIndex

    first = make_container(data_dir=tmp_path, seed_sample=False)
    first.ingestion.ingest_text("Harbour report\n\n" + "\n\n".join(PARAGRAPHS) + "\n", article_id="harbour")
    first.ingestion.ingest_text("Tides\n\nSpring tides flooded the quay twice.\n", article_id="tides")
    first.ingestion.ingest_text("Ferries\n\nThe night ferry to Kiel was cancelled.\n", article_id="ferries")
    first.answers.warm_up()
    first.answers.shut_down()  # as the server does when it stops
    kept = first.store.derived_path("bm25-terms.npz")
    assert kept is not None and kept.is_file()

    # Meanwhile (another process, or this one before its stop): one article changed, one deleted.
    changed = [p.replace("KR-5531", "TX-0042") for p in PARAGRAPHS]
    first.ingestion.ingest_text("Harbour report\n\n" + "\n\n".join(changed) + "\n", article_id="harbour")
    first.ingestion.delete("ferries")

    restarted = make_container(data_dir=tmp_path, seed_sample=False)
    read: list[set[str]] = []
    chunk_texts = restarted.store.chunk_texts
    restarted.store.chunk_texts = lambda versions: read.append(set(versions)) or chunk_texts(versions)  # type: ignore[method-assign]
    lexical = LexicalIndex(restarted.store)
    assert len(lexical.search("ballast pump TX-0042", 5)) == 1
    assert read == [{"harbour"}]  # "tides" came from the kept file
    assert lexical.search("KR-5531", 5) == [] and lexical.search("Kiel ferry", 5) == []
    fresh = LexicalIndex(make_container(data_dir=tmp_path, seed_sample=False).store)
    fresh._file = None  # built from the store alone
    for query in ("spring tides quay", "ballast pump", "TX-0042 inspectors"):
        assert lexical.search(query, 5) == fresh.search(query, 5)
    lexical.save()  # what it keeps now: no terms of the deleted article, nor of the replaced version
    assert lexical._file is not None
    _, vocabulary = lexical._file.read()
    assert "tide" in vocabulary and "0042" in vocabulary and "kiel" not in vocabulary and "5531" not in vocabulary

    kept.write_bytes(kept.read_bytes()[:200])  # cut short (a full disk, a copy gone wrong)
    damaged = LexicalIndex(make_container(data_dir=tmp_path, seed_sample=False).store)
    with caplog.at_level("WARNING", logger="articlechat"):
        assert damaged.search("spring tides quay", 5) == fresh.search("spring tides quay", 5)
    assert "ignoring the BM25 term counts" in caplog.text
