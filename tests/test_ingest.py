"""Ingestion into a real embedded Chroma with the real model: chunks, idempotence, replacement,
deletion, and atomicity when a write fails halfway."""

from __future__ import annotations

import pytest
from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters

from index.ingest import IngestionService
from index.parsing import ArticleError
from index.store import ArticleStore
from tests.conftest import SAMPLE, SAMPLE_ID

FERRY_V1 = (
    "# Harbour\n\n## Ferries\n\nThe night ferry to Oslo leaves at 22:15 from pier 4.\n\n"
    "## Trams\n\nTram 12 stops at the quay.\n"
)
FERRY_V2 = FERRY_V1.replace("22:15 from pier 4", "23:40 from pier 9")


def chunk_count(store: ArticleStore, article_id: str | None = None) -> int:
    """Chunk records in the store, of every version, of one article or all."""
    filters = MetadataFilters(filters=[MetadataFilter(key="article_id", value=article_id)]) if article_id else None
    # The ignore: ChromaVectorStore annotates `filters` as a list, but takes one MetadataFilters.
    return len(store.chunk_vectors.get_nodes(None, filters=filters))  # type: ignore[arg-type]


def sentence_count(store: ArticleStore, article_id: str | None = None) -> int:
    return len(store._sentences.get(where={"article_id": article_id} if article_id else None, include=[])["ids"])


def search_texts(container, question: str, **kw) -> list[str]:
    vector = container.embedder.embed_query(question)
    return [c.text for c in container.store.search(vector, 10, **kw)]


def test_sample_chunks_keep_sections_and_exact_offsets(make_container):
    c = make_container()
    result = c.ingestion.ingest_bytes(SAMPLE.read_bytes(), SAMPLE.name)
    assert (result.article_id, result.status) == (SAMPLE_ID, "new")
    record = c.store.get_article(SAMPLE_ID)
    chunks = c.store.search(c.embedder.embed_query("prisoner exchange"), 50)
    assert len(chunks) == result.chunks == record.chunk_count
    for chunk in chunks:
        assert record.text[chunk.start : chunk.end] == chunk.text
    sections = {chunk.section for chunk in chunks}
    assert "" in sections  # the lede
    assert "Reactions and Diplomatic Implications > Russian Official Statements" in sections
    assert not any("READ MORE" in chunk.text for chunk in chunks)


def test_reingesting_unchanged_changes_nothing(make_container):
    c = make_container()
    first = c.ingestion.ingest_bytes(SAMPLE.read_bytes(), SAMPLE.name)
    before = c.store.get_article(SAMPLE_ID)
    again = c.ingestion.ingest_bytes(SAMPLE.read_bytes(), SAMPLE.name)
    assert again.status == "unchanged" and again.chunks == first.chunks
    after = c.store.get_article(SAMPLE_ID)
    assert (after.version, after.ingested_at) == (before.version, before.ingested_at)
    assert c.store.counts() == (1, first.chunks)


def test_changed_article_replaces_all_its_chunks(make_container):
    c = make_container()
    c.ingestion.ingest_text(FERRY_V1, article_id="ferry")
    assert c.ingestion.ingest_text(FERRY_V2, article_id="ferry").status == "updated"
    texts = search_texts(c, "night ferry to Oslo pier")
    assert any("23:40" in t for t in texts)
    assert not any("22:15" in t for t in texts)
    # Nothing of the old version is left in either collection.
    assert chunk_count(c.store) == 2
    assert sentence_count(c.store) == 2


def test_delete_removes_every_chunk(make_container):
    c = make_container()
    c.ingestion.ingest_text(FERRY_V1, article_id="ferry")
    c.ingestion.ingest_bytes(SAMPLE.read_bytes(), SAMPLE.name)
    assert c.ingestion.delete("ferry") is True
    assert c.store.get_article("ferry") is None
    assert chunk_count(c.store, "ferry") == 0
    assert sentence_count(c.store, "ferry") == 0
    assert c.ingestion.delete("ferry") is False
    assert c.store.get_article(SAMPLE_ID) is not None


class FailingCommit(Exception):
    pass


def test_failed_write_leaves_the_previous_version_visible(make_container, monkeypatch):
    c = make_container()
    c.ingestion.ingest_text(FERRY_V1, article_id="ferry")

    def broken_commit(record):
        raise FailingCommit("disk full")

    # The new version's chunks are written, then the registry flip fails.
    monkeypatch.setattr(c.store, "commit", broken_commit)
    with pytest.raises(FailingCommit):
        c.ingestion.ingest_text(FERRY_V2, article_id="ferry")
    monkeypatch.undo()
    texts = search_texts(c, "night ferry to Oslo pier")
    assert any("22:15" in t for t in texts) and not any("23:40" in t for t in texts)
    assert "22:15" in c.store.get_article("ferry").text

    # The next ingest of the same version succeeds and clears the leftovers.
    assert c.ingestion.ingest_text(FERRY_V1, article_id="ferry").status == "unchanged"
    assert chunk_count(c.store) == 2


