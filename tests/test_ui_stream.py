"""The chat while an answer streams, in a real headless Chromium against the real server, its stream slowed
the way an LLM's is (tests/conftest.py StreamPace: each piece some tenths of a second after the last, the
same every run): the reader's place kept, Stop, a question queued, a reload mid-answer; then what a reader
does with an answer (copy, regenerate, edit the last question) and the keyboard."""

from __future__ import annotations

import json

import pytest

from tests.ui_support import ANSWERING, ask, assert_accessible, close, expect, open_page, send, shot

TWO_SOURCES = "What happened at the Belarus border?"  # many pieces, two sources
LOW_CONFIDENCE = "How long did the Istanbul session last?"  # confidence ~0.1, under the UI's 0.3
RECEPTION = "Who arranged the reception centers for returning prisoners?"
BACKGROUND = "What does the article say about “Background of the Talks”?"  # high confidence
SEED_QUESTIONS = [TWO_SOURCES, RECEPTION, "How far apart were the two border crossings?",
                  "What did Zelenskyy call the prisoner swap?", "How many drones did Russia say it downed?",
                  "Which organization sent observers to check on the prisoners' health?"]
THREAD_END = "(t => t.scrollHeight - t.scrollTop - t.clientHeight)(document.getElementById('thread'))"
TO_THE_TOP = "document.body.tabIndex = -1; document.body.focus(); document.body.removeAttribute('tabindex')"
DONE = f"!document.querySelector('{ANSWERING}')"


@pytest.fixture
def paced(sample_server):
    yield sample_server.pace
    sample_server.pace.seconds = 0


@pytest.fixture
def page(browser, sample_server):
    page = open_page(browser, sample_server, permissions=["clipboard-read", "clipboard-write"])
    yield page
    close(page)


def seed(page, server, count: int) -> None:
    """A conversation of `count` real answers (from POST /ask), as the UI keeps it, then a reload."""
    with server.client() as client:
        answers = [client.post("/ask", json={"question": q}).json() for q in SEED_QUESTIONS]
    turns = [{"id": f"seed-{i}", "question": SEED_QUESTIONS[i % len(answers)], **answers[i % len(answers)]}
             for i in range(count)]
    page.evaluate("turns => localStorage.setItem('articlechat.chat.v1', JSON.stringify(turns))", turns)
    page.reload()
    expect(page.locator(".turn")).to_have_count(count)
    page.wait_for_selector(".article-item")  # the list has loaded: the chips know their articles exist


def streaming_text(page):
    """Wait until the streaming answer shows some text; its text element."""
    text = page.locator(".turn").last.locator(".answer-text")
    expect(text).not_to_be_empty()
    return text


def test_streaming_keeps_the_readers_place(page, sample_server, paced):
    seed(page, sample_server, 12)
    # Watch the conversation: what changes outside the turn being answered, and where the reader is.
    page.evaluate("""() => {
        const thread = document.getElementById('thread');
        window.__first = thread.firstElementChild;
        window.__outside = 0;
        window.__tops = [];
        new MutationObserver((changes) => {
            for (const c of changes) {
                const appended = c.target === thread && c.removedNodes.length === 0;  // the new turn
                if (!appended && c.target.closest?.('.turn') !== thread.lastElementChild) window.__outside++;
            }
            window.__tops.push(thread.scrollTop);
        }).observe(thread, { childList: true, subtree: true, characterData: true });
    }""")
    paced.seconds = 0.5  # long enough that, on a loaded machine too, the reader scrolls up mid-answer
    send(page, TWO_SOURCES)
    streaming_text(page)
    # Mid-answer, the reader scrolls up to an older answer and puts the focus on one of its sources.
    card = page.locator(".turn").nth(2).locator(".source-card").first
    card.scroll_into_view_if_needed()
    card.focus()
    top = page.evaluate("document.getElementById('thread').scrollTop")
    page.evaluate("window.__tops = []")
    expect(page.locator("#jump-latest")).to_be_visible()
    shot(page, "desktop-streaming-scrolled-up")
    assert_accessible(page, "desktop-streaming")
    page.wait_for_function(DONE, timeout=30_000)

    tops = page.evaluate("window.__tops")
    assert len(tops) >= 3, "the answer should have arrived in several pieces while the reader was up there"
    assert set(tops) == {top}, f"the reader was moved: {tops}"
    assert page.evaluate("document.activeElement.classList.contains('source-card')")
    expect(card).to_be_focused()
    assert page.evaluate("window.__outside") == 0, "turns other than the one answered were changed"
    assert page.evaluate("document.getElementById('thread').firstElementChild === window.__first")
    expect(page.locator(".turn")).to_have_count(13)

    # "Jump to latest" brings the new answer into view and the focus back to the question box.
    page.click("#jump-latest")
    assert page.evaluate(THREAD_END) <= 2
    expect(page.locator(".turn").last.locator(".source-card").last).to_be_in_viewport()
    expect(page.locator("#jump-latest")).to_be_hidden()
    expect(page.locator("#question")).to_be_focused()

    # A reader at the bottom is kept there as the answer grows.
    send(page, RECEPTION)
    streaming_text(page)
    assert page.evaluate(THREAD_END) <= 2
    page.wait_for_function(DONE, timeout=30_000)
    assert page.evaluate(THREAD_END) <= 2
    expect(page.locator("#jump-latest")).to_be_hidden()


