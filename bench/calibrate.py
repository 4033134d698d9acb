"""Choose the abstention threshold (ARTICLECHAT_MIN_EVIDENCE) from labelled questions:
`python -m bench.calibrate` (prints; `--out DIR` also writes calibration.json and the trade-off curve
abstention_tradeoff.png there, as bench/results/ holds them; the plot needs the `bench` extra's matplotlib).

The evidence of a question is the best, over the sentences of the retrieved passages, of the
formula in server/services/evidence.py (the sentence's cosine similarity to the question plus a share
of the question's words it contains), read through the service's public `find`. It is computed for
every labelled question with the sample article and the 35 SQuAD 2.0 articles indexed together; our
sample-article questions search the sample article only (what is "off topic" for it may be answered
by a Wikipedia article). Labels: answerable questions of our sample-article set and the 160
answerable SQuAD questions (should be answered), and our sample-article set's unanswerable
questions (should be refused). SQuAD's unanswerable questions are reported but not used to choose:
they are on-topic by construction ("not answerable from its own paragraph") and a similarity
threshold cannot tell them apart; that is answer-quality work, not a threshold.

The threshold chosen refuses as many unanswerable questions as possible while still answering at
least 97 % of the answerable ones (ties: the one answering more): a wrong refusal costs a reader a
right answer, so it is capped first. (Balanced accuracy would pick 0.61 and
refuse a quarter of the answerable questions, because our related-sounding unanswerable questions are
as close to the article as answerable ones.)
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from bench.common import SAMPLE, SAMPLE_SET, SQUAD_DOCS, SQUAD_QUESTIONS, load_jsonl, make_container

MIN_ANSWERED = 0.97


def evidences(service, questions: list[str], article_ids: list[str] | None = None) -> np.ndarray:
    return np.array([service.find(q, (), article_ids).evidence for q in questions])


def of_kind(rows: list[dict], kind: str) -> list[str]:
    return [r["question"] for r in rows if r["kind"] == kind]


def plot_tradeoff(curve: list[dict], best: dict, path: Path) -> None:
    """Refused-unanswerable against wrongly-refused-answerable, one point per threshold."""
    import matplotlib

    matplotlib.use("Agg")  # no display
    import matplotlib.pyplot as plt

    wrongly = [1 - row["answerable_answered"] for row in curve]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    ax.plot(wrongly, [row["unanswerable_refused"] for row in curve], "o-", ms=3,
            label="our unanswerable (sample article)")
    ax.plot(wrongly, [row["off_topic_refused"] for row in curve], "s-", ms=3, label="our off-topic (sample article)")
    ax.plot(wrongly, [row["squad_unanswerable_refused"] for row in curve], "^-", ms=3, label="SQuAD 2.0 unanswerable")
    ax.axvline(1 - MIN_ANSWERED, color="grey", ls=":", label=f"cap: {1 - MIN_ANSWERED:.0%} wrongly refused")
    ax.annotate(f"chosen {best['threshold']:.2f}", (1 - best["answerable_answered"], best["unanswerable_refused"]),
                xytext=(12, -18), textcoords="offset points", arrowprops={"arrowstyle": "->"})
    ax.set_xlabel("answerable questions wrongly refused")
    ax.set_ylabel("unanswerable questions refused")
    ax.set_title("Abstention threshold trade-off (one point per threshold, 0.20-0.69)")
    ax.set_xlim(-0.005, 0.2)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    from server.services.evidence import EVIDENCE

    parser = argparse.ArgumentParser(description="Choose the abstention threshold from labelled questions.")
    parser.add_argument("--out", type=Path, help="also write calibration.json and the plot to this directory")
    out = parser.parse_args().out
    with tempfile.TemporaryDirectory() as tmp:
        container = make_container(tmp, collection_prefix="calibrate")
        ingestion = container.ingestion
        sample_id = ingestion.ingest_bytes(SAMPLE.read_bytes(), SAMPLE.name).article_id
        for f in sorted(SQUAD_DOCS.glob("*.txt")):
            ingestion.ingest_bytes(f.read_bytes(), f.name)
        service = container.answers
        ours = load_jsonl(SAMPLE_SET)
        squad = load_jsonl(SQUAD_QUESTIONS)
        groups = {
            "sample_answerable": evidences(service, of_kind(ours, "answerable"), [sample_id]),
            "sample_off_topic": evidences(service, of_kind(ours, "off_topic"), [sample_id]),
            "sample_related_unanswerable": evidences(service, of_kind(ours, "related"), [sample_id]),
            "squad_answerable": evidences(service, [r["question"] for r in squad if r["answerable"]]),
            "squad_unanswerable": evidences(service, [r["question"] for r in squad if not r["answerable"]]),
        }
    positives = np.concatenate([groups["sample_answerable"], groups["squad_answerable"]])
    negatives = np.concatenate([groups["sample_off_topic"], groups["sample_related_unanswerable"]])
    curve = []
    for t in np.round(np.arange(0.20, 0.70, 0.01), 2):
        answered = float((positives >= t).mean())
        refused = float((negatives < t).mean())
        curve.append({
            "off_topic_refused": round(float((groups["sample_off_topic"] < t).mean()), 3),
            "threshold": float(t), "answerable_answered": round(answered, 3), "unanswerable_refused": round(refused, 3),
            "squad_unanswerable_refused": round(float((groups["squad_unanswerable"] < t).mean()), 3),
        })
    allowed = [row for row in curve if row["answerable_answered"] >= MIN_ANSWERED]
    best = max(allowed, key=lambda row: (row["unanswerable_refused"], row["answerable_answered"]))
    summary = {name: {"n": len(v), "min": round(float(v.min()), 3), "median": round(float(np.median(v)), 3),
                      "max": round(float(v.max()), 3)} for name, v in groups.items()}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        model = {"overlap_weight": EVIDENCE.overlap_weight, "min_evidence_in_use": EVIDENCE.min_evidence}
        (out / "calibration.json").write_text(
            json.dumps({"evidence_model": model, "best": best, "groups": summary, "curve": curve}, indent=2) + "\n")
        plot_tradeoff(curve, best, out / "abstention_tradeoff.png")
    for name, s in summary.items():
        print(f"{name:22} n={s['n']:3}  evidence min {s['min']:.3f}  median {s['median']:.3f}  max {s['max']:.3f}")
    print("threshold  answerable-answered  off-topic-refused  unanswerable-refused  squad-unanswerable-refused")
    for row in curve:
        mark = "  <- chosen" if row is best else ""
        print(f"  {row['threshold']:.2f}        {row['answerable_answered']:.3f}"
              f"             {row['off_topic_refused']:.3f}              {row['unanswerable_refused']:.3f}"
              f"                 {row['squad_unanswerable_refused']:.3f}{mark}")
    if abs(best["threshold"] - EVIDENCE.min_evidence) > 1e-9:
        print(f"The calibrated threshold {best['threshold']:.2f} differs from the one in use "
              f"({EVIDENCE.min_evidence}): update EvidenceModel.min_evidence in server/services/evidence.py.")


if __name__ == "__main__":
    main()
