"""The HTTP API over real HTTP (uvicorn), with the real model and an embedded Chroma, in extractive mode."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from tests.conftest import SAMPLE_ID

MARKER = re.compile(r"\[(\d+)\]")


def assert_citation_contract(client: httpx.Client, body: dict) -> None:
    """Every [n] names a citation, and every citation is verbatim article text at its offsets."""
    numbers = {c["n"] for c in body["citations"]}
    markers = {int(n) for n in MARKER.findall(body["answer"])}
    assert markers <= numbers, (markers, numbers)
    if body["answered"]:
        assert markers, "an answer must cite something"
        assert markers == numbers, "only cited passages are listed"
    texts: dict[str, str] = {}
    for c in body["citations"]:
        if c["article_id"] not in texts:
            texts[c["article_id"]] = client.get(f"/articles/{c['article_id']}").json()["text"]
        assert texts[c["article_id"]][c["start"] : c["end"]] == c["text"]


def ask(client: httpx.Client, question: str, **extra) -> dict:
    response = client.post("/ask", json={"question": question, **extra})
    assert response.status_code == 200, response.text
    body = response.json()
    assert_citation_contract(client, body)
    return body


def read_sse(response: httpx.Response) -> list[tuple[str, dict]]:
    events = []
    for block in response.text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_answers_from_the_right_section_with_a_citation(api):
    body = ask(api, "Who arranged the reception centers for returning prisoners?")
    assert body["answered"] is True
    assert body["mode"] == "extractive"
    first = body["citations"][0]
    assert first["article_id"] == SAMPLE_ID
    assert first["section"] == "Operation of the Prisoner Exchange > Location and Logistics"
    assert "Ukrainian officials have arranged transportation and temporary reception centers" in body["answer"]


@pytest.mark.parametrize(
    "question, section, expected",
    [
        ("Who hosted the delegations in Istanbul on May 16?", "Background of the Talks", "Hakan Fidan"),
        ("How many drones did Russia say it downed?", "Escalating Drone and Missile Attacks", "788"),
        ("Which organization sent observers to check on the prisoners' health?", "Medical and Humanitarian Oversight",
         "ICRC"),
        ("What did NATO's Secretary-General call on Russia to do?", "European Union and NATO Positions", "Stoltenberg"),
    ],
)
def test_answers_quote_the_sentence_that_answers(api, question, section, expected):
    body = ask(api, question)
    assert body["answered"] is True
    assert body["citations"][0]["section"].endswith(section)
    assert expected in body["answer"]


def test_off_topic_question_is_refused(api):
    for question in ("What is the weather in Kyiv today?", "How do I bake sourdough bread?"):
        body = ask(api, question)
        assert body["answered"] is False, body
        assert "do not cover" in body["answer"]
        assert not MARKER.search(body["answer"])


def test_a_question_for_a_number_or_a_date_the_article_does_not_give_is_refused(api):
    """Answer-type agreement: the sentences look right (the ICRC deployed observers; Russia dispatched
    buses) but hold no count or date, so there is no answer to quote."""
    for question in ("How many observers did the ICRC deploy at the exit points?",
                     "When did Russian authorities dispatch the buses?"):
        body = ask(api, question)
        assert body["answered"] is False, body
        assert body["citations"], "the closest passages are still shown"
    body = ask(api, "How many drones did Russia say it downed?")  # the sentence gives the count
    assert body["answered"] is True and "788" in body["answer"]


def test_a_count_of_something_else_is_no_answer_to_how_many(api):
    """"How many X": the sentence must count X (or what means the same), not something near it."""
    for question in ("How many people were in the Russian delegation at the Istanbul talks?",  # "On May 16…"
                     "How many journalists were freed in the swap?"):  # "dozens of soldiers… and journalists"
        body = ask(api, question)
        assert body["answered"] is False, body
    body = ask(api, "How many Ukrainian drones did Russia's Ministry of Defense report downing?")
    assert body["answered"] is True and "788 Ukrainian drones" in body["answer"]
    # "175 Shahed and other unmanned aerial vehicles" counts drones in other words: the embedder says so.
    body = ask(api, "How many drones did Russia launch?")
    assert body["answered"] is True and "175" in body["answer"], body


def test_a_question_about_a_name_or_number_no_passage_mentions_is_refused(api):
    """The articles found are not about what is asked: refused, saying which name is missing."""
    body = ask(api, "What did Belarusian President Alexander Lukashenko say about the swap?")
    assert body["answered"] is False, body
    assert any("Lukashenko" in w for w in body["warnings"]), body["warnings"]
    body = ask(api, "How many prisoners did each side exchange in 2019?")
    assert body["answered"] is False and any("2019" in w for w in body["warnings"]), body
    # A misspelt name and initials still name what the article mentions.
    assert ask(api, "What did Zelenskiy say about the swap?")["answered"] is True
    body = ask(api, "Who is the UN envoy mentioned in the article?")
    assert body["answered"] is True and "Geir Pedersen" in body["answer"]


def test_a_negative_question_is_answered_only_by_a_sentence_that_says_what_is_not(api):
    """"What … not …?" is answered by a sentence that says something is not so, or was declined, left
    silent, is yet to happen; a sentence that only resembles the question answers its opposite."""
    for question, quoted in [("What did White House officials not confirm?", "declined to confirm details"),
                             ("Why did the Kremlin not comment at first?", "remained silent"),
                             ("What has Moscow not yet responded to?", "third-party guarantors")]:
        body = ask(api, question)
        assert body["answered"] is True and quoted in body["answer"], body
    refused = ask(api, "Which prisoners were not screened by the ICRC?")  # all of them were
    assert refused["answered"] is False and any("not so" in w for w in refused["warnings"]), refused
    assert ask(api, "Which prisoners were screened by the ICRC?")["answered"] is True
    # A follow-up's "not" is about the previous answer: "Why not?" is answered.
    first = ask(api, "Did Russia agree to a truce?")
    history = [{"role": "user", "content": "Did Russia agree to a truce?"},
               {"role": "assistant", "content": first["answer"]}]
    assert ask(api, "Why not?", history=history)["answered"] is True


def test_a_number_the_answers_passage_lacks_is_refused(api):
    """A number of the question that another passage holds, but not the one of the best sentence:
    that passage is about something else ("May 16" is the Istanbul talks, not Peskov's statement)."""
    body = ask(api, "What did Peskov say on May 16?")
    assert body["answered"] is False and any("“16”" in w for w in body["warnings"]), body
    assert ask(api, "What happened in Istanbul on May 16?")["answered"] is True


def test_a_question_whose_best_sentence_says_the_opposite_is_refused(api):
    """"The last face-to-face meeting" is not answered by "the first face-to-face meeting"."""
    body = ask(api, "What was the last face-to-face meeting between the two sides since 2022?")
    assert body["answered"] is False and any("“first”" in w and "“last”" in w for w in body["warnings"]), body
    assert ask(api, "Where was the first face-to-face meeting of the two sides since the invasion held?")["answered"]
    # "last week" in the best sentence is time, not order.
    body = ask(api, "How many prisoners did each side release in the first swap?")
    assert body["answered"] is True and "1,000" in body["answer"], body


def test_every_answer_carries_a_calibrated_confidence(api):
    """confidence is the probability that the response is right; a well-supported answer rates higher
    than a question the article only resembles."""
    sure = ask(api, "How many drones did Russia say it downed?")
    unsure = ask(api, "What did the Red Cross say about the swap?")
    for body in (sure, unsure):
        assert 0.0 <= body["confidence"] <= 1.0
    assert sure["confidence"] > unsure["confidence"], (sure["confidence"], unsure["confidence"])
    streamed = api.post("/ask/stream", json={"question": "How many drones did Russia say it downed?"})
    done = next(data for event, data in read_sse(streamed) if event == "done")
    assert done["confidence"] == sure["confidence"]


def test_min_confidence_refuses_an_answer_less_likely_to_be_right(api):
    """An integration that wants only sure answers sets min_confidence: an answer rated below it is
    refused (saying why), one rated at it is given unchanged, in /ask and in the stream's done."""
    question = "How many drones did Russia say it downed?"
    answer = ask(api, question)
    assert answer["answered"] is True and answer["confidence"] < 1
    assert ask(api, question, min_confidence=answer["confidence"]) == answer
    above = round(answer["confidence"] + 0.001, 3)
    declined = ask(api, question, min_confidence=above)
    assert declined["answered"] is False and declined["answer"] != answer["answer"]
    assert any(str(answer["confidence"]) in w and f"{above:g}" in w for w in declined["warnings"]), declined
    # The refusal is right only if the question is unanswerable: at most as likely as the answer is wrong.
    assert declined["confidence"] <= round(1 - answer["confidence"], 3) + 1e-9
    streamed = api.post("/ask/stream", json={"question": question, "min_confidence": above})
    events = read_sse(streamed)
    assert events[-1][1] == declined
    assert "".join(data["text"] for name, data in events if name == "delta") == declined["answer"]


def test_follow_up_with_a_pronoun_uses_the_conversation(api):
    first = ask(api, "What did Zelenskyy call the swap?")
    assert first["answered"] and "human dignity" in first["answer"]
    follow = ask(
        api,
        "What did he appeal to Western partners for?",
        history=[{"role": "user", "content": "What did Zelenskyy call the swap?"},
                 {"role": "assistant", "content": first["answer"]}],
    )
    assert follow["answered"] is True
    assert follow["citations"][0]["section"].endswith("Ukrainian Government Response")
    assert "maintain pressure on Moscow" in follow["answer"]


def test_a_follow_up_stays_in_the_article_its_answer_quoted(api):
    """"What about NATO?" after a quote from the sample article means that article's NATO, even when
    another article says more about NATO; a follow-up on the other article's quote stays there."""
    created = api.post("/articles", json={
        "id": "test-alliance", "title": "Alliance notes",
        "text": "NATO described the exchange of letters between the allies as a rift within NATO.\n\n"
                "NATO ministers met in Brussels to discuss the exchange of letters."})
    assert created.status_code == 201, created.text
    try:
        first = ask(api, "How did Josep Borrell describe the exchange?")
        assert first["citations"][0]["article_id"] == SAMPLE_ID, first
        history = [{"role": "user", "content": "How did Josep Borrell describe the exchange?"},
                   {"role": "assistant", "content": first["answer"]}]
        follow = ask(api, "What about NATO?", history=history)
        assert follow["answered"] and "Stoltenberg" in follow["answer"], follow
        assert {c["article_id"] for c in follow["citations"]} == {SAMPLE_ID}
        assert ask(api, "What about NATO?")["citations"][0]["article_id"] == "test-alliance"  # asked alone
        history = [{"role": "user", "content": "Where did NATO ministers meet?"},
                   {"role": "assistant", "content": "NATO ministers met in Brussels to discuss the exchange of "
                                                    "letters. [1]"}]
        follow = ask(api, "And what did it say about the letters?", history=history)
        assert follow["citations"][0]["article_id"] == "test-alliance", follow
    finally:
        assert api.delete("/articles/test-alliance").status_code == 204


def test_article_ids_restrict_the_search(api):
    created = api.post("/articles", json={"id": "test-restrict", "title": "Gardening notes",
                                          "text": "Tomatoes need full sun and regular watering.\n\n"
                                                  "Basil grows well beside them."})
    assert created.status_code == 201, created.text
    try:
        body = ask(api, "What do tomatoes need?", article_ids=["test-restrict"])
        assert body["answered"] and all(c["article_id"] == "test-restrict" for c in body["citations"])
        body = ask(api, "Who arranged the reception centers?", article_ids=["test-restrict"])
        assert all(c["article_id"] == "test-restrict" for c in body["citations"])
    finally:
        assert api.delete("/articles/test-restrict").status_code == 204


def test_stream_sends_citations_then_deltas_then_the_full_answer(api):
    payload = {"question": "How far apart were the border crossings?"}
    with api.stream("POST", "/ask/stream", json=payload) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        response.read()
    events = read_sse(response)
    names = [name for name, _ in events]
    assert names[0] == "citations" and names[-1] == "done"
    assert set(names[1:-1]) == {"delta"}
    done = events[-1][1]
    assert "".join(data["text"] for name, data in events if name == "delta") == done["answer"]
    assert "50 kilometers" in done["answer"]
    assert {c["n"] for c in done["citations"]} <= {c["n"] for c in events[0][1]["citations"]}
    assert done == ask(api, payload["question"])


def test_articles_listing_and_detail(api):
    listing = api.get("/articles").json()
    sample = next(a for a in listing if a["id"] == SAMPLE_ID)
    assert sample["title"] == "Ukraine Russia Prisoner Exchange"
    assert sample["sections"] == 19 and sample["chunks"] >= sample["sections"]
    detail = api.get(f"/articles/{SAMPLE_ID}").json()
    assert "READ MORE" not in detail["text"]
    logistics = next(s for s in detail["sections"] if s["heading"].endswith("Location and Logistics"))
    assert detail["text"][logistics["start"] : logistics["end"]].startswith("The exchange operation commenced")
    assert detail["text"][logistics["heading_start"] :].startswith("Location and Logistics")
    assert detail["sections"][0]["path"] == []  # the lede


def test_article_outline_headings_with_levels_first_sentence_and_names(api):
    detail = api.get(f"/articles/{SAMPLE_ID}").json()
    outline = api.get(f"/articles/{SAMPLE_ID}/outline").json()
    assert outline["title"] == "Ukraine Russia Prisoner Exchange"
    assert outline["headings"] == detail["headings"]
    levels = {h["title"]: h["level"] for h in outline["headings"]}
    assert levels["Operation of the Prisoner Exchange"] == 1 and levels["Location and Logistics"] == 2
    assert len(levels) == 24  # 5 parts over 19 sections
    assert all(detail["text"][h["start"] : h["end"]] == h["title"] for h in outline["headings"])
    assert outline["lede"].startswith("CHERNIHIV REGION, Ukraine — In a rare sign of cooperation")
    assert outline["lede"].endswith("at the Belarus border crossing in northern Ukraine.")
    assert {"Turkish Foreign Minister Hakan Fidan", "Dmitry Peskov"} <= set(outline["names"])
    assert not set(outline["names"]) & set(levels)
    # Light: what a client needs to suggest questions, not the text (~10 KB).
    assert len(api.get(f"/articles/{SAMPLE_ID}/outline").content) * 4 < len(api.get(f"/articles/{SAMPLE_ID}").content)
    missing = api.get("/articles/no-such-article/outline")
    assert missing.status_code == 404 and "no-such-article" in missing.json()["error"]


def test_outline_of_nested_markdown_and_of_an_article_without_headings(api):
    nested = {"id": "test-outline", "format": "markdown", "text": "# Harbour news\n\n## Ferries\n\n### Night ferry\n\n"
              "The night ferry to Oslo leaves at 22:15.\n\n### Day ferry\n\nThe Skerry ferry runs hourly.\n\n"
              "## Weather\n\nCaptain Ingrid Solberg expects calm seas. Ingrid Solberg sails at dawn.\n"}
    plain = {"id": "test-plain", "text": "the allotment garden show drew three hundred growers this year.\n",
             "title": "Allotment prizes"}
    try:
        for doc in (nested, plain):
            assert api.post("/articles", json=doc).status_code == 201
        outline = api.get("/articles/test-outline/outline").json()
        # "Ferries" has no paragraph of its own: still a level-1 heading over its two sections.
        assert [(h["title"], h["level"]) for h in outline["headings"]] == [
            ("Ferries", 1), ("Night ferry", 2), ("Day ferry", 2), ("Weather", 1)]
        assert outline["lede"] == "The night ferry to Oslo leaves at 22:15."
        assert outline["names"][0] == "Ingrid Solberg"
        plain_outline = api.get("/articles/test-plain/outline").json()
        assert plain_outline["headings"] == [] and plain_outline["names"] == []
        assert plain_outline["lede"] == "the allotment garden show drew three hundred growers this year."
    finally:
        for doc in (nested, plain):
            api.delete(f"/articles/{doc['id']}")


def test_web_ui_files_are_compressed_and_answer_streams_are_not(api, sample_server):
    for path in ("/", "/ui/app.js", "/ui/app.css"):
        compressed = api.get(path, headers={"Accept-Encoding": "gzip"})
        assert compressed.headers["content-encoding"] == "gzip", path
        plain = api.get(path, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.content == compressed.content
        assert compressed.num_bytes_downloaded * 2 < len(plain.content), path  # under half the bytes
    icon = api.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    assert '<link rel="icon" href="/ui/favicon.svg"' in api.get("/").text

    # A stream is sent as it is written, uncompressed, even to a client that accepts gzip.
    sample_server.pace.seconds = 0.3
    try:
        arrived: list[tuple[float, str]] = []
        started = time.monotonic()
        with api.stream("POST", "/ask/stream", json={"question": "How far apart were the two border crossings?"},
                        headers={"Accept-Encoding": "gzip"}) as response:
            assert "content-encoding" not in response.headers
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("event: "):
                    arrived.append((time.monotonic() - started, line[7:]))
    finally:
        sample_server.pace.seconds = 0
    first_delta = next(t for t, name in arrived if name == "delta")
    assert arrived[-1][1] == "done" and arrived[-1][0] - first_delta > 0.6, arrived


def test_post_article_new_unchanged_updated_and_delete(api):
    doc = {"id": "test-lifecycle", "format": "markdown",
           "text": "# Harbour news\n\n## Ferries\n\nThe night ferry to Oslo leaves at 22:15 from pier 4.\n"}
    assert api.post("/articles", json=doc).status_code == 201
    again = api.post("/articles", json=doc)
    assert again.status_code == 200 and again.json()["status"] == "unchanged"
    body = ask(api, "When does the night ferry to Oslo leave?", article_ids=["test-lifecycle"])
    assert "22:15" in body["answer"] and body["citations"][0]["section"] == "Ferries"

    doc["text"] = doc["text"].replace("22:15 from pier 4", "23:40 from pier 9")
    updated = api.post("/articles", json=doc)
    assert updated.status_code == 201 and updated.json()["status"] == "updated"
    body = ask(api, "When does the night ferry to Oslo leave?", article_ids=["test-lifecycle"])
    assert "23:40" in body["answer"]
    assert all("22:15" not in c["text"] for c in body["citations"])

    assert api.delete("/articles/test-lifecycle").status_code == 204
    assert api.get("/articles/test-lifecycle").status_code == 404
    assert api.delete("/articles/test-lifecycle").status_code == 404
    body = ask(api, "When does the night ferry to Oslo leave?")
    assert all(c["article_id"] != "test-lifecycle" for c in body["citations"])


def test_batch_of_articles_gets_a_status_for_each(api):
    """POST /articles/batch: 207, and each article's own status, in order; a bad one stops nothing."""
    ferry = "# Harbour news\n\n## Ferries\n\nThe night ferry to Oslo leaves at 22:15 from pier 4.\n"
    trams = "Tram news\n\nTram 12 now stops at the quay every 20 minutes.\n"
    batch = {"articles": [
        {"id": "batch-ferry", "text": ferry, "format": "markdown"},
        {"id": "batch-trams", "text": trams},
        {"id": "batch-binary", "text": "<p>" * 40_000, "format": "html"},  # more markup than an article has
        {"id": "batch-ferry", "text": ferry.replace("22:15", "23:40"), "format": "markdown"},
    ]}
    try:
        response = api.post("/articles/batch", json=batch)
        assert response.status_code == 207, response.text
        body = response.json()
        assert [(r["index"], r["status"]) for r in body["results"]] == [(0, 201), (1, 201), (2, 422), (3, 201)]
        assert "too large" in body["results"][2]["error"] and body["results"][2]["article"] is None
        assert [r["article"]["status"] for r in body["results"] if r["article"]] == ["new", "new", "updated"]
        assert (body["added"], body["unchanged"], body["failed"]) == (3, 0, 1)
        # The later version of one id wins; every added article answers at once.
        assert "23:40" in ask(api, "When does the night ferry to Oslo leave?", article_ids=["batch-ferry"])["answer"]
        assert "20 minutes" in ask(api, "How often does tram 12 stop at the quay?",
                                   article_ids=["batch-trams"])["answer"]
        again = api.post("/articles/batch", json={"articles": batch["articles"][1:2]}).json()
        assert again["results"][0]["status"] == 200 and again["unchanged"] == 1
        assert api.get("/articles/batch-binary").status_code == 404
    finally:
        for article_id in ("batch-ferry", "batch-trams"):
            api.delete(f"/articles/{article_id}")


def test_multipart_upload_of_html(api):
    html = (b"<html><head><title>Mountain rescue</title><script>alert(1)</script></head><body>"
            b"<nav>Home | News</nav><h2>The rescue</h2>"
            b"<p>Volunteers from Zermatt reached the climbers after six hours.</p>"
            b"<footer>Copyright</footer></body></html>")
    response = api.post("/articles/upload", files={"file": ("rescue.html", html, "text/html")})
    assert response.status_code == 201, response.text
    assert response.json()["id"] == "rescue" and response.json()["title"] == "Mountain rescue"
    try:
        again = api.post("/articles/upload", files={"file": ("rescue.html", html, "text/html")})
        assert again.status_code == 200 and again.json()["status"] == "unchanged"
        detail = api.get("/articles/rescue").json()
        assert "alert" not in detail["text"] and "Copyright" not in detail["text"] and "Home" not in detail["text"]
        body = ask(api, "How long did the volunteers take to reach the climbers?", article_ids=["rescue"])
        assert "six hours" in body["answer"] and body["citations"][0]["section"] == "The rescue"
    finally:
        api.delete("/articles/rescue")


def test_upload_with_title_and_id_fields(api):
    upload = {"file": ("notes.md", b"# Notes\n\n## Tides\n\nHigh tide at the harbour is at 06:40.\n", "text/markdown")}
    response = api.post("/articles/upload", files=upload, data={"title": "Tide table", "id": "test-tides"})
    assert response.status_code == 201, response.text
    try:
        body = response.json()
        assert (body["id"], body["title"], body["status"]) == ("test-tides", "Tide table", "new")
        assert api.get("/articles/test-tides").json()["title"] == "Tide table"
    finally:
        assert api.delete("/articles/test-tides").status_code == 204


def test_article_endpoints_are_documented(api):
    paths = api.get("/openapi.json").json()["paths"]
    add = paths["/articles"]["post"]
    assert list(add["requestBody"]["content"]) == ["application/json"]
    assert {"201", "200", "413", "415", "422"} <= set(add["responses"])
    upload = paths["/articles/upload"]["post"]
    assert list(upload["requestBody"]["content"]) == ["multipart/form-data"]
    assert {"201", "200", "413", "422"} <= set(upload["responses"])
    assert {"200", "404"} <= set(paths["/articles/{article_id}"]["get"]["responses"])
    assert {"204", "404"} <= set(paths["/articles/{article_id}"]["delete"]["responses"])


def test_oversized_articles_get_413_and_nothing_is_written(make_container, start_server):
    server = start_server(make_container(seed_sample=False, max_upload_bytes=1000))
    with server.client() as api:
        too_big = b"The ferry leaves at noon. " * 60  # 1,560 bytes: over the limit, within the request's slack
        response = api.post("/articles/upload", files={"file": ("big.txt", too_big, "text/plain")})
        assert response.status_code == 413 and "big.txt is larger than 1000 bytes" in response.json()["error"]
        huge = "The ferry leaves at noon. " * 3000  # 78,000 bytes: refused from its Content-Length
        response = api.post("/articles/upload", files={"file": ("huge.txt", huge.encode(), "text/plain")})
        assert response.status_code == 413 and "1000 bytes" in response.json()["error"]
        response = api.post("/articles", json={"text": huge})
        assert response.status_code == 413 and "1000 bytes" in response.json()["error"]
        assert api.get("/articles").json() == []
        small = api.post("/articles/upload", files={"file": ("ok.txt", b"The ferry leaves at noon.", "text/plain")})
        assert small.status_code == 201, small.text


def test_a_deleted_sample_stays_deleted_after_a_restart(tmp_path, make_container, start_server):
    with start_server(make_container(data_dir=tmp_path / "store")).client() as api:
        assert [a["id"] for a in api.get("/articles").json()] == [SAMPLE_ID]  # seeded on the first start
        assert api.delete(f"/articles/{SAMPLE_ID}").status_code == 204
    with start_server(make_container(data_dir=tmp_path / "store")).client() as api:
        assert api.get("/articles").json() == []  # the store remembers it was seeded
    # A data directory marked the old way (a file beside the store) is not seeded again either.
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / ".sample-seeded").touch()
    with start_server(make_container(data_dir=tmp_path / "old")).client() as api:
        assert api.get("/articles").json() == []


def test_healthz(api, sample_server):
    health = api.get("/healthz").json()
    assert health["status"] == "ok" and health["articles"] >= 1 and health["chunks"] >= health["articles"]
    assert health["answer_mode"] == "extractive" and health["llm_model"] is None
    assert health["vector_store"] == str(sample_server.container.settings.data_dir.resolve())


def test_ui_placeholder_and_docs_are_served(api):
    page = api.get("/")
    assert page.status_code == 200 and "articlechat" in page.text
    for asset in ("/ui/app.js", "/ui/app.css"):
        assert asset in page.text and api.get(asset).status_code == 200
    docs = api.get("/docs")
    assert docs.status_code == 200
    assets = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", docs.text)
    assert assets and not any(a.startswith(("http:", "https:", "//")) for a in assets)  # no CDN: works offline
    assert all(api.get(a).status_code == 200 for a in assets)
    spec = api.get("/openapi.json").json()
    assert {"/ask", "/ask/stream", "/articles", "/articles/{article_id}", "/healthz"} <= set(spec["paths"])


# --- bad input: a 4xx that says what to fix, and nothing written -------------------------------------

BAD_ASKS = [
    ("not json", b"{question:", 400, "not valid JSON"),
    ("not utf-8", b"\xff\xfe{", 400, "not valid JSON"),
    ("not an object", b"[]", 422, "JSON object"),
    ("missing question", {}, 422, "question"),
    ("blank question", {"question": "   "}, 422, "blank"),
    ("too long", {"question": "x" * 2001}, 422, "2000"),
    ("question not a string", {"question": 42}, 422, "question"),
    ("unknown role", {"question": "Why?", "history": [{"role": "system", "content": "hi"}]}, 422, "role"),
    ("too many turns", {"question": "Why?", "history": [{"role": "user", "content": "a"}] * 21}, 422, "history"),
    ("unknown article", {"question": "Why?", "article_ids": ["no-such-article"]}, 404, "no-such-article"),
    ("top_k too big", {"question": "Why?", "top_k": 21}, 422, "top_k"),
    ("top_k zero", {"question": "Why?", "top_k": 0}, 422, "top_k"),
    ("min_confidence above 1", {"question": "Why?", "min_confidence": 1.5}, 422, "min_confidence"),
    ("min_confidence negative", {"question": "Why?", "min_confidence": -0.1}, 422, "min_confidence"),
    ("min_confidence a string", {"question": "Why?", "min_confidence": "0.5"}, 422, "min_confidence"),
    ("unknown field", {"question": "Why?", "mode": "llm"}, 422, "mode"),
]


@pytest.mark.parametrize("path", ["/ask", "/ask/stream"])
@pytest.mark.parametrize("case, body, status, fragment", BAD_ASKS, ids=[c[0] for c in BAD_ASKS])
def test_bad_questions_get_a_clear_4xx(api, path, case, body, status, fragment):
    if isinstance(body, bytes):
        response = api.post(path, content=body, headers={"content-type": "application/json"})
    else:
        response = api.post(path, json=body)
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]


