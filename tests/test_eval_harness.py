"""The evaluation harness runs end to end on a few questions and produces well-formed results, so it
cannot rot. (Its quality figures are measured by `python -m bench.eval`, not asserted here.)"""

from __future__ import annotations

import json

from bench import eval as harness

RATES = ["hit@1", "hit@3", "hit@5", "mrr", "answer_correct", "gold_passage_cited", "answerable_wrongly_refused"]


def test_harness_on_a_few_sample_questions(tmp_path, embedder):
    rows = [json.loads(line) for line in harness.SAMPLE_SET.read_text(encoding="utf-8").splitlines()]
    few = [next(r for r in rows if r["kind"] == kind) for kind in ("answerable", "off_topic", "follow_up")]
    small_set = tmp_path / "few.jsonl"
    small_set.write_text("\n".join(json.dumps(r) for r in few) + "\n")
    result = harness.run_set("sample", [harness.SAMPLE], harness.load_sample_set(small_set), embedder)

    assert result["questions"] == 3 and result["answerable"] == 2
    for side in (result["ours"], result["baseline"]["k=2"], result["baseline"]["k=5"]):
        for rate in RATES:
            assert 0.0 <= side[rate] <= 1.0, (rate, side[rate])
        assert side["latency_p50_ms"] > 0 and side["latency_p95_ms"] >= side["latency_p50_ms"]
    ours = result["ours"]
    assert ours["citations_verbatim"] == 1.0  # a contract, not a quality figure
    assert ours["unanswerable_refused"] in (0.0, 1.0) and ours["follow_ups_correct"] in (0.0, 1.0)
    for miss in ours["misses"]:
        assert {"question", "answer", "answered", "top_passages"} <= set(miss)
    table = harness.format_table(result)
    assert "baseline k=2" in table and "answer_correct" in table
