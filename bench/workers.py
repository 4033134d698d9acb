"""Worker processes over one Chroma server: `python -m bench.workers` (prints; `--out FILE` also writes JSON).

A real `chroma run` holds the sample article and the 35 SQuAD 2.0 articles (../shared/eval/), ingested
through a real `articlechat serve`. Then, for each worker count (default 1 and 2), `articlechat serve
--workers N` (extractive mode) on that store gets 50 concurrent clients asking the questions of
bench/sets (the sample article's first-turn questions and those it cannot answer) for a bounded time,
after a warm-up that lets every worker load its lexical index: asks/s, latency p50/p95/p99, every
non-200, and the CPU time the workers, Chroma and the clients spent per ask. Also measured: how soon
an article added or deleted through one process is served by another (two single-worker servers, the
second polled), and what one read of the store's generation costs. The clients run on the same
machine as the servers and Chroma, and take CPU from them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    SAMPLE_SET,
    SQUAD_DOCS,
    UNANSWERABLE_SET,
    chroma_server,
    free_port,
    load_jsonl,
    percentile,
    start_server,
)
from bench.load import load_articles
from bench.scale import rss_mib

PREFIX = "workers"
WARM_UP_SECONDS = 5.0
VISIBILITY_ROUNDS = 10
GENERATION_READS = 300
NAMES = ["Quillmorrow", "Brannoch", "Tessivane", "Orlamund", "Kestrelby", "Vintmoor", "Galloran", "Pellisand",
         "Drummock", "Astervel"]


def questions() -> list[str]:
    """bench/sets' questions about the sample article that stand alone (no history)."""
    asked = [q["question"] for q in load_jsonl(SAMPLE_SET) if not q.get("history")]
    return asked + [q["question"] for q in load_jsonl(UNANSWERABLE_SET) if q.get("article") == "sample"]


