"""Articles from the web through the real API (uvicorn, the real model, an embedded Chroma): news pages
added by URL from the local news site (tests/news_server.py), their sections and metadata, citations that
say when and where, filters by date and source, syndicated copies stored once, and the errors a user
gets for URLs that cannot be used."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from server.api_models import AskRequest
from tests.conftest import LiveServer
from tests.news_server import PAGES

GAZETTE_ID = "gazette-test-2025-03-04-ferry-workers-strike"


@pytest.fixture(scope="module")
def web_server(make_container_module, news_site) -> Iterator[LiveServer]:
    server = LiveServer(make_container_module(allow_private_urls=True, seed_sample=False)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def web(web_server) -> Iterator[httpx.Client]:
    with web_server.client() as client:
        yield client


@pytest.fixture(scope="module")
def make_container_module(tmp_path_factory, embedder):
    from server.container import Container
    from tests.conftest import make_settings

    def make(**overrides):
        return Container(make_settings(tmp_path_factory.mktemp("web-store"), **overrides), embedder=embedder)

    return make


def add(client: httpx.Client, url: str, **fields) -> httpx.Response:
    return client.post("/articles", json={"url": url, **fields})


def paragraphs_of(article: dict) -> list[str]:
    return [p for p in article["text"].split("\n\n") if p]


@pytest.mark.parametrize("page", PAGES, ids=[p["file"] for p in PAGES])
def test_a_page_added_by_url_is_its_article_without_menus_or_comments(web, news_site, page):
    response = add(web, news_site.url(page["host"], page["path"]))
    assert response.status_code in (200, 201), response.text
    body = response.json()
    article = web.get(f"/articles/{body['id']}").json()
    text = article["text"]
    for line in page["article"]:
        if body.get("aliased_url") is None:  # a syndicated copy is stored as its original's alias
            assert line in text, line
    for line in page["boilerplate"]:
        assert not re.search(rf"(?<!\w){re.escape(line)}(?!\w)", text), line


def test_sections_are_the_pages_sections_and_the_metadata_is_kept(web, news_site):
    created = add(web, news_site.page_url("northern-post-explainer"))
    assert created.status_code in (200, 201), created.text
    body = created.json()
    assert body["id"] == "northernpost-test-explainers-skerry-ferry-strike"
    assert body["url"] == news_site.url("northernpost.test", "/explainers/skerry-ferry-strike")
    article = web.get(f"/articles/{body['id']}").json()
    assert article["title"] == "Skerry ferry strike: what islanders need to know"
    assert [s["heading"] for s in article["sections"]] == [
        "", "Why are the crews striking?", "Which sailings are cancelled?", "How do I get to the mainland?",
        "When could it end?"]
    assert (article["source"], article["author"], article["published"]) == (
        "Northern Post", "Lena Okafor", "2025-03-05T12:00:00Z")
    assert article["format"] == "html" and article["aliases"] == []

    # Metadata in JSON-LD only (no meta tags): author, date with its time, publisher, URL.
    lighthouse = add(web, news_site.page_url("islander-lighthouse")).json()
    listed = {a["id"]: a for a in web.get("/articles").json()}[lighthouse["id"]]
    assert listed == {**listed, "url": news_site.url("islander.test", "/news/skerry-lighthouse-restored"),
                      "source": "The Islander", "author": "Tomas Reid", "published": "2024-11-20T10:15:00Z"}


def test_adding_a_url_again_is_idempotent_and_its_amp_page_is_the_same_article(web, news_site):
    url = news_site.page_url("gazette-ferry-strike.html")
    first = add(web, url)
    assert first.status_code in (200, 201) and first.json()["id"] == GAZETTE_ID
    again = add(web, url + "?utm_source=newsletter#comments")  # tracking and fragment aside, the same page
    assert again.status_code == 200 and again.json()["status"] == "unchanged", again.text
    # The AMP page names the article's canonical URL: the same id, the same text, unchanged.
    amp = add(web, news_site.page_url("gazette-ferry-strike.amp"))
    assert amp.status_code == 200 and amp.json()["id"] == GAZETTE_ID and amp.json()["status"] == "unchanged"
    sections = [s["heading"] for s in web.get(f"/articles/{GAZETTE_ID}").json()["sections"]]
    assert sections == ["", "Why the crews walked out", "Islanders look for other ways across"]
    # An id and a title of one's own still win.
    mine = add(web, url, id="ferry-strike-copy", title="Strike")
    assert mine.status_code == 201 and mine.json()["id"] == "ferry-strike-copy" and mine.json()["title"] == "Strike"
    assert web.delete("/articles/ferry-strike-copy").status_code == 204


def test_a_syndicated_copy_is_stored_once_with_both_urls(web, news_site):
    web.delete("/articles/coastal-test-wire-2025-03-04-strike-stops-skerry-ferries")  # an earlier test added it alone
    assert add(web, news_site.page_url("gazette-ferry-strike.html")).status_code in (200, 201)
    copy_url = news_site.page_url("coastal-wire-copy")
    copy = add(web, copy_url)
    assert copy.status_code == 200, copy.text
    body = copy.json()
    assert body["id"] == GAZETTE_ID and body["status"] == "unchanged" and body["aliased_url"] == copy_url
    assert "coastal" not in " ".join(a["id"] for a in web.get("/articles").json())
    assert web.get(f"/articles/{GAZETTE_ID}").json()["aliases"] == [copy_url]
    assert add(web, copy_url).json()["aliased_url"] == copy_url  # again: still one article, one alias
    assert web.get(f"/articles/{GAZETTE_ID}").json()["aliases"] == [copy_url]
    # A different story on the same topic is its own article.
    explainer = add(web, news_site.page_url("northern-post-explainer")).json()
    assert explainer["id"] != GAZETTE_ID and explainer.get("aliased_url") is None


def test_citations_say_when_and_where_and_filters_choose_the_articles(web, web_server, news_site):
    for name in ("gazette-ferry-strike.html", "islander-lighthouse", "northern-post-explainer"):
        assert add(web, news_site.page_url(name)).status_code in (200, 201)
    web.post("/articles", json={"id": "pasted-ferry", "text": "Ferry notes\n\nThe ferry union met on Monday."})
    secretary = "Who is the branch secretary of the union?"
    answer = web.post("/ask", json={"question": secretary}).json()
    assert answer["answered"] and "Ines Varga" in answer["answer"], answer
    cited = answer["citations"][0]
    gazette_url = news_site.url("gazette.test", "/2025/03/04/ferry-workers-strike")
    assert (cited["source"], cited["published"], cited["url"]) == ("The Harbour Gazette", "2025-03-04T06:30:00Z",
                                                                   gazette_url)

    def found(**filters) -> set[str | None]:
        """The sources of every passage found for a broad question (dense, sentence and BM25 rankings)."""
        body = AskRequest(question="What happened to the ferry crossings and the lighthouse?", **filters)
        passages = web_server.container.answers.find(body.question, top_k=20, filters=body.filters())
        return {c.source or None for c in passages.chunks}

    assert found() == {"The Harbour Gazette", "The Islander", "Northern Post", None}  # None: the pasted note
    assert found(published_after="2025-03-01") == {"The Harbour Gazette", "Northern Post"}
    assert found(published_before="2025-01-01") == {"The Islander"}
    assert found(published_after="2025-03-04T06:30:00Z", published_before="2025-03-05") == {"The Harbour Gazette"}
    assert found(sources=["the harbour GAZETTE"]) == {"The Harbour Gazette"}
    assert found(sources=["islander.test", "http://northernpost.test/x"]) == {"The Islander", "Northern Post"}
    assert found(published_after="2030-01-01") == set()

    def cited(question: str, **filters) -> set[str | None]:
        response = web.post("/ask", json={"question": question, **filters})
        assert response.status_code == 200, response.text
        return {c["source"] for c in response.json()["citations"]}

    lighthouse = "When was the Skerry lighthouse relit?"
    assert cited(lighthouse) == {"The Islander"}
    assert "The Islander" not in cited(lighthouse, published_after="2025-03-01")
    assert cited(secretary, sources=["The Harbour Gazette"]) == {"The Harbour Gazette"}
    assert cited(secretary, published_after="2030-01-01") == set()
    streamed = web.post("/ask/stream", json={"question": secretary, "sources": ["The Islander"]})
    assert streamed.status_code == 200 and "The Harbour Gazette" not in streamed.text
    bad = web.post("/ask", json={"question": secretary, "published_after": "last week"})
    assert bad.status_code == 422 and "ISO 8601" in bad.json()["error"]
    chat = web.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": secretary}],
                                                  "sources": ["Northern Post"]}).json()
    assert {c["source"] for c in chat["citations"]} <= {"Northern Post"}
    assert web.delete("/articles/pasted-ferry").status_code == 204


def test_an_article_without_metadata_has_nulls_and_no_filter_matches_it(web):
    web.post("/articles", json={"id": "plain-note", "text": "Harbour note\n\nThe tide mill reopened on Sunday."})
    listed = {a["id"]: a for a in web.get("/articles").json()}["plain-note"]
    assert (listed["url"], listed["source"], listed["author"], listed["published"]) == (None, None, None, None)
    detail = web.get("/articles/plain-note").json()
    assert detail["aliases"] == [] and detail["published"] is None
    question = {"question": "When did the tide mill reopen?", "article_ids": ["plain-note"]}
    assert web.post("/ask", json=question).json()["citations"][0]["published"] is None
    for filters in ({"published_after": "1990-01-01"}, {"sources": ["Harbour note"]}):
        assert web.post("/ask", json={**question, **filters}).json()["citations"] == []
    assert web.delete("/articles/plain-note").status_code == 204


def test_a_saved_news_page_uploaded_or_pasted_gives_the_article(web, news_site):
    page = news_site.fixture("gazette-breakwater.html")
    uploaded = web.post("/articles/upload", files={"file": ("breakwater.html", page)})
    assert uploaded.status_code == 201, uploaded.text
    article = web.get("/articles/breakwater").json()
    assert paragraphs_of(article)[0].startswith("Port Avel's harbour will get a 400-metre breakwater")
    assert "comments" not in article["text"] and "Share on" not in article["text"]
    assert (article["source"], article["published"]) == ("The Harbour Gazette", "2025-02-20T15:05:00Z")
    pasted = web.post("/articles", json={"text": page.decode(), "id": "breakwater-pasted"}).json()
    assert pasted["sections"] == 1 and pasted["url"] == news_site.url("gazette.test", "/2025/02/20/breakwater")
    for article_id in ("breakwater", "breakwater-pasted"):
        assert web.delete(f"/articles/{article_id}").status_code == 204


def test_the_body_takes_text_or_url(web, news_site):
    for body, message in (({"url": "http://gazette.test/", "text": "Both."}, "one of the two"),
                          ({"title": "Nothing"}, "one of the two"),
                          ({"url": "http://gazette.test/", "format": "html"}, "`format` applies to `text`"),
                          ({"url": "gazette.test/story"}, "url"),
                          ({"url": "ftp://gazette.test/story"}, "url")):
        response = web.post("/articles", json=body)
        assert response.status_code == 422 and message in response.json()["error"], (body, response.text)
    batch = web.post("/articles/batch", json={"articles": [
        {"url": news_site.page_url("gazette-breakwater")},
        {"url": news_site.url("gazette.test", "/2025/03/03/harbour-dredging")},
        {"url": news_site.url("gazette.test", "/x-pdf")},
        {"text": "Tide table\n\nHigh water at 06:12.", "id": "tides"},
    ]})
    assert batch.status_code == 207, batch.text
    results = batch.json()["results"]
    assert [r["status"] for r in results][1:] == [502, 422, 201] and results[0]["status"] in (200, 201)
    assert results[0]["article"]["id"] == "gazette-test-2025-02-20-breakwater"
    assert "404" in results[1]["error"] and "application/pdf" in results[2]["error"]
    too_many = web.post("/articles/batch", json={"articles": [{"url": f"http://gazette.test/{i}"} for i in range(21)]})
    assert too_many.status_code == 422 and "at most 20" in too_many.json()["error"]
    for article_id in ("gazette-test-2025-02-20-breakwater", "tides"):
        web.delete(f"/articles/{article_id}")


def test_urls_that_fail_get_4xx_or_5xx_saying_what_to_fix(web, news_site):
    def error(url: str, status: int) -> str:
        response = add(web, url)
        assert response.status_code == status, response.text
        return response.json()["error"]

    assert "404 Not Found" in error(news_site.url("gazette.test", "/2025/03/03/harbour-dredging"), 502)
    assert "could not be resolved" in error("http://nowhere.example/story", 502)
    assert "application/pdf, not an HTML page" in error(news_site.url("gazette.test", "/x-pdf"), 422)
    assert "redirects more than 5 times" in error(news_site.url("gazette.test", "/x-chain/6"), 422)
    assert "did not answer within 3 s" in error(news_site.url("gazette.test", "/x-slow?seconds=5"), 504)
    assert not any(a["id"].startswith("x-") for a in web.get("/articles").json())  # nothing half-written


def test_private_addresses_are_refused_by_default(make_container, start_server, news_site):
    server = start_server(make_container(seed_sample=False))  # ARTICLECHAT_ALLOW_PRIVATE_URLS unset
    with server.client() as client:
        for url in (news_site.page_url("gazette-breakwater"), f"http://127.0.0.1:{news_site.port}/2025/02/20/breakwater",
                    f"http://localhost:{server.port}/healthz"):
            response = add(client, url)
            assert response.status_code == 422, response.text
            assert "private address (127.0.0.1)" in response.json()["error"]
            assert "ARTICLECHAT_ALLOW_PRIVATE_URLS=true" in response.json()["error"]
        feed = client.post("/feeds", json={"url": news_site.url("gazette.test", "/feeds/gazette.rss")})
        assert feed.status_code == 422 and "ARTICLECHAT_ALLOW_PRIVATE_URLS" in feed.json()["error"]
        assert client.get("/articles").json() == [] and client.get("/feeds").json() == []
