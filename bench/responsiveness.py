"""Responsiveness under a heavy upload, one run: `python -m bench.responsiveness`.

Starts the server (extractive, on a fresh embedded store), then uploads articles of the largest size
it accepts in several shapes (one 5 MB line, 50,000 lines, Markdown, HTML, and a long article it
indexes) while another client polls `GET /healthz` every 20 ms. Prints, for each shape, how long the
upload took, its status, and the median and the worst `/healthz` latency while it ran. The goal
(hardening issue): `/healthz` answers within 100 ms while a 5 MB article parses.

Prints only; `--out FILE` also writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.common import SAMPLE, free_port, start_server

MB = 1_000_000
POLL_SECONDS = 0.02


def shapes() -> dict[str, tuple[str, bytes]]:
    """name → (file name, content): the shapes that once froze the server, at 5 MB, and an article it
    indexes (embedding is the longest step)."""
    paragraphs = [p for p in SAMPLE.read_text().splitlines() if len(p) > 200]
    article = "\n\n".join(f"Heading {i}\n\n" + paragraphs[i % len(paragraphs)] for i in range(400))
    size = 4_900_000  # under the 5 MB default limit, with the multipart envelope
    return {
        "one 5 MB line": ("line.txt", (b"word " * MB)[:size]),
        "50,000 lines": ("lines.txt", ((b"x" * 97 + b"\n") * 50_000)[:size]),
        "markdown, 5 MB": ("big.md", (b"Some *words* and a [link](u) here.\n\n" * (5 * MB // 38))[:size]),
        "html, 5 MB": ("big.html", (b"<html><body>" + b"<p>word word word</p>" * (5 * MB // 21))[:size]),
        f"indexed: {len(article) // 1000} KB": ("long.txt", article.encode()),
    }


def measure(base_url: str, name: str, filename: str, content: bytes) -> dict:
    latencies: list[float] = []
    polled_at: list[float] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            while not done.is_set():
                started = time.perf_counter()
                client.get("/healthz").raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)
                polled_at.append(started)
                time.sleep(POLL_SECONDS)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.2)  # a few idle polls first
    started = time.perf_counter()
    response = httpx.post(f"{base_url}/articles/upload", files={"file": (filename, content)}, timeout=600)
    seconds = time.perf_counter() - started
    done.set()
    poller.join()
    return {
        "shape": name, "bytes": len(content), "status": response.status_code, "upload_s": round(seconds, 2),
        "healthz_polls": len(latencies), "healthz_p50_ms": round(statistics.median(latencies), 1),
        "healthz_max_ms": round(max(latencies), 1),
        "worst_poll_at_s": round(polled_at[latencies.index(max(latencies))] - started, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc, _ = start_server(tmp, port)
        try:
            for name, (filename, content) in shapes().items():
                r = measure(f"http://127.0.0.1:{port}", name, filename, content)
                results.append(r)
                print(f"{name:24} {r['bytes'] / MB:4.1f} MB  {r['status']}  upload {r['upload_s']:6.2f} s  "
                      f"/healthz p50 {r['healthz_p50_ms']:5.1f} ms, max {r['healthz_max_ms']:6.1f} ms "
                      f"({r['healthz_polls']} polls, worst at {r['worst_poll_at_s']} s)")
        finally:
            proc.terminate()
            proc.wait(30)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
