"""The web UI in a real headless Chromium (Debian's `chromium`, driven by Playwright), against the real server
with the sample article indexed: asking, reading a source beside the answer, the Articles panel, phones,
dark mode, failures. Screenshots land in test-output/ui/, axe-core's findings in test-output/ui/axe/."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import SAMPLE_ID
from tests.ui_support import (
    DESKTOP,
    PHONE,
    ask,
    assert_accessible,
    close,
    expect,
    open_page,
    rect,
    shot,
)

RECEPTION = "Who arranged the reception centers for returning prisoners?"
TWO_SOURCES = "What happened at the Belarus border?"  # the sample answers it from two passages
OUTLINE_PATH = "/outline"


@pytest.fixture
def page(browser, sample_server):
    page = open_page(browser, sample_server)
    yield page
    close(page)


def test_ask_and_read_the_source_beside_the_answer(browser, sample_server):
    requests: list[str] = []
    page = open_page(browser, sample_server, wait=None)
    page.on("request", lambda r: requests.append(r.url))
    page.reload()
    page.wait_for_selector(".starter")
    # Suggested questions come from the article's outline (headings, names), not from downloading it.
    outline = httpx.get(f"{sample_server.url}/articles/{SAMPLE_ID}/outline").json()
    topics = {h["title"] for h in outline["headings"]} | set(outline["names"])
    starters = page.locator(".starter").all_inner_texts()
    assert 1 <= len(starters) <= 4
    assert all(any(topic in text for topic in topics) for text in starters), starters
    assert any(url.endswith(f"/articles/{SAMPLE_ID}{OUTLINE_PATH}") for url in requests)
    assert not any(url.endswith(f"/articles/{SAMPLE_ID}") for url in requests), "the whole article was downloaded"
    assert page.failures == []  # no 404 (the favicon) nor any other error on load
    assert_accessible(page, "desktop-start")

    answer = ask(page, RECEPTION)
    assert "Ukrainian officials have arranged transportation" in answer.locator(".answer-text").inner_text()
    card = answer.locator(".source-card").first
    assert "Ukraine Russia Prisoner Exchange" in card.inner_text() and "Location and Logistics" in card.inner_text()
    assert page.evaluate("document.activeElement.id") == "question"  # focus back in the input
    shot(page, "desktop-answer")

    # Hovering [n] previews the sentence it cites, without opening anything.
    chip = answer.locator(".chip").first
    chip.hover()
    preview = page.locator("#preview")
    expect(preview).to_be_visible()
    expect(preview).to_contain_text("Ukrainian officials have arranged transportation")
    expect(preview).to_contain_text("Location and Logistics")
    assert chip.get_attribute("aria-describedby") == "preview"
    shot(page, "desktop-chip-preview")
    assert_accessible(page, "desktop-chip-preview")
    page.mouse.move(5, 5)
    expect(preview).to_be_hidden()

    # Clicking it opens the article beside the chat: the answer stays in view, nothing covers it.
    chip.click()
    reader = page.locator("#reader")
    expect(reader).to_be_visible()
    assert page.evaluate("!document.querySelector('#reader').matches(':modal')")
    assert rect(reader)["x"] >= rect(page.locator("#thread"))["x"] + rect(page.locator("#thread"))["width"]
    expect(answer.locator(".answer-text")).to_be_in_viewport()
    # The whole passage is marked, and the sentence the answer quotes more strongly, in view.
    assert "The exchange operation commenced" in " ".join(reader.locator("mark.passage").all_inner_texts())
    quote = reader.locator("mark.quote")
    expect(quote).to_have_count(1)
    expect(quote).to_contain_text("Ukrainian officials have arranged transportation")
    expect(quote).to_be_in_viewport()
    assert reader.locator("#reader-section").inner_text().endswith("Location and Logistics")
    # Headings show as headings (part over section), at the levels the API gives.
    expect(reader.locator("h3", has_text="Operation of the Prisoner Exchange")).to_have_count(1)
    expect(reader.locator("h4", has_text="Location and Logistics")).to_have_count(1)
    assert "current" in chip.get_attribute("class")  # the chip being read stands out
    shot(page, "desktop-reader")
    assert_accessible(page, "desktop-reader")

    # Escape closes it, and the reader is back on the chip they came from.
    page.keyboard.press("Escape")
    expect(reader).to_be_hidden()
    assert page.evaluate("document.activeElement.classList.contains('chip')")
    expect(page.locator("#articles-panel")).to_be_visible()
    close(page)


def test_previous_and_next_source_and_a_keyboard_preview(page):
    answer = ask(page, TWO_SOURCES)
    cards = answer.locator(".source-card")
    expect(cards).to_have_count(2)
    cards.nth(0).click()
    reader = page.locator("#reader")
    expect(page.locator("#reader-position")).to_have_text("Source 1 of 2")
    expect(page.locator("#reader-prev")).to_be_disabled()
    expect(reader.locator("mark.quote")).to_contain_text("approximately 50 kilometers apart")
    page.click("#reader-next")
    expect(page.locator("#reader-position")).to_have_text("Source 2 of 2")
    expect(page.locator("#reader-next")).to_be_disabled()
    expect(reader.locator("mark.quote")).to_contain_text("CHERNIHIV REGION")
    assert "current" in cards.nth(1).get_attribute("class")
    # Narrowed to a phone's width, the reader becomes a sheet over the chat, on the same source; and back.
    page.set_viewport_size(PHONE)
    page.wait_for_function("document.querySelector('#reader').matches(':modal')")
    expect(page.locator("#reader-position")).to_have_text("Source 2 of 2")
    page.set_viewport_size(DESKTOP)
    page.wait_for_function("!document.querySelector('#reader').matches(':modal')")
    expect(reader).to_be_visible()
    page.click("#reader-close")
    expect(reader).to_be_hidden()

    # From the keyboard: focus on a chip shows its preview; the arrow keys go to the next chip.
    chips = answer.locator(".chip")
    chips.nth(0).focus()
    expect(page.locator("#preview")).to_contain_text("approximately 50 kilometers apart")
    page.keyboard.press("ArrowRight")
    expect(chips.nth(1)).to_be_focused()
    expect(page.locator("#preview")).to_contain_text("CHERNIHIV REGION")
    page.keyboard.press("Escape")
    expect(page.locator("#preview")).to_be_hidden()


def test_follow_up_and_refusal_and_reload(page):
    first = ask(page, "What did Zelenskyy call the prisoner swap?").locator(".answer-text").inner_text()
    follow = ask(page, "Whom did he appeal to?")
    assert "Western partners" in follow.inner_text()
    assert first[:60] not in follow.locator(".answer-text").inner_text()  # it moves on, not repeats

    refused = ask(page, "How do I bake sourdough bread?")
    assert "refusal" in refused.get_attribute("class")
    assert "Not in the articles" in refused.inner_text()
    assert "Closest passages" in refused.inner_text()
    # One short line per closest passage, not a card each.
    lines = refused.locator(".closest-line")
    assert lines.count() == 3 and refused.locator(".source-card").count() == 0
    for i in range(3):
        assert rect(lines.nth(i))["height"] < 40
    assert page.evaluate("[...document.querySelectorAll('.closest-text')].every(t => t.scrollWidth > t.clientWidth)")
    # A long chat scrolls inside the thread: the input and the articles stay where they were.
    expect(page.locator("#question")).to_be_in_viewport()
    expect(page.locator("#article-list")).to_be_in_viewport()
    assert page.evaluate("document.scrollingElement.scrollHeight <= window.innerHeight")
    shot(page, "desktop-refusal")
    assert_accessible(page, "desktop-refusal")
    # A refusal because the article never names who is asked about says whom it does not mention.
    unmentioned = ask(page, "What did Belarusian President Alexander Lukashenko say about the swap?")
    assert "refusal" in unmentioned.get_attribute("class")
    expect(unmentioned.locator(".warning")).to_contain_text("Lukashenko")
    shot(page, "desktop-refusal-unmentioned")
    assert_accessible(page, "desktop-refusal-unmentioned")

    page.reload()
    page.wait_for_selector(".turn-answer")
    assert page.locator(".question-text").count() == 4  # the conversation survives a reload
    page.click("#new-chat")
    assert page.locator(".question-text").count() == 0
    expect(page.locator(".starter").first).to_be_visible()


def test_upload_next_to_the_control_then_ask_then_delete_leaves_a_dead_chip(page, sample_server, tmp_path):
    extra = [f"extra-{i}" for i in range(5)]  # a longer list: the feedback must not fall below the fold
    for i, article_id in enumerate(extra):
        text = f"Extra news {i}\n\nThe town council of Ardmore met {i + 2} times about the new bridge.\n"
        assert httpx.post(sample_server.url + "/articles", json={"id": article_id, "text": text}).status_code == 201
    try:
        page.reload()
        page.wait_for_selector(".article-item[data-article=extra-4]")
        expect(page.locator("#article-count")).to_have_text("(6)")
        page.click("#add-details summary")
        upload = tmp_path / "lighthouse.md"
        upload.write_text("# Lighthouse reopens\n\n## Visitors\n\n"
                          "The Skerry lighthouse welcomed 4,200 visitors in its first week.\n")
        page.set_input_files("#add-file", str(upload))
        page.click("#add-submit")
        page.wait_for_selector(".article-item[data-article=lighthouse]")
        status = page.locator("#add-status")
        expect(status).to_have_text("Indexed “Lighthouse reopens”: 1 section, 1 passage.")
        expect(status).to_be_in_viewport()
        submit = rect(page.locator("#add-submit"))
        assert abs(rect(status)["y"] - submit["y"]) < submit["height"]  # beside the button, not under the list
        expect(page.locator(".article-item[data-article=lighthouse] .article-meta")).to_contain_text("1 section ·")
        shot(page, "desktop-added-article")

        answer = ask(page, "How many visitors did the Skerry lighthouse welcome?")
        assert "4,200" in answer.inner_text()
        assert "Lighthouse reopens" in answer.locator(".source-card").inner_text()

        page.click(".article-item[data-article=lighthouse] >> text=Delete")
        page.wait_for_selector(".article-item[data-article=lighthouse]", state="detached")
        assert page.dialogs and "Delete “Lighthouse reopens”" in page.dialogs[-1]
        # The answer's chip and source card now say the article is gone, in the reader's words.
        chip = answer.locator(".chip").first
        expect(chip).to_have_class("chip removed")
        assert "this article was removed" in chip.get_attribute("aria-label")
        expect(answer.locator(".source-card .source-where")).to_have_text("This article was removed")
        chip.click()
        expect(page.locator("#preview")).to_contain_text("This article was removed.")
        expect(page.locator("#reader")).to_be_hidden()
        assert "no article with id" not in page.inner_text("body")
        shot(page, "desktop-dead-chip")
        assert_accessible(page, "desktop-dead-chip")
    finally:
        for article_id in extra:
            httpx.delete(f"{sample_server.url}/articles/{article_id}")


def test_bad_upload_shows_the_reason_next_to_the_form(page, tmp_path):
    bad = tmp_path / "scan.txt"
    bad.write_bytes(b"\x00\x01binary")
    page.click("#add-details summary")
    page.set_input_files("#add-file", str(bad))
    page.click("#add-submit")
    page.wait_for_selector("#add-error:not([hidden])")
    assert "binary" in page.inner_text("#add-error")


def test_markup_in_an_article_renders_inert(page, sample_server):
    payload = ("Harbour gossip\n\nThe harbour master wrote <script>window.__pwned = 1</script> on the board. "
               "A visitor pinned <img src=x onerror=\"window.__pwned = 2\"> beside it and left.\n")
    created = httpx.post(sample_server.url + "/articles", json={"id": "xss-test", "text": payload})
    assert created.status_code == 201
    try:
        page.reload()
        page.wait_for_selector(".article-item[data-article=xss-test]")
        answer = ask(page, "What did the harbour master write on the board?")
        assert "<script>window.__pwned = 1</script>" in answer.inner_text()
        answer.locator(".chip").first.hover()
        expect(page.locator("#preview")).to_contain_text("<script>")
        answer.locator(".chip").first.click()
        expect(page.locator("#reader-text")).to_contain_text("<img src=x onerror")
        page.wait_for_timeout(300)
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#thread img, #reader img, #thread script, #preview img").count() == 0
        assert page.dialogs == []
    finally:
        httpx.delete(sample_server.url + "/articles/xss-test")


def test_suggestions_for_articles_without_headings(browser, make_container, start_server):
    """Every article yields suggestions: the names it mentions, or else its title; and they are answered."""
    server = start_server(make_container(seed_sample=False))
    with server.client() as client:
        for article in (
            {"id": "ferry", "text": "Harbour ferries resume\n\nThe Skerry ferry resumed its night crossings on Monday "
             "after a month of repairs. Captain Ingrid Solberg said the crossing to Oslo now takes four hours. The "
             "Norwegian Maritime Authority approved the new engines last week.\n"},
            {"id": "garden", "title": "Allotment prizes", "text": "the allotment garden show drew about three hundred "
             "growers this year. the largest pumpkin weighed ninety kilograms and won first prize.\n"},
        ):
            assert client.post("/articles", json=article).status_code == 201
    page = open_page(browser, server, wait=".starter")
    intro = page.inner_text(".starters-intro")
    starters = page.locator(".starter").all_inner_texts()
    assert len(starters) >= 2 and intro.endswith("For example:"), (intro, starters)
    assert any("Ingrid Solberg" in s for s in starters) and any("“Allotment prizes”" in s for s in starters)
    shot(page, "desktop-starters-no-headings")
    for text in (next(s for s in starters if "Ingrid Solberg" in s), next(s for s in starters if "Allotment" in s)):
        with page.expect_response(lambda r: r.url.endswith("/ask/stream")):
            page.locator(".starter", has_text=text).click()
        page.wait_for_function("!document.querySelector('#thread [aria-busy=true]')")
        last = page.locator(".turn-answer").last
        assert "refusal" not in last.get_attribute("class"), last.inner_text()
        page.click("#new-chat")
    close(page)


def test_failures_to_load_are_shown_not_swallowed(browser, sample_server):
    page = open_page(browser, sample_server, wait=None)
    page.route("**/articles", lambda route: route.abort())  # the list: the server is unreachable
    page.reload()
    error = page.locator("#articles-error")
    expect(error).to_contain_text("Could not list the articles. Could not reach the server")
    expect(page.locator("#starters")).to_contain_text("could not be listed")
    page.unroute("**/articles")
    page.route("**/outline", lambda route: route.fulfill(
        status=503, content_type="application/json", body='{"error": "the server is busy: try again in a moment"}'))
    error.locator("text=Try again").click()
    expect(error).to_be_hidden()
    expect(page.locator("#starters .form-error")).to_contain_text("the server is busy")

    page.route(f"**/articles/{SAMPLE_ID}", lambda route: route.fulfill(
        status=500, content_type="application/json", body='{"error": "the store is not answering"}'))
    page.click(".article-open")
    expect(page.locator("#reader-text")).to_contain_text("Could not open “Ukraine Russia Prisoner Exchange”: "
                                                         "the store is not answering")
    page.unroute(f"**/articles/{SAMPLE_ID}")
    page.click("#reader-text >> text=Try again")
    expect(page.locator("#reader-text h3").first).to_be_visible()
    close(page)


def test_phone(browser, sample_server):
    page = open_page(browser, sample_server, viewport=PHONE, phone=True, wait=".starter")
    _header_fits(page)
    answer = ask(page, TWO_SOURCES)
    assert "50 kilometers" in answer.inner_text()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways ({width}px)"
    assert not page.locator("#articles-panel").is_visible()
    # Each chip is a 44×44 px touch target: a tap 21 px from its middle still lands on it.
    chips = answer.locator(".chip")
    for i in range(chips.count()):
        box = rect(chips.nth(i))
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        for dx, dy in ((-21, -21), (21, -21), (-21, 21), (21, 21)):
            hit = page.evaluate(f"document.elementFromPoint({x + dx}, {y + dy})?.closest('.chip')?.dataset.n")
            assert hit == chips.nth(i).get_attribute("data-n"), (i, dx, dy, hit)
    shot(page, "phone-answer")
    assert_accessible(page, "phone-answer")

    # A source opens as a sheet over the chat; a tap on the backdrop above it closes it.
    chips.first.tap()
    reader = page.locator("#reader")
    expect(reader).to_be_visible()
    assert page.evaluate("document.querySelector('#reader').matches(':modal')")
    expect(reader.locator("mark.quote")).to_be_in_viewport()
    shot(page, "phone-reader")
    assert_accessible(page, "phone-reader")
    page.mouse.click(PHONE["width"] / 2, 20)
    expect(reader).to_be_hidden()

    # The Articles panel covers the chat; Escape closes it and puts the reader back on its button.
    page.click("#toggle-articles")
    expect(page.locator("#articles-panel")).to_be_visible()
    _header_fits(page)
    shot(page, "phone-articles")
    assert_accessible(page, "phone-articles")
    page.keyboard.press("Escape")
    expect(page.locator("#articles-panel")).to_be_hidden()
    assert page.evaluate("document.activeElement.id") == "toggle-articles"
    close(page)


def _header_fits(page) -> None:
    """The header's buttons sit on one line each, inside the screen ("New / chat" was two lines)."""
    for button in page.locator(".topbar button:visible").all():
        box = rect(button)
        assert box["x"] + box["width"] <= PHONE["width"], button.inner_text()
        lines = button.evaluate("b => { const r = document.createRange(); r.selectNodeContents(b); "
                                "return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; }")
        assert lines == 1, f"{button.inner_text()!r} wraps"


