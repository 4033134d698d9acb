"""News pages in the web UI, in a real headless Chromium against the real server: a page added by its web
address from the local news site (tests/news_server.py), the answer's sources saying where and when they
were published, the reader linking to the original; a syndicated copy, a refused address, and page
metadata that holds markup, shown as text."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from tests.ui_support import ask, assert_accessible, close, expect, open_page, shot

# A reader in Britain: dates read "4 Mar 2025".
READER = {"locale": "en-GB", "timezone_id": "Europe/London"}
GAZETTE_ID = "gazette-test-2025-03-04-ferry-workers-strike"
STRIKE = "How many deckhands and engineers walked out?"


@pytest.fixture
def web_server(make_container, start_server, news_site):
    return start_server(make_container(allow_private_urls=True, seed_sample=False))


def add_by_url(page, url: str, field: str = "#add-url") -> None:
    if page.locator("#add-details").get_attribute("open") is None:
        page.click("#add-details summary")
    page.fill(field, url)
    with page.expect_response(lambda r: r.url.endswith("/articles") and r.request.method == "POST"):
        page.click("#add-submit")


def test_add_a_news_page_by_url_and_see_where_and_when_its_answer_was_published(browser, web_server, news_site):
    page = open_page(browser, web_server, wait="#add-details[open]", **READER)
    add_by_url(page, news_site.page_url("gazette-ferry-strike"))
    page.wait_for_selector(f".article-item[data-article={GAZETTE_ID}]")
    article = httpx.get(f"{web_server.url}/articles/{GAZETTE_ID}").json()
    assert (article["source"], article["published"]) == ("The Harbour Gazette", "2025-03-04T06:30:00Z")
    status = page.locator("#add-status")
    expect(status).to_have_text(re.compile(rf"^Indexed “{re.escape(article['title'])}”: \d+ sections, \d+ passages\.$"))
    expect(page.locator("#add-url")).to_have_value("")  # the form is cleared for the next one
    expect(page.locator(f".article-item[data-article={GAZETTE_ID}] .article-meta")).to_contain_text(
        "The Harbour Gazette · 4 Mar 2025 ·")
    assert_accessible(page, "desktop-news-added")

    # The same story from a wire service's site, its address pasted in the text box (a lone address there is
    # fetched too), is not indexed twice: the reader is told which article it is.
    add_by_url(page, news_site.page_url("coastal-wire-copy"), field="#add-text")
    expect(status).to_have_text(
        f"This story was already indexed as “{article['title']}”: the page was not added again.")
    expect(page.locator(".article-item")).to_have_count(1)

    answer = ask(page, STRIKE)
    assert "140 deckhands and engineers" in answer.inner_text()
    card = answer.locator(".source-card").first
    expect(card.locator(".source-pub")).to_have_text("The Harbour Gazette · 4 Mar 2025")
    chip = answer.locator(".chip").first
    chip.hover()
    expect(page.locator("#preview .preview-pub")).to_have_text("The Harbour Gazette · 4 Mar 2025")
    assert_accessible(page, "desktop-news-preview")
    page.mouse.move(5, 5)

    card.click()
    meta = page.locator("#reader-meta")
    expect(meta).to_contain_text("The Harbour Gazette · by Maren Holt · 4 Mar 2025 · Open the original")
    link = meta.locator("a")
    expect(link).to_have_attribute("href", article["url"])
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(link).to_have_accessible_name("Open the original (opens in a new tab)")
    expect(page.locator("#reader mark.quote")).to_contain_text("140 deckhands and engineers")
    shot(page, "desktop-news-reader")
    assert_accessible(page, "desktop-news-reader")
    close(page)


def test_pasted_text_shows_no_publication(browser, web_server):
    """Nothing is known of pasted text: no empty line, no "null", no link."""
    text = "Harbour notes\n\nThe harbour master counted 37 yachts in the marina on Sunday.\n"
    assert httpx.post(f"{web_server.url}/articles", json={"id": "notes", "text": text}).status_code == 201
    page = open_page(browser, web_server, **READER)
    answer = ask(page, "How many yachts did the harbour master count?")
    expect(answer.locator(".source-pub")).to_have_count(0)
    answer.locator(".source-card").first.click()
    expect(page.locator("#reader mark.quote")).to_contain_text("37 yachts")
    expect(page.locator("#reader-meta")).to_be_hidden()
    assert "null" not in page.inner_text("body")
    close(page)


def test_markup_in_a_pages_metadata_renders_inert(browser, web_server, news_site):
    payload = '<img src=x onerror="window.__pwned = 1"> Gazette'
    body = re.sub(rb'(<meta property="og:site_name" content=")[^"]*', b"\\1" + html.escape(payload).encode(),
                  news_site.fixture("gazette-breakwater.html"))
    news_site.routes["/x-inert/breakwater"] = (body, "text/html; charset=utf-8")
    page = open_page(browser, web_server, wait="#add-details[open]", **READER)
    add_by_url(page, news_site.url("gazette.test", "/x-inert/breakwater"))
    page.wait_for_selector(".article-item")
    article = httpx.get(f"{web_server.url}/articles").json()[0]
    page.locator(".article-open").first.click()
    meta = page.locator("#reader-meta")
    expect(meta).to_be_visible()
    assert article["source"] == payload
    expect(meta).to_contain_text(f"{payload} · by Joe Lindqvist · 20 Feb 2025")
    expect(page.locator(".article-item .article-meta")).to_contain_text(payload)
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#reader img, #reader script, #articles-panel img").count() == 0
    close(page)


def test_a_refused_address_shows_the_servers_reason_next_to_the_control(browser, make_container, start_server,
                                                                          news_site):
    server = start_server(make_container(seed_sample=False))  # private addresses refused, as in production
    url = news_site.url("127.0.0.1", "/2025/03/04/ferry-workers-strike")
    refused = httpx.post(f"{server.url}/articles", json={"url": url})
    assert refused.status_code == 422
    reason = refused.json()["error"]
    page = open_page(browser, server, wait="#add-details[open]", **READER)
    add_by_url(page, url)
    error = page.locator("#add-error")
    expect(error).to_have_text(reason)
    expect(error).to_be_in_viewport()
    expect(page.locator("#add-status")).to_have_text("")
    expect(page.locator("#add-url")).to_have_value(url)  # kept, to be corrected
    shot(page, "desktop-news-refused")
    assert_accessible(page, "desktop-news-refused")
    close(page)
