"""ArticleStore against a real embedded Chroma, with small hand-made unit vectors (no embedding model):
version filtering, cosine scores, the seeded marker, deletion."""

from __future__ import annotations

import numpy as np
import pytest
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

from index.store import ArticleHead, ArticleRecord, ArticleStore, SentenceRecord, chroma_client, chunk_id, sentence_id


def unit(*xs: float) -> list[float]:
    v = np.asarray(xs, dtype=np.float64)
    return (v / np.linalg.norm(v)).tolist()


def write(store: ArticleStore, article_id: str, version: str, chunks: list[tuple[str, list[float]]], *,
          commit: bool = True, title: str | None = None, ranged: bool = True) -> list[str]:
    """Write one version of an article: a chunk per (text, vector), each with one sentence (the chunk's
    text, with the same vector), as the ingestion service does. Returns the chunk ids. `ranged=False`:
    as written before chunks held their sentences' range (a store an upgrade finds)."""
    nodes, sentences, offset = [], [], 0
    for i, (text, vector) in enumerate(chunks):
        owner = chunk_id(article_id, version, i)
        start, end = offset, offset + len(text)
        offset = end + 2
        meta = {"article_id": article_id, "version": version, "section": f"S{i}", "part": 0, "start": start, "end": end}
        if ranged:
            meta |= {"first_sentence": i, "sentence_count": 1}
        nodes.append(TextNode(id_=owner, text=text, embedding=vector, metadata=meta))
        sentences.append(SentenceRecord(sentence_id(owner, i), owner, article_id, version, start, end, text, vector))
    store.add_version(nodes, sentences)
    if commit:
        full_text = "\n\n".join(text for text, _ in chunks)
        store.commit(ArticleRecord(article_id, title or article_id.title(), full_text, "text", version,
                                   "2026-01-01T00:00:00+00:00", [], len(chunks), source="test"))
    return [n.node_id for n in nodes]


def sentences_of(store: ArticleStore, article_id: str, version: str) -> list[str]:
    """The chunk ids of the sentences the store reads for one version's chunks (StoredChunks, as
    searches pass them)."""
    return [s.chunk_id for s in store.sentences_of(store.chunk_texts({article_id: version}))]


def chunk_ids_of(store: ArticleStore, article_id: str) -> list[str]:
    filters = MetadataFilters(filters=[MetadataFilter(key="article_id", value=article_id)])
    return sorted(n.node_id for n in store.chunk_vectors.get_nodes(None, filters=filters))  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path) -> ArticleStore:
    return ArticleStore(chroma_client(str(tmp_path)), "test")


Q = unit(1, 0, 0, 0)


