"""Words, stems and folding: the one place where text is normalised for matching.

BM25 (`index/retrieval.py`), the word overlap of the answer scorer and the follow-up resolver
(`server/services/`) and heading matching all read words through these functions, so "confirm" meets
"confirmed" and "NATO's" meets "NATO" the same way everywhere.
"""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

# Between the headings of a section's path, in citations and in what the model embeds.
SECTION_SEPARATOR = " > "

# A word: letters and digits (any script), with inner apostrophes and hyphens ("don't", "NATO's",
# "co-NP": a question about "CO" is not answered by "co-NP").
# Initials with dots ("U.S.", "U.N.") are one word, kept apart from the pronoun "us" by their inner dots.
_WORD = re.compile(r"(?:[^\W\d_]\.){2,}|[^\W_](?:[\w'’-]*[^\W_])?")
_POSSESSIVE = re.compile(r"['’]s$")

ANAPHORA = frozenset({
    "he", "him", "his", "she", "her", "hers", "they", "them", "their", "theirs", "it", "its",
    "this", "that", "these", "those", "there", "then", "former", "latter", "same", "else", "other",
})
STOPWORDS = frozenset({
    "a", "an", "the", "and", "or", "but", "of", "in", "on", "at", "to", "for", "from", "by", "with",
    "about", "as", "into", "over", "after", "before", "is", "are", "was", "were", "be", "been", "do",
    "does", "did", "has", "have", "had", "what", "which", "who", "whom", "whose", "when", "where",
    "why", "how", "much", "many", "say", "said", "tell", "me", "any", "some", "not", "no", "next",
    "also", "more", "can", "could", "would", "will", "should", "so", "than", "there", "i", "you", "we",
    "our", "your", "my", "us", "if", "all", "each", "very", "just", "up", "out", "according",
    # Words about the text itself ("Who is the envoy mentioned in the article?") ask nothing of it.
    "article", "articles", "mention", "mentions", "mentioned", "text", "passage",
}) | ANAPHORA

_STEMMER = Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lower-case words in order, without a possessive "'s" ("NATO's" -> "nato")."""
    # The possessive's pattern only for words with an apostrophe: a quarter of the BM25 index's build.
    return [(_POSSESSIVE.sub("", w) if "'" in w or "’" in w else w).rstrip(".") for w in _WORD.findall(text.lower())]


# BM25's own stopwords: the usual short English list (bm25s's). BM25's inverse document frequency
# already discounts common words; dropping STOPWORDS' question words too measured worse (SQuAD
# answers 0.906 -> 0.894, hit@5 0.956 -> 0.950 in bench.eval).
BM25_STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no",
    "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this",
    "to", "was", "will", "with",
})


def lexical_terms(text: str) -> list[str]:
    """What BM25 counts: stemmed words, with repeats, without BM25_STOPWORDS or single characters; a
    hyphenated word counts as its parts, so "Kyiv-Odesa" is found by "Odesa" (as bm25s's own tokenizer
    does; measured equal on bench.eval)."""
    parts = (part for word in words(text) for part in word.split("-"))
    return stem_all([p for p in parts if len(p) > 1 and p not in BM25_STOPWORDS])


def content_words(text: str) -> set[str]:
    """Words that carry meaning in a question: no STOPWORDS, no single characters."""
    return {w for w in words(text) if len(w) > 1 and w not in STOPWORDS}


def stem_all(tokens: list[str]) -> list[str]:
    """Snowball (English) stems: "downed" and "downing" both give "down"."""
    return list(_STEMMER.stemWords(tokens))


@lru_cache(maxsize=65536)
def content_stems(text: str) -> frozenset[str]:
    """The stems of the content words: what word overlap compares."""
    return frozenset(stem_all(sorted(content_words(text))))


def fold(text: str) -> str:
    """Case and punctuation folded, words separated and framed by single spaces (" a b "), so that
    `fold(part) in fold(whole)` matches whole words."""
    return " " + " ".join(part for word in words(text) for part in word.split("-")) + " "


def innermost_heading(section: str) -> str:
    """ "Operation > Location and Logistics" -> "Location and Logistics"."""
    return section.rsplit(SECTION_SEPARATOR, 1)[-1]


def heading_named_in(query: str, section: str) -> bool:
    """Whether `query` quotes the innermost heading of `section` (case and punctuation aside)."""
    heading = fold(innermost_heading(section))
    return heading.strip() != "" and heading in fold(query)
