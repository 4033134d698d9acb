"""Speed benchmark, one run: `python -m bench.run` (prints; `--out FILE` also writes the JSON).

Measures, on this machine and in one process run so the figures compare:
- ingestion of the 35 SQuAD 2.0 articles in ../shared/eval/squad2_dev/docs/ (fresh embedded stores):
  as `articlechat ingest DIR` does it (articles embedded together), one article at a time (as
  separate POST /articles requests do), and the plain LlamaIndex pipeline of its starter tutorial
  (`VectorStoreIndex.from_documents`, same Chroma, same model), which embeds one vector per chunk
  where ours embeds each chunk and each sentence;
- the embedding model's raw throughput on exactly the texts that ingest embedded (one call, no store,
  no parsing), so that ingest's own overhead shows as a ratio;
- the bundled sample article's ingest;
- server cold start (process spawn → /healthz answers), first start (indexes the sample) and restart;
- `/ask` latency over real HTTP on the sample article in extractive mode: p50 and p95.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import SAMPLE, SQUAD_DOCS, free_port, make_container, percentile, start_server

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


class RecordingEmbedder:
    """The embedder, recording every text it is given and the time spent embedding."""

    def __init__(self, embedder):
        self._embedder = embedder
        self.texts: list[str] = []
        self.seconds = 0.0

    def __getattr__(self, name):
        return getattr(self._embedder, name)

    def embed_texts(self, texts: list[str]) -> list[list[float]]:
        started = time.perf_counter()
        vectors = self._embedder.embed_texts(texts)
        self.seconds += time.perf_counter() - started
        self.texts += texts
        return vectors


def bench_ingest(embedder) -> dict:
    from index.ingest import ArticleInput

    files = sorted(SQUAD_DOCS.glob("*.txt"))
    out: dict = {"articles": len(files)}
    with tempfile.TemporaryDirectory() as tmp:
        recording = RecordingEmbedder(embedder)
        service = make_container(tmp, recording).ingestion
        started = time.perf_counter()
        results = service.ingest_many([ArticleInput(f.read_bytes(), f.name) for f in files])
        seconds = time.perf_counter() - started
    chunks = sum(r.chunks for r in results)  # type: ignore[union-attr]
    texts = len(recording.texts)
    out["together"] = {"seconds": round(seconds, 2), "chunks": chunks, "texts_embedded": texts,
                       "articles_per_s": round(len(files) / seconds, 2), "texts_per_s": round(texts / seconds, 1),
                       "embedding_s": round(recording.seconds, 2)}

    started = time.perf_counter()
    embedder.embed_texts(recording.texts)
    raw = time.perf_counter() - started
    out["raw_embedding"] = {"seconds": round(raw, 2), "texts_per_s": round(texts / raw, 1)}
    out["together"]["of_raw_throughput"] = round(raw / seconds, 2)

    with tempfile.TemporaryDirectory() as tmp:
        service = make_container(tmp, embedder).ingestion
        started = time.perf_counter()
        for f in files:
            service.ingest_bytes(f.read_bytes(), f.name)
        seconds = time.perf_counter() - started
    out["one_by_one"] = {"seconds": round(seconds, 2), "texts_per_s": round(texts / seconds, 1)}

    with tempfile.TemporaryDirectory() as tmp:
        from bench.eval import build_baseline

        started = time.perf_counter()
        build_baseline(files, embedder, tmp)
        seconds = time.perf_counter() - started
    out["llamaindex_from_documents"] = {"seconds": round(seconds, 2)}

    with tempfile.TemporaryDirectory() as tmp:
        service = make_container(tmp, embedder).ingestion
        started = time.perf_counter()
        result = service.ingest_bytes(SAMPLE.read_bytes(), SAMPLE.name)
        out["sample"] = {"chunks": result.chunks, "seconds": round(time.perf_counter() - started, 2)}
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


def bench_server(rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc, first_start = start_server(tmp, port)
        proc.terminate()
        proc.wait(30)
        proc, restart = start_server(tmp, port)
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
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON (default: print only)")
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
    e, i, s = results["embedding"], results["ingest"], results["server"]
    t = i["together"]
    print(f"embedding model        {e['passages_per_s']} passages/s ({e['passages']} passages), "
          f"query {e['query_ms_p50']} ms")
    print(f"ingest, {i['articles']} SQuAD articles:")
    print(f"  together (CLI, batch) {t['seconds']} s: {t['articles_per_s']} articles/s, {t['chunks']} chunks, "
          f"{t['texts_embedded']} texts embedded = {t['texts_per_s']}/s ({t['embedding_s']} s of it embedding)")
    print(f"  raw embedding         {i['raw_embedding']['seconds']} s = {i['raw_embedding']['texts_per_s']} texts/s "
          f"on the same texts: ingest runs at {t['of_raw_throughput']} of it")
    print(f"  one by one            {i['one_by_one']['seconds']} s")
    print(f"  LlamaIndex tutorial   {i['llamaindex_from_documents']['seconds']} s (one vector per chunk)")
    print(f"  sample article        {i['sample']['chunks']} chunks in {i['sample']['seconds']} s")
    print(f"server cold start      {s['cold_start_first_s']} s first start (indexes the sample), "
          f"{s['cold_start_restart_s']} s restart")
    print(f"/ask extractive        p50 {s['ask_p50_ms']} ms, p95 {s['ask_p95_ms']} ms "
          f"over {s['ask_requests']} requests")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