def test_stop_aborts_and_a_question_sent_meanwhile_waits_its_turn(page, paced):
    streams: list[str] = []
    page.on("request", lambda r: r.url.endswith("/ask/stream") and streams.append(json.loads(r.post_data)["question"]))
    paced.seconds = 0.4
    send(page, TWO_SOURCES)
    streaming_text(page)
    expect(page.locator("#send")).to_be_disabled()
    expect(page.locator("#ask-form")).to_have_attribute("aria-busy", "true")
    expect(page.locator("#stop")).to_be_visible()

    # Enter during the answer queues the question, visibly; one more is refused, its text kept.
    send(page, RECEPTION)
    expect(page.locator("#compose-note")).to_contain_text(f"Queued: “{RECEPTION}”")
    assert page.input_value("#question") == ""
    send(page, "And the buses?")
    expect(page.locator("#ask-error")).to_contain_text("already queued")
    assert page.input_value("#question") == "And the buses?"
    assert streams == [TWO_SOURCES]  # nothing else sent yet
    shot(page, "desktop-busy-queued")
    assert_accessible(page, "desktop-busy-queued")
    page.fill("#question", "")

    paced.seconds = 0.05
    with page.expect_event("requestfailed", lambda r: r.url.endswith("/ask/stream")) as aborted:
        page.click("#stop")
    assert "ABORTED" in (aborted.value.failure or "")  # the request itself was cancelled
    first = page.locator(".turn").first
    expect(first).to_contain_text("You stopped this answer.")
    stopped_text = first.locator(".answer-text").inner_text()
    assert first.locator(".chip").count() < 2  # cut short: the whole answer cites two passages
    expect(first.locator("text=Retry")).to_be_visible()

    # The queued question goes out once the stopped answer has ended.
    page.wait_for_function("document.querySelectorAll('.turn').length === 2")
    page.wait_for_function(DONE, timeout=30_000)
    assert streams == [TWO_SOURCES, RECEPTION]
    expect(page.locator(".turn").last).to_contain_text("Ukrainian officials have arranged transportation")
    assert first.locator(".answer-text").inner_text() == stopped_text  # nothing more arrived after Stop
    expect(page.locator("#send")).to_be_enabled()
    expect(page.locator("#stop")).to_be_hidden()
    expect(page.locator("#ask-form")).to_have_attribute("aria-busy", "false")
    expect(page.locator("#compose-note")).to_be_hidden()
    expect(page.locator("#question")).to_be_focused()


