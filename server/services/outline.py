"""An article's outline, read from its stored text and sections: its headings with their levels, its
first sentence and the names it mentions most. The web UI draws headings from it and suggests questions
from it without downloading whole articles (the sample's outline is 1.5 KB of JSON, its text 10 KB).

The stored text is the article's blocks joined by blank lines, and every paragraph lies inside the body
span of a section; so the blocks outside every body are exactly the headings. A heading with a body of
its own is the last entry of its section's path (its level is the path's length); one without (a part
heading directly over a section heading) is found in the path of the section that follows it.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from index.sentences import iter_sentences

BLOCK_SEPARATOR = "\n\n"  # between the blocks of a stored text (index/parsing.py)
# The first sentence, shortened to this many characters at a word boundary.
MAX_LEDE_CHARS = 300
MAX_NAMES = 8
MAX_NAME_CHARS = 60
# A capitalised word ("Fidan", "Russia’s") or an acronym ("NATO", "U.S."), and a run of them.
_NAME_WORD = r"(?:[A-Z][a-z]+(?:[’'-][A-Za-z]+)*|[A-Z]{2,}|(?:[A-Z]\.){2,})"
# Words may be joined by "of", "of the", "for"…: "International Committee of the Red Cross".
_NAME_RUN = re.compile(rf"{_NAME_WORD}(?:(?: (?:of(?: the)?|for|de|del|van|von|al|bin))? {_NAME_WORD})*")
_POSSESSIVE = re.compile(r"[’']s$")
_CALENDAR = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January", "February",
             "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}


class SectionLike(Protocol):
    @property
    def path(self) -> Sequence[str]: ...
    @property
    def heading_start(self) -> int: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


@dataclass(frozen=True)
class Heading:
    title: str
    level: int  # 1 for a top-level heading, 2 for one under it…
    start: int  # [start, end) of the heading in the stored text
    end: int


@dataclass(frozen=True)
class Outline:
    headings: list[Heading]
    lede: str
    names: list[str]


def outline(text: str, sections: Sequence[SectionLike]) -> Outline:
    return Outline(headings(text, sections), lede(text, sections), names(text, sections))


def _blocks(text: str) -> Iterator[tuple[int, int]]:
    offset = 0
    for block in text.split(BLOCK_SEPARATOR):
        yield offset, offset + len(block)
        offset += len(block) + len(BLOCK_SEPARATOR)


def headings(text: str, sections: Sequence[SectionLike]) -> list[Heading]:
    bodies = sorted((s.start, s.end) for s in sections)
    body_starts = [start for start, _ in bodies]
    by_heading = sorted(((s.heading_start, list(s.path)) for s in sections if s.path), key=lambda h: h[0])
    heading_starts = [start for start, _ in by_heading]
    found: list[Heading] = []
    for start, end in _blocks(text):
        at = bisect_right(body_starts, start) - 1
        if at >= 0 and start < bodies[at][1]:
            continue  # a paragraph
        title = text[start:end]
        # The heading's own section, or else the first section after it.
        at = bisect_left(heading_starts, start)
        heading_start, path = by_heading[at] if at < len(by_heading) else (-1, [])
        if heading_start == start:
            level = len(path)
        elif title in path[:-1]:
            level = path.index(title) + 1
        else:  # no paragraph before the next heading of its level, or none at all after it
            level = len(path) or 1
        found.append(Heading(title, level, start, end))
    return found


def _paragraphs(text: str, sections: Sequence[SectionLike]) -> Iterator[tuple[int, int]]:
    for section in sorted(sections, key=lambda s: s.start):
        offset = section.start
        for block in text[section.start : section.end].split(BLOCK_SEPARATOR):
            yield offset, offset + len(block)
            offset += len(block) + len(BLOCK_SEPARATOR)


def lede(text: str, sections: Sequence[SectionLike]) -> str:
    """The first sentence of the first paragraph, cut at a word boundary past MAX_LEDE_CHARS."""
    for start, end in _paragraphs(text, sections):
        for s, e in iter_sentences(text, start, end):
            sentence = text[s:e]
            if len(sentence) <= MAX_LEDE_CHARS:
                return sentence
            return sentence[: MAX_LEDE_CHARS].rsplit(" ", 1)[0].rstrip(",;:—–- ") + "…"
    return ""


def names(text: str, sections: Sequence[SectionLike]) -> list[str]:
    """Names of people, places and organisations the article mentions most: runs of capitalised words
    and acronyms in its paragraphs. A run that opens a sentence loses its first word unless that word is
    capitalised inside a sentence somewhere ("The", "Despite" go; "Ukraine" stays). Runs of two or more
    words come first (a person or an office says more than "Ukraine"), then the most frequent, then the
    earliest."""
    headings_text = {h.title for h in headings(text, sections)}
    runs: list[tuple[int, bool, list[str]]] = []  # (offset, opens a sentence, words)
    inside: set[str] = set()  # words capitalised inside a sentence somewhere
    for start, end in _paragraphs(text, sections):
        for s, e in iter_sentences(text, start, end):
            for match in _NAME_RUN.finditer(text, s, e):
                words = [_POSSESSIVE.sub("", w) for w in match.group(0).split()]
                runs.append((match.start(), match.start() == s, words))
                inside.update(words[1:] if match.start() == s else words)
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    for offset, opens_sentence, words in runs:
        if opens_sentence and words[0] not in inside:
            words = words[1:]
        while words and words[0][0].islower():  # "of the" left at the front
            words = words[1:]
        name = " ".join(words)
        if not name or len(name) > MAX_NAME_CHARS or name in headings_text or name in _CALENDAR:
            continue
        counts[name] += 1
        first.setdefault(name, offset)
    ranked = sorted(counts, key=lambda n: (" " not in n, -counts[n], first[n]))
    return ranked[:MAX_NAMES]
