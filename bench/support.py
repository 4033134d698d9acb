"""How well the support check of LLM answers (server/services/support.py) tells stated claims from
invented ones: `python -m bench.support` (prints; `--out FILE` writes the JSON; `--features` prints
each claim's numbers, for tuning).

Sets:
- `hand`: bench/sets/support.jsonl, sentences as a model writes them about the sample article, each
  citing the passage that holds `source`: paraphrases, short answers and quotes (supported); invented
  facts, changed numbers, swapped names, miscitations, echoes and planted instructions (not). Split
  `tune` / `held_out`: the thresholds were chosen on `tune` only.
- `squad`: made from SQuAD 2.0's answerable questions (none of it used for tuning): each gold sentence
  quoted, and its answer alone (supported); the sentence with a number changed, with its answer
  replaced by a name from another article, and cited to another retrieved passage (not supported).

Reports, per set and split: supported claims kept (recall), unsupported ones dropped, and the kinds.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from bench.common import ROOT, SAMPLE, SQUAD_DOCS, SQUAD_QUESTIONS, load_jsonl, make_container
from server.limits import MAX_TOP_K
from server.services.support import SupportChecker, names

HAND_SET = ROOT / "bench" / "sets" / "support.jsonl"
# SQuAD questions used: enough for a stable figure, few enough articles to index in a minute.
SQUAD_ITEMS = 80


def evaluate(items: list[dict], service, checker: SupportChecker, show: bool) -> list[dict]:
    rows = []
    for item in items:
        found = service.find(item["question"], top_k=MAX_TOP_K)
        cited = next((n for n, c in enumerate(found.chunks, 1) if item["source"] in c.text), None)
        if item.get("miscite"):  # a passage of another article
            cited = next((n for n, c in enumerate(found.chunks, 1) if c.article_id != item["miscite"]), None)
        if cited is None:
            continue  # the passage was not retrieved: nothing to check it against
        vector = checker.embed([item["sentence"]])[0]
        verdict = checker.check(item["sentence"], vector, [cited], found.chunks, found.sentences,
                                item["question"], found.embedding)
        rows.append({**item, "kept": verdict.supported, "reason": verdict.reason,
                     "cosine": round(verdict.cosine, 3), "coverage": round(verdict.coverage, 3)})
        if show:
            mark = "ok " if verdict.supported == item["supported"] else "XX "
            print(f"{mark}{item['supported']!s:5} {verdict.reason or 'kept':9} cos={verdict.cosine:.3f} "
                  f"cov={verdict.coverage:.2f} {item['kind']:10} {item['sentence'][:90]}")
    return rows


def report(name: str, rows: list[dict]) -> dict:
    out: dict = {}
    for split in sorted({r.get("split", "all") for r in rows}):
        part = [r for r in rows if r.get("split", "all") == split]
        good = [r for r in part if r["supported"]]
        bad = [r for r in part if not r["supported"]]
        kinds: dict[str, Counter] = defaultdict(Counter)
        for r in part:
            kinds[r["kind"]]["right" if r["kept"] == r["supported"] else "wrong"] += 1
        out[split] = {
            "supported_kept": f"{sum(r['kept'] for r in good)}/{len(good)}",
            "unsupported_dropped": f"{sum(not r['kept'] for r in bad)}/{len(bad)}",
            "by_kind": {k: f"{v['right']}/{v['right'] + v['wrong']}" for k, v in sorted(kinds.items())},
        }
        print(f"{name:6} {split:9} supported kept {out[split]['supported_kept']:>7}   "
              f"unsupported dropped {out[split]['unsupported_dropped']:>7}   {out[split]['by_kind']}")
    return out


def squad_items() -> tuple[list[dict], list[str]]:
    """Claims made from SQuAD's answer sentences, and the articles they need."""
    from index.sentences import split_sentences

    rows = [r for r in load_jsonl(SQUAD_QUESTIONS) if r["answerable"]][:SQUAD_ITEMS]
    docs = sorted({r["doc_file"] for r in rows})
    all_names = [n for d in docs for n in names((SQUAD_DOCS.parent / d).read_text()) if len(n) > 3]
    items = []
    for i, r in enumerate(rows):
        context = r["gold_context"]
        spans = [context[s:e] for s, e in split_sentences(context)]
        gold = next((s for s in spans if any(a in s for a in r["answers"])), None)
        if gold is None:
            continue
        answer = next(a for a in r["answers"] if a in gold)
        q = r["question"]
        items.append({"question": q, "sentence": gold, "source": gold, "supported": True, "kind": "quote"})
        if len(answer.split()) <= 3:
            items.append({"question": q, "sentence": answer.rstrip(".") + ".", "source": gold, "supported": True,
                          "kind": "short"})
        document = (SQUAD_DOCS.parent / r["doc_file"]).read_text()
        if match := re.search(r"\d+", gold):
            number = int(match.group(0)) + 3
            while str(number) in document:
                number += 3
            changed = gold[: match.start()] + str(number) + gold[match.end():]
            items.append({"question": q, "sentence": changed, "source": gold, "supported": False, "kind": "number"})
        if answer[:1].isupper() and not answer[:1].isdigit():
            other = next((n for n in all_names[i * 7 % len(all_names):] if n not in document), None)
            if other:
                items.append({"question": q, "sentence": gold.replace(answer, other), "source": gold,
                              "supported": False, "kind": "name"})
        items.append({"question": q, "sentence": gold, "source": gold, "supported": False, "kind": "miscite",
                      "miscite": Path(r["doc_file"]).stem})
    return items, docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    parser.add_argument("--features", action="store_true", help="print every claim's verdict and numbers")
    parser.add_argument("--no-squad", action="store_true", help="the hand-written set only")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        sample = make_container(Path(tmp) / "sample")
        sample.ingestion.ingest_text(SAMPLE.read_text(), article_id="sample")
        checker = SupportChecker(sample.embedder)
        hand = load_jsonl(HAND_SET)
        missing = [item["source"] for item in hand if item["source"] not in SAMPLE.read_text()]
        assert not missing, f"sources not in the sample article: {missing}"
        results["hand"] = report("hand", evaluate(hand, sample.answers, checker, args.features))
        if not args.no_squad:
            items, docs = squad_items()
            squad = make_container(Path(tmp) / "squad", embedder=sample.embedder)
            for doc in docs:
                squad.ingestion.ingest_text((SQUAD_DOCS.parent / doc).read_text(), article_id=Path(doc).stem)
            rows = evaluate(items, squad.answers, checker, args.features)
            results["squad"] = report("squad", rows)
            cosines = [r["cosine"] for r in rows if r["kind"] == "quote"]
            print(f"squad quotes: median cosine {np.median(cosines):.3f}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
