"""More than one process, one store: what one API process writes, every other one serves within a second.

Two `articlechat serve` processes on different ports over one real `chroma run` server stand for two
workers (`serve --workers 2` shares one port, so a test could not choose which worker answers); one test
checks that `serve --workers 2` does start two workers that answer; two containers in this process check
each in-memory cache directly; and the embedded store refuses more than one worker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.common import ROOT, chroma_server, free_port, spawn_server, wait_until_up
from tests.conftest import SAMPLE_ID, eventually

# A write through one process is served by every other within this many seconds.
VISIBLE_WITHIN = 1.0
SAMPLE_CHUNKS = 19

LIGHTHOUSE = ("# Harbour notes\n\n## The lighthouse\n\n"
              "The Quillmorrow lighthouse keeper lit the lamp at {time} every evening.\n")
QUESTION = "When did the Quillmorrow lighthouse keeper light the lamp?"


@pytest.fixture(scope="module")
def chroma(tmp_path_factory) -> Iterator[int]:
    with chroma_server(tmp_path_factory.mktemp("chroma-workers")) as port:
        yield port


@dataclass
class Process:
    proc: subprocess.Popen
    url: str
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(30)


def spawn(tmp_path: Path, name: str, chroma: int, prefix: str, workers: int = 1) -> Process:
    port = free_port()
    log = tmp_path / f"{name}.log"
    with log.open("wb") as stderr:
        proc = spawn_server(tmp_path / name, port, chroma_port=chroma, prefix=prefix, workers=workers, stderr=stderr)
    return Process(proc, f"http://127.0.0.1:{port}", log)


def up(*processes: Process) -> None:
    for p in processes:
        wait_until_up(f"{p.url}/healthz", p.proc, timeout=180)


@pytest.fixture(scope="module")
def pair(chroma, tmp_path_factory) -> Iterator[tuple[Process, Process]]:
    """Two processes started at once on an empty store: both find the sample unseeded."""
    tmp = tmp_path_factory.mktemp("pair")
    a, b = spawn(tmp, "a", chroma, "pair"), spawn(tmp, "b", chroma, "pair")
    try:
        up(a, b)
        yield a, b
    finally:
        for p in (a, b):
            if p.proc.poll() is None:
                p.stop()


def counts(api: httpx.Client) -> tuple[int, int]:
    health = api.get("/healthz").json()
    return health["articles"], health["chunks"]


def cites(api: httpx.Client, question: str, article_id: str) -> dict | None:
    """The /ask response when it answers from `article_id`, else None."""
    body = api.post("/ask", json={"question": question}).json()
    return body if body["answered"] and body["citations"][0]["article_id"] == article_id else None


def test_processes_starting_together_seed_the_sample_once(pair, chroma):
    a, b = pair
    from index.store import ArticleStore, chroma_client

    with a.client() as api_a, b.client() as api_b:
        assert counts(api_a) == counts(api_b) == (1, SAMPLE_CHUNKS)
        assert cites(api_b, "Who arranged the reception centers for returning prisoners?", SAMPLE_ID)
    store = ArticleStore(chroma_client(host="127.0.0.1", port=chroma), "pair")
    assert store.sample_seeded()
    # Written twice at most, but the same text gives the same version and record ids: nothing doubled.
    assert store._chunks.count() == SAMPLE_CHUNKS
    sentences = store._sentences.count()
    assert sentences == len(store.sentences_of(store.chunk_texts(store.article_versions())))


def test_a_write_through_one_process_is_served_by_the_other_within_a_second(pair, record_property):
    a, b = pair
    with a.client() as api_a, b.client() as api_b:
        base = counts(api_b)

        # Added through A: B serves it (its text, and answers from it).
        assert api_a.post("/articles", json={"id": "lighthouse", "text": LIGHTHOUSE.format(time="19:05")}
                          ).status_code == 201
        added = eventually(lambda: api_b.get("/articles/lighthouse").status_code == 200
                           and (body := cites(api_b, QUESTION, "lighthouse")) is not None
                           and "19:05" in body["answer"], within=VISIBLE_WITHIN)
        eventually(lambda: counts(api_a) == counts(api_b) == (base[0] + 1, base[1] + 1), within=VISIBLE_WITHIN)

        # Replaced through A: B answers from the new version only.
        assert api_a.post("/articles", json={"id": "lighthouse", "text": LIGHTHOUSE.format(time="20:40")}
                          ).status_code == 201
        replaced = eventually(lambda: (body := cites(api_b, QUESTION, "lighthouse")) is not None
                              and "20:40" in body["answer"], within=VISIBLE_WITHIN)
        body = cites(api_b, QUESTION, "lighthouse")
        assert body and "19:05" not in body["answer"] and all("19:05" not in c["text"] for c in body["citations"])
        assert "20:40" in api_b.get("/articles/lighthouse").json()["text"]

        # Deleted through A: gone from B, from its list, its answers and its counts.
        assert api_a.delete("/articles/lighthouse").status_code == 204
        deleted = eventually(lambda: api_b.get("/articles/lighthouse").status_code == 404, within=VISIBLE_WITHIN)
        eventually(lambda: counts(api_a) == counts(api_b) == base, within=VISIBLE_WITHIN)
        assert "lighthouse" not in {x["id"] for x in api_b.get("/articles").json()}
        for question in (QUESTION, "Quillmorrow"):
            body = api_b.post("/ask", json={"question": question}).json()
            assert all(c["article_id"] != "lighthouse" for c in body["citations"])
            assert "Quillmorrow" not in body["answer"]
    record_property("seconds_until_served_elsewhere", {"added": added, "replaced": replaced, "deleted": deleted})
    print(f"served by the other process after: added {added:.3f} s, replaced {replaced:.3f} s, "
          f"deleted {deleted:.3f} s")


def test_no_cache_of_another_process_serves_stale_data(chroma, make_container):
    """What a write changes in each in-memory cache of a reader (the lexical index, the counts) and what it
    reads straight from the store (the registry), through another container on the same Chroma server."""
    settings = {"chroma_host": "127.0.0.1", "chroma_port": chroma, "collection_prefix": "caches",
                "seed_sample": False}
    writer, reader = make_container(**settings), make_container(**settings)
    lexical = reader.answers.search.retriever.lexical
    assert lexical.search("Quillmorrow", 5) == [] and reader.store.counts() == (0, 0)  # built, and cached

    writer.ingestion.ingest_text(LIGHTHOUSE.format(time="19:05"), article_id="lighthouse")
    eventually(lambda: len(lexical.search("Quillmorrow lighthouse", 5)) == 1, within=VISIBLE_WITHIN)
    eventually(lambda: reader.store.counts() == (1, 1), within=VISIBLE_WITHIN)
    assert [a.id for a in reader.articles.list_articles()] == ["lighthouse"]

    writer.ingestion.ingest_text(LIGHTHOUSE.format(time="20:40").replace("Quillmorrow", "Brannoch"),
                                 article_id="lighthouse")
    eventually(lambda: lexical.search("Quillmorrow", 5) == [], within=VISIBLE_WITHIN)
    assert len(lexical.search("Brannoch", 5)) == 1
    assert "20:40" in reader.answers.ask("When did the Brannoch lighthouse keeper light the lamp?").answer

    writer.ingestion.delete("lighthouse")
    eventually(lambda: lexical.search("Brannoch", 5) == [], within=VISIBLE_WITHIN)
    eventually(lambda: reader.store.counts() == (0, 0), within=VISIBLE_WITHIN)
    assert reader.articles.list_articles() == []


def test_two_writers_of_one_article_leave_a_version_with_its_passages(chroma, make_container):
    """Another process commits its version of an article between this one's write and its commit. Its
    clean-up must not remove this one's records (it did: the registry then named a version with no chunks)."""
    settings = {"chroma_host": "127.0.0.1", "chroma_port": chroma, "collection_prefix": "writers",
                "seed_sample": False}
    first, second = make_container(**settings), make_container(**settings)
    commit = first.store.commit

    def the_other_commits_first(record):
        second.ingestion.ingest_text(LIGHTHOUSE.format(time="20:40"), article_id="lighthouse")
        commit(record)

    first.store.commit = the_other_commits_first  # type: ignore[method-assign]
    first.ingestion.ingest_text(LIGHTHOUSE.format(time="19:05"), article_id="lighthouse")
    record = second.store.get_article("lighthouse")
    assert record is not None and "19:05" in record.text  # the later commit wins
    assert len(second.store.chunk_texts({"lighthouse": record.version})) == record.chunk_count == 1
    assert "19:05" in second.answers.ask(QUESTION).answer


