"""Sentence spans with exact offsets.

Written by hand because llama-index's NLTK-based splitter cuts "U.S. President Donald Trump" after
"U.S." (checked), and because answers quote sentences by their offsets in the article.

Linear in the length of the text, whatever its shape (a run of a million periods, a line without
spaces): each candidate end is tried once, the look-back for an abbreviation is a fixed window, and a
"sentence" longer than MAX_SENTENCE_CHARS is cut at spaces.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "gen", "lt", "col", "capt", "sgt", "sen", "rep",
    "gov", "pres", "inc", "ltd", "co", "corp", "vs", "etc", "no", "jan", "feb", "mar", "apr", "jun",
    "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mt", "ft", "approx", "dept", "est", "fig", "vol",
}
# A candidate end: terminal punctuation, optional closing quotes/brackets, whitespace, then something
# that can start a sentence (uppercase letter, digit, opening quote or bracket). It starts only at the
# first mark of a run and takes the run whole (possessive), so a run of n marks costs O(n), not O(n²).
_END = re.compile(r"(?<![.!?])[.!?]++[\"'”’)\]]*+(?=\s+[\"'“‘(\[]?[A-Z0-9])")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)\.$")
# Up to the last whitespace of a window: `.*` runs to the window's end and backs off to it.
_UP_TO_LAST_SPACE = re.compile(r".*\s", re.DOTALL)
# A line longer than this is searched for sentence ends a window at a time: one regular-expression
# search over a 5 MB line without punctuation holds the GIL for ~75 ms, and the server's other
# requests wait for it.
_WINDOW_CHARS = 65_536
_INSIDE_WORD = re.compile(r"(?<=\w)\w")
# How far before a period to look for the word it ends: longer than any abbreviation or dotted acronym
# ("approx.", "U.S.A."), short enough to stay cheap on every candidate end.
_LOOK_BACK = 20
# A "sentence" longer than this is cut at its last space before the limit (anywhere, if it has none):
# text without sentence punctuation (a transcript, a list, a code block, a line of 5 MB) would
# otherwise be one sentence that no embedding window holds (all-MiniLM-L6-v2 reads 256 word pieces,
# some 1,000–1,200 characters of English; news sentences are under 500) and that costs seconds to
# count the tokens of.
MAX_SENTENCE_CHARS = 1_000


def _is_abbreviation(text: str, dot: int) -> bool:
    """True when the period at `dot` ends an abbreviation, initial or dotted acronym, not a sentence."""
    match = _WORD_BEFORE.search(text, max(0, dot - _LOOK_BACK), dot + 1)
    if not match:
        return False
    word = match.group(1)
    if "." in word:  # U.S., e.g., i.e.
        return True
    return (len(word) == 1 and word.isupper()) or word.lower() in ABBREVIATIONS


def _trimmed(text: str, s: int, e: int) -> tuple[int, int]:
    while s < e and text[s].isspace():
        s += 1
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def _cut(text: str, s: int, e: int) -> Iterator[tuple[int, int]]:
    """The trimmed span [s, e), in pieces of at most MAX_SENTENCE_CHARS cut at spaces."""
    s, e = _trimmed(text, s, e)
    while e - s > MAX_SENTENCE_CHARS:
        limit = s + MAX_SENTENCE_CHARS
        space = _UP_TO_LAST_SPACE.match(text, s + 1, limit + 1)
        cut = space.end() - 1 if space else limit
        piece = _trimmed(text, s, cut)
        if piece[0] < piece[1]:
            yield piece
        s = _trimmed(text, cut, e)[0]
    if s < e:
        yield s, e


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """[s, e) spans of the sentences in text[start:end], trimmed; paragraph breaks always end one."""
    return list(iter_sentences(text, start, end))


def iter_sentences(text: str, start: int = 0, end: int | None = None) -> Iterator[tuple[int, int]]:
    """`split_sentences`, lazily (a caller with a limit stops early)."""
    end = len(text) if end is None else end
    b_start = start
    while b_start < end:
        b_end = text.find("\n", b_start, end)
        if b_end == -1:
            b_end = end
        cursor = b_start
        for w_start, w_end in _windows(text, b_start, b_end):
            # On the window alone, so that the line's first mark starts a run even when `start` falls
            # inside one (a window boundary lies inside a word, where no run is).
            for match in _END.finditer(text[w_start:w_end]):
                dot, match_end = w_start + match.start(), w_start + match.end()
                if match.group(0) == "." and _is_abbreviation(text, dot):
                    continue
                yield from _cut(text, cursor, match_end)
                cursor = match_end
        yield from _cut(text, cursor, b_end)
        b_start = b_end + 1


def _windows(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """[start, end) in windows of about _WINDOW_CHARS, each boundary between two word characters,
    which no sentence end (marks, closers, spaces, one capital) spans."""
    while end - start > _WINDOW_CHARS:
        inside = _INSIDE_WORD.search(text, start + _WINDOW_CHARS, end)
        if not inside:
            break
        yield start, inside.start()
        start = inside.start()
    yield start, end
