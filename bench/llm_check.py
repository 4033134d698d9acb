"""LLM answers against a real OpenAI-compatible endpoint: `python -m bench.llm_check --base-url URL
--model NAME` (prints a table; `--out FILE` writes the JSON; `--show` prints every answer).

Asks the labelled questions about the sample article (bench/sets/sample_article.jsonl, and the
sample article's rows of bench/sets/unanswerable.jsonl) through the product's own streamed answer
(AnswerService.ask_stream, as POST /ask/stream), and reports:

- answers in llm mode, the model's own refusals, refusals before any LLM call (too little evidence);
- fallbacks to the extractive answer, by reason (failed or timed out, echo, cut at the token limit,
  no supported sentence, empty, busy);
- sentences the model wrote and those that stood the support check (server/services/support.py);
- whether the joined stream equals the final answer, for every question;
- right answers (a gold answer string in the answer) among the answerable questions;
- latency to the first shown text and to the final answer (medians and 95th percentiles).

Not in CI: it needs a model server. README, "LLM answers, checked", has the table for llama.cpp's
server with small models from PyPI, and how to start it.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import SAMPLE, SAMPLE_SET, UNANSWERABLE_SET, load_jsonl, make_container, percentile
from bench.eval import contains_answer
from server.services.results import CitationsEvent, DeltaEvent, DoneEvent

# A warning's words -> the reason it names (llm_answer.py, components/llm.py).
FALLBACK_REASONS = [
    ("slots stayed busy", "busy"),
    ("LLM failed", "failed or timed out"),
    ("repeated its prompt", "echo"),
    ("token limit before", "cut at the token limit"),
    ("do not support", "no supported sentence"),
    ("number, date or span of time", "no number or date asked for"),
    ("empty answer", "empty"),
]
# The sentences of an answer that fell back (the rejection's warning counts them).
REJECTED_SENTENCES = re.compile(r"The LLM wrote (\d+) sentence\(s\) that the passages do not support")
TRIMMED = [("Dropped", "sentences dropped"), ("began repeating", "echo trimmed"), ("token limit (", "unfinished last "
           "sentence dropped"), ("stopped mid-answer", "stream broke")]


def questions() -> list[dict]:
    rows = [{**r, "set": "sample"} for r in load_jsonl(SAMPLE_SET)]
    rows += [{"question": r["question"], "answers": [], "kind": "related", "set": "unanswerable"}
             for r in load_jsonl(UNANSWERABLE_SET) if r["article"] == "sample"]
    return rows


def reason(warnings: list[str], table: list[tuple[str, str]]) -> list[str]:
    return [name for words, name in table if any(words in w for w in warnings)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", required=True, help="the endpoint, e.g. http://127.0.0.1:8090/v1")
    parser.add_argument("--model", required=True)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per LLM call (CPU models are slow)")
    parser.add_argument("--max-tokens", type=int, default=300)
    parser.add_argument("--limit", type=int, default=None, help="ask only the first N questions")
    parser.add_argument("--show", action="store_true", help="print every answer")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    rows = questions()[: args.limit]
    counts: Counter = Counter()
    first_text, total = [], []
    with tempfile.TemporaryDirectory() as tmp:
        container = make_container(
            tmp, openai_base_url=args.base_url, openai_api_key=args.api_key, llm_model=args.model,
            llm_timeout=args.timeout, llm_max_tokens=args.max_tokens, llm_concurrency=1, llm_queue_seconds=600)
        container.ingestion.ingest_text(SAMPLE.read_text(), article_id="sample")
        service = container.answers
        for row in rows:
            history: list[tuple[str, str]] = []
            for earlier in row.get("history", []):
                history += [("user", earlier), ("assistant", service.ask(earlier, history).answer)]
            started = time.perf_counter()
            shown, first, done = "", None, None
            for event in service.ask_stream(row["question"], history):
                if isinstance(event, DeltaEvent):
                    first = first or time.perf_counter() - started
                    shown += event.text
                elif isinstance(event, DoneEvent):
                    done = event.answer
                elif not isinstance(event, CitationsEvent):
                    raise TypeError(event)
            assert done is not None
            total.append(time.perf_counter() - started)
            if first is not None:
                first_text.append(first)
            answerable = row["kind"] in ("answerable", "follow_up")
            counts["questions"] += 1
            counts["stream equals final"] += shown == done.answer
            if done.mode == "llm":
                counts["llm answers" if done.answered else "llm refusals"] += 1
                for name in reason(done.warnings, TRIMMED):
                    counts[f"llm answers with {name}"] += 1
            elif any("LLM" in w for w in done.warnings):
                for name in reason(done.warnings, FALLBACK_REASONS) or ["other"]:
                    counts[f"fallback: {name}"] += 1
            else:
                counts["refused before the LLM"] += 1
            if done.verified:
                counts["sentences written"] += done.verified.sentences
                counts["sentences supported"] += done.verified.supported
            for warning in done.warnings:
                if rejected := REJECTED_SENTENCES.search(warning):
                    counts["sentences written"] += int(rejected.group(1))
            if answerable:
                counts["answerable"] += 1
                counts["answerable, right"] += done.answered and contains_answer(done.answer, row["answers"])
                counts["answerable, llm mode and right"] += (
                    done.mode == "llm" and done.answered and contains_answer(done.answer, row["answers"]))
            else:
                counts["unanswerable"] += 1
                counts["unanswerable, refused"] += not done.answered
            if args.show:
                print(f"--- [{row['kind']}] {row['question']}\n  {done.mode} answered={done.answered} "
                      f"verified={done.verified} {total[-1]:.1f}s\n  {done.answer}\n  warnings: {done.warnings}")
    result = {
        "base_url": args.base_url, "model": args.model, **dict(sorted(counts.items())),
        "first_text_p50_s": round(percentile(first_text, 0.5), 2) if first_text else None,
        "first_text_p95_s": round(percentile(first_text, 0.95), 2) if first_text else None,
        "answer_p50_s": round(percentile(total, 0.5), 2), "answer_p95_s": round(percentile(total, 0.95), 2),
    }
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:{width}}  {value}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
