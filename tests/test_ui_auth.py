"""The web UI against a server started with an API key, in a real headless Chromium (as tests/test_ui.py):
a refused write asks for the key, then goes through; the key goes with every request from then on."""

from __future__ import annotations

from tests.ui_support import expect, shot

KEY = "ui-key-3b9e"
KEY_STORAGE = "sessionStorage.getItem('articlechat.apikey')"


def test_adding_an_article_asks_for_the_key_then_succeeds(browser, make_container, start_server):
    server = start_server(make_container(api_key=KEY))
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(20_000)
    confirms: list[str] = []
    page.on("dialog", lambda d: (confirms.append(d.message), d.accept()))
    page.goto(server.url + "/")
    page.wait_for_selector(".article-item")  # reads need no key
    key_dialog = page.locator("#key-dialog")
    expect(key_dialog).to_be_hidden()

    # A wrong key: the write is refused with the server's reason, and the key is not kept.
    page.click("#add-details summary")
    page.fill("#add-text", "Harbour news\n\nThe ferry to Skerry now leaves at 7:15 every morning.\n")
    page.click("#add-submit")
    expect(key_dialog).to_be_visible()
    expect(page.locator("#key-dialog-reason")).to_contain_text("API key")
    page.fill("#api-key", "not-the-key")
    page.click("#key-submit")
    expect(page.locator("#add-error")).to_contain_text("the API key is not the server's")
    assert page.evaluate(KEY_STORAGE) is None

    # Asked again at the next write; the right key goes through, and the list is read with it too.
    page.click("#add-submit")
    expect(key_dialog).to_be_visible()
    page.fill("#api-key", KEY)
    shot(page, "desktop-api-key")
    with page.expect_request(lambda r: r.method == "GET" and r.url.endswith("/articles")) as listed:
        page.press("#api-key", "Enter")
    expect(key_dialog).to_be_hidden()
    added = page.locator(".article-item", has_text="Harbour news")
    expect(added).to_have_count(1)
    assert "Indexed “Harbour news”" in page.inner_text("#add-status")
    assert page.evaluate(KEY_STORAGE) == KEY
    assert listed.value.all_headers()["authorization"] == f"Bearer {KEY}"

    # From then on the key goes with every request: deleting asks nothing but the confirmation.
    with page.expect_request(lambda r: r.method == "DELETE") as deleted:
        added.locator("text=Delete").click()
    expect(added).to_have_count(0)
    assert deleted.value.all_headers()["authorization"] == f"Bearer {KEY}"
    expect(key_dialog).to_be_hidden()
    assert confirms == ["Delete “Harbour news” and all its passages?"]
    context.close()
