"""What the benchmarks share: paths, the offline container they get their services from, percentiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SQUAD_DOCS = ROOT.parent / "shared" / "eval" / "squad2_dev" / "docs"
SAMPLE = ROOT / "index" / "data" / "ukraine-russia-prisoner-exchange.txt"
SAMPLE_SET = ROOT / "bench" / "sets" / "sample_article.jsonl"
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
