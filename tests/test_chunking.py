"""SectionNodeParser as a llama-index NodeParser: run through llama-index itself (get_nodes_from_documents and
an IngestionPipeline), with a word-count tokenizer so no embedding model is loaded."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from llama_index.core import Document
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.schema import BaseNode, TextNode

from index.chunking import SectionNodeParser
from index.parsing import parse_article

HARBOUR = (
    "Harbour news\n\n"
    "Ferries\n\n"
    "The night ferry to Oslo leaves at 22:15 from pier 4. It returns at dawn. Tickets cost more in summer.\n\n"
    "Trams\n\n"
    "Tram 12 stops at the quay.\n"
)
HARBOUR_MD = "# Harbour news\n\n## Transport\n\n### Ferries\n\nThe night ferry leaves at 22:15.\n\n## Weather\n\nFog.\n"


def words_and_specials(texts: list[str]) -> list[int]:
    """A stand-in for the model's tokenizer: one token per word, plus its 2 special tokens."""
    return [len(text.split()) + 2 for text in texts]


def parser(max_tokens: int = 16) -> SectionNodeParser:
    # 16 tokens: the Ferries section (11 + 4 + 5 words) splits into two parts.
    return SectionNodeParser(count_tokens=words_and_specials, max_tokens=max_tokens)


def spans(nodes: Sequence[BaseNode]) -> list[tuple[str, int, str, int, int]]:
    out = []
    for node in nodes:
        assert isinstance(node, TextNode) and node.start_char_idx is not None and node.end_char_idx is not None
        out.append((node.metadata["section"], node.metadata["part"], node.text, node.start_char_idx, node.end_char_idx))
    return out


def test_get_nodes_from_documents_keeps_offsets_into_the_parsed_text_and_section_metadata():
    nodes = parser().get_nodes_from_documents([Document(text=HARBOUR, metadata={"format": "text", "source": "x"})])
    article = parse_article(HARBOUR, "text")
    got = spans(nodes)
    assert [(section, part) for section, part, *_ in got] == [("Ferries", 0), ("Ferries", 1), ("Trams", 0)]
    for _, _, text, start, end in got:
        assert article.text[start:end] == text
    assert got[0][2] == "The night ferry to Oslo leaves at 22:15 from pier 4."
    assert got[1][2] == "It returns at dawn. Tickets cost more in summer."
    # The Document's metadata is kept; the title comes from the parsed article.
    for node in nodes:
        assert node.metadata["format"] == "text" and node.metadata["source"] == "x"
        assert node.metadata["title"] == "Harbour news"
    # The same chunks as the ingestion service's own call.
    assert [(c.start, c.end, c.part) for c in parser().chunk(article)] == [(s, e, p) for _, p, _, s, e in got]


def test_markdown_document_and_a_given_title():
    doc = Document(text=HARBOUR_MD, metadata={"format": "markdown", "title": "Port report"})
    nodes = parser(max_tokens=256).get_nodes_from_documents([doc])
    article = parse_article(HARBOUR_MD, "markdown", title="Port report")
    got = spans(nodes)
    assert [(section, part) for section, part, *_ in got] == [("Transport > Ferries", 0), ("Weather", 0)]
    for _, _, text, start, end in got:
        assert article.text[start:end] == text
    assert all(node.metadata["title"] == "Port report" for node in nodes)


@pytest.mark.parametrize("max_tokens", [16, 256])
def test_ingestion_pipeline_runs_the_parser(max_tokens):
    docs = [Document(text=HARBOUR, metadata={"format": "text"}),
            Document(text=HARBOUR_MD, metadata={"format": "markdown"})]
    via_pipeline = IngestionPipeline(transformations=[parser(max_tokens)]).run(documents=docs)
    direct = parser(max_tokens).get_nodes_from_documents(docs)
    assert spans(via_pipeline) == spans(direct)
    texts = {"text": parse_article(HARBOUR, "text").text, "markdown": parse_article(HARBOUR_MD, "markdown").text}
    for node, (_, _, text, start, end) in zip(via_pipeline, spans(via_pipeline), strict=True):
        assert texts[node.metadata["format"]][start:end] == text