def upload(name: str, data: bytes, content_type: str = "text/plain", **fields: str) -> dict:
    return {"files": {"file": (name, data, content_type)}, "data": fields}


JSON_TYPE = {"content-type": "application/json"}
TEXT = "Some text here."
BAD_ARTICLES = [
    ("not json", "/articles", {"content": b"{text:", "headers": JSON_TYPE}, 400, "not valid JSON"),
    ("not an object", "/articles", {"json": [TEXT]}, 422, "JSON object"),
    ("missing text", "/articles", {"json": {"title": "x"}}, 422, "text"),
    ("blank text", "/articles", {"json": {"text": "  \n "}}, 422, "text is blank"),
    ("bad id", "/articles", {"json": {"text": TEXT, "id": "../etc/passwd"}}, 422, "id"),
    ("bad format", "/articles", {"json": {"text": TEXT, "format": "pdf"}}, 422, "format"),
    ("title too long", "/articles", {"json": {"text": TEXT, "title": "t" * 501}}, 422, "500"),
    ("unknown field", "/articles", {"json": {"text": TEXT, "author": "me"}}, 422, "author"),
    ("wrong content type", "/articles", {"content": b"hello", "headers": {"content-type": "text/plain"}}, 415,
     "content-type"),
    ("a file sent to the JSON endpoint", "/articles", upload("a.txt", b"Hello there."), 415, "application/json"),
    ("empty upload", "/articles/upload", upload("empty.txt", b""), 422, "empty"),
    ("binary upload", "/articles/upload", upload("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00"), 422, "photo.txt"),
    ("undecodable", "/articles/upload", upload("latin.txt", "Caf\xe9 cr\xe8me".encode("latin-1")), 422, "latin.txt"),
    ("unsupported type", "/articles/upload", upload("report.pdf", b"%PDF-1.4", "application/pdf"), 422, ".pdf"),
    ("no file field", "/articles/upload", {"files": {"document": ("a.txt", b"Hello there.", "text/plain")}}, 422,
     "file"),
    ("upload as JSON", "/articles/upload", {"json": {"text": "Hello there."}}, 422, "file"),
    ("upload title too long", "/articles/upload", upload("a.txt", b"Hello there.", title="t" * 501), 422, "500"),
    ("upload bad id", "/articles/upload", upload("a.txt", b"Hello there.", id="../etc/passwd"), 422, "id"),
    ("empty batch", "/articles/batch", {"json": {"articles": []}}, 422, "articles"),
    ("batch of 101", "/articles/batch", {"json": {"articles": [{"text": TEXT}] * 101}}, 422, "100"),
    ("batch as a list", "/articles/batch", {"json": [{"text": TEXT}]}, 422, '{"articles": [{"text": "..."}]}'),
    ("batch item without text", "/articles/batch", {"json": {"articles": [{"text": TEXT}, {"id": "x"}]}}, 422,
     "articles.1: send the article as `text` or as a `url`"),
]


@pytest.mark.parametrize("case, path, kwargs, status, fragment", BAD_ARTICLES, ids=[c[0] for c in BAD_ARTICLES])
def test_bad_articles_get_a_clear_4xx_and_nothing_is_written(api, case, path, kwargs, status, fragment):
    before = api.get("/articles").json()
    response = api.post(path, **kwargs)
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]
    assert api.get("/articles").json() == before


def test_wrong_content_type_path_and_method_say_what_to_do(api):
    response = api.post("/ask", content=b"Who arranged it?", headers={"content-type": "text/plain"})
    assert response.status_code == 415 and "application/json" in response.json()["error"]
    response = api.get("/no-such-endpoint")
    assert response.status_code == 404 and "/docs" in response.json()["error"]
    response = api.put("/ask", json={"question": "Why?"})
    assert response.status_code == 405 and "PUT" in response.json()["error"] and response.headers["allow"] == "POST"


def test_unknown_article_detail_is_404(api):
    response = api.get("/articles/nope")
    assert response.status_code == 404 and "nope" in response.json()["error"]
