"""The `articlechat` command with a real embedded store. One test runs it as a user does (a real
process); the others call `server.cli.main` in this process, sharing the loaded embedding model."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from server.cli import main
from server.container import Container
from server.settings import get_settings
from tests.conftest import ROOT, SAMPLE


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(monkeypatch, capsys, embedder, tmp_path):
    """`run(data_dir, *args)`: the command in this process, its settings from the environment as a user's
    would be, its output captured."""
    monkeypatch.chdir(tmp_path)  # no developer's .env
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ARTICLECHAT_OPENAI_API_KEY", "ARTICLECHAT_OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)

    def run(data_dir: Path, *args: str) -> Result:
        monkeypatch.setenv("ARTICLECHAT_DATA_DIR", str(data_dir))
        get_settings.cache_clear()
        capsys.readouterr()
        try:
            code = main(list(args), make_container=lambda settings: Container(settings, embedder=embedder))
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            get_settings.cache_clear()
        out = capsys.readouterr()
        return Result(code, out.out, out.err)

    return run


def run_process(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ARTICLECHAT_DATA_DIR": str(data_dir), "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    (root / "nested").mkdir()
    (root / "sample.txt").write_bytes(SAMPLE.read_bytes())
    (root / "nested" / "ferry.md").write_text("# Harbour\n\n## Ferries\n\nThe night ferry to Oslo leaves at 22:15.\n")
    (root / "nested" / "rescue.html").write_text(
        "<title>Rescue</title><h2>Climbers</h2><p>Volunteers reached them after six hours.</p>"
    )
    (root / "empty.txt").write_text("")
    (root / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (root / "latin.txt").write_bytes("Caf\xe9".encode("latin-1"))
    (root / ".hidden.txt").write_text("Hidden files are skipped.")
    return root


def test_a_first_ask_finds_the_bundled_sample(tmp_path, run):
    # The command as a user runs it: a real process that loads the model itself.
    answer = run_process(tmp_path, "ask", "How far apart were the two border crossings?")
    assert answer.returncode == 0 and "50 kilometers" in answer.stdout
    assert "Loading" not in answer.stderr and "DEBUG" not in answer.stderr  # no library chatter
    assert "ukraine-russia-prisoner-exchange" in run(tmp_path, "articles").stdout


def test_ingest_reports_each_article_and_each_bad_file(tmp_path, corpus, run):
    first = run(tmp_path, "ingest", str(corpus))
    assert first.returncode == 1, first.stderr  # bad files make the exit code non-zero…
    out = first.stdout
    for article_id, sections in (("sample", 19), ("ferry", 1), ("rescue", 1)):  # …the good ones are indexed
        line = next(line for line in out.splitlines() if f" {article_id} " in line)
        assert line.startswith("new") and f"{sections} sections" in line
    errors = first.stderr
    assert f"{corpus / 'empty.txt'}: " in errors and "empty" in errors
    assert f"{corpus / 'photo.png'}: unsupported file type '.png'" in errors
    assert f"{corpus / 'latin.txt'}: " in errors and "UTF-8" in errors
    assert "hidden" not in out + errors

    again = run(tmp_path, "ingest", str(corpus / "sample.txt"), str(corpus / "nested"))
    assert again.returncode == 0, again.stderr
    assert [line.split()[0] for line in again.stdout.splitlines()] == ["unchanged"] * 3

    listing = json.loads(run(tmp_path, "articles", "--json").stdout)
    assert sorted(a["id"] for a in listing) == ["ferry", "rescue", "sample"]
    assert set(listing[0]) == {"id", "title", "sections", "chunks", "ingested_at", "url", "source", "author",
                               "published"}


def test_ask_articles_and_delete(tmp_path, run):
    assert run(tmp_path, "ingest", str(SAMPLE), "--id", "swap", "--title", "Prisoner swap").returncode == 0
    answer = run(tmp_path, "ask", "How far apart were the two border crossings?")
    assert answer.returncode == 0, answer.stderr
    assert "50 kilometers" in answer.stdout and re.search(r"\[\d\]", answer.stdout)
    assert "Prisoner swap — Operation of the Prisoner Exchange > Location and Logistics" in answer.stdout

    as_json = json.loads(run(tmp_path, "ask", "--json", "What is the capital of Australia?").stdout)
    assert as_json["answered"] is False
    declined = json.loads(run(tmp_path, "ask", "--json", "--min-confidence", "1",
                              "How far apart were the two border crossings?").stdout)
    assert declined["answered"] is False and any("min_confidence 1" in w for w in declined["warnings"])

    assert run(tmp_path, "delete", "swap").stdout.strip() == "deleted swap"
    missing = run(tmp_path, "delete", "swap")
    assert missing.returncode == 1 and "no article with id 'swap'" in missing.stderr
    assert "no articles indexed" in run(tmp_path, "articles").stdout


def test_usage_errors_are_explained(tmp_path, run):
    both = run(tmp_path, "ingest", str(SAMPLE), str(SAMPLE), "--id", "x")
    assert both.returncode == 2 and "exactly one file" in both.stderr
    missing = run(tmp_path, "ingest", str(tmp_path / "nope.txt"))
    assert missing.returncode == 1 and "no such file or directory" in missing.stderr
    blank = run(tmp_path, "ask", "   ")
    assert blank.returncode == 2 and "question is blank" in blank.stderr
    too_long = run(tmp_path, "ask", "x" * 2001)
    assert too_long.returncode == 2 and "keep it to 2000" in too_long.stderr
    top_k = run(tmp_path, "ask", "Why?", "--top-k", "21")
    assert top_k.returncode == 2 and "1-20" in top_k.stderr
    for bad in ("1.5", "sure", "nan"):
        sure = run(tmp_path, "ask", "Why?", "--min-confidence", bad)
        assert sure.returncode == 2 and "from 0 to 1" in sure.stderr, sure.stderr
    unknown = run(tmp_path, "ask", "Why?", "--article", "nope")
    assert unknown.returncode == 1 and "nope" in unknown.stderr


def test_ingest_news_pages_by_url_and_follow_feeds(tmp_path, run, monkeypatch, news_site):
    page = news_site.page_url("gazette-ferry-strike.html")
    missing = news_site.url("gazette.test", "/2025/03/03/harbour-dredging")
    refused = run(tmp_path, "ingest", page)  # by default, no fetch from this machine's addresses
    assert refused.returncode == 1 and "private address" in refused.stderr and "ARTICLECHAT_ALLOW_PRIVATE_URLS" in (
        refused.stderr)

    monkeypatch.setenv("ARTICLECHAT_ALLOW_PRIVATE_URLS", "true")
    first = run(tmp_path, "ingest", page, missing, news_site.page_url("coastal-wire-copy"))
    assert first.returncode == 1  # the missing page: reported, the others indexed
    lines = first.stdout.splitlines()
    assert lines[0].split()[:2] == ["new", "gazette-test-2025-03-04-ferry-workers-strike"] and page in lines[0]
    assert lines[1].split()[:2] == ["unchanged", "gazette-test-2025-03-04-ferry-workers-strike"]
    assert "a copy of it: kept as an alias" in lines[1]
    assert f"error: {missing}: " in first.stderr and "404 Not Found" in first.stderr

    again = run(tmp_path, "ingest", page, "--title", "Strike")
    assert again.returncode == 0 and again.stdout.startswith("updated")  # a new title: a new version

    feed = news_site.url("gazette.test", "/feeds/gazette.rss")
    followed = run(tmp_path, "ingest", "--feed", feed)
    assert followed.returncode == 1, followed.stderr  # its dredging entry fails
    assert "new       gazette-test-2025-02-20-breakwater" in followed.stdout
    assert "feed The Harbour Gazette — Local News: 1 new, 1 updated, 1 failed" in followed.stderr
    assert run(tmp_path, "ingest", "--feed", feed).stdout.count("seen") == 2

    listed = run(tmp_path, "feeds")
    assert listed.returncode == 0 and feed in listed.stdout and "2 articles" in listed.stdout
    feeds = json.loads(run(tmp_path, "feeds", "--json").stdout)
    assert feeds[0]["url"] == feed and feeds[0]["last_run"]["seen"] == 2
    articles = {a["id"]: a for a in json.loads(run(tmp_path, "articles", "--json").stdout)}
    assert articles["gazette-test-2025-02-20-breakwater"]["source"] == "The Harbour Gazette"
    usage = run(tmp_path, "ingest")
    assert usage.returncode == 2 and "--feed" in usage.stderr


def test_writes_go_through_a_server_running_on_the_same_store(tmp_path, run, news_site):
    """An embedded store's vector index lives in each process: a second process writing it directly
    left the server failing every question about the new article. The CLI sends its writes to the
    running server instead, and the server, stopped mid-work, exits within seconds."""
    store = tmp_path / "store"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "ARTICLECHAT_DATA_DIR": str(store), "ARTICLECHAT_SEED_SAMPLE": "false",
           "OPENAI_API_KEY": "", "OPENAI_BASE_URL": "", "ARTICLECHAT_ALLOW_PRIVATE_URLS": "true"}
    server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(port)], cwd=tmp_path,
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not (store / "server.json").exists() or not _healthy(url):
            assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
            time.sleep(0.2)
        article = tmp_path / "ferry.md"
        article.write_text("# Harbour\n\n## Ferries\n\nThe night ferry to Oslo leaves at 22:15.\n")
        ingested = run(store, "ingest", str(article))
        assert ingested.returncode == 0 and "sending the changes to it" in ingested.stderr
        answer = httpx.post(f"{url}/ask", json={"question": "When does the night ferry to Oslo leave?"}, timeout=30)
        assert answer.status_code == 200 and "22:15" in answer.json()["answer"]
        assert run(store, "delete", "ferry").returncode == 0
        assert httpx.get(f"{url}/articles", timeout=10).json() == []

        # Pages and feeds too: the server fetches them (the site by its address: the server process resolves
        # names with the system's resolver).
        site = f"http://127.0.0.1:{news_site.port}"
        page = run(store, "ingest", f"{site}/2025/02/20/breakwater")
        assert page.returncode == 0 and page.stdout.startswith("new       127-0-0-1-2025-02-20-breakwater"), page
        rss, content_type = news_site.routes["/feeds/gazette.rss"]
        news_site.routes["/feeds/local.rss"] = (rss.replace(b"gazette.test", b"127.0.0.1"), content_type)
        feed = run(store, "ingest", "--feed", f"{site}/feeds/local.rss")
        assert feed.returncode == 1 and "1 new, 1 unchanged, 1 failed" in feed.stderr, feed
        assert "404 Not Found" in feed.stderr
        assert [f["url"] for f in httpx.get(f"{url}/feeds", timeout=10).json()] == [f"{site}/feeds/local.rss"]
        for article in httpx.get(f"{url}/articles", timeout=10).json():
            assert run(store, "delete", article["id"]).returncode == 0

        long_article = "\n\n".join(f"Pier {n} loads cargo for island {n} every morning at dawn." for n in range(800))
        threading.Thread(target=lambda: _post_quietly(f"{url}/articles", long_article), daemon=True).start()
        time.sleep(1.0)  # the server is embedding it now
        stopped = time.monotonic()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        assert time.monotonic() - stopped < 10
        assert not (store / "server.json").exists()
    finally:
        if server.poll() is None:
            server.kill()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _post_quietly(url: str, text: str) -> None:
    try:
        httpx.post(url, json={"id": "long", "text": text}, timeout=60)
    except httpx.HTTPError:
        pass  # the server stops under it
