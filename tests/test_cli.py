"""The `articlechat` command as a user runs it: a real process, a real embedded store."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SAMPLE


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
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
    (root / "nested" / "rescue.html").write_text("<title>Rescue</title><h2>Climbers</h2><p>Volunteers reached them after six hours.</p>")
    (root / "empty.txt").write_text("")
    (root / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (root / "latin.txt").write_bytes("Caf\xe9".encode("latin-1"))
    (root / ".hidden.txt").write_text("Hidden files are skipped.")
    return root


def test_ingest_reports_each_article_and_each_bad_file(tmp_path, corpus):
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


def test_ask_articles_and_delete(tmp_path):
    assert run(tmp_path, "ingest", str(SAMPLE), "--id", "swap", "--title", "Prisoner swap").returncode == 0
    answer = run(tmp_path, "ask", "How far apart were the two border crossings?")
    assert answer.returncode == 0, answer.stderr
    assert "50 kilometers" in answer.stdout and re.search(r"\[\d\]", answer.stdout)
    assert "Prisoner swap — Operation of the Prisoner Exchange > Location and Logistics" in answer.stdout

    as_json = json.loads(run(tmp_path, "ask", "--json", "What is the capital of Australia?").stdout)
    assert as_json["answered"] is False

    assert run(tmp_path, "delete", "swap").stdout.strip() == "deleted swap"
    missing = run(tmp_path, "delete", "swap")
    assert missing.returncode == 1 and "no article with id 'swap'" in missing.stderr
    assert "no articles indexed" in run(tmp_path, "articles").stdout


def test_a_first_ask_finds_the_bundled_sample(tmp_path):
    answer = run(tmp_path, "ask", "How far apart were the two border crossings?")
    assert answer.returncode == 0 and "50 kilometers" in answer.stdout
    assert "Loading" not in answer.stderr and "DEBUG" not in answer.stderr  # no library chatter
    assert "ukraine-russia-prisoner-exchange" in run(tmp_path, "articles").stdout


def test_usage_errors_are_explained(tmp_path):
    both = run(tmp_path, "ingest", str(SAMPLE), str(SAMPLE), "--id", "x")
    assert both.returncode == 2 and "exactly one file" in both.stderr
    missing = run(tmp_path, "ingest", str(tmp_path / "nope.txt"))
    assert missing.returncode == 1 and "no such file or directory" in missing.stderr
    blank = run(tmp_path, "ask", "   ")
    assert blank.returncode == 2 and "1-2000 characters" in blank.stderr
    unknown = run(tmp_path, "ask", "Why?", "--article", "nope")
    assert unknown.returncode == 1 and "nope" in unknown.stderr