async def _load(url: str, qs: list[str], clients: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def one_client(k: int) -> None:
            i = k
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    response = await client.post("/ask", json={"question": qs[i % len(qs)]})
                    status = str(response.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                latencies.append((time.perf_counter() - started) * 1000)
                if status != "200":
                    errors.append(status)
                i += 1

        started = time.perf_counter()
        await asyncio.gather(*(one_client(k) for k in range(clients)))
        elapsed = time.perf_counter() - started
    return {
        "asks": len(latencies), "seconds": round(elapsed, 1), "asks_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50), 1), "p95_ms": round(percentile(latencies, 0.95), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1), "errors": len(errors), "error_kinds": sorted(set(errors)),
    }


def load(url: str, qs: list[str], clients: int, seconds: float) -> dict[str, Any]:
    return asyncio.run(_load(url, qs, clients, seconds))


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def chroma_pid(port: int) -> int:
    """The `chroma run` process serving `port`."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if "run" in args and "--port" in args and args[args.index("--port") + 1] == str(port):
            return int(cmdline.parent.name)
    raise RuntimeError(f"no chroma run on port {port}")


def worker_pids(pid: int) -> list[int]:
    """The worker processes of a `serve --workers N` (its children, but multiprocessing's helpers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children
            if "resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes().decode(errors="replace")]


def measure(chroma: int, tmp: str, workers: int, qs: list[str], clients: int, seconds: float) -> dict[str, Any]:
    port = free_port()
    proc, start_s = start_server(tmp, port, seed_sample=False, chroma_port=chroma, prefix=PREFIX, workers=workers)
    url = f"http://127.0.0.1:{port}"
    try:
        load(url, qs, clients, WARM_UP_SECONDS)  # every worker loads its lexical index
        pids = worker_pids(proc.pid) if workers > 1 else [proc.pid]
        who = {"workers": pids, "chroma": [chroma_pid(chroma)]}
        before = {k: sum(map(cpu_seconds, v)) for k, v in who.items()}
        client_before = sum(os.times()[:2])
        result = {"workers": workers, "clients": clients, "start_s": round(start_s, 1),
                  **load(url, qs, clients, seconds)}
        # Where the CPU went, per ask: the workers, Chroma, and these clients (on the same 2 cores).
        used = {k: sum(map(cpu_seconds, v)) - before[k] for k, v in who.items()}
        used["clients"] = sum(os.times()[:2]) - client_before
        result["cpu_ms_per_ask"] = {k: round(v * 1000 / result["asks"], 1) for k, v in used.items()}
        result["rss_mib_per_worker"] = [round(rss_mib(p)) for p in pids]
        return result
    finally:
        proc.terminate()
        proc.wait(60)


def visibility(a: str, b: str) -> dict[str, Any]:
    """Seconds from a write's answer through `a` until `b` serves it: an article added (answered from), then
    deleted (404)."""
    added, deleted = [], []
    with httpx.Client(base_url=a, timeout=60) as api_a, httpx.Client(base_url=b, timeout=60) as api_b:
        for i, name in enumerate(NAMES[:VISIBILITY_ROUNDS]):
            article_id, time_of_day = f"visible-{i}", f"19:{i:02d}"
            text = f"# Harbour notes\n\n## The lighthouse\n\nThe {name} lighthouse keeper lit the lamp at " \
                   f"{time_of_day} every evening.\n"
            question = f"When did the {name} lighthouse keeper light the lamp?"
            api_a.post("/articles", json={"id": article_id, "text": text}).raise_for_status()
            started = time.perf_counter()
            while True:
                body = api_b.post("/ask", json={"question": question}).json()
                if body["answered"] and body["citations"][0]["article_id"] == article_id:
                    break
                if time.perf_counter() - started > 30:
                    raise RuntimeError(f"{article_id} was not served by the other process within 30 s")
            added.append(time.perf_counter() - started)
            api_a.delete(f"/articles/{article_id}").raise_for_status()
            started = time.perf_counter()
            while api_b.get(f"/articles/{article_id}").status_code != 404:
                if time.perf_counter() - started > 30:
                    raise RuntimeError(f"{article_id} was still served by the other process after 30 s")
            deleted.append(time.perf_counter() - started)

    def summary(values: list[float]) -> dict[str, float]:
        return {"median_s": round(statistics.median(values), 3), "max_s": round(max(values), 3)}

    return {"rounds": len(added), "added": summary(added), "deleted": summary(deleted)}


def generation_cost(chroma: int, url: str, qs: list[str]) -> dict[str, Any]:
    """One read of the generation (a Chroma get), against one /ask from one client."""
    from index.store import GENERATION_MAX_AGE_SECONDS, ArticleStore, chroma_client

    store = ArticleStore(chroma_client(host="127.0.0.1", port=chroma), PREFIX)
    reads = []
    for _ in range(GENERATION_READS):
        started = time.perf_counter()
        store.generation()
        reads.append((time.perf_counter() - started) * 1000)
    asks = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for q in qs:
            started = time.perf_counter()
            client.post("/ask", json={"question": q}).raise_for_status()
            asks.append((time.perf_counter() - started) * 1000)
    read_ms, ask_ms = statistics.median(reads), statistics.median(asks)
    return {"read_ms_p50": round(read_ms, 2), "read_ms_p95": round(percentile(reads, 0.95), 2),
            "ask_ms_p50_one_client": round(ask_ms, 1), "share_of_an_ask_if_read_every_time": round(read_ms / ask_ms, 3),
            "read_at_most_every_s": GENERATION_MAX_AGE_SECONDS}


def table(runs: list[dict[str, Any]]) -> str:
    lines = ["| workers | clients | asks | asks/s | p50 ms | p95 ms | p99 ms | errors | CPU ms per ask: workers, "
             "Chroma, clients | RSS per worker (MiB) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        rss = ", ".join(str(m) for m in r["rss_mib_per_worker"])
        cpu = ", ".join(str(r["cpu_ms_per_ask"][k]) for k in ("workers", "chroma", "clients"))
        lines.append(f"| {r['workers']} | {r['clients']} | {r['asks']:,} | {r['asks_per_s']} | {r['p50_ms']} | "
                     f"{r['p95_ms']} | {r['p99_ms']} | {r['errors']} | {cpu} | {rss} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30, help="of asking, per worker count (after a 5 s warm-up)")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated")
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    if not SQUAD_DOCS.is_dir():
        sys.exit(f"missing {SQUAD_DOCS}: the benchmark reads the shared evaluation set beside the checkout")
    qs = questions()
    result: dict[str, Any] = {"clients": args.clients, "seconds": args.seconds, "questions": len(qs)}
    with tempfile.TemporaryDirectory() as tmp, chroma_server(Path(tmp) / "chroma") as chroma:
        servers: list[subprocess.Popen] = []
        try:
            urls = []
            for _ in range(2):
                port = free_port()
                proc, _ = start_server(tmp, port, seed_sample=False, chroma_port=chroma, prefix=PREFIX)
                servers.append(proc)
                urls.append(f"http://127.0.0.1:{port}")
            started = time.perf_counter()
            load_articles(urls[0])
            result["ingest_s"] = round(time.perf_counter() - started, 1)
            result["visibility"] = visibility(*urls)
            print("served by another process after:", json.dumps(result["visibility"]), flush=True)
            result["generation"] = generation_cost(chroma, urls[1], qs)
            print("generation read:", json.dumps(result["generation"]), flush=True)
        finally:
            for proc in servers:
                proc.terminate()
                proc.wait(60)
        result["runs"] = []
        for workers in (int(w) for w in args.workers.split(",")):
            run = measure(chroma, tmp, workers, qs, args.clients, args.seconds)
            print(json.dumps(run), flush=True)
            result["runs"].append(run)
    print(table(result["runs"]))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
