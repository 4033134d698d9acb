"""The runtime's figures in one run and one table: `python -m bench.report --out DIR`.

Runs, one after the other on this machine, each in its own process:
1. README command 1's install, as a new user does it: a fresh venv and `pip install -e .` of this
   checkout (pip's cache as it is): seconds, venv size, and whether torch came with it;
2. `bench.embedder_parity` in a venv that has the torch extra (`--torch-python`; skipped without one):
   the old (sentence-transformers on torch) and new (ONNX) embedders' throughput and query latency;
3. `bench.run`: ingest of the 35 SQuAD articles (ours, and the plain LlamaIndex pipeline on the same
   documents), cold start, `/ask` latency on the sample article;
4. `bench.scale`: 1,000 articles ingested for real (RSS before and after), then filled towards 10,000;
   `/ask` latency, cold start and memory at each size.
Writes every part's JSON, report.json and report.md (the table) to DIR; prints the table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT


def du_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 2**20


def install(out: Path) -> dict[str, Any]:
    """README command 1's install into a fresh venv (the server is not started)."""
    with tempfile.TemporaryDirectory() as tmp:
        venv = Path(tmp) / ".venv"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-e", str(ROOT)], check=True,
                       stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        listed = subprocess.run([str(venv / "bin" / "pip"), "list", "--format=json"], check=True,
                                capture_output=True, text=True).stdout
        names = {p["name"].lower() for p in json.loads(listed)}
        result = {"seconds": round(seconds, 1), "venv_mib": round(du_mib(venv)), "packages": len(names),
                  "torch": "torch" in names}
    (out / "install.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def part(module: str, out: Path, written: Path, *args: str, python: str = sys.executable) -> dict[str, Any]:
    """Runs `python -m module --out OUT args` and returns the JSON it wrote to `written` (OUT itself, or
    a file in it for the benchmarks that take a directory)."""
    subprocess.run([python, "-m", module, "--out", str(out), *args], check=True, cwd=ROOT)
    return json.loads(written.read_text())


def table(r: dict[str, Any]) -> str:
    """One row per figure: what, ours (the default: ONNX, no torch), and what it is compared with."""
    rows: list[tuple[str, str, str]] = []
    if inst := r.get("install"):
        rows.append(("install, README command 1", f"{inst['seconds']} s, venv {inst['venv_mib']} MB, "
                     f"torch installed: {inst['torch']}", "torch 2.13.0 from PyPI: multi-GB CUDA wheels"))
    if par := r.get("parity"):
        old, new = par["torch"], par["onnx"]
        for key, label in (("passages_per_s", "embedder throughput, passages/s"),
                           ("sentences_per_s", "embedder throughput, sentences/s"),
                           ("query_ms_p50", "embedder query latency p50, ms"), ("load_s", "embedder load, s")):
            rows.append((label, str(new[key]), f"torch: {old[key]}"))
        cos = par["cosine"]["all"]
        rows.append(("cosine ONNX vs torch vectors, mean / min", f"{cos['mean']} / {cos['min']}", ""))
    if speed := r.get("speed"):
        ing = speed["ingest"]
        rows.append(("ingest of the 35 SQuAD articles, s",
                     f"{ing['together']['seconds']} ({ing['together']['texts_embedded']:,} texts; "
                     f"{ing['together']['of_raw_throughput']} of the embedder's raw throughput)",
                     f"LlamaIndex from_documents: {ing['llamaindex_from_documents']['seconds']} "
                     f"({ing['together']['chunks']:,} chunks)"))
        srv = speed["server"]
        rows.append(("server cold start with an index, s", str(srv["cold_start_restart_s"]), ""))
        rows.append(("/ask p50 / p95, sample article, ms", f"{srv['ask_p50_ms']} / {srv['ask_p95_ms']}", ""))
    if scale := r.get("scale"):
        stages = {int(k): v for k, v in scale["stages"].items()}
        for size in sorted(stages):
            st = stages[size]
            if ing := st.get("ingest"):
                rows.append((f"ingest of {ing['articles']:,} articles",
                             f"{ing['articles_per_s']} articles/s, {ing['chunks_per_s']} chunks/s", ""))
                rows.append((f"RSS ingesting {ing['articles']:,} articles, MB",
                             f"{ing['rss_before_mib']} → {ing['rss_after_mib']}", ""))
            if fill := st.get("fill"):
                rows.append((f"written with reused vectors to reach {size:,}",
                             f"{fill['articles']:,} articles at {fill['articles_per_s']} articles/s", ""))
            bm25 = ""
            if lexical := st.get("lexical"):
                names, values = ["full build"], [lexical["build_s"]]
                if "build_from_kept_s" in lexical:  # runs before the kept term counts have no such figure
                    names.append("from its kept file")
                    values.append(lexical["build_from_kept_s"])
                names.append("update")
                values.append(lexical["update_s"])
                bm25 = f"BM25 {' / '.join(names)}: {' / '.join(map(str, values))} s"
            rows.append((f"store at {size:,} articles", f"{st['disk_mib']:,} MB on disk", bm25))
            srv = st["server"]
            rows.append((f"/ask p50 / p95 / p99 at {size:,} articles, ms",
                         f"{srv['p50_ms']} / {srv['p95_ms']} / {srv['p99_ms']}",
                         f"cold start {srv['cold_start_s']} s, first /ask {srv['first_ask_s']} s; "
                         f"RSS {srv['rss_after_asks_mib']} MB; asks/s with "
                         f"1 → 32 clients {srv['clients_1']['asks_per_s']} → {srv['clients_32']['asks_per_s']} "
                         f"({srv['clients_32']['errors']} errors)"))
    lines = ["| | articlechat | compared with |", "|---|---|---|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for every part's JSON and the table")
    parser.add_argument("--torch-python", help="python of a venv with the torch extra (for the embedder parity)")
    parser.add_argument("--fill-minutes", type=float, default=None, help="passed to bench.scale")
    parser.add_argument("--keep", type=Path, help="passed to bench.scale: keep its store in this new directory")
    parser.add_argument("--skip-install", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"started": time.strftime("%Y-%m-%d %H:%M:%S")}

    def save() -> None:
        (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (args.out / "report.md").write_text(table(report))

    if not args.skip_install:
        report["install"] = install(args.out)
        save()
    if args.torch_python:
        report["parity"] = part("bench.embedder_parity", args.out / "parity.json", args.out / "parity.json",
                                python=args.torch_python)
        save()
    report["speed"] = part("bench.run", args.out / "speed.json", args.out / "speed.json", "--rounds", "5")
    save()
    scale_args = ["--fill-minutes", str(args.fill_minutes)] if args.fill_minutes else []
    scale_args += ["--keep", str(args.keep)] if args.keep else []
    report["scale"] = part("bench.scale", args.out, args.out / "scale.json", *scale_args)
    report["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    save()
    print(table(report))


if __name__ == "__main__":
    main()
