"""Server mode: a real `chroma run` process on 127.0.0.1, reached through ARTICLECHAT_CHROMA_HOST."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import SAMPLE_ID
from tests.test_api import ask


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    chroma = Path(sys.executable).parent / "chroma"
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen([str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("chroma run did not start")
        time.sleep(0.2)
    yield port
    proc.terminate()
    proc.wait(20)


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
