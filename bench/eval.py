"""Answer-quality evaluation: `python -m bench.eval` (prints; `--out FILE` also writes the JSON, as
bench/results/eval.json holds it).

Runs labelled question sets through the same service as `POST /ask` (AnswerService.ask), and, in
the same run, a plain LlamaIndex pipeline as its starter tutorial builds it (each article one
Document → VectorStoreIndex with the default SentenceSplitter, same Chroma, same embedding model),
then prints one table per set, baseline and ours side by side.

Sets:
- `sample`: bench/sets/sample_article.jsonl, our questions over the bundled sample article; `evidence`
  is a verbatim snippet of the article that answers it; `history` lists earlier user questions of a
  follow-up (each is asked first, and its answer goes into the history).
- `squad2_dev`: ../shared/eval/squad2_dev/ (160 answerable, 140 unanswerable, 35 Wikipedia articles).
- `conversations`: bench/sets/conversations.jsonl, questions asked after a conversation, over the
  sample article and the 35 SQuAD articles indexed together: `switch` (a new question that stands
  alone: it must get exactly the answer it gets when asked first) and `follow_up` (it leans on the
  conversation: a pronoun, "And the Kremlin?", "Why?"). The earlier user questions are asked first
  and the product's real answers, markers and all, make the history. Reported per split (`tune`,
  `held_out`: kept out of tuning).
- `sections`: two questions per section heading of the sample article, generated from the headings
  as the web UI's suggested questions are ("What does the article say about “H”?", and "Tell me
  about h"); the answer should open with the words that open that section.

Each set is indexed in a store of its own. A retrieved passage "hits" when it contains the gold
evidence (for SQuAD: it lies within the gold paragraph and contains a gold answer, or contains the
whole paragraph). The baseline has no answer step (the tutorial hands its top-k passages to an
LLM) and never refuses: its "answer" is the passage it ranks first, what a reader would read first.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import string
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import (
    ROOT,
    SAMPLE,
    SAMPLE_SET,
    SQUAD_DOCS,
    SQUAD_QUESTIONS,
    UNANSWERABLE_SET,
    load_jsonl,
    make_container,
    percentile,
)


@dataclass
class Question:
    question: str
    answers: list[str]
    answerable: bool
    is_hit: Callable[[str], bool]  # does this passage text contain the gold evidence?
    history: list[str]
    kind: str
    split: str = "tune"  # or "held_out": kept out of tuning


def normalize(text: str) -> str:
    """SQuAD-style: lower case, no punctuation or articles, "1,000" == "1000", single spaces."""
    text = text.lower().replace("’", "'")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)
    text = "".join(" " if ch in string.punctuation or ch in "“”‘—–" else ch for ch in text)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def contains_answer(text: str, answers: list[str]) -> bool:
    normalized = normalize(text)
    return any(normalize(a) and normalize(a) in normalized for a in answers)


def load_sample_set(path: Path = SAMPLE_SET, limit: int | None = None) -> list[Question]:
    rows = load_jsonl(path)
    questions = []
    for row in rows[:limit] if limit else rows:
        evidence = row.get("evidence")
        questions.append(Question(
            row["question"], row["answers"], bool(row["answers"]),
            (lambda text, e=evidence: bool(e) and e in text), row.get("history", []), row.get("kind", "answerable"),
        ))
    return questions


def load_section_set(limit: int | None = None) -> list[Question]:
    from index.parsing import parse_article

    article = parse_article(SAMPLE.read_text(encoding="utf-8"), "text", filename=SAMPLE.name)
    questions = []
    for section in article.sections:
        if not section.path:
            continue
        opening = " ".join(article.text[section.start : section.end].split()[:8])
        heading = section.path[-1]
        for question in (f"What does the article say about “{heading}”?", f"Tell me about {heading.lower()}"):
            questions.append(Question(question, [opening], True, (lambda text, o=opening: o in text), [], "section"))
    return questions[:limit] if limit else questions


def load_squad_set(limit: int | None = None) -> list[Question]:
    rows = load_jsonl(SQUAD_QUESTIONS)
    questions = []
    for row in rows[:limit] if limit else rows:
        gold, answers = row["gold_context"], row["answers"]

        def is_hit(text: str, gold: str = " ".join(gold.split()), answers: list[str] = answers) -> bool:
            # Stored passages have their white space folded ("include  John" -> "include John").
            text = " ".join(text.split())
            return gold in text or (text in gold and (not answers or any(a in text for a in answers)))

        kind = "answerable" if row["answerable"] else "unanswerable"
        questions.append(Question(row["question"], answers, row["answerable"], is_hit, [], kind))
    return questions


CONVERSATIONS = ROOT / "bench" / "sets" / "conversations.jsonl"


def load_conversation_set(limit: int | None = None) -> list[Question]:
    rows = load_jsonl(CONVERSATIONS)
    return [
        Question(row["question"], row["answers"], True, (lambda text, e=row["evidence"]: e in " ".join(text.split())),
                 row["history"], row["kind"], row["split"])
        for row in (rows[:limit] if limit else rows)
    ]


def run_unanswerable(embedder, limit: int | None = None) -> dict:
    """bench/sets/unanswerable.jsonl: related-but-unanswerable questions (sample-article ones search the
    sample article), with the sample and SQuAD articles indexed: the share refused, per split."""
    rows = load_jsonl(UNANSWERABLE_SET)
    out: dict = {}
    misses = []
    with tempfile.TemporaryDirectory() as tmp:
        container = indexed(tmp, [SAMPLE, *sorted(SQUAD_DOCS.glob("*.txt"))], embedder)
        sample_id = Path(SAMPLE).stem
        confidences, rights = [], []
        for row in rows[:limit] if limit else rows:
            ids = [sample_id] if row["article"] == "sample" else None
            answer = container.answers.ask(row["question"], (), ids)
            split = out.setdefault(row["split"], {"n": 0, "refused": 0})
            split["n"] += 1
            split["refused"] += not answer.answered
            confidences.append(answer.confidence)
            rights.append(not answer.answered)
            if answer.answered:
                misses.append({"question": row["question"], "split": row["split"], "answer": answer.answer})
    for split in out.values():
        split["refused_rate"] = round(split["refused"] / split["n"], 3)
    return {"set": "unanswerable", "questions": len(rights), "ours": {
        "by_split": out, "confidence_ece": calibration_error(confidences, rights), "misses": misses}}


def evaluate_conversations(service, questions: list[Question]) -> dict:
    """Per split: switches answered exactly as when asked first (and right), follow-ups answered right."""
    out: dict = {}
    misses = []
    for q in questions:
        history: list[tuple[str, str]] = []
        for earlier in q.history:
            history += [("user", earlier), ("assistant", service.ask(earlier, history).answer)]
        answer = service.ask(q.question, history)
        right = answer.answered and contains_answer(answer.answer, q.answers)
        row = out.setdefault(q.split, {}).setdefault(q.kind, {"n": 0, "correct": 0, "as_if_alone": 0})
        row["n"] += 1
        row["correct"] += right
        alone = True
        if q.kind == "switch":
            alone = service.ask(q.question).answer == answer.answer
            row["as_if_alone"] += alone
        if not (right and alone):
            misses.append({"question": q.question, "history": history, "kind": q.kind, "split": q.split,
                           "gold": q.answers, "answer": answer.answer, "as_if_alone": alone})
    for kinds in out.values():
        for row in kinds.values():
            row["correct_rate"] = round(row["correct"] / row["n"], 3)
            row["as_if_alone_rate"] = round(row["as_if_alone"] / row["n"], 3)
    return {"by_split": out, "misses": misses}


def format_conversations(result: dict) -> str:
    lines = [f"conversations: {result['questions']} questions", f"{'split':10} {'kind':10} {'n':>4} "
             f"{'correct':>8} {'as if alone':>12}"]
    for split, kinds in sorted(result["ours"]["by_split"].items()):
        for kind, row in sorted(kinds.items()):
            alone = f"{row['as_if_alone_rate']:.3f}" if kind == "switch" else "—"
            lines.append(f"{split:10} {kind:10} {row['n']:>4} {row['correct_rate']:>8.3f} {alone:>12}")
    lines.append(f"misses: {len(result['ours']['misses'])} — listed in the JSON")
    return "\n".join(lines)


def rank_of_hit(texts: list[str], q: Question) -> int | None:
    return next((i for i, text in enumerate(texts, start=1) if q.is_hit(text)), None)


def retrieval_metrics(ranks: list[int | None]) -> dict:
    n = len(ranks) or 1
    return {
        "hit@1": sum(r == 1 for r in ranks) / n,
        "hit@3": sum(r is not None and r <= 3 for r in ranks) / n,
        "hit@5": sum(r is not None and r <= 5 for r in ranks) / n,
        "mrr": sum(1 / r for r in ranks if r) / n,
    }


def evaluate_ours(service, questions: list[Question], article_texts: dict[str, str]) -> dict:
    ranks, latencies, misses = [], [], []
    confidences, rights = [], []
    correct = cited_gold = refused_unanswerable = wrongly_refused = 0
    citations_total = citations_verbatim = 0
    followups = followups_correct = 0
    answerable = [q for q in questions if q.answerable]
    for q in questions:
        history: list[tuple[str, str]] = []
        for earlier in q.history:
            first = service.ask(earlier, history)
            history += [("user", earlier), ("assistant", first.answer)]
        started = time.perf_counter()
        answer = service.ask(q.question, history)
        latencies.append((time.perf_counter() - started) * 1000)
        # Retrieval rank of the gold passage, through the same search the answer used.
        found = service.find(q.question, history, None, 5)
        texts = [p.text for p in found.chunks]
        for c in answer.citations:
            citations_total += 1
            citations_verbatim += article_texts[c.article_id][c.start : c.end] == c.text
        ok = False
        if q.answerable:
            ranks.append(rank_of_hit(texts, q))
            ok = answer.answered and contains_answer(answer.answer, q.answers)
            correct += ok
            cited_gold += answer.answered and any(q.is_hit(c.text) for c in answer.citations)
            wrongly_refused += not answer.answered
            if q.history:
                followups += 1
                followups_correct += ok
        else:
            ok = not answer.answered
            refused_unanswerable += ok
        confidences.append(answer.confidence)
        rights.append(ok)
        if not ok:
            misses.append({"question": q.question, "history": q.history, "kind": q.kind, "gold": q.answers,
                           "answer": answer.answer, "answered": answer.answered,
                           "top_passages": [f"{p.section}: {p.text[:160]}" for p in found.chunks[:3]]})
    unanswerable = len(questions) - len(answerable)
    return {
        **retrieval_metrics(ranks),
        "answer_correct": correct / max(len(answerable), 1),
        "gold_passage_cited": cited_gold / max(len(answerable), 1),
        "citations_verbatim": citations_verbatim / max(citations_total, 1),
        "follow_ups_correct": followups_correct / followups if followups else None,
        "unanswerable_refused": refused_unanswerable / unanswerable if unanswerable else None,
        "answerable_wrongly_refused": wrongly_refused / max(len(answerable), 1),
        "confidence_ece": calibration_error(confidences, rights),
        "latency_p50_ms": statistics.median(latencies),
        "latency_p95_ms": percentile(latencies, 0.95),
        "misses": misses,
    }


def calibration_error(confidences: list[float], rights: list[bool]) -> float:
    """Expected calibration error of the answers' `confidence` (bench.confidence's definition)."""
    from bench.confidence import ece

    return ece(np.asarray(confidences), np.asarray(rights, dtype=float)) if confidences else 0.0


def evaluate_baseline(retriever_for, questions: list[Question]) -> dict:
    """The starter-tutorial pipeline: top-k chunks of a VectorStoreIndex; it never refuses."""
    out = {}
    answerable = [q for q in questions if q.answerable]
    retrieve5 = retriever_for(5)
    ranks, latencies, texts_by_q = [], [], {}
    for q in questions:
        query = " ".join([*q.history, q.question])  # no rewriting: earlier turns are simply prepended
        started = time.perf_counter()
        texts = [n.node.get_content() for n in retrieve5(query)]
        latencies.append((time.perf_counter() - started) * 1000)
        texts_by_q[q.question] = texts
        if q.answerable:
            ranks.append(rank_of_hit(texts, q))
    for k in (2, 5):
        follow = [q for q in answerable if q.history]
        answer_ok = [contains_answer(" ".join(texts_by_q[q.question][:1]), q.answers) for q in answerable]
        out[f"k={k}"] = {
            **retrieval_metrics([r if r is not None and r <= k else None for r in ranks]),
            "answer_correct": sum(answer_ok) / max(len(answerable), 1),
            "gold_passage_cited": sum(rank is not None and rank <= k for rank in ranks) / max(len(answerable), 1),
            "citations_verbatim": None,  # it cites no offsets
            "follow_ups_correct": (sum(contains_answer(" ".join(texts_by_q[q.question][:1]), q.answers) for q in follow)
                                   / len(follow)) if follow else None,
            "unanswerable_refused": 0.0 if len(questions) > len(answerable) else None,
            "answerable_wrongly_refused": 0.0,
            "confidence_ece": None,
            "latency_p50_ms": statistics.median(latencies),
            "latency_p95_ms": percentile(latencies, 0.95),
        }
    return out


def build_baseline(files: list[Path], embedder, chroma_dir: str):
    from llama_index.core import Document, StorageContext, VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from index.store import chroma_client

    client = chroma_client(chroma_dir)
    collection = client.get_or_create_collection("baseline", embedding_function=None)
    storage = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
    docs = [Document(text=f.read_text(encoding="utf-8"), metadata={"file": f.name}) for f in files]
    index = VectorStoreIndex.from_documents(docs, storage_context=storage, embed_model=embedder.llama_index_embedding)
    return lambda k: index.as_retriever(similarity_top_k=k).retrieve


def indexed(tmp: str, files: list[Path], embedder):
    from index.ingest import ArticleInput

    container = make_container(tmp, embedder, collection_prefix="eval")
    container.ingestion.ingest_many([ArticleInput(f.read_bytes(), f.name) for f in files])
    return container


def run_conversations(questions: list[Question], embedder) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        container = indexed(tmp, [SAMPLE, *sorted(SQUAD_DOCS.glob("*.txt"))], embedder)
        ours = evaluate_conversations(container.answers, questions)
    return {"set": "conversations", "questions": len(questions), "ours": ours}


def run_set(name: str, files: list[Path], questions: list[Question], embedder) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        container = indexed(tmp, files, embedder)
        texts = {a.id: container.store.get_article(a.id).text for a in container.store.list_articles()}
        ours = evaluate_ours(container.answers, questions, texts)
        baseline = evaluate_baseline(build_baseline(files, embedder, tmp), questions)
    return {"set": name, "questions": len(questions), "answerable": sum(q.answerable for q in questions),
            "ours": ours, "baseline": baseline}


ROWS = ["hit@1", "hit@3", "hit@5", "mrr", "answer_correct", "gold_passage_cited", "citations_verbatim",
        "follow_ups_correct", "unanswerable_refused", "answerable_wrongly_refused", "confidence_ece", "latency_p50_ms",
        "latency_p95_ms"]


def format_table(result: dict) -> str:
    def cell(v) -> str:
        return "—" if v is None else (f"{v:.1f}" if isinstance(v, float) and v > 1.5 else f"{v:.3f}")

    b2, b5, ours = result["baseline"]["k=2"], result["baseline"]["k=5"], result["ours"]
    lines = [f"{result['set']}: {result['questions']} questions ({result['answerable']} answerable)",
             f"{'metric':28} {'baseline k=2':>12} {'baseline k=5':>12} {'ours':>8} {'ours/k=2':>9}"]
    for row in ROWS:
        ratio = ours[row] / b2[row] if ours[row] is not None and b2[row] else None
        lines.append(f"{row:28} {cell(b2[row]):>12} {cell(b5[row]):>12} {cell(ours[row]):>8} "
                     f"{'—' if ratio is None else f'{ratio:.2f}':>9}")
    lines.append(f"misses (ours): {len(ours['misses'])} — listed in the JSON")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description="Answer-quality evaluation, ours vs a plain LlamaIndex pipeline.")
    sets = ["sample", "squad2_dev", "sections", "conversations", "unanswerable"]
    parser.add_argument("--sets", nargs="+", choices=sets, default=sets)
    parser.add_argument("--limit", type=int, help="only the first N questions of each set (a quick check)")
    parser.add_argument("--out", type=Path, help="also write the results here as JSON (default: print only)")
    args = parser.parse_args(argv)
    from index.embedding import make_embedder

    embedder = make_embedder()
    results = []
    for name in args.sets:
        if name == "unanswerable":
            result = run_unanswerable(embedder, args.limit)
            splits = ", ".join(f"{k} {v['refused']}/{v['n']} = {v['refused_rate']:.3f}"
                               for k, v in sorted(result["ours"]["by_split"].items()))
            print(f"unanswerable: {result['questions']} related-but-unanswerable questions refused: {splits}; "
                  f"confidence ECE {result['ours']['confidence_ece']:.3f}\n", flush=True)
            results.append(result)
            continue
        if name == "conversations":
            result = run_conversations(load_conversation_set(limit=args.limit), embedder)
            print(format_conversations(result), end="\n\n", flush=True)
            results.append(result)
            continue
        if name in ("sample", "sections"):
            load = load_sample_set if name == "sample" else load_section_set
            result = run_set(name, [SAMPLE], load(limit=args.limit), embedder)
        else:
            if not SQUAD_DOCS.is_dir():
                parser.error(f"missing {SQUAD_DOCS}: the SQuAD set is read from ../shared beside the checkout")
            result = run_set(name, sorted(SQUAD_DOCS.glob("*.txt")), load_squad_set(limit=args.limit), embedder)
        print(format_table(result), end="\n\n", flush=True)
        results.append(result)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        print(f"written to {args.out}")
    return results


if __name__ == "__main__":
    main()
