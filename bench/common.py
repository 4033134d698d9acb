"""What the benchmarks share: paths, the offline container they get their services from, real server
processes (articlechat, chroma run) started and waited for, percentiles."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SQUAD_DOCS = ROOT.parent / "shared" / "eval" / "squad2_dev" / "docs"
SAMPLE = ROOT / "index" / "data" / "ukraine-russia-prisoner-exchange.txt"
SAMPLE_SET = ROOT / "bench" / "sets" / "sample_article.jsonl"
UNANSWERABLE_SET = ROOT / "bench" / "sets" / "unanswerable.jsonl"
SQUAD_QUESTIONS = SQUAD_DOCS.parent / "questions.jsonl"
RESULTS = ROOT / "bench" / "results"  # committed reference figures: benches write here only when told (--out)


def make_container(data_dir: str | Path, embedder: Any = None, **overrides: Any):
    """The product's own wiring (server.container.Container) over an empty embedded store in
    `data_dir`, offline (no LLM), ignoring the developer's .env, so a benchmark measures what a user
    runs. `embedder`: one loaded model shared across containers."""
    from server.container import Container
    from server.settings import Settings

    base = {"data_dir": Path(data_dir), "chroma_host": None, "openai_api_key": None, "openai_base_url": None,
            "seed_sample": False}
    return Container(Settings(_env_file=None, **{**base, **overrides}), embedder=embedder)  # type: ignore[call-arg]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float, poll: float = 0.05) -> float:
    """Seconds until `url` answers 200; RuntimeError (the process killed) if it exits or takes longer."""
    started = time.perf_counter()
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.perf_counter() - started > timeout:
            proc.kill()
            raise RuntimeError(f"{url} did not come up within {timeout:.0f} s (exit code {proc.poll()})")
        time.sleep(poll)


def spawn_server(data_dir: str | Path, port: int, *, seed_sample: bool = True, chroma_port: int | None = None,
                 prefix: str | None = None, workers: int = 1, stderr: IO[Any] | None = None) -> subprocess.Popen:
    """`articlechat serve` (extractive, offline), not waited for: on an embedded store in `data_dir`, or on
    the Chroma server on 127.0.0.1:`chroma_port` (collections named by `prefix`), with `workers` processes;
    its stderr (the log) goes to the file `stderr`, or nowhere."""
    env = {**os.environ, "ARTICLECHAT_DATA_DIR": str(data_dir), "OPENAI_API_KEY": "", "OPENAI_BASE_URL": "",
           "ARTICLECHAT_SEED_SAMPLE": "true" if seed_sample else "false", "ARTICLECHAT_CHROMA_HOST": ""}
    if chroma_port is not None:
        env.update(ARTICLECHAT_CHROMA_HOST="127.0.0.1", ARTICLECHAT_CHROMA_PORT=str(chroma_port))
    if prefix is not None:
        env["ARTICLECHAT_COLLECTION_PREFIX"] = prefix
    return subprocess.Popen([sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--workers",
                             str(workers)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=stderr or subprocess.DEVNULL)


def start_server(data_dir: str | Path, port: int, *, seed_sample: bool = True, timeout: float = 180,
                 **options: Any) -> tuple[subprocess.Popen, float]:
    """`spawn_server` (same options), waited for: (process, seconds from spawn until /healthz answers)."""
    started = time.perf_counter()
    proc = spawn_server(data_dir, port, seed_sample=seed_sample, **options)
    wait_until_up(f"http://127.0.0.1:{port}/healthz", proc, timeout)
    return proc, time.perf_counter() - started


@contextmanager
def chroma_server(path: str | Path | None = None) -> Iterator[int]:
    """A real `chroma run` on 127.0.0.1 (in a temporary directory unless `path`); yields its port."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        chroma = Path(sys.executable).parent / "chroma"
        proc = subprocess.Popen([str(chroma), "run", "--path", str(path or tmp), "--host", "127.0.0.1",
                                 "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until_up(f"http://127.0.0.1:{port}/api/v2/heartbeat", proc, 60, poll=0.2)
            yield port
        finally:
            proc.terminate()
            proc.wait(30)