def test_serve_with_two_workers_starts_two_processes_that_answer(chroma, tmp_path):
    server = spawn(tmp_path, "workers", chroma, "workers", workers=2)

    def pids(pattern: str) -> set[str]:
        return set(re.findall(pattern, server.log.read_text(errors="replace")))

    try:
        up(server)
        eventually(lambda: len(pids(r"Started server process \[(\d+)\]")) == 2
                   and server.log.read_text().count("Application startup complete.") == 2, within=120)
        started = pids(r"Started server process \[(\d+)\]")

        # Questions asked at once are spread over both workers (each logs its request lines with its pid).
        stop = threading.Event()
        failures: list[str] = []

        def ask() -> None:
            with server.client() as api:
                while not stop.is_set():
                    response = api.post("/ask", json={"question": "Where did the exchange take place?"})
                    if response.status_code != 200 or not response.json()["answered"]:
                        failures.append(response.text)

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for thread in threads:
            thread.start()
        try:
            eventually(lambda: pids(r"\[(\d+)\] articlechat\.requests: \w+ POST /ask 200") == started, within=60)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert failures == []
        with server.client() as api:
            assert counts(api) == (1, SAMPLE_CHUNKS)
    finally:
        assert server.stop() == 0
    log = server.log.read_text()
    assert "Traceback" not in log and "leaked semaphore" not in log, log


