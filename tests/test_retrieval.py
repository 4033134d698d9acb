"""Hybrid retrieval: BM25 finds exact names and codes the embedding model blurs, and its in-memory
index follows every add, update and delete, also those made through another handle on the store."""

from __future__ import annotations

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
    lexical = c.answers.retriever.lexical.search("KR-5531", 3)
    assert lexical and lexical[0].endswith("::2")


def test_lexical_index_follows_changes_made_elsewhere(make_container, tmp_path):
    reader = make_container(data_dir=tmp_path)
    writer = make_container(data_dir=tmp_path)  # another handle on the same store
    lexical = reader.answers.retriever.lexical
    assert lexical.search("ballast pump KR-5531", 5) == []

    writer.ingestion.ingest_text("Harbour report\n\n" + "\n\n".join(PARAGRAPHS) + "\n", article_id="harbour")
    assert len(lexical.search("ballast pump KR-5531", 5)) == 1

    changed = [p.replace("KR-5531", "TX-0042") for p in PARAGRAPHS]
    writer.ingestion.ingest_text("Harbour report\n\n" + "\n\n".join(changed) + "\n", article_id="harbour")
    assert lexical.search("KR-5531", 5) == []
    assert len(lexical.search("TX-0042", 5)) == 1

    writer.ingestion.delete("harbour")
    assert lexical.search("TX-0042", 5) == []
