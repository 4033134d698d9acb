"""News pages → articles (index/extraction.py through index/parsing.py), their metadata, URL ids, and the
near-duplicate signatures of syndicated copies; no server, no model."""

from __future__ import annotations

import pytest

from index import duplicates
from index.metadata import ArticleMeta, normalize_published, timestamp
from index.parsing import ArticleError, parse_article
from index.urls import article_id_for_url, normalize_url, same_site
from tests.news_server import FIXTURES, PAGES


def page(name: str, port: int = 8000) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8").replace("{port}", str(port))


@pytest.mark.parametrize("fixture", PAGES, ids=[p["file"] for p in PAGES])
def test_a_saved_page_gives_every_article_line_and_no_boilerplate(fixture):
    article = parse_article(page(fixture["file"]), "html")
    paragraphs = set(article.text.split("\n\n"))
    assert set(fixture["article"]) <= paragraphs
    for line in fixture["boilerplate"]:
        assert not any(line in p for p in paragraphs), line


def test_the_tag_dropping_parser_still_reads_fragments_and_leaked_before():
    """A fragment of article markup (no <html> or <body>) is read whole, as before; the same page read the
    old way kept its share bar, caption, related links and comments as text and sections."""
    fragment = "<p>Lede.</p><h2>Results</h2><p>The incumbent won.</p><p>Turnout was 61%.</p>"
    assert parse_article(fragment, "html").text == "Lede.\n\nResults\n\nThe incumbent won.\n\nTurnout was 61%."
    old = parse_article(page("gazette-ferry-strike.html"), "html", extract=False)
    assert "Share on Facebook" in old.text and "12 comments" in [s.path[-1] for s in old.sections if s.path]


def test_headings_the_extractor_drops_are_restored_from_the_page():
    """On the AMP page trafilatura keeps the paragraphs without their <h2>s; they are put back."""
    amp = parse_article(page("gazette-ferry-strike.amp.html"), "html")
    assert [s.path for s in amp.sections] == [
        (), ("Why the crews walked out",), ("Islanders look for other ways across",)]
    regular = parse_article(page("gazette-ferry-strike.html"), "html")
    assert (amp.title, amp.text) == (regular.title, regular.text)


def test_metadata_from_meta_tags_and_from_json_ld():
    gazette = parse_article(page("gazette-ferry-strike.html"), "html")
    assert gazette.title == "Ferry workers strike halts crossings to Skerry Island"  # not "… | The Harbour Gazette"
    assert gazette.meta == ArticleMeta(url="http://gazette.test:8000/2025/03/04/ferry-workers-strike",
                                       source="The Harbour Gazette", author="Maren Holt",
                                       published="2025-03-04T06:30:00Z")  # 07:30+01:00, its time kept
    lighthouse = parse_article(page("islander-lighthouse.html"), "html")  # JSON-LD only
    assert lighthouse.meta == ArticleMeta(url="http://islander.test:8000/news/skerry-lighthouse-restored",
                                          source="The Islander", author="Tomas Reid", published="2024-11-20T10:15:00Z")
    relative = page("gazette-breakwater.html").replace('href="http://gazette.test:8000/2025/02/20/breakwater"',
                                                       'href="/2025/02/20/breakwater"')
    based = parse_article(relative, "html", base_url="https://gazette.example/x")
    assert based.meta.url == "https://gazette.example/2025/02/20/breakwater"
    assert parse_article("Plain text.\n\nMore.", "text").meta == ArticleMeta()


def test_a_page_beyond_any_news_page_is_refused():
    huge = "<html><body>" + "<span>x</span>" * 21_000 + "</body></html>"
    with pytest.raises(ArticleError, match=r"HTML elements, more than the 20,000"):
        parse_article(huge, "html")


def test_an_unreadable_page_falls_back_to_the_tag_dropping_parser():
    assert parse_article("<html><body><p>Only a line.</p></body></html>", "html").text == "Only a line."
    with pytest.raises(ArticleError, match="nests elements more than 256 deep"):
        parse_article("<html><body>" + "<div>" * 1000 + "<p>Deep.</p>", "html")


@pytest.mark.parametrize(("value", "normalized"), [
    ("2025-03-04", "2025-03-04"), ("2025-03-04T07:30:00+01:00", "2025-03-04T06:30:00Z"),
    ("2025-03-04T07:30:00+0100", "2025-03-04T06:30:00Z"), ("2025-03-04 07:30", "2025-03-04T07:30:00Z"),
    ("2025-03-04T00:00:00", "2025-03-04"), ("next Tuesday", ""), ("0001-01-01", ""),
])
def test_dates_are_kept_as_precise_as_given_in_utc(value, normalized):
    assert normalize_published(value) == normalized


def test_a_day_counts_from_its_midnight_utc():
    assert timestamp("2025-03-04") == timestamp("2025-03-04T00:00:00Z") == 1741046400
    assert timestamp("2025-03-04T06:30:00Z") == 1741046400 + 6.5 * 3600


def test_urls_ids_and_trusted_canonical_links():
    url = "HTTPS://www.Gazette.example:443/2025/03/04/ferry-strike?utm_source=x&page=2#comments"
    assert normalize_url(url) == "https://www.gazette.example/2025/03/04/ferry-strike?page=2"
    assert article_id_for_url(url) == "gazette-example-2025-03-04-ferry-strike-page-2"
    assert article_id_for_url("http://gazette.test:8123/a") == article_id_for_url("http://gazette.test/a")
    long_id = article_id_for_url("https://example.com/" + "word-" * 100)
    assert len(long_id) <= 128 and long_id != article_id_for_url("https://example.com/" + "word-" * 99)
    assert same_site("https://amp.gazette.example/a", "https://www.gazette.example/b")
    assert same_site("https://news.gazette.example/a", "https://gazette.example/b")
    assert not same_site("https://evil.example/a", "https://gazette.example/a")
    assert not same_site("https://gazette.example.evil.example/a", "https://gazette.example/a")


def test_a_syndicated_copy_is_near_and_another_story_on_the_topic_is_not():
    texts = {p["file"]: parse_article(page(p["file"]), "html").text for p in PAGES}
    original, copy = texts["gazette-ferry-strike.html"], texts["coastal-wire-copy.html"]
    other = texts["northern-post-explainer.html"]
    signature = duplicates.signature
    assert duplicates.jaccard(original, copy) > 0.7
    assert signature(original).similarity(signature(copy)) >= duplicates.DUPLICATE_JACCARD
    assert duplicates.jaccard(original, other) < 0.05
    assert signature(original).similarity(signature(other)) < duplicates.DUPLICATE_JACCARD
    encoded = signature(original).encode()
    assert duplicates.Signature.decode(encoded).similarity(signature(original)) == 1.0
    shared = set(signature(original).bands().items()) & set(signature(copy).bands().items())
    assert shared  # the store finds the copy's original by a band
    assert signature("") is None
