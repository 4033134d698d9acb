"""Speed benchmark, one run: `python -m bench.run` (writes bench/results/speed.json).

Measures, on this machine and in one process run so the figures compare:
- ingestion time and chunks/s for the bundled sample article and for the 35 SQuAD 2.0 articles in
  ../shared/eval/squad2_dev/docs/ (fresh embedded stores);
- the embedding model's raw throughput on the same passages (no store, no parsing);
- server cold start (process spawn → /healthz answers), first start (indexes the sample) and restart;
- `/ask` latency over real HTTP on the sample article in extractive mode: p50 and p95.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx

from bench.common import RESULTS, ROOT, SAMPLE, SQUAD_DOCS, make_container, percentile

# Questions a reader might ask about the sample article (answerable and not), for latency only.
LATENCY_QUESTIONS = [
    "Who arranged the reception centers for returning prisoners?",
    "How many prisoners did each side agree to exchange?",
    "What did Zelenskyy say about the swap?",
    "Where did the exchange take place?",
    "What did Trump say about the exchange?",
    "How many drones did Russia say it shot down?",
    "Which countries offered to host follow-up talks?",
    "What is the weather in Kyiv today?",
    "What conditions does Ukraine insist on for a ceasefire?",
    "Who is the UN envoy mentioned in the article?",
]


def bench_ingest(embedder) -> dict:
    out = {}
    for name, files in (("sample", [SAMPLE]), ("squad2_dev_35", sorted(SQUAD_DOCS.glob("*.txt")))):
        with tempfile.TemporaryDirectory() as tmp:
            service = make_container(tmp, embedder).ingestion
            started = time.perf_counter()
            chunks = sum(service.ingest_bytes(f.read_bytes(), f.name).chunks for f in files)
            seconds = time.perf_counter() - started
        out[name] = {"articles": len(files), "chunks": chunks, "seconds": round(seconds, 2),
                     "chunks_per_s": round(chunks / seconds, 1)}
    return out


def bench_embedding(embedder) -> dict:
    from index.chunking import SectionNodeParser
    from index.parsing import parse_article

    parser = SectionNodeParser(count_tokens=embedder.count_tokens, max_tokens=embedder.max_tokens)
    texts = []
    for f in sorted(SQUAD_DOCS.glob("*.txt"))[:10]:
        texts += [c.embed_text for c in parser.chunk(parse_article(f.read_text(), "text", filename=f.name))]
    embedder.embed_texts(texts[:8])  # warm-up
    started = time.perf_counter()
    embedder.embed_texts(texts)
    seconds = time.perf_counter() - started
    for q in LATENCY_QUESTIONS:  # warm-up
        embedder.embed_query(q)
    q_times = []
    for q in LATENCY_QUESTIONS * 3:
        t = time.perf_counter()
        embedder.embed_query(q)
        q_times.append((time.perf_counter() - t) * 1000)
    return {"passages": len(texts), "passages_per_s": round(len(texts) / seconds, 1),
            "query_ms_p50": round(statistics.median(q_times), 2)}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(data_dir: str, port: int) -> tuple[subprocess.Popen, float]:
    env = {**os.environ, "ARTICLECHAT_DATA_DIR": data_dir, "OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = started + 180
    while time.perf_counter() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("the server exited during start-up")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the server did not start within 180 s")


def bench_server(rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        proc, first_start = _start_server(tmp, port)
        proc.terminate()
        proc.wait(30)
        proc, restart = _start_server(tmp, port)
        try:
            latencies = []
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                for q in LATENCY_QUESTIONS:  # warm-up
                    client.post("/ask", json={"question": q}).raise_for_status()
                for _ in range(rounds):
                    for q in LATENCY_QUESTIONS:
                        t = time.perf_counter()
                        client.post("/ask", json={"question": q}).raise_for_status()
                        latencies.append((time.perf_counter() - t) * 1000)
        finally:
            proc.terminate()
            proc.wait(30)
    return {
        "cold_start_first_s": round(first_start, 2),
        "cold_start_restart_s": round(restart, 2),
        "ask_requests": len(latencies),
        "ask_p50_ms": round(statistics.median(latencies), 1),
        "ask_p95_ms": round(percentile(latencies, 0.95), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="passes over the latency questions")
    args = parser.parse_args()
    if not SQUAD_DOCS.is_dir():
        sys.exit(f"missing {SQUAD_DOCS}: the benchmark reads the shared evaluation set beside the checkout")
    from index.embedding import make_embedder

    embedder = make_embedder()
    results = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "embedding": bench_embedding(embedder),
        "ingest": bench_ingest(embedder),
        "server": bench_server(args.rounds),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "speed.json").write_text(json.dumps(results, indent=2) + "\n")
    e, i, s = results["embedding"], results["ingest"], results["server"]
    print(f"embedding model        {e['passages_per_s']} passages/s ({e['passages']} passages), "
          f"query {e['query_ms_p50']} ms")
    for name, r in i.items():
        print(f"ingest {name:15} {r['articles']} article(s), {r['chunks']} chunks in {r['seconds']} s "
              f"= {r['chunks_per_s']} chunks/s")
    print(f"server cold start      {s['cold_start_first_s']} s first start (indexes the sample), "
          f"{s['cold_start_restart_s']} s restart")
    print(f"/ask extractive        p50 {s['ask_p50_ms']} ms, p95 {s['ask_p95_ms']} ms "
          f"over {s['ask_requests']} requests")
    print(f"written to {RESULTS / 'speed.json'}")


if __name__ == "__main__":
    main()