def test_reload_mid_answer_keeps_the_question_cut_off_with_retry(page, paced):
    paced.seconds = 0.4
    send(page, TWO_SOURCES)
    shown = streaming_text(page).inner_text()
    page.reload()
    turn = page.locator(".turn")
    expect(turn).to_have_count(1)
    expect(turn.locator(".question-text")).to_have_text(TWO_SOURCES)
    expect(turn).to_contain_text("The answer was cut off")
    assert turn.locator(".answer-text").inner_text().startswith(shown[:20])  # what was shown is kept
    shot(page, "desktop-reload-cut-off")
    assert_accessible(page, "desktop-reload-cut-off")

    paced.seconds = 0
    turn.locator("text=Retry").click()
    page.wait_for_function(f"{DONE} && document.querySelector('.source-card')")
    expect(turn).to_have_count(1)  # the retry took its place
    expect(turn.locator(".source-card")).to_have_count(2)
    expect(turn).not_to_contain_text("cut off")


def test_copy_regenerate_edit_and_a_quiet_low_confidence(page):
    unsure = ask(page, LOW_CONFIDENCE)
    expect(unsure.locator(".unsure-note")).to_have_text("This may not answer your question: check the sources.")
    sure = ask(page, BACKGROUND)
    expect(sure.locator(".unsure-note")).to_have_count(0)
    # Regenerate and Edit belong to the last turn only.
    expect(unsure.locator("text=Regenerate")).to_be_hidden()
    expect(page.locator(".turn").first.locator("text=Edit")).to_be_hidden()
    shot(page, "desktop-answer-actions")

    sure.locator("text=Copy").click()
    expect(sure.locator("button", has_text="Copied")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("On May 16, Turkish Foreign Minister Hakan Fidan hosted") and "[1]" in copied
    assert copied.endswith("\n\nSources:\n[1] Ukraine Russia Prisoner Exchange — "
                           "Context of the Istanbul Dialogue > Background of the Talks")

    cards = page.locator(".source-card").count()
    with page.expect_request(lambda r: r.url.endswith("/ask/stream")) as regenerated:
        sure.locator("text=Regenerate").click()
    assert json.loads(regenerated.value.post_data)["question"] == BACKGROUND
    page.wait_for_function(f"{DONE} && document.querySelectorAll('.source-card').length === {cards}")
    expect(page.locator(".turn")).to_have_count(2)  # in place of the last answer, not after it

    page.locator(".turn").last.locator("text=Edit").click()
    assert page.input_value("#question") == BACKGROUND
    expect(page.locator("#compose-note")).to_contain_text("Editing your last question")
    shot(page, "desktop-editing")
    assert_accessible(page, "desktop-editing")
    edited = ask(page, "Who hosted the delegations in Istanbul?")
    expect(page.locator(".turn")).to_have_count(2)
    expect(page.locator(".question-text").last).to_have_text("Who hosted the delegations in Istanbul?")
    assert "Hakan Fidan" in edited.inner_text()
    expect(page.locator(".question-text").first).to_have_text(LOW_CONFIDENCE)  # the earlier turn stays


def test_keyboard_skip_link_and_one_tab_stop_per_answers_sources(page, sample_server):
    seed(page, sample_server, 4)
    chips = page.locator("#thread .chip").count()
    cards = page.locator("#thread .source-card").count()
    assert chips > 4 and cards > 4  # some answers cite two passages

    page.evaluate(TO_THE_TOP)  # as on arriving at the page
    page.keyboard.press("Tab")
    skip = page.locator("#skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()  # shown when focused
    page.keyboard.press("Enter")
    expect(page.locator("#question")).to_be_focused()

    # Tab from the top to the question box: each answer's chips are one stop, its sources another.
    page.evaluate(TO_THE_TOP)
    stops = []
    for _ in range(100):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.id || document.activeElement.className")
        if focused == "question":
            break
        stops.append(focused)
    else:
        pytest.fail(f"the question box is not reachable by Tab: {stops}")
    assert stops.count("chip") == 4 and stops.count("source-card") == 4, stops

    # Inside an answer's sources, the arrow keys move; Enter opens the one focused.
    two = page.locator(".turn").first.locator(".source-card")
    two.first.focus()
    page.keyboard.press("ArrowRight")
    expect(two.nth(1)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#reader-position")).to_have_text("Source 2 of 2")
    page.keyboard.press("Escape")
    expect(two.nth(1)).to_be_focused()
