"""Helpers of the browser tests (tests/test_ui*.py): pages at a reader's sizes, asking a question as a reader
does, screenshots of what a person sees (test-output/ui/), and axe-core's accessibility rules run on the
page as it stands (tests/vendor/axe-core, vendored: no registry at test time)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

SHOTS = ROOT / "test-output" / "ui"
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
ANSWERING = "#thread [aria-busy=true]"


def open_page(browser, server, *, viewport=DESKTOP, phone=False, dark=False, path="/", wait=".article-item", **context):
    """A new tab at `server`, the way a reader opens it. Confirmation dialogs are accepted and kept in
    `page.dialogs`; every response with an error status in `page.failures`, uncaught JavaScript errors in
    `page.errors` (`close` checks there are none)."""
    options = {"viewport": viewport, "color_scheme": "dark" if dark else "light", **context}
    if phone:
        options.update(is_mobile=True, has_touch=True)
    page = browser.new_context(**options).new_page()
    page.set_default_timeout(20_000)
    page.dialogs = []  # type: ignore[attr-defined]
    page.failures = []  # type: ignore[attr-defined]
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.accept()))
    page.on("response", lambda r: r.status >= 400 and page.failures.append(f"{r.status} {r.url}"))
    page.goto(server.url + path)
    if wait:
        page.wait_for_selector(wait, state="attached")
    return page


def close(page) -> None:
    """Close the tab, which must have thrown no JavaScript error meanwhile."""
    errors = list(page.errors)
    page.context.close()
    assert errors == [], errors


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))  # the viewport: what a person sees


def send(page, question: str) -> None:
    page.fill("#question", question)
    page.press("#question", "Enter")


def ask(page, question: str):
    """Send a question and wait until its stream has ended (the `done` event is its last bytes) and the
    answer is drawn; the answer's element."""
    page.fill("#question", question)
    with page.expect_response(lambda r: r.url.endswith("/ask/stream")) as streamed:
        page.press("#question", "Enter")
    response = streamed.value
    assert response.finished() is None  # None: the whole body arrived, not a network error
    if response.ok:
        assert "event: done" in response.text()  # the answer's last event
    page.wait_for_function(f"!document.querySelector('{ANSWERING}') && !document.querySelector('.typing')")
    answers = page.locator(".turn-answer")
    return answers.nth(answers.count() - 1)  # this one, even once others follow


def assert_accessible(page, state: str) -> None:
    """axe-core finds no violation of its rules (WCAG 2.2 A and AA, and its best practices) in the page as
    it stands; what it found is kept in test-output/ui/axe/<state>.json."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, { resultTypes: ["violations"] });
        return { version: axe.version, passes: r.passes.length, violations: r.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })) })) };
    }""")
    out = SHOTS / "axe"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{state}.json").write_text(json.dumps(result, indent=2))
    assert result["violations"] == [], f"axe {result['version']} in state {state!r}: " + json.dumps(
        result["violations"], indent=2)


def rect(locator) -> dict:
    box = locator.bounding_box()
    assert box is not None, f"{locator} is not displayed"
    return box


def words(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
