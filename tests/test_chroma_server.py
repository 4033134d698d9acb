"""Server mode: a real `chroma run` process on 127.0.0.1, reached through ARTICLECHAT_CHROMA_HOST."""

from __future__ import annotations

import pytest

from bench.common import chroma_server as running_chroma
from tests.conftest import SAMPLE_ID
from tests.test_api import ask


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    with running_chroma(tmp_path_factory.mktemp("chroma-server")) as port:
        yield port


def test_server_mode_indexes_answers_and_shares_the_index(chroma_server, make_container, start_server):
    settings = {"chroma_host": "127.0.0.1", "chroma_port": chroma_server, "collection_prefix": "servermode"}
    server = start_server(make_container(**settings))
    with server.client() as api:
        health = api.get("/healthz").json()
        assert health["vector_store"] == f"http://127.0.0.1:{chroma_server}"
        assert health["articles"] == 1  # the sample, seeded on first start
        body = ask(api, "Who arranged the reception centers for returning prisoners?")
        assert body["answered"] and body["citations"][0]["article_id"] == SAMPLE_ID
        ferry = "# Harbour\n\n## Ferries\n\nThe night ferry leaves at 22:15.\n"
        created = api.post("/articles", json={"id": "ferry", "text": ferry})
        assert created.status_code == 201

    # Another process (here: another container) sees the same index through the Chroma server.
    other = make_container(**settings)
    assert {r.id for r in other.store.list_articles()} == {SAMPLE_ID, "ferry"}
    assert other.ingestion.delete("ferry")
    with server.client() as api:
        assert api.get("/articles/ferry").status_code == 404
