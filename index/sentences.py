"""Sentence spans with exact offsets.

Written by hand because llama-index's NLTK-based splitter cuts "U.S. President Donald Trump" after
"U.S." (checked), and because answers quote sentences by their offsets in the article.
"""

from __future__ import annotations

import re

ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "gen", "lt", "col", "capt", "sgt", "sen", "rep",
    "gov", "pres", "inc", "ltd", "co", "corp", "vs", "etc", "no", "jan", "feb", "mar", "apr", "jun",
    "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mt", "ft", "approx", "dept", "est", "fig", "vol",
}
# A candidate end: terminal punctuation, optional closing quotes/brackets, whitespace, then something
# that can start a sentence (uppercase letter, digit, opening quote or bracket).
_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9])")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)\.$")
# How far before a period to look for the word it ends: longer than any abbreviation or dotted acronym
# ("approx.", "U.S.A."), short enough to stay cheap on every candidate end.
_LOOK_BACK = 20


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at `dot` ends an abbreviation, initial or dotted acronym, not a sentence."""
    match = _WORD_BEFORE.search(text, max(0, dot - _LOOK_BACK), dot + 1)
    if not match:
        return False
    word = match.group(1)
    if "." in word:  # U.S., e.g., i.e.
        return True
    return (len(word) == 1 and word.isupper()) or word.lower() in ABBREVIATIONS


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """[s, e) spans of the sentences in text[start:end], trimmed; paragraph breaks always end one."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for block in re.finditer(r"[^\n]+", text[start:end]):
        b_start, b_end = start + block.start(), start + block.end()
        cursor = b_start
        for match in _END.finditer(text, b_start, b_end):
            if match.group(0)[0] == "." and len(match.group(0)) == 1 and _is_abbreviation(text, match.start()):
                continue
            spans.append((cursor, match.end()))
            cursor = match.end()
        spans.append((cursor, b_end))
    trimmed = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            trimmed.append((s, e))
    return trimmed