@pytest.mark.parametrize("how", ["option", "setting"])
def test_the_embedded_store_refuses_more_than_one_worker(tmp_path, how):
    env = {**os.environ, "ARTICLECHAT_DATA_DIR": str(tmp_path), "ARTICLECHAT_CHROMA_HOST": ""}
    env.pop("ARTICLECHAT_WORKERS", None)
    args = ["--workers", "2"] if how == "option" else []
    if how == "setting":
        env["ARTICLECHAT_WORKERS"] = "2"
    done = subprocess.run([sys.executable, "-m", "server.cli", "serve", "--port", str(free_port()), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "2 workers need a Chroma server" in done.stderr
    assert "ARTICLECHAT_CHROMA_HOST" in done.stderr and "--workers 1" in done.stderr
    assert done.stdout == ""
    assert not any(tmp_path.iterdir())  # refused before it opened the store


def test_a_process_reads_the_generation_at_most_every_tenth_of_a_second(tmp_path):
    from index.store import GENERATION_MAX_AGE_SECONDS, ArticleStore, chroma_client

    store = ArticleStore(chroma_client(str(tmp_path)), "gen")
    other = ArticleStore(chroma_client(str(tmp_path)), "gen")  # another process's handle
    reads = []
    read = store._meta_value
    store._meta_value = lambda name: reads.append(name) or read(name)  # type: ignore[method-assign]
    first = store.generation(GENERATION_MAX_AGE_SECONDS)
    for _ in range(50):
        assert store.generation(GENERATION_MAX_AGE_SECONDS) == first
    assert len(reads) <= 2
    other._bump_generation()
    time.sleep(GENERATION_MAX_AGE_SECONDS)
    assert store.generation(GENERATION_MAX_AGE_SECONDS) == other.generation() != first
    store._bump_generation()  # this process's own write is seen at once, without a read
    reads.clear()
    assert store.generation(GENERATION_MAX_AGE_SECONDS) == other.generation()
    assert reads == []