@pytest.mark.parametrize("ranged", [True, False], ids=["ranged", "written-before-ranges"])
@pytest.mark.parametrize("ranked_here", [500, 0], ids=["ranked-here", "ranked-by-chroma"])
def test_a_superseded_version_is_never_returned(store, monkeypatch, ranged, ranked_here):
    """Whether a search within some articles ranks their vectors itself or leaves it to Chroma, and
    whether chunks name their sentences or not (an older store), the same chunks come back."""
    monkeypatch.setattr("index.store._RANKED_HERE", ranked_here)
    old = write(store, "ferry", "v1", [("Ferry leaves at 22:15.", unit(1, 0.1, 0, 0)), ("Pier 4.", unit(1, 0, 0.2, 0))],
                ranged=ranged)
    new = write(store, "ferry", "v2", [("Ferry leaves at 23:40.", unit(1, 0.1, 0, 0.1)), ("Pier 9.", unit(0, 1, 0, 0))],
                ranged=ranged)
    # Another article whose *current* version has the same name as ferry's superseded one: only the pair
    # (article, version) is current, not the version alone.
    tram = write(store, "tram", "v1", [("Tram 12 stops at the quay.", unit(1, 1, 0, 0))], ranged=ranged)
    # A written but never committed version is invisible too.
    pending = write(store, "ferry", "v3", [("Ferry cancelled.", unit(1, 0, 0, 0))], commit=False, ranged=ranged)
    current = set(new) | set(tram)

    assert store.current_versions(["ferry", "tram", "nope"]) == {"ferry": ("v2", "Ferry"), "tram": ("v1", "Tram")}
    hits = store.search(Q, 10)
    assert {h.id for h in hits} == current
    assert {h.title for h in hits} == {"Ferry", "Tram"}
    assert [h.id for h in store.search(Q, 10, ["ferry"])] == [new[0], new[1]]
    assert len(store.search(Q, 1)) == 1

    everything = [*old, *pending, "nope", *new, *tram, new[0]]
    assert [c.id for c in store.chunks_by_id(everything, Q)] == [*new, *tram]  # in the order asked, once each
    assert store.chunks_by_id([*old, "nope"], Q) == []

    ids, article_ids, sections, texts = store.current_chunk_texts()
    assert sorted(ids) == sorted(current)
    by_id = dict(zip(ids, zip(article_ids, sections, texts, strict=True), strict=True))
    assert by_id[new[0]] == ("ferry", "S0", "Ferry leaves at 23:40.")
    assert by_id[tram[0]] == ("tram", "S0", "Tram 12 stops at the quay.")

    # Sentences are found by vector regardless of version (chunks_by_id drops the stale chunk ids)…
    assert set(store.search_sentences(Q, 20)) == {*old, *new, *tram, *pending}
    assert store.search_sentences(Q, 20, ["tram"]) == tram
    assert store.search_sentences(Q, 20, ["tram"], scope=store.scope(["tram"])) == tram
    # …and read for their chunks: a chunk id names its version, so the sentences of current chunks are current.
    assert {s.chunk_id for s in store.sentences_of(store.chunks_by_id([*new, *tram], Q))} == current
    assert [s.text for s in store.sentences_of(store.chunks_by_id([new[0]], Q))] == ["Ferry leaves at 23:40."]
    assert sentences_of(store, "ferry", "v1") == old

    # The clean-up after a commit removes the version it replaced, of that article only; an uncommitted
    # one may be another process's write in progress, and stays (the sweep's, once old).
    store.drop_replaced("ferry", ArticleHead("v1", "Ferry", chunk_count=2), "v2")
    assert chunk_ids_of(store, "ferry") == sorted([*new, *pending])
    assert store._sentences.get(where={"$and": [{"article_id": "ferry"}, {"version": "v1"}]})["ids"] == []
    assert chunk_ids_of(store, "tram") == tram
    assert {c.id for c in store.search(Q, 10)} == current  # still invisible


def test_a_clean_up_leaves_other_versions_to_the_sweep(store):
    write(store, "ferry", "v1", [("Ferry leaves at 22:15.", unit(1, 0, 0, 0))])
    crashed = write(store, "ferry", "v0", [("Ferry cancelled.", unit(1, 0, 0, 0))], commit=False)
    new = write(store, "ferry", "v2", [("Ferry leaves at 23:40.", unit(1, 0, 0, 0))])
    store.drop_replaced("ferry", ArticleHead("v1", "Ferry", chunk_count=1), "v2")
    assert chunk_ids_of(store, "ferry") == sorted([*crashed, *new])  # maybe a write in progress
    assert store.sweep() == 0  # young: kept
    assert store.sweep(older_than=-5) == 1  # once old: gone, its sentences too
    assert chunk_ids_of(store, "ferry") == new
    assert sentences_of(store, "ferry", "v0") == []
    assert sentences_of(store, "ferry", "v2") == new


def test_scores_are_cosine_similarities(store):
    vectors = [unit(1, 0.2, 0.1, 0), unit(0.3, 1, 0, 0.5), unit(-1, 0.2, 0, 0.1), unit(0.5, 0.5, 0.5, 0.5)]
    ids = write(store, "a", "v1", [(f"Chunk {i}.", v) for i, v in enumerate(vectors)])
    query = unit(0.9, 0.4, -0.2, 0.1)
    expected = {chunk_id: float(np.dot(v, query)) for chunk_id, v in zip(ids, vectors, strict=True)}

    hits = store.search(query, 4)
    assert [h.id for h in hits] == sorted(expected, key=lambda i: -expected[i])
    for hit in hits:
        assert hit.score == pytest.approx(expected[hit.id], abs=1e-5)
    assert min(h.score for h in hits) < 0  # a cosine, not exp(-distance)

    by_id = store.chunks_by_id(list(reversed(ids)), query)
    assert [c.id for c in by_id] == list(reversed(ids))
    for chunk in by_id:
        assert chunk.score == pytest.approx(expected[chunk.id], abs=1e-5)
    # Dense hits and chunks read by id carry the same score for the same chunk.
    assert {h.id: h.score for h in hits} == pytest.approx({c.id: c.score for c in by_id}, abs=1e-6)

    sentence = store.sentences_of(store.chunks_by_id([ids[1]], query))[0]
    assert np.allclose(sentence.embedding, vectors[1], atol=1e-6)


