"""Fit the answer confidence (server/services/confidence.py) and measure its calibration:
`python -m bench.confidence` (prints; `--out DIR` also writes confidence.json and the reliability
diagram confidence_reliability.png there, as bench/results/ holds them; the plot needs the `bench`
extra's matplotlib). It also tabulates what each `min_confidence` of a request would keep: the
answers given, the share of them right, and the answerable and unanswerable questions still answered.

Labelled questions, asked through the same service as `POST /ask` with the sample article and the 35
SQuAD 2.0 articles indexed together: our sample-article set (answerable, related-but-unanswerable,
off-topic; searched in the sample article), bench/sets/unanswerable.jsonl (related-but-unanswerable
questions over the sample article and SQuAD articles), questions naming a section of the sample
article (bench.eval's `sections` set) and SQuAD 2.0's 300 questions. A response is right when it
answers an answerable question with its answer, or refuses an unanswerable one. Each set has a
tuning split (fits the weights) and a held-out split (reports the calibration): the unanswerable set
says which; the others are split by a hash of the question (one in three held out).

The model is a logistic regression (Newton's method, a little L2), written here in numpy: ten
thousand lines of scikit-learn for six weights is not a dependency worth adding. Expected calibration
error (ECE): over 10 equal-width confidence bins, the share of questions in each times the gap
between its mean confidence and its share of right responses. On under two hundred held-out
questions that measure is noisy even for a perfect model, so the report gives what a perfectly
calibrated model would measure on the same confidences, and a 5-fold cross-validated ECE over all
the labelled questions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np

from bench.common import (
    SAMPLE,
    SAMPLE_SET,
    SQUAD_DOCS,
    SQUAD_QUESTIONS,
    UNANSWERABLE_SET,
    load_jsonl,
    make_container,
)
from bench.eval import contains_answer, load_section_set

BINS = 10
L2 = 1e-2


def hashed_split(text: str) -> str:
    return "held_out" if int(hashlib.sha256(text.encode()).hexdigest(), 16) % 3 == 0 else "tune"


def labelled(sample_id: str) -> list[dict]:
    """question, answers (empty: unanswerable), article_ids, set, split."""
    rows = []
    for r in load_jsonl(SAMPLE_SET):
        if r.get("history"):
            continue  # follow-ups: bench.eval's conversation set measures them
        rows.append({"question": r["question"], "answers": r["answers"], "article_ids": [sample_id],
                     "set": "sample", "split": r.get("split") or hashed_split(r["question"])})
    for r in load_jsonl(UNANSWERABLE_SET):
        rows.append({"question": r["question"], "answers": [], "set": "unanswerable", "split": r["split"],
                     "article_ids": [sample_id] if r["article"] == "sample" else None})
    for q in load_section_set():
        rows.append({"question": q.question, "answers": q.answers, "article_ids": [sample_id], "set": "sections",
                     "split": hashed_split(q.question)})
    for r in load_jsonl(SQUAD_QUESTIONS):
        rows.append({"question": r["question"], "answers": r["answers"] if r["answerable"] else [],
                     "article_ids": None, "set": "squad2_dev", "split": hashed_split(r["question"])})
    return rows


def design(features: list) -> np.ndarray:
    from server.services.confidence import ConfidenceModel

    return np.asarray([ConfidenceModel.inputs(f) for f in features])


def fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    w = np.zeros(x.shape[1])
    for _ in range(100):
        p = predict(x, w)
        hessian = x.T @ (x * (p * (1 - p))[:, None]) + L2 * np.eye(len(w))
        step = np.linalg.solve(hessian, x.T @ (p - y) + L2 * w)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def predict(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-(x @ w)))


def ece(p: np.ndarray, y: np.ndarray) -> float:
    bins = np.minimum((p * BINS).astype(int), BINS - 1)
    return float(sum((bins == b).mean() * abs(p[bins == b].mean() - y[bins == b].mean())
                     for b in range(BINS) if (bins == b).any()))


def reliability(p: np.ndarray, y: np.ndarray) -> list[dict]:
    bins = np.minimum((p * BINS).astype(int), BINS - 1)
    return [{"bin": f"{b / BINS:.1f}-{(b + 1) / BINS:.1f}", "n": int((bins == b).sum()),
             "mean_confidence": round(float(p[bins == b].mean()), 3), "right": round(float(y[bins == b].mean()), 3)}
            for b in range(BINS) if (bins == b).any()]


def ece_if_calibrated(p: np.ndarray, draws: int = 2000, seed: int = 0) -> dict:
    """The ECE a perfectly calibrated model would measure on these confidences: right answers drawn
    with exactly probability p. With a few hundred questions it is far from 0 (sampling noise per
    bin), so a measured ECE is read against it."""
    rng = np.random.default_rng(seed)
    errors = [ece(p, (rng.random(len(p)) < p).astype(float)) for _ in range(draws)]
    return {"median": round(float(np.median(errors)), 3), "p90": round(float(np.quantile(errors, 0.9)), 3)}


def ece_cross_validated(x: np.ndarray, y: np.ndarray, folds: int = 5, repeats: int = 10, seed: int = 0) -> float:
    """Pooled out-of-fold ECE over every labelled question, averaged over random fold assignments: a
    steadier estimate than one held-out split."""
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(repeats):
        fold = rng.integers(0, folds, len(y))
        p = np.zeros(len(y))
        for k in range(folds):
            train = fold != k
            p[~train] = predict(x[~train], fit(x[train], y[train]))
        errors.append(ece(p, y))
    return round(float(np.mean(errors)), 3)


THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def thresholds(p: np.ndarray, y: np.ndarray, answered: np.ndarray, answerable: np.ndarray) -> list[dict]:
    """What a `min_confidence` of t keeps: the answers given (those rated ≥ t), the share of them right,
    and how many answerable questions are still answered right and unanswerable ones still answered."""
    rows = []
    for t in THRESHOLDS:
        kept = answered & (p >= t)
        rows.append({"min_confidence": t, "answers": int(kept.sum()),
                     "right": round(float(y[kept].mean()), 3) if kept.any() else None,
                     "answerable_answered_right": int((kept & answerable & (y == 1)).sum()),
                     "answerable": int(answerable.sum()),
                     "unanswerable_answered": int((kept & ~answerable).sum()),
                     "unanswerable": int((~answerable).sum())})
    return rows


def plot(rows: list[dict], error: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect calibration")
    ax.plot([r["mean_confidence"] for r in rows], [r["right"] for r in rows], "o-", label="held-out questions")
    for r in rows:
        ax.annotate(str(r["n"]), (r["mean_confidence"], r["right"]), xytext=(4, -10), textcoords="offset points",
                    fontsize=7)
    ax.set_xlabel("confidence (mean per bin)")
    ax.set_ylabel("share of responses right")
    ax.set_title(f"Reliability, held-out split: ECE {error:.3f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    from index.ingest import ArticleInput
    from server.services.confidence import CONFIDENCE, Features

    parser = argparse.ArgumentParser(description="Fit the answer confidence and measure its calibration.")
    parser.add_argument("--out", type=Path, help="also write confidence.json and the reliability diagram here")
    out = parser.parse_args().out
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        container = make_container(tmp, collection_prefix="confidence")
        files = [SAMPLE, *sorted(SQUAD_DOCS.glob("*.txt"))]
        sample_id = container.ingestion.ingest_many([ArticleInput(f.read_bytes(), f.name) for f in files])[0]
        service = container.answers
        for row in labelled(sample_id.article_id):  # type: ignore[union-attr]
            found = service.find(row["question"], (), row["article_ids"])
            answer = service.ask(row["question"], (), row["article_ids"])
            right = (answer.answered and contains_answer(answer.answer, row["answers"])) if row["answers"] else (
                not answer.answered)
            features = Features.of(found, answer.answered)
            records.append({**row, "answered": answer.answered, "right": bool(right), "features": features,
                            "confidence_in_use": answer.confidence})
    x = design([r["features"] for r in records])
    y = np.asarray([r["right"] for r in records], dtype=float)
    tune = np.asarray([r["split"] == "tune" for r in records])
    w = fit(x[tune], y[tune])
    p = predict(x, w)
    held = ~tune
    answered = np.asarray([r["answered"] for r in records])
    answerable = np.asarray([bool(r["answers"]) for r in records])
    summary = {
        "weights": [round(float(v), 3) for v in w],
        "ece_held_out": round(ece(p[held], y[held]), 3),
        "ece_tune": round(ece(p[tune], y[tune]), 3),
        "ece_held_out_if_calibrated": ece_if_calibrated(p[held]),
        "ece_cross_validated": ece_cross_validated(x, y),
        "held_out": int(held.sum()),
        "tune": int(tune.sum()),
        "per_set_held_out": {
            s: {"n": int(m.sum()), "right": round(float(y[m].mean()), 3),
                "mean_confidence": round(float(p[m].mean()), 3), "ece": round(ece(p[m], y[m]), 3)}
            for s in ("sample", "sections", "unanswerable", "squad2_dev")
            if (m := held & np.asarray([r["set"] == s for r in records])).any()
        },
        "reliability_held_out": reliability(p[held], y[held]),
        "thresholds_held_out": thresholds(p[held], y[held], answered[held], answerable[held]),
    }
    print(f"{len(records)} labelled questions: {summary['tune']} tuning, {summary['held_out']} held out")
    print(f"weights (1, evidence, coverage, margin, answered, answered × evidence, topic): "
          f"{tuple(summary['weights'])}")
    print(f"expected calibration error: held out {summary['ece_held_out']}, tuning {summary['ece_tune']}; "
          f"a perfectly calibrated model would measure {summary['ece_held_out_if_calibrated']['median']} on the "
          f"held-out questions (90 % of draws under {summary['ece_held_out_if_calibrated']['p90']}); "
          f"5-fold cross-validated {summary['ece_cross_validated']}")
    for s, v in summary["per_set_held_out"].items():
        print(f"  {s:13} held out n={v['n']:3}  right {v['right']:.3f}  mean confidence {v['mean_confidence']:.3f}  "
              f"ECE {v['ece']:.3f}")
    print("reliability (held out):", ", ".join(f"{r['bin']}: {r['right']:.2f} of {r['n']}"
                                               for r in summary["reliability_held_out"]))
    print("min_confidence (held out): answers kept, share right; answerable answered right; unanswerable answered")
    for r in summary["thresholds_held_out"]:
        print(f"  {r['min_confidence']:.1f}: {r['answers']:3} answers, {r['right'] or 0:.3f} right; "
              f"{r['answerable_answered_right']}/{r['answerable']}; {r['unanswerable_answered']}/{r['unanswerable']}")
    if np.abs(np.asarray(CONFIDENCE.weights) - np.asarray(summary["weights"])).max() > 0.01:
        print(f"The fitted weights differ from those in use ({CONFIDENCE.weights}): update CONFIDENCE in "
              "server/services/confidence.py.")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "confidence.json").write_text(json.dumps(summary, indent=2) + "\n")
        plot(summary["reliability_held_out"], summary["ece_held_out"], out / "confidence_reliability.png")
        print(f"written to {out}")


if __name__ == "__main__":
    main()