def test_failed_embedding_writes_nothing(make_container, monkeypatch):
    c = make_container()
    c.ingestion.ingest_text(FERRY_V1, article_id="ferry")
    monkeypatch.setattr(c.embedder, "embed_texts", lambda texts: (_ for _ in ()).throw(RuntimeError("OOM")))
    with pytest.raises(RuntimeError):
        c.ingestion.ingest_text(FERRY_V2, article_id="ferry")
    monkeypatch.undo()
    assert chunk_count(c.store) == 2 and "22:15" in c.store.get_article("ferry").text


def test_long_section_is_split_at_sentences_within_the_model_window(make_container):
    c = make_container()
    sentences = [
        f"Sentence number {i} describes the harbour expansion plan in some detail, phase {i}." for i in range(60)
    ]
    text = "# Port\n\n## Expansion\n\n" + " ".join(sentences) + "\n"
    result = c.ingestion.ingest_text(text, article_id="port")
    assert result.sections == 1 and result.chunks > 1
    record = c.store.get_article("port")
    chunks = sorted(c.store.search(c.embedder.embed_query("harbour expansion"), 20), key=lambda ch: ch.part)
    assert [ch.part for ch in chunks] == list(range(result.chunks))
    assert all(ch.section == "Expansion" for ch in chunks)
    for ch in chunks:
        assert record.text[ch.start : ch.end] == ch.text
        assert ch.text.startswith("Sentence number") and ch.text.endswith(".")  # cut at sentence ends
        assert c.embedder.count_tokens(["Expansion\n" + ch.text])[0] <= c.embedder.max_tokens
    assert " ".join(ch.text for ch in chunks) == " ".join(sentences)


def test_article_without_headings_is_chunked_by_paragraph(make_container):
    c = make_container()
    paragraphs = ["Bees pollinate many crops across the valley.", "Honey production rose by a third last year.",
                  "Beekeepers worry about a new mite."]
    result = c.ingestion.ingest_text("Bees\n\n" + "\n\n".join(paragraphs) + "\n", filename="bees.txt")
    assert result.title == "Bees" and result.chunks == 3
    texts = search_texts(c, "honey production")
    assert texts[0] == paragraphs[1]


@pytest.mark.parametrize(
    "data, name, fragment",
    [
        (b"", "empty.txt", "empty"),
        (b"\x00\x01\x02binary", "blob.txt", "blob.txt"),
        (b"\xff\xfe\xfa not utf8 \xc3\x28", "bad.txt", "bad.txt"),
        (b"%PDF-1.7", "paper.pdf", ".pdf"),
    ],
)
def test_bad_files_are_rejected_before_anything_is_written(make_container, data, name, fragment):
    c = make_container()
    with pytest.raises(ArticleError, match=fragment):
        c.ingestion.ingest_bytes(data, name)
    assert c.store.counts() == (0, 0)


def test_article_ids_are_stable_and_validated(make_container):
    c: IngestionService = make_container().ingestion
    assert c.ingest_text("Some words about rivers.", filename="/tmp/x/River Report.txt").article_id == "river-report"
    pasted = c.ingest_text("Text pasted with no title or name.")
    assert pasted.article_id.startswith("article-")
    assert c.ingest_text("Text pasted with no title or name.").status == "unchanged"
    with pytest.raises(ArticleError, match="invalid article id"):
        c.ingest_text("Text.", article_id="bad id!")


def test_articles_ingested_together_are_embedded_together_and_answer_as_if_added_one_by_one(
    make_container, monkeypatch
):
    """ingest_many embeds the texts of several articles in one model call (full batches across
    articles), yet each article is stored as a lone ingest would store it."""
    from index.ingest import ArticleInput

    articles = {f"town-{n}": f"Town {n}\n\nThe mayor of town {n} opened bridge number {n * 7}.\n" for n in range(6)}
    together, alone = make_container(), make_container()
    calls = []
    real = together.embedder.embed_texts
    monkeypatch.setattr(together.embedder, "embed_texts", lambda texts: calls.append(len(texts)) or real(texts))
    outcomes = together.ingestion.ingest_many(
        [ArticleInput(text, article_id=i) for i, text in articles.items()]
        + [ArticleInput("   ", article_id="blank"), ArticleInput(articles["town-0"], article_id="town-0")]
    )
    monkeypatch.undo()
    assert len(calls) == 1  # six articles, one model call
    assert [getattr(o, "status", None) for o in outcomes] == ["new"] * 6 + [None, "unchanged"]
    assert isinstance(outcomes[6], ArticleError) and "empty" in str(outcomes[6])
    for article_id, text in articles.items():
        alone.ingestion.ingest_text(text, article_id=article_id)
    for n in (0, 3, 5):
        question = f"Which bridge did the mayor of town {n} open?"
        assert search_texts(together, question)[:3] == search_texts(alone, question)[:3]
        assert f"bridge number {n * 7}" in search_texts(together, question)[0]


def test_the_later_of_two_articles_with_one_id_wins_in_a_batch(make_container):
    from index.ingest import ArticleInput

    c = make_container()
    outcomes = c.ingestion.ingest_many([ArticleInput(FERRY_V1, article_id="ferry"),
                                        ArticleInput(FERRY_V2, article_id="ferry")])
    assert [o.status for o in outcomes] == ["new", "updated"]  # type: ignore[union-attr]
    assert "23:40" in c.store.get_article("ferry").text and chunk_count(c.store, "ferry") == 2