def test_phone_in_dark_mode(browser, sample_server):
    page = open_page(browser, sample_server, viewport=PHONE, phone=True, dark=True, wait=".starter")
    shot(page, "phone-dark-start")
    answer = ask(page, "How do I bake sourdough bread?")  # a refusal: its own colours
    assert "refusal" in answer.get_attribute("class")
    ask(page, TWO_SOURCES)
    background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert background == "rgb(21, 22, 24)", background  # the dark palette follows the system setting
    shot(page, "phone-dark-answer")
    assert_accessible(page, "phone-dark-answer")
    page.locator(".chip").last.tap()
    expect(page.locator("#reader mark.quote")).to_be_in_viewport()
    shot(page, "phone-dark-reader")
    assert_accessible(page, "phone-dark-reader")
    close(page)


def test_failed_request_keeps_the_question_and_a_broken_stream_says_so(page):
    # The network fails here on purpose (Playwright answers in place of the server).
    page.route("**/ask/stream", lambda route: route.fulfill(
        status=503, content_type="application/json", body='{"error": "the server is busy: try again in a moment"}'))
    answer = ask(page, "Where did the exchange happen?")
    assert "the server is busy" in answer.inner_text()
    assert page.input_value("#question") == "Where did the exchange happen?"  # kept for a retry
    assert answer.locator("text=Retry").is_visible()

    cut = ('event: citations\ndata: {"citations": []}\n\n'
           'event: delta\ndata: {"text": "The exchange took place "}\n\n')
    page.unroute("**/ask/stream")
    page.route("**/ask/stream", lambda route: route.fulfill(status=200, content_type="text/event-stream", body=cut))
    answer.locator("text=Retry").click()
    page.wait_for_selector(".error-line")
    broken = page.locator(".turn-answer").last
    assert "The exchange took place" in broken.inner_text() and "cut off" in broken.inner_text()
    expect(broken.locator("text=Retry")).to_be_visible()
    assert page.locator(".question-text").count() == 1  # the retry replaced the failed turn


def test_dark_theme_and_shift_enter(browser, sample_server):
    page = open_page(browser, sample_server, viewport={"width": 1024, "height": 700}, dark=True, wait=".starter")
    background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert background == "rgb(21, 22, 24)", background  # the dark palette follows the system setting
    page.click("#question")
    page.keyboard.type("Who hosted the delegations")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("in Istanbul?")
    # Shift+Enter adds a line, sends nothing.
    assert page.input_value("#question") == "Who hosted the delegations\nin Istanbul?"
    assert page.locator(".question-text").count() == 0
    page.keyboard.press("Enter")
    page.wait_for_selector(".turn-answer .source-card")
    page.locator(".source-card").first.click()
    expect(page.locator("#reader mark.quote")).to_be_visible()
    shot(page, "desktop-dark-reader")
    assert_accessible(page, "desktop-dark-reader")
    close(page)


def test_api_docs_render_with_no_network(browser, sample_server):
    """The OpenAPI page draws itself from assets the app serves (this machine has no internet)."""
    page = open_page(browser, sample_server, path="/docs", wait=".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/ask" in paths and "/articles/{article_id}" in paths and "/articles/{article_id}/outline" in paths
    shot(page, "desktop-api-docs")
    close(page)