def test_the_sample_seeded_marker_round_trips(tmp_path):
    store = ArticleStore(chroma_client(str(tmp_path)), "test")
    generation = store.generation()
    assert store.sample_seeded() is False
    store.mark_sample_seeded()
    assert store.sample_seeded() is True
    store.mark_sample_seeded()  # idempotent
    assert store.sample_seeded() is True
    assert store.generation() == generation  # the marker is no change of the indexed content
    # Kept in the store: another handle on it sees the marker, another prefix (another store) does not.
    assert ArticleStore(chroma_client(str(tmp_path)), "test").sample_seeded() is True
    assert ArticleStore(chroma_client(str(tmp_path)), "other").sample_seeded() is False
    assert not list(tmp_path.glob(".sample-seeded"))


def test_delete_removes_chunks_and_sentences(store):
    ferry = write(store, "ferry", "v1", [("Ferry leaves at 22:15.", unit(1, 0, 0, 0)), ("Pier 4.", unit(0, 1, 0, 0))])
    tram = write(store, "tram", "v1", [("Tram 12 stops at the quay.", unit(1, 1, 0, 0))])
    generation = store.generation()
    assert store.counts() == (2, 3)

    assert store.delete_article("ferry") is True
    assert store.generation() != generation
    assert store.get_article("ferry") is None
    assert chunk_ids_of(store, "ferry") == []
    assert store._sentences.get(where={"article_id": "ferry"})["ids"] == []
    assert store.chunks_by_id(ferry, Q) == []
    assert [h.id for h in store.search(Q, 10)] == tram
    assert store.search_sentences(Q, 10) == tram
    assert store.counts() == (1, 1)
    assert store.delete_article("ferry") is False
    assert [r.id for r in store.list_articles()] == ["tram"]


def test_registry_round_trip(store):
    assert store.get_article("a") is None and store.list_articles() == [] and store.counts() == (0, 0)
    assert store.current_chunk_texts() == ([], [], [], [])
    write(store, "b", "v1", [("Bees.", unit(0, 0, 1, 0))], title="bees")
    write(store, "a", "v7", [("Ants.", unit(0, 0, 0, 1)), ("More ants.", unit(0, 0, 1, 1))], title="Ants")
    record = store.get_article("a")
    assert record == ArticleRecord("a", "Ants", "Ants.\n\nMore ants.", "text", "v7", "2026-01-01T00:00:00+00:00",
                                   [], 2, source="test")
    assert [r.id for r in store.list_articles()] == ["a", "b"]  # by title, case aside
    assert store.list_articles()[0].text == ""  # the listing leaves the texts out
    assert store.counts() == (2, 3)


def test_whole_store_reads_go_in_groups_and_pages(store, monkeypatch):
    """A Chroma read of more than ~32,000 records fails (SQLite's limit on a statement's variables):
    the lexical index's first build failed at ~1,500 articles. Reads of every chunk go some articles
    at a time, each in pages, and reads of the whole registry in pages; made small here, they must
    still return every current chunk and every article once."""
    monkeypatch.setattr("index.store._ARTICLES_A_READ", 2)
    monkeypatch.setattr("index.store._RECORDS_A_READ", 3)
    expected = []
    for n in range(5):
        expected += write(store, f"a{n}", "v2", [(f"Article {n} part {k}.", unit(1, n, k, 0)) for k in range(n + 2)])
    write(store, "a0", "v1", [("Old.", unit(1, 0, 0, 0))], commit=False)  # not current: left out
    ids, article_ids, _, texts = store.current_chunk_texts()
    assert ids == expected  # each once, in article then chunk order
    assert article_ids[:2] == ["a0", "a0"] and texts[-1] == "Article 4 part 5."
    everyone = [f"a{n}" for n in range(5)]  # the registry's whole reads too
    assert sorted(r.id for r in store.list_articles()) == everyone
    assert store.article_versions() == dict.fromkeys(everyone, "v2")
    assert sorted(store.current_versions(everyone)) == everyone
