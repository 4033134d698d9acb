"""What hostile or busy clients send, over real HTTP: no input may produce a 5xx, writes never break
reads, and nothing half-written stays behind."""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.conftest import SAMPLE_ID

FERRY = "Harbour news\n\nFerries\n\nThe night ferry to Oslo leaves at {time} every day.\n\n" \
        "Trams\n\nThe harbour tram runs every ten minutes until midnight.\n"
# Enough sections that replacing the article takes a while, as a real one does.
LONG_FERRY = FERRY + "".join(
    f"\nPier {n}\n\nBoats at pier {n} load cargo for the islands. The crane there lifts {n} tonnes.\n"
    for n in range(1, 40))


def raw_request(url: str, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """A request written by hand, so that its headers can lie (httpx would not send them)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def test_a_lone_surrogate_is_refused_at_once(api):
    history = '[{"role": "user", "content": "\\udfff"}]'
    for body, field in (('{"question": "\\ud800"}', "question"),
                        ('{"question": "Who?", "history": ' + history + "}", "history.0.content")):
        started = time.monotonic()
        response = api.post("/ask", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error.startswith(field) and "surrogate" in error and time.monotonic() - started < 2
    response = api.post("/articles", content='{"text": "Ferry news \\ud83d today."}',
                        headers={"content-type": "application/json"})
    assert response.status_code == 422 and "surrogate" in response.json()["error"]


def test_bodies_are_limited_as_they_stream_in(sample_server, api):
    # A declared 200 MB: refused before a byte of it is read.
    status, body = raw_request(sample_server.url, "POST /ask HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Content-Type: application/json\r\nContent-Length: 200000000")
    assert status == 413 and "larger than" in json.loads(body)["error"]
    # A chunked body declares nothing: it is counted as it comes.
    def chunks():
        yield b'{"question": "'
        for _ in range(30):
            yield b"a" * 100_000
        yield b'"}'
    response = api.post("/ask", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "POST /ask" in response.json()["error"]
    # Any other endpoint takes no large body either.
    response = api.request("GET", "/healthz", content=b"x" * 200_000)
    assert response.status_code == 413 and "GET /healthz" in response.json()["error"]
    # The OpenAI-compatible API: larger conversations (4 MiB), refused in OpenAI's error body either way.
    status, body = raw_request(sample_server.url, "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                               "Content-Type: application/json\r\nContent-Length: 200000000")
    assert status == 413 and "4194304 bytes" in json.loads(body)["error"]["message"]
    def conversation():
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(50):
            yield b"a" * 100_000
        yield b'"}]}'
    response = api.post("/v1/chat/completions", content=conversation(), headers={"content-type": "application/json"})
    assert response.status_code == 413, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "POST /v1/chat/completions" in response.json()["error"]["message"]
    response = api.request("GET", "/v1/models", content=b"x" * 200_000)
    assert response.status_code == 413 and "GET /v1/models" in response.json()["error"]["message"]


def test_echoed_ids_are_capped(api):
    too_long = api.post("/ask", json={"question": "Who?", "article_ids": ["a" * 10_000]})
    assert too_long.status_code == 422 and len(too_long.text) < 2_000
    unknown = api.post("/ask", json={"question": "Who?", "article_ids": [f"missing-{i}" for i in range(100)]})
    assert unknown.status_code == 404
    assert "missing-0" in unknown.text and "and 95 more" in unknown.text and len(unknown.text) < 1_000


def test_contract_details(api):
    put = api.put("/articles", json={})
    assert put.status_code == 405 and put.headers["allow"] == "GET, POST"
    for top_k in ("5", True, 5.5):
        response = api.post("/ask", json={"question": "Who hosted the talks?", "top_k": top_k})
        assert response.status_code == 422, (top_k, response.text)
    schema = api.get("/openapi.json").json()["components"]["schemas"]["AskRequest"]["properties"]["question"]
    assert schema["minLength"] == 1 and schema["maxLength"] == 2000
    nul = api.post("/articles", json={"text": "Ferry news\n\nThe ferry \x00 leaves."})
    assert nul.status_code == 422


def test_identical_concurrent_posts_make_one_article(make_container, start_server):
    server = start_server(make_container(seed_sample=False))
    body = {"id": "ferry", "text": FERRY.format(time="22:15")}
    with ThreadPoolExecutor(20) as pool, server.client() as api:
        statuses = sorted(pool.map(lambda _: api.post("/articles", json=body).status_code, range(20)))
    assert statuses == [200] * 19 + [201]


def test_answers_stay_whole_while_an_article_is_rewritten(make_container, start_server):
    """One writer replaces an article again and again while readers ask about it: every answer is a
    200 built from one version of the article, its citations verbatim in the text it names."""
    server = start_server(make_container(seed_sample=False))
    with server.client() as api:
        assert api.post("/articles", json={"id": "ferry", "text": LONG_FERRY.format(time="22:00")}).status_code == 201
        stop = threading.Event()
        failures: list[str] = []

        def write() -> None:
            minute = 0
            while not stop.is_set():
                minute = (minute + 1) % 60
                api.post("/articles", json={"id": "ferry", "text": LONG_FERRY.format(time=f"22:{minute:02}")})

        def read(_: int) -> int:
            asked = 0
            while not stop.is_set():
                response = api.post("/ask", json={"question": "When does the night ferry to Oslo leave?"})
                asked += 1
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:200]}")
                    continue
                for citation in response.json()["citations"]:
                    time_cited = citation["text"].split("leaves at ")[-1][:5]
                    if time_cited not in response.json()["answer"] and "leaves at" in response.json()["answer"]:
                        failures.append(f"answer and citation disagree: {response.text[:300]}")
            return asked

        writer = threading.Thread(target=write)
        writer.start()
        with ThreadPoolExecutor(4) as pool:
            reads = pool.map(read, range(4))
            time.sleep(8)
            stop.set()
            asked = sum(reads)
        writer.join()
    assert asked > 20 and failures == [], failures[:3]


def test_an_article_replaced_mid_question_is_answered_from_one_version(make_container):
    """The race above, made certain: the article is replaced between finding its passages and reading
    their sentences (the old version's are gone by then)."""
    c = make_container(seed_sample=False)
    c.ingestion.ingest_text(FERRY.format(time="22:15"), article_id="ferry")
    read_sentences = c.store.sentences_of
    replaced: list[bool] = []

    def replace_then_read(chunks):
        if not replaced:
            replaced.append(True)
            c.ingestion.ingest_text(FERRY.format(time="23:45"), article_id="ferry")
        return read_sentences(chunks)

    c.store.sentences_of = replace_then_read  # type: ignore[method-assign]
    answer = c.answers.ask("When does the night ferry to Oslo leave?")
    assert replaced and answer.answered and "23:45" in answer.answer
    text = c.store.get_article("ferry").text
    assert all(text[cit.start : cit.end] == cit.text for cit in answer.citations)


def test_a_failed_write_leaves_nothing_and_crash_leftovers_are_swept(make_container):
    c = make_container(seed_sample=False)
    c.ingestion.ingest_text(FERRY.format(time="22:15"), article_id="ferry")
    store = c.store
    chunks = store.get_article("ferry").chunk_count
    assert len(store.chunk_vectors.get_nodes(None)) == chunks
    commit = store.commit
    store.commit = lambda record: (_ for _ in ()).throw(RuntimeError("disk full"))  # fails before the flip
    with pytest.raises(RuntimeError):
        c.ingestion.ingest_text(FERRY.format(time="23:45"), article_id="ferry")
    store.commit = commit
    assert len(store.chunk_vectors.get_nodes(None)) == chunks  # the failed write cleaned up after itself
    assert "22:15" in c.answers.ask("When does the night ferry leave?").answer

    # A crash cannot clean up: a version written, never named by the registry.
    from index.store import SentenceRecord

    stale = store.chunk_vectors.get_nodes(None)
    for node in stale:
        node.id_ = node.node_id + "-crashed"
        node.metadata["version"] = "crashed"
        node.embedding = [1.0] + [0.0] * 383
    store.add_version(stale, [SentenceRecord("s-crashed", stale[0].node_id, "ferry", "crashed", 0, 5, "Ferry",
                                             [1.0] + [0.0] * 383)])
    assert len(store.chunk_vectors.get_nodes(None)) == 2 * chunks
    assert store.sweep() == 0  # as young as a write still in progress in another process: kept
    assert store.sweep(older_than=-5) == chunks  # once old enough: gone, sentences too
    assert len(store.chunk_vectors.get_nodes(None)) == chunks
    assert store._sentences.get(where={"version": "crashed"})["ids"] == []
    assert "22:15" in c.answers.ask("When does the night ferry leave?").answer


def test_the_sample_is_answered_after_all_this(api):
    body = api.post("/ask", json={"question": "Who arranged the reception centers for returning prisoners?"}).json()
    assert body["answered"] and body["citations"][0]["article_id"] == SAMPLE_ID


@pytest.mark.parametrize("path", ["/ask", "/ask/stream", "/v1/chat/completions"])
def test_malformed_bodies_are_4xx(api, path):
    for content, ctype in ((b"{", "application/json"), (b"[]", "application/json"), (b"null", "application/json"),
                           (b'{"question": 5}', "application/json"), (b"question=hi", "text/plain"),
                           (b"\xff\xfe", "application/json")):
        response = api.post(path, content=content, headers={"content-type": ctype})
        assert 400 <= response.status_code < 500, (content, response.status_code, response.text)
        assert response.json()["error"]
