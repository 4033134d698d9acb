"""Scale benchmark, one run: `python -m bench.scale` (prints; `--out DIR` also writes scale.json and
scale_latency.png there; the plot needs the `bench` extra's matplotlib).

The corpus is generated, deterministically: each article has a new title and ~20 sections, each a
heading over one paragraph recombined from the 35 SQuAD 2.0 articles in ../shared/eval/squad2_dev/docs/
and the bundled sample article (1,200-odd paragraphs of ~130 words: ~20 chunks and ~100 sentences an
article).

Stages, each measured on an embedded store:
1. the bundled sample article alone;
2. 1,000 articles, ingested for real as `articlechat ingest DIR` does (`ingest_many`: the model
   embeds every chunk and sentence): articles/s, chunks/s, the ingesting process's RSS before and
   after; and the first 200 of them once more into a Chroma server (`chroma run`,
   ARTICLECHAT_CHROMA_HOST);
3. 10,000 articles: 9,000 more written with reused vectors. Embedding their 1.2 million texts for real
   would take ~3 hours on 2 cores; so each distinct text is embedded once by the real model and every
   further use gets its vector with a small deterministic jitter (cosine ~0.99 to it; no two records
   are identical, which an HNSW index would handle unlike real data). Latency, memory and disk depend
   on the number of records, not on their values; ingest speed is the 1,000-article stage's. The
   records are written in large batches (`BatchedWrites`); `--fill-minutes M` stops the writing after
   M minutes and measures the store at the size it reached.

At each size: on-disk size; the lexical (BM25) index's full build, the writing of its kept term
counts and a build from them (what a restart does), and its update after one more article; a real
server's cold start (spawn → /healthz) and RSS; `/ask` latency (extractive, one
client, p50/p95/p99, over SQuAD and sample-article questions); and asks/s with 1 and with 32
concurrent clients, with every non-200 counted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench.common import SAMPLE, SQUAD_DOCS, chroma_server, free_port, make_container, percentile, start_server
from bench.run import LATENCY_QUESTIONS

SECTIONS = (16, 24)  # per article, uniformly
CONCURRENT_CLIENTS = 32
CONCURRENCY_SECONDS = 15.0
LATENCY_ROUNDS = 3


WORDS = ["Report", "Review", "Notes", "Digest", "Dispatch", "Brief"]


def source_paragraphs() -> list[tuple[str, str]]:
    """(section heading, paragraph) for every paragraph of the SQuAD articles and the sample article.
    Each paragraph keeps one heading (its source's title, a word and a number), so the same section
    text recurs across articles as syndicated copy does, and stage 3 can reuse its vector."""
    rng = random.Random(0)
    sources = [f.read_text(encoding="utf-8").split("\n\n") for f in sorted(SQUAD_DOCS.glob("*.txt"))]
    sources.append(["Prisoner exchange", *SAMPLE.read_text(encoding="utf-8").splitlines()])
    out = []
    for parts in sources:
        title, body = parts[0].strip(), [p.strip() for p in parts[1:] if len(p.strip()) > 200]
        out += [(f"{title} {rng.choice(WORDS).lower()} {k + 1}", p) for k, p in enumerate(body)]
    return out


def article(n: int, paragraphs: list[tuple[str, str]]) -> tuple[str, str]:
    """Article number n: (id, plain text with a new title line and ~20 headed sections)."""
    rng = random.Random(n)
    picked = [paragraphs[rng.randrange(len(paragraphs))] for _ in range(rng.randint(*SECTIONS))]
    title = f"{picked[0][0].rsplit(' ', 2)[0]} and {picked[-1][0].rsplit(' ', 2)[0]}: {rng.choice(WORDS)} {n}"
    sections = [f"{heading}\n\n{text}" for heading, text in picked]
    return f"gen-{n:05d}", title + "\n\n" + "\n\n".join(sections) + "\n"


class ReusingEmbedder:
    """The real model for each distinct text once; later uses of a text get its vector with a small
    deterministic jitter (see the module docstring: filling a 10,000-article store quickly)."""

    JITTER = 0.004  # per dimension, before normalising: cosine ~0.99 to the real vector

    def __init__(self, embedder: Any):
        self._embedder = embedder
        self._vectors: dict[str, np.ndarray] = {}
        self._uses = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._embedder, name)

    def embed_texts(self, texts: list[str]) -> list[list[float]]:
        new = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        for text, vector in zip(new, self._embedder.embed_texts(new) if new else [], strict=True):
            self._vectors[text] = np.asarray(vector, dtype=np.float32)
        out = []
        for text in texts:
            self._uses += 1
            seed = int.from_bytes(hashlib.sha256(f"{self._uses}:{text}".encode()).digest()[:4], "little")
            v = self._vectors[text] + np.random.default_rng(seed).normal(0, self.JITTER, self._vectors[text].shape)
            out.append((v / np.linalg.norm(v)).tolist())
        return out


class BatchedWrites:
    """Stage 3's writes, held and made in large batches: the chunks and sentences of ARTICLES_A_BATCH
    articles in Chroma calls of WRITE_BATCH records (ArticleStore.add_version itself, its batch size
    raised), then their commits. The records are the product's own; only the batching differs: the
    store writes 64 records a call so that a serving process is not stalled (index/store.py), which
    no server here is, and that made stage 3 take hours. Every stage-3 article is new, so there is no
    replaced version to clean up."""

    ARTICLES_A_BATCH = 40
    WRITE_BATCH = 5_000  # under the embedded Chroma's 5,461 records a call

    def __init__(self, store: Any):
        self._add, self._commit = store.add_version, store.commit
        self._nodes: list[Any] = []
        self._sentences: list[Any] = []
        self._records: list[Any] = []
        store.add_version, store.commit = self._held_add, self._held_commit
        store.drop_replaced = lambda *args, **kwargs: None

    def _held_add(self, nodes: list[Any], sentences: list[Any]) -> None:
        self._nodes += nodes
        self._sentences += sentences

    def _held_commit(self, record: Any) -> None:
        self._records.append(record)
        if len(self._records) >= self.ARTICLES_A_BATCH:
            self.flush()

    def flush(self) -> None:
        import index.store

        batch, index.store._BATCH = index.store._BATCH, self.WRITE_BATCH
        try:
            self._add(self._nodes, self._sentences)
        finally:
            index.store._BATCH = batch
        for record in self._records:
            self._commit(record)
        self._nodes, self._sentences, self._records = [], [], []


def rss_mib(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def disk_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def until(deadline: float | None, numbers: range) -> Iterator[int]:
    """`numbers`, until `deadline` (time.perf_counter) has passed."""
    for n in numbers:
        if deadline is not None and time.perf_counter() > deadline:
            return
        yield n


def ingest(service: Any, numbers: Iterable[int], paragraphs: list[tuple[str, str]]) -> dict:
    from index.ingest import ArticleInput

    items = (ArticleInput(text, article_id=article_id)
             for article_id, text in (article(n, paragraphs) for n in numbers))
    started = time.perf_counter()
    outcomes = service.ingest_many(items)
    seconds = time.perf_counter() - started
    failed = [o for o in outcomes if isinstance(o, Exception)]
    if failed:
        raise RuntimeError(f"{len(failed)} generated articles were refused: {failed[0]}")
    chunks = sum(o.chunks for o in outcomes)
    return {"articles": len(outcomes), "chunks": chunks, "seconds": round(seconds, 1),
            "articles_per_s": round(len(outcomes) / seconds, 2), "chunks_per_s": round(chunks / seconds, 1)}


def lexical_costs(data_dir: Path, embedder: Any, paragraphs: list[tuple[str, str]], next_number: int) -> dict:
    """The BM25 index's full build (from the store alone, as a first start), the writing of its kept
    term counts and a build from them (as a restart), and its update after one more article (added by
    the same process)."""
    from index.retrieval import LexicalIndex

    container = make_container(data_dir, embedder)
    kept = container.store.derived_path("bm25-terms.npz")
    assert kept is not None
    kept.unlink(missing_ok=True)
    lexical = LexicalIndex(container.store)
    started = time.perf_counter()
    lexical.search("warm", 1)
    build = time.perf_counter() - started
    started = time.perf_counter()
    lexical.save()
    save = time.perf_counter() - started
    started = time.perf_counter()
    LexicalIndex(container.store).search("warm", 1)
    from_kept = time.perf_counter() - started
    timings = []
    refresh = lexical.refresh

    def timed_refresh() -> None:
        t = time.perf_counter()
        refresh()
        timings.append(time.perf_counter() - t)

    lexical.refresh = timed_refresh  # type: ignore[method-assign]
    container.store._listeners = [timed_refresh]
    article_id, text = article(next_number, paragraphs)
    container.ingestion.ingest_text(text, article_id=article_id)
    return {"build_s": round(build, 2), "save_s": round(save, 2), "kept_mib": round(kept.stat().st_size / 2**20, 1),
            "build_from_kept_s": round(from_kept, 2), "update_s": round(sum(timings), 3),
            "rss_mib": round(rss_mib(), 0)}


def questions() -> list[str]:
    from bench.eval import load_squad_set

    return LATENCY_QUESTIONS + [q.question for q in load_squad_set()][:40:2]


class Server:
    def __init__(self, data_dir: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc, self.cold_start_s = start_server(data_dir, self.port, seed_sample=False, timeout=600)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def serve_and_measure(data_dir: Path, qs: list[str]) -> dict:
    server = Server(data_dir)
    try:
        out: dict[str, Any] = {"cold_start_s": round(server.cold_start_s, 2), "rss_after_start_mib": round(
            rss_mib(server.proc.pid))}
        with httpx.Client(base_url=server.url, timeout=120) as client:
            started = time.perf_counter()
            client.post("/ask", json={"question": qs[0]}).raise_for_status()
            out["first_ask_s"] = round(time.perf_counter() - started, 2)  # with the BM25 index built, or waited for
            for q in qs:  # warm-up
                client.post("/ask", json={"question": q})
            latencies = []
            for _ in range(LATENCY_ROUNDS):
                for q in qs:
                    t = time.perf_counter()
                    client.post("/ask", json={"question": q}).raise_for_status()
                    latencies.append((time.perf_counter() - t) * 1000)
        out.update({"asks": len(latencies), "p50_ms": round(percentile(latencies, 0.5), 1),
                    "p95_ms": round(percentile(latencies, 0.95), 1), "p99_ms": round(percentile(latencies, 0.99), 1)})
        for clients in (1, CONCURRENT_CLIENTS):
            out[f"clients_{clients}"] = throughput(server.url, qs, clients)
        out["rss_after_asks_mib"] = round(rss_mib(server.proc.pid))
        return out
    finally:
        server.stop()


def throughput(url: str, qs: list[str], clients: int) -> dict:
    done, errors = [0], []
    lock = threading.Lock()
    deadline = time.perf_counter() + CONCURRENCY_SECONDS

    def client_loop(k: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as client:
            i = k
            while time.perf_counter() < deadline:
                try:
                    status = client.post("/ask", json={"question": qs[i % len(qs)]}).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with lock:
                    done[0] += 1
                    if status != 200:
                        errors.append(status)
                i += 1

    threads = [threading.Thread(target=client_loop, args=(k,)) for k in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    return {"asks_per_s": round(done[0] / seconds, 1), "asks": done[0], "errors": len(errors),
            "error_kinds": sorted({str(e) for e in errors})}


def chroma_server_ingest(embedder: Any, paragraphs: list[tuple[str, str]], count: int) -> dict:
    """The first `count` articles into a Chroma server (`chroma run`), for real."""
    with tempfile.TemporaryDirectory() as tmp, chroma_server() as port:
        container = make_container(tmp, embedder, chroma_host="127.0.0.1", chroma_port=port)
        return ingest(container.ingestion, range(count), paragraphs)


def plot(stages: dict[int, dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(stages)
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")):
        ax.plot(sizes, [stages[s]["server"][key] for s in sizes], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("articles indexed")
    ax.set_ylabel("/ask latency, extractive (ms)")
    ax.set_title("articlechat: /ask latency against corpus size")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write scale.json and scale_latency.png to this directory")
    parser.add_argument("--articles", type=int, default=1_000, help="articles ingested for real (stage 2)")
    parser.add_argument("--fill", type=int, default=10_000, help="articles in all at stage 3")
    parser.add_argument("--fill-minutes", type=float,
                        help="stop writing stage 3's articles after this long, and measure what was written")
    parser.add_argument("--keep", type=Path, help="write the 1,000- and 10,000-article store here (a new directory) "
                        "and keep it, for profiling afterwards")
    parser.add_argument("--server-articles", type=int, default=200,
                        help="articles ingested into a Chroma server (stage 2; 0: skip)")
    args = parser.parse_args()
    if args.fill_minutes is not None and args.fill_minutes <= 0:
        parser.error("--fill-minutes must be a positive number of minutes")
    if args.keep is not None and args.keep.exists():
        parser.error(f"--keep {args.keep}: already exists; name a new directory")
    if not SQUAD_DOCS.is_dir():
        sys.exit(f"missing {SQUAD_DOCS}: the benchmark reads the shared evaluation set beside the checkout")
    from index.embedding import make_embedder

    paragraphs = source_paragraphs()
    qs = questions()
    embedder = make_embedder()
    embedder.embed_texts(["warm-up"])
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}, "stages": {}}
    stages: dict[int, dict] = results["stages"]
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.keep or Path(tmp) / "store"
        sample_dir = Path(tmp) / "sample"
        make_container(sample_dir, embedder).ingestion.ingest_bytes(SAMPLE.read_bytes(), SAMPLE.name)
        stages[1] = {"disk_mib": round(disk_mib(sample_dir), 1), "server": serve_and_measure(sample_dir, qs)}
        print("1 article:", json.dumps(stages[1]), flush=True)

        service = make_container(data_dir, embedder).ingestion
        rss_before = rss_mib()
        n = args.articles
        stage: dict[str, Any] = {"ingest": ingest(service, range(n), paragraphs)}
        stage["ingest"].update({"rss_before_mib": round(rss_before), "rss_after_mib": round(rss_mib())})
        stage["disk_mib"] = round(disk_mib(data_dir), 1)
        print(f"{n:,} articles, ingest:", json.dumps(stage), flush=True)
        if args.server_articles:
            stage["ingest_chroma_server"] = chroma_server_ingest(embedder, paragraphs, args.server_articles)
            print("  into a Chroma server:", json.dumps(stage["ingest_chroma_server"]), flush=True)
        stage["lexical"] = lexical_costs(data_dir, embedder, paragraphs, n)
        stage["server"] = serve_and_measure(data_dir, qs)
        stages[n + 1] = stage
        print(f"{n + 1:,} articles:", json.dumps(stage), flush=True)

        reusing = ReusingEmbedder(embedder)
        deadline = time.perf_counter() + 60 * args.fill_minutes if args.fill_minutes else None
        filling = make_container(data_dir, reusing)
        writes = BatchedWrites(filling.store)
        started = time.perf_counter()
        stage = {"fill": ingest(filling.ingestion, until(deadline, range(n + 1, args.fill)), paragraphs)}
        writes.flush()
        seconds = time.perf_counter() - started  # with the last batch's writes
        stage["fill"].update({"seconds": round(seconds, 1),
                              "articles_per_s": round(stage["fill"]["articles"] / seconds, 2),
                              "chunks_per_s": round(stage["fill"]["chunks"] / seconds, 1)})
        filled = n + 1 + stage["fill"]["articles"]
        stage["disk_mib"] = round(disk_mib(data_dir), 1)
        stage["lexical"] = lexical_costs(data_dir, embedder, paragraphs, args.fill)
        stage["server"] = serve_and_measure(data_dir, qs)
        stages[filled + 1] = stage
        print(f"{filled + 1:,} articles:", json.dumps(stage), flush=True)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "scale.json").write_text(json.dumps(results, indent=2) + "\n")
        plot(stages, args.out / "scale_latency.png")
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
