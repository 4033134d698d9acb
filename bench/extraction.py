"""News page extraction, today's parser against the tag-dropping one it replaced; and the threshold of
syndicated copies.

1. For each fixture page (tests/fixtures/news, served to the tests by tests/news_server.py; its lines are
   listed in pages.json: the article's paragraphs and headings, and the page's boilerplate: menus, share
   bars, captions, related links, newsletter boxes, comments, footers), the share of article lines kept
   and of boilerplate lines leaked into the article, the page's headings that are sections, and the time:
   `parse_article(page, "html")` (trafilatura, index/extraction.py) against `extract=False` (the
   tag-dropping parser of index/parsing.py, which drops script, style, nav, header, footer, aside and form).
   A boilerplate line leaks when it stands in the article text as a whole phrase.
2. Near-duplicates (index/duplicates.py): the Jaccard similarity of 5-word shingles, exact and as the
   MinHash signatures estimate it, for the fixtures' pairs (a wire copy and its original, a page and its
   AMP version, a different story on the same topic) and for edits of the sample article and the SQuAD
   articles of ../shared/eval (when present) made here with a fixed seed, against every pair of distinct
   articles.

    python -m bench.extraction [--out FILE]

Prints the tables; writes them as JSON only with --out.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import statistics
import time
from pathlib import Path

from bench.common import SAMPLE, SQUAD_DOCS
from index import duplicates
from index.parsing import parse_article

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "news"
PORT = 8000
SEED = 20250304


def page_html(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8").replace("{port}", str(PORT))


def leaked(line: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(line)}(?!\w)", text) is not None


def measure_page(page: dict, extract: bool) -> dict:
    raw = page_html(page["file"])
    started = time.perf_counter()
    article = parse_article(raw, "html", extract=None if extract else False)
    elapsed = time.perf_counter() - started
    paragraphs = article.text.split("\n\n")
    headings = [line for line in page["article"] if f"<h2>{line}</h2>" in raw]
    section_heads = {s.path[-1] for s in article.sections if s.path}
    kept = sum(line in paragraphs for line in page["article"])
    leaks = [line for line in page["boilerplate"] if leaked(line, article.text)]
    return {"article_lines": len(page["article"]), "kept": kept, "boilerplate_lines": len(page["boilerplate"]),
            "leaked": len(leaks), "leaked_lines": leaks, "headings": len(headings),
            "headings_as_sections": sum(h in section_heads for h in headings),
            "sections": len(article.sections), "ms": round(1000 * elapsed, 1)}


def extraction_table() -> list[dict]:
    pages = json.loads((FIXTURES / "pages.json").read_text(encoding="utf-8"))
    parse_article(page_html(pages[0]["file"]), "html")  # imports (trafilatura, lxml) out of the timings
    return [{"page": p["file"], "layout": p["layout"], "before": measure_page(p, extract=False),
             "now": measure_page(p, extract=True)} for p in pages]


def print_extraction(rows: list[dict]) -> None:
    print("Extraction: article lines kept, boilerplate lines leaked, <h2> headings that are sections "
          "(tag-dropping parser → trafilatura)\n")
    print("| page | layout | article lines kept | boilerplate leaked | headings as sections | ms |")
    print("|---|---|---|---|---|---|")
    totals = {k: [0, 0] for k in ("kept", "article_lines", "leaked", "boilerplate_lines")}
    for row in rows:
        b, n = row["before"], row["now"]
        for key in totals:
            totals[key][0] += b[key]
            totals[key][1] += n[key]
        heads = f"{b['headings_as_sections']}/{b['headings']} → {n['headings_as_sections']}/{n['headings']}" \
            if n["headings"] else "(none)"
        print(f"| {row['page']} | {row['layout']} | {b['kept']}/{b['article_lines']} → {n['kept']}/{n['article_lines']}"
              f" | {b['leaked']}/{b['boilerplate_lines']} → {n['leaked']}/{n['boilerplate_lines']} | {heads} "
              f"| {b['ms']:.0f} → {n['ms']:.0f} |")
    kept, lines, leaks, boiler = (totals[k] for k in ("kept", "article_lines", "leaked", "boilerplate_lines"))
    print(f"| all | | {kept[0] / lines[0]:.0%} → {kept[1] / lines[1]:.0%} | {leaks[0] / boiler[0]:.0%} → "
          f"{leaks[1] / boiler[1]:.0%} | | |")
    for row in rows:
        if row["now"]["leaked_lines"]:
            print(f"  leaked now in {row['page']}: {row['now']['leaked_lines']}")


# --- near-duplicates ----------------------------------------------------------------------------------


def _edit(text: str, rng: random.Random, *, replace: float = 0.0, drop: float = 0.0, keep_first: float = 1.0,
          add: bool = False) -> str:
    """`text` edited as a copy desk would: paragraphs dropped or cut short, words replaced, a note added."""
    paragraphs = [p for p in text.split("\n\n") if p]
    paragraphs = paragraphs[: max(1, round(len(paragraphs) * keep_first))]
    if drop:
        paragraphs = [p for i, p in enumerate(paragraphs) if i == 0 or rng.random() >= drop]
    words = " \n\n ".join(paragraphs).split(" ")
    words = [("edited" + str(rng.randrange(1000)) if w.strip() and rng.random() < replace else w) for w in words]
    out = " ".join(words)
    return out + ("\n\nThis story was republished under a content-sharing agreement." if add else "")


EDITS = {
    "copy desk: a word in 50 replaced, a paragraph in 10 dropped, a note added":
        {"replace": 0.02, "drop": 0.1, "add": True},
    "a word in 20 replaced": {"replace": 0.05},
    "a quarter of the paragraphs dropped": {"drop": 0.25},
    "cut to its first half": {"keep_first": 0.5},
    "a word in 10 replaced": {"replace": 0.10},
    "a word in 5 replaced (rewritten)": {"replace": 0.20},
}


def duplicate_table() -> dict:
    pages = {p: parse_article(page_html(p), "html").text for p in
             ("gazette-ferry-strike.html", "gazette-ferry-strike.amp.html", "coastal-wire-copy.html",
              "northern-post-explainer.html", "islander-lighthouse.html", "gazette-breakwater.html")}

    def pair(a: str, b: str) -> dict:
        """The exact similarity (what decides) and whether the two share an LSH band (what finds the candidate)."""
        sa, sb = duplicates.signature(a), duplicates.signature(b)
        banded = sa is not None and sb is not None and bool(sa.bands().items() & sb.bands().items())
        return {"jaccard": round(duplicates.jaccard(a, b), 3), "candidate": banded}

    fixtures = {
        "wire copy vs its original (new headline, a sentence reworded, a paragraph dropped, a note added)":
            pair(pages["gazette-ferry-strike.html"], pages["coastal-wire-copy.html"]),
        "AMP page vs the page": pair(pages["gazette-ferry-strike.html"], pages["gazette-ferry-strike.amp.html"]),
        "same topic, another story (explainer of the same strike)":
            pair(pages["gazette-ferry-strike.html"], pages["northern-post-explainer.html"]),
    }
    corpus = {"sample": parse_article(SAMPLE.read_text(encoding="utf-8"), "text").text}
    if SQUAD_DOCS.is_dir():
        for path in sorted(SQUAD_DOCS.glob("*.txt")):
            corpus[path.stem] = parse_article(path.read_text(encoding="utf-8"), "text").text
    rng = random.Random(SEED)
    edits = {}
    for name, params in EDITS.items():
        scores = [pair(text, _edit(text, rng, **params)) for text in corpus.values()]  # type: ignore[arg-type]
        jaccards = [s["jaccard"] for s in scores]
        edits[name] = {"min": min(jaccards), "median": statistics.median(jaccards),
                       "candidates": sum(s["candidate"] for s in scores) / len(scores),
                       "copies": sum(j >= duplicates.DUPLICATE_JACCARD for j in jaccards) / len(scores)}
    others = [*corpus.values(), pages["gazette-ferry-strike.html"], pages["northern-post-explainer.html"],
              pages["islander-lighthouse.html"], pages["gazette-breakwater.html"]]
    distinct = [pair(a, b) for a, b in itertools.combinations(others, 2)]
    return {"fixtures": fixtures, "edits": edits, "articles": len(corpus),
            "distinct_pairs": {"pairs": len(distinct), "max_jaccard": max(d["jaccard"] for d in distinct),
                               "candidates": sum(d["candidate"] for d in distinct)},
            "threshold": duplicates.DUPLICATE_JACCARD}


def print_duplicates(table: dict) -> None:
    print(f"\nSyndicated copies: Jaccard similarity of 5-word shingles; a copy at ≥ {table['threshold']}; candidates: "
          "the pairs that share an LSH band (how the store finds them)\n")
    print("| pair | Jaccard | candidates | copies |")
    print("|---|---|---|---|")
    for name, scores in table["fixtures"].items():
        copy = "yes" if scores["jaccard"] >= table["threshold"] else "no"
        print(f"| {name} | {scores['jaccard']:.3f} | {'yes' if scores['candidate'] else 'no'} | {copy} |")
    for name, scores in table["edits"].items():
        print(f"| {table['articles']} articles, {name}: lowest (median) | {scores['min']:.3f} ({scores['median']:.3f})"
              f" | {scores['candidates']:.0%} | {scores['copies']:.0%} |")
    d = table["distinct_pairs"]
    print(f"| {d['pairs']} pairs of distinct articles: highest | {d['max_jaccard']:.3f} | {d['candidates']} | 0 |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the tables as JSON to this file")
    args = parser.parse_args()
    rows = extraction_table()
    print_extraction(rows)
    table = duplicate_table()
    print_duplicates(table)
    if args.out:
        args.out.write_text(json.dumps({"extraction": rows, "duplicates": table}, indent=2, ensure_ascii=False) + "\n")
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
