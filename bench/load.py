"""Ask throughput with and without concurrent writes: `python -m bench.load`.

A real server (`articlechat serve`, extractive mode) on an embedded store holding the sample article
and the 35 SQuAD 2.0 articles; N client threads ask questions over HTTP for a while, first alone, then
while a writer replaces one article once per second (each time with different text, as an editor
fixing a story would). Reports asks/s, latency percentiles and every non-200 answer of both phases.
Prints the figures, and writes JSON only where `--out` says.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.common import SAMPLE, SQUAD_DOCS, free_port, percentile, start_server
from bench.run import LATENCY_QUESTIONS

WRITE_EVERY_SECONDS = 1.0


def load_articles(url: str) -> None:
    with httpx.Client(base_url=url, timeout=300) as client:
        for path in [SAMPLE, *sorted(SQUAD_DOCS.glob("*.txt"))]:
            response = client.post("/articles", json={"id": path.stem.lower(), "text": path.read_text()})
            response.raise_for_status()


def phase(url: str, clients: int, seconds: float, writes: bool) -> dict:
    stop = threading.Event()
    latencies: list[float] = []
    errors: list[str] = []
    written = 0
    lock = threading.Lock()

    def ask(worker: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            n = worker
            while not stop.is_set():
                question = LATENCY_QUESTIONS[n % len(LATENCY_QUESTIONS)]
                n += 1
                started = time.perf_counter()
                response = client.post("/ask", json={"question": question})
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    if response.status_code != 200:
                        errors.append(f"{response.status_code} {response.text[:200]}")

    def write() -> None:
        nonlocal written
        text = SAMPLE.read_text(encoding="utf-8")
        with httpx.Client(base_url=url, timeout=60) as client:
            while not stop.is_set():
                started = time.monotonic()
                edited = text.replace("1,000 detainees", f"{1000 + written} detainees")
                response = client.post("/articles", json={"id": SAMPLE.stem.lower(), "text": edited})
                if response.status_code >= 400:
                    errors.append(f"write {response.status_code} {response.text[:200]}")
                written += 1
                stop.wait(max(0.0, WRITE_EVERY_SECONDS - (time.monotonic() - started)))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(clients)]
    if writes:
        threads.append(threading.Thread(target=write))
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {
        "asks": len(latencies), "asks_per_s": round(len(latencies) / elapsed, 1), "writes": written,
        "p50_ms": round(statistics.median(latencies), 1), "p95_ms": round(percentile(latencies, 0.95), 1),
        "errors": len(errors), "error_samples": errors[:5],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    if not SQUAD_DOCS.is_dir():
        sys.exit(f"missing {SQUAD_DOCS}: the benchmark reads the shared evaluation set beside the checkout")
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc, _ = start_server(tmp, port, seed_sample=False)
        url = f"http://127.0.0.1:{port}"
        try:
            load_articles(url)
            quiet = phase(url, args.clients, args.seconds, writes=False)
            busy = phase(url, args.clients, args.seconds, writes=True)
        finally:
            proc.terminate()
            proc.wait(30)
    result = {"clients": args.clients, "seconds": args.seconds, "without_writes": quiet, "with_writes": busy,
              "ratio": round(busy["asks_per_s"] / quiet["asks_per_s"], 2)}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
