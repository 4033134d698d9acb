"""The evaluation harness: its metrics are computed right, and it scores a right answer, a refusal
and a follow-up as a reader would, end to end through the product's own services. (The quality
figures of whole sets are measured by `python -m bench.eval`, not asserted here.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench import confidence as calibration
from bench import eval as harness


def test_metrics_on_known_ranks_and_answers():
    m = harness.retrieval_metrics([1, 3, None, 2])
    assert m["hit@1"] == 0.25 and m["hit@3"] == 0.75 and m["hit@5"] == 0.75
    assert m["mrr"] == pytest.approx((1 + 1 / 3 + 1 / 2) / 4)
    # SQuAD-style matching: case, punctuation, articles and thousands separators aside.
    assert harness.contains_answer("The swap involves 1000 detainees.", ["1,000"])
    assert harness.contains_answer("It was the “Red Cross”.", ["red cross"])
    assert not harness.contains_answer("It was the Red Crescent.", ["Red Cross"])


def test_the_min_confidence_table_counts_what_each_threshold_keeps():
    p = np.array([0.95, 0.75, 0.55, 0.35, 0.9])
    right = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    answered = np.array([True, True, True, True, False])  # the last one was refused: right, and never kept
    answerable = np.array([True, False, True, True, False])
    rows = {r["min_confidence"]: r for r in calibration.thresholds(p, right, answered, answerable)}
    assert rows[0.0] == {"min_confidence": 0.0, "answers": 4, "right": 0.5, "answerable_answered_right": 2,
                         "answerable": 3, "unanswerable_answered": 1, "unanswerable": 2}
    assert (rows[0.6]["answers"], rows[0.6]["right"], rows[0.6]["unanswerable_answered"]) == (2, 0.5, 1)
    assert (rows[0.9]["answers"], rows[0.9]["right"], rows[0.9]["answerable_answered_right"]) == (1, 1.0, 1)


def test_harness_scores_an_answer_a_refusal_and_a_follow_up(tmp_path, embedder):
    rows = [json.loads(line) for line in harness.SAMPLE_SET.read_text(encoding="utf-8").splitlines()]
    few = [next(r for r in rows if r["kind"] == kind) for kind in ("answerable", "off_topic", "follow_up")]
    small_set = tmp_path / "few.jsonl"
    small_set.write_text("\n".join(json.dumps(r) for r in few) + "\n")
    result = harness.run_set("sample", [harness.SAMPLE], harness.load_sample_set(small_set), embedder)

    assert result["questions"] == 3 and result["answerable"] == 2
    ours = result["ours"]
    # Each of these questions is one the product gets right today; a regression shows here.
    assert ours["answer_correct"] == 1.0 and ours["gold_passage_cited"] == 1.0 and ours["hit@3"] == 1.0
    assert ours["unanswerable_refused"] == 1.0 and ours["follow_ups_correct"] == 1.0
    assert ours["answerable_wrongly_refused"] == 0.0 and ours["citations_verbatim"] == 1.0
    assert ours["misses"] == []
    # The baseline never refuses, by construction.
    assert result["baseline"]["k=5"]["unanswerable_refused"] == 0.0
    assert ours["latency_p95_ms"] >= ours["latency_p50_ms"] > 0
    table = harness.format_table(result)
    assert "baseline k=2" in table and "answer_correct" in table


def test_a_perfectly_calibrated_model_measures_a_small_but_nonzero_ece():
    """The noise floor that a held-out ECE is read against: outcomes drawn from the confidences
    themselves measure near 0 with many questions and clearly above 0 with few."""
    p = np.random.default_rng(3).random(200)
    few, many = calibration.ece_if_calibrated(p), calibration.ece_if_calibrated(np.tile(p, 50))
    assert 0.03 < few["median"] < 0.12 and few["median"] <= few["p90"]
    assert many["median"] < 0.02
