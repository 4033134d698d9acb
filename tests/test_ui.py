"""The web UI in a real headless Chromium (Debian's `chromium`, driven by Playwright), against the real
server with the sample article indexed. Screenshots land in test-output/screenshots/."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

SHOTS = ROOT / "test-output" / "screenshots"


@pytest.fixture
def page(browser, sample_server):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(20_000)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.dialogs = dialogs  # type: ignore[attr-defined]
    page.goto(sample_server.url + "/")
    page.wait_for_selector(".article-item")
    yield page
    context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))  # the viewport: what a person sees


def ask(page, question: str):
    """Send a question and wait until its stream has ended (the `done` event is its last bytes) and
    the answer is drawn."""
    page.fill("#question", question)
    with page.expect_response(lambda r: r.url.endswith("/ask/stream")) as streamed:
        page.press("#question", "Enter")
    response = streamed.value
    assert response.finished() is None  # None: the whole body arrived, not a network error
    if response.ok:
        assert "event: done" in response.text()  # the answer's last event
    page.wait_for_function("document.querySelectorAll('.typing').length === 0")
    return page.locator(".turn-answer").last


def test_ask_see_streamed_answer_and_open_the_cited_passage(page, sample_server):
    import httpx

    # Suggested questions name section headings of the indexed articles.
    headings = {s["path"][-1] for a in httpx.get(sample_server.url + "/articles").json()
                for s in httpx.get(f"{sample_server.url}/articles/{a['id']}").json()["sections"] if s["path"]}
    starters = page.locator(".starter").all_inner_texts()
    assert 1 <= len(starters) <= 4 and all(text.split("“")[-1].rstrip("”?") in headings for text in starters)
    answer = ask(page, "Who arranged the reception centers for returning prisoners?")
    assert "Ukrainian officials have arranged transportation" in answer.locator(".answer-text").inner_text()
    assert "Location and Logistics" in answer.locator(".source-head").first.inner_text()
    assert page.evaluate("document.activeElement.id") == "question"  # focus back in the input
    shot(page, "desktop-answer")

    answer.locator(".chip").first.click()
    dialog = page.locator("#article-view")
    expect(dialog).to_be_visible()
    # The whole passage is marked, and the sentence the answer quotes more strongly, in view.
    assert "The exchange operation commenced" in " ".join(dialog.locator("mark.passage").all_inner_texts())
    quote = dialog.locator("mark.quote")
    expect(quote).to_have_count(1)
    expect(quote).to_contain_text("Ukrainian officials have arranged transportation")
    expect(quote).to_be_in_viewport()  # scrolled into view
    assert dialog.locator("#article-view-section").inner_text().endswith("Location and Logistics")
    # Headings show as headings (part over section), not as body text.
    expect(dialog.locator("h3", has_text="Operation of the Prisoner Exchange")).to_have_count(1)
    expect(dialog.locator("h4", has_text="Location and Logistics")).to_have_count(1)
    shot(page, "desktop-article-view")
    page.click("#article-view-close")


def test_follow_up_and_refusal_and_reload(page, sample_server):
    first = ask(page, "What did Zelenskyy call the prisoner swap?").locator(".answer-text").inner_text()
    follow = ask(page, "Whom did he appeal to?")
    assert "Western partners" in follow.inner_text()
    assert first[:60] not in follow.locator(".answer-text").inner_text()  # it moves on, not repeats

    refused = ask(page, "How do I bake sourdough bread?")
    assert "refusal" in refused.get_attribute("class")
    assert "Not in the articles" in refused.inner_text()
    assert "Closest passages" in refused.inner_text()
    # A long chat scrolls inside the thread: the input and the articles stay where they were.
    expect(page.locator("#question")).to_be_in_viewport()
    expect(page.locator("#article-list")).to_be_in_viewport()
    assert page.evaluate("document.scrollingElement.scrollHeight <= window.innerHeight")
    shot(page, "desktop-refusal")

    page.reload()
    page.wait_for_selector(".turn-answer")
    assert page.locator(".turn-question").count() == 3  # the conversation survives a reload
    page.click("#new-chat")
    assert page.locator(".turn-question").count() == 0


def test_upload_ask_and_delete_an_article(page, tmp_path):
    upload = tmp_path / "lighthouse.md"
    upload.write_text(
        "# Lighthouse reopens\n\n## Visitors\n\nThe Skerry lighthouse welcomed 4,200 visitors in its first week.\n")
    page.set_input_files("#add-file", str(upload))
    page.click("#add-submit")
    page.wait_for_selector(".article-item[data-article=lighthouse]")
    assert "Indexed “Lighthouse reopens”" in page.inner_text("#add-status")

    answer = ask(page, "How many visitors did the Skerry lighthouse welcome?")
    assert "4,200" in answer.inner_text() and "Lighthouse reopens — Visitors" in answer.inner_text()

    page.click(".article-item[data-article=lighthouse] >> text=Delete")
    page.wait_for_selector(".article-item[data-article=lighthouse]", state="detached")
    assert page.dialogs and "Delete “Lighthouse reopens”" in page.dialogs[-1]


def test_bad_upload_shows_the_reason_next_to_the_form(page, tmp_path):
    bad = tmp_path / "scan.txt"
    bad.write_bytes(b"\x00\x01binary")
    page.set_input_files("#add-file", str(bad))
    page.click("#add-submit")
    page.wait_for_selector("#add-error:not([hidden])")
    assert "binary" in page.inner_text("#add-error")


def test_markup_in_an_article_renders_inert(page, sample_server):
    import httpx

    payload = ("Harbour gossip\n\nThe harbour master wrote <script>window.__pwned = 1</script> on the board. "
               "A visitor pinned <img src=x onerror=\"window.__pwned = 2\"> beside it and left.\n")
    created = httpx.post(sample_server.url + "/articles", json={"id": "xss-test", "text": payload})
    assert created.status_code == 201
    try:
        page.reload()
        page.wait_for_selector(".article-item[data-article=xss-test]")
        answer = ask(page, "What did the harbour master write on the board?")
        assert "<script>window.__pwned = 1</script>" in answer.inner_text()
        answer.locator(".chip").first.click()
        expect(page.locator("#article-view-text")).to_contain_text("<img src=x onerror")
        page.wait_for_timeout(300)
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#thread img, #article-view img, #thread script").count() == 0
        assert page.dialogs == []
    finally:
        httpx.delete(sample_server.url + "/articles/xss-test")


def test_phone_width(browser, sample_server):
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    page.goto(sample_server.url + "/")
    page.wait_for_selector(".starter")
    answer = ask(page, "How far apart were the two border crossings?")
    assert "50 kilometers" in answer.inner_text()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways ({width}px)"
    assert not page.locator("#articles-panel").is_visible()
    shot(page, "phone-answer")
    page.click("#toggle-articles")
    expect(page.locator("#articles-panel")).to_be_visible()
    shot(page, "phone-articles")
    context.close()


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
    assert page.locator(".turn-question").count() == 1  # the retry replaced the failed turn


def test_dark_theme_and_shift_enter(browser, sample_server):
    context = browser.new_context(viewport={"width": 1024, "height": 700}, color_scheme="dark")
    page = context.new_page()
    page.goto(sample_server.url + "/")
    page.wait_for_selector(".starter")
    background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    assert background == "rgb(21, 22, 24)", background  # the dark palette follows the system setting
    page.click("#question")
    page.keyboard.type("first line")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("second line")
    assert page.input_value("#question") == "first line\nsecond line"  # Shift+Enter adds a line, sends nothing
    assert page.locator(".turn-question").count() == 0
    page.keyboard.press("Enter")
    page.wait_for_selector(".turn-answer .answer-text")
    shot(page, "desktop-dark")
    context.close()


def test_api_docs_render_with_no_network(browser, sample_server):
    """The OpenAPI page draws itself from assets the app serves (this machine has no internet)."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.goto(sample_server.url + "/docs")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/ask" in paths and "/articles/{article_id}" in paths
    shot(page, "desktop-api-docs")
    context.close()
