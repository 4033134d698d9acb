"""Whether an answer holds what was asked, and how likely it is to be right.

- **Answer type.** A question asking for a count, an amount, a date or a duration ("How many…",
  "When…", "How long…") is refused when the sentence that would answer it holds no number, date or
  span of time: it resembles the question without answering it ("How many ICRC observers were
  deployed?" against "the ICRC deployed observers at both crossings"); and "How many X" when the
  sentence's numbers count something else. ("Who" and "where" are left out: their answers are as
  often "an architect" as a name.)
- **What is asked about.** A question naming someone or something, or a number, that no passage found
  mentions is about something the articles do not cover ("What did Alexander Lukashenko say?"); and a
  number the best sentence's own passage lacks, though another passage holds it, is asked about
  something else ("What was developed in 1980?" against a passage about the 1970s).
- **Negation.** A question asking what is not so is refused when the best sentence says only what is
  ("What was not the main executive body of the EU?" against "The European Commission is the main
  executive body…"); a sentence that declines, refuses, stays silent… says what is not (scoring.py).
- **Opposites.** A question whose best sentence says the opposite of one of its words is refused: an
  antonym ("the last responses" / "the first responses"), a negating prefix ("uninhabited" /
  "inhabited"), another ordinal ("Fifth Law" / "Third Law").
- Measured with `bench.eval`: our related-but-unanswerable questions refused 2 → 14 (answer type) →
  26 of 74 (counts, mentions), SQuAD's unanswerable 6 → 9 → 15 → 32 → 42 of 140 (negation, numbers in
  the passage, opposites), answerable ones wrongly refused unchanged (0 of 52 on the sample article, 2
  of 160 on SQuAD); of 13 negative questions the sample article does not answer, 9 refused instead of
  1, and of 13 it answers, 3 instead of 1 (the other two had been answered with a wrong sentence).
- **Confidence.** The probability that the response is right (a right answer, or a refusal of a
  question the articles do not answer), from a logistic model of the answer's evidence, of the share
  of the question's words its sentence holds, of its margin over the next sentence, and of whether it
  answered. `python -m bench.confidence` fits the weights on the labelled sets' tuning split and
  reports the calibration error on the held-out split; change the evidence formula or the embedder
  and re-run it.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from index.embedding import Embedder
from index.store import ScoredChunk
from index.text import STOPWORDS, content_stems, fold, stem_all, words
from server.services.scoring import ScoredSentence, asks_negative, expected_kind, says_negative, strict_kind
from server.services.support import stands_for

if TYPE_CHECKING:  # search.py imports this module's rules
    from server.services.search import Passages

# "How many <what>": the words naming what is counted, up to the verb.
_HOW_MANY = re.compile(r"^\W*how many\s+(.*)", re.IGNORECASE)
COUNTED_WORDS = 3
# A count belongs to what it counts when that follows it within this many words ("1,000 detainees",
# "788 Ukrainian drones", "1.740 million residents"), or comes just before it ("prisoners numbered 390").
COUNT_REACH = 4
COUNT_BEFORE = 2
# Counted words that say nothing of what is counted ("How many *types* of…" is answered by "two kinds").
GENERIC_COUNTED = frozenset(stem_all(["type", "kind", "sort", "form", "time", "way", "part", "piece", "thing",
                                      "item", "member", "example", "one"]))
# Cosine (the embedder's) from which a word next to a number names what is counted: "unmanned" for
# drones 0.68, "kinds" for types 0.86, "residents" for people 0.51; "years" for people 0.18,
# "performances" for visitors 0.30.
COUNTED_LIKENESS = 0.5
_COUNT = re.compile(r"\d|^(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|"
                    r"fifty|hundred|hundreds|thousand|thousands|million|millions|billion|dozens?|several)$")
# A name or a number of the question: a capitalised word that does not open it, or digits.
_QUESTION_NAME = re.compile(r"(?<=\S)\s+([A-Z][\w’'-]*)")
_QUESTION_NUMBER = re.compile(r"\d(?:[\d,.]*\d)?")
_POSSESSIVE = re.compile(r"['’]s$")
# A name counts as mentioned when a passage holds a word this close to it (difflib's ratio): a
# misspelt name ("Primeier Leage") is still asked about the Premier League.
NAME_LIKENESS = 0.75


def kind_missing(search_text: str, best: ScoredSentence | None, embedder: Embedder) -> bool:
    """The question asks for a number, a date or a duration, and the best sentence holds none; or it
    asks how many of something, and the sentence counts something else ("How many people died in the
    drought?" against "…the worst drought in one hundred years")."""
    kind = expected_kind(search_text)
    if kind is None or not strict_kind(kind):
        return False
    if best is None or not kind.search(best.text):
        return True
    counted = counted_words(search_text)
    return bool(counted) and not counts(best.text, counted, embedder)


def counted_words(question: str) -> list[str]:
    """The words naming what "How many …" counts ("How many German soldiers were…": german,
    soldiers), or none when it is generic or not asked."""
    if not (match := _HOW_MANY.match(question)):
        return []
    counted = []
    for word in words(match.group(1))[:COUNTED_WORDS]:
        if word in STOPWORDS:
            break
        counted.append(word)
    return [] if set(stem_all(counted)) & GENERIC_COUNTED else counted


def counts(sentence: str, counted: list[str], embedder: Embedder) -> bool:
    """Whether a number in `sentence` stands next to what is counted: its words, or a word that means
    much the same ("175 Shahed and other unmanned aerial vehicles" counts drones; the embedder decides,
    and only when the words differ)."""
    tokens = words(sentence)
    stems = stem_all(tokens)
    near = {j for i, token in enumerate(tokens) if _COUNT.search(token)
            for j in range(max(0, i - COUNT_BEFORE), min(len(tokens), i + 1 + COUNT_REACH))}
    if set(stem_all(counted)) & {stems[j] for j in near}:
        return True
    others = sorted({tokens[j] for j in near if tokens[j] not in STOPWORDS and not _COUNT.search(tokens[j])})
    if not others:
        return False
    vectors = np.asarray(embedder.embed_texts([" ".join(counted), *others]), dtype=np.float32)
    return float((vectors[1:] @ vectors[0]).max()) >= COUNTED_LIKENESS


def unmentioned(asked: str, chunks: Sequence[ScoredChunk]) -> list[str]:
    """The names and numbers of the question that no passage mentions ("What did Alexander Lukashenko
    say?", "Who patented a steam engine in 1883?"): the articles found are not about what is asked.
    A near spelling counts as a mention, and so do initials ("UN": "United Nations")."""
    asked_names = [_POSSESSIVE.sub("", match.group(1)) for match in _QUESTION_NAME.finditer(asked)]
    asked_numbers = _QUESTION_NUMBER.findall(asked)
    if not asked_names and not asked_numbers:  # nothing to look for: the passages need not be read
        return []
    said = [_said(c) for c in chunks]
    text = " ".join(" ".join(said).split())
    vocabulary: frozenset[str] = frozenset().union(*map(_vocabulary, said))
    missing = []
    for name in asked_names:
        folded = fold(name)
        if folded in STOPWORDS or len(folded) < 3 or folded in vocabulary:
            continue
        if name.isupper() and stands_for(name, text):
            continue
        if not difflib.get_close_matches(folded, vocabulary, n=1, cutoff=NAME_LIKENESS):
            missing.append(name)
    return missing + _numbers_missing(asked_numbers, text)


def negation_missing(asked: str, best: ScoredSentence | None) -> bool:
    """The question asks what is not so and the best sentence says only what is: "What was not the
    main executive body of the EU?" against "The European Commission is the main executive body of the
    European Union" resembles the question and answers its opposite."""
    return best is not None and asks_negative(asked) and not says_negative(best.text)


def numbers_elsewhere(asked: str, passage: ScoredChunk) -> list[str]:
    """The question's numbers that the passage of its best sentence does not hold, though another
    passage does (`unmentioned` refuses those none holds): "What was developed in 1980?" against a
    passage about the 1970s is about something else."""
    return _numbers_missing(_QUESTION_NUMBER.findall(asked), _said(passage))


def _said(passage: ScoredChunk) -> str:
    """What a passage says, its heading path and its article's title included."""
    return f"{passage.title} {passage.section} {passage.text}"


def _numbers_missing(numbers: list[str], text: str) -> list[str]:
    """Those of `numbers` that `text` does not hold, thousands separators aside ("1,000" = "1000")."""
    held = {n.replace(",", "") for n in _QUESTION_NUMBER.findall(text)}
    return [n for n in numbers if n.replace(",", "") not in held]


# Words whose opposite in the best sentence answers another question: "What is one of the last
# responses of the immune system?" against "Inflammation is one of the first responses…". Only pairs
# whose converse does not answer too ("after" does: "A came before B" answers "What came after A?").
OPPOSITES = [("first", "last"), ("most", "least"), ("highest", "lowest"), ("largest", "smallest"),
             ("increase", "decrease"), ("increased", "decreased"), ("maximum", "minimum"),
             ("include", "exclude"), ("included", "excluded"), ("best", "worst"), ("continued", "stopped")]
_OPPOSITE = {stem: other for a, b in OPPOSITES for stem, other in (stem_all([a, b]), stem_all([b, a]))}
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")
# A word that is the other's with a negating prefix ("uninhabited", "inhabited"), the rest of the word
# this long: "un" and "non" before any word; "de" and "dis" before a vowel ("deactivated",
# "disallowed"; "designed" is no "signed", "discovered" no "covered"); "in", "im", "il" and "ir" before
# an adjective ("insignificant", "impossible"; "information" is no "formation", "improved" no "proved").
NEGATING_PREFIXES = ("un", "non")
BEFORE_A_VOWEL = ("de", "dis")
BEFORE_AN_ADJECTIVE = ("in", "im", "il", "ir")
_ADJECTIVE = re.compile(r"(?:able|ible|ant|ent|ive|al|ful|ous|ic|ate|ar|ct)$")
MIN_NEGATED = 6


def opposite(asked: str, sentence: str) -> tuple[str, str] | None:
    """A word of the question and its opposite in the sentence, which the other lacks: an antonym
    ("least" / "most"), a negating prefix ("deactivated" / "activated", unless either side says "not":
    "not successful" means "unsuccessful"), or another ordinal ("Fifth Law" / "Third Law")."""
    question_words, sentence_words = _hyphen_parts(asked), _hyphen_parts(sentence)
    question_stems, sentence_stems = _by_stem(question_words), _by_stem(sentence_words)
    for stem, word in question_stems.items():
        other = _OPPOSITE.get(stem)
        if other in sentence_stems and other not in question_stems and stem not in sentence_stems:
            return word, sentence_stems[other]
    if not asks_negative(asked) and not says_negative(sentence):
        for mine, theirs in ((question_words, sentence_words), (sentence_words, question_words)):
            for word in mine - theirs:
                base = _negated(word)
                if base in theirs and base not in mine:
                    return (word, base) if mine is question_words else (base, word)
    asked_ordinals = question_words.intersection(ORDINALS)
    said_ordinals = sentence_words.intersection(ORDINALS)
    if asked_ordinals and said_ordinals and not asked_ordinals & said_ordinals:
        return min(asked_ordinals), min(said_ordinals)
    return None


def _negated(word: str) -> str:
    """The word that `word` negates with its prefix, or ""."""
    for prefix in NEGATING_PREFIXES + BEFORE_A_VOWEL + BEFORE_AN_ADJECTIVE:
        base = word[len(prefix):]
        if not word.startswith(prefix) or len(base) < MIN_NEGATED:
            continue
        if (prefix in NEGATING_PREFIXES or (prefix in BEFORE_A_VOWEL and base[0] in "aeiou")
                or (prefix in BEFORE_AN_ADJECTIVE and _ADJECTIVE.search(base))):
            return base
    return ""


def _by_stem(words_: set[str]) -> dict[str, str]:
    ordered = sorted(words_)
    return dict(zip(stem_all(ordered), ordered, strict=True))


# "last week", "at first", "at least two": words of time or of quantity, not of order or degree.
_IDIOM = re.compile(r"\b(?:(?:first|last)\s+(?:week|weekend|month|year|night|day|time|summer|winter|spring|autumn|"
                    r"fall|season|century|decade)s?|at\s+(?:first|last|least|most))\b", re.IGNORECASE)


def _hyphen_parts(text: str) -> set[str]:
    """Lowercased words, a hyphenated one as its parts ("second-largest": second, largest), without
    idioms of time or quantity ("last week", "at least")."""
    return {part for word in words(_IDIOM.sub(" ", text)) for part in word.lower().split("-") if part}


@lru_cache(maxsize=4096)
def _vocabulary(text: str) -> frozenset[str]:
    """The folded words of a passage; cached, as the same passages are found for question after question."""
    return frozenset(fold(w) for w in set(words(text)))


@dataclass(frozen=True)
class Features:
    evidence: float  # the best sentence's
    coverage: float  # share of the question's content stems in the best sentence
    margin: float  # best evidence minus the next sentence's
    answered: bool
    topic: bool  # answered with a named section's opening (its evidence says little)

    @classmethod
    def of(cls, found: Passages, answered: bool) -> Features:
        if not found.sentences:
            return cls(-1.0, 0.0, 0.0, answered, found.topic)
        best, sentences = found.sentences[0], found.sentences
        asked = content_stems(found.question.search_text)
        coverage = len(asked & content_stems(best.text)) / len(asked) if asked else 0.0
        second = sentences[1].evidence if len(sentences) > 1 else 0.0
        return cls(best.evidence, coverage, best.evidence - second, answered, found.topic)


@dataclass(frozen=True)
class ConfidenceModel:
    """P(right) = logistic(w · [1, evidence, coverage, margin, answered, answered × evidence, topic])."""

    # Fitted by `python -m bench.confidence` on 321 labelled questions (held-out ECE 0.054 on 183, where
    # a perfectly calibrated model would measure 0.069; cross-validated 0.047).
    weights: tuple[float, ...] = (0.63, 3.261, 0.005, 3.003, -4.486, 0.903, 6.817)

    @staticmethod
    def inputs(f: Features) -> tuple[float, ...]:
        """The model's inputs (bench.confidence fits the weights on exactly these)."""
        a = 1.0 if f.answered else 0.0
        return 1.0, f.evidence, f.coverage, f.margin, a, a * f.evidence, 1.0 if f.topic else 0.0

    def confidence(self, f: Features) -> float:
        z = sum(w * v for w, v in zip(self.weights, self.inputs(f), strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


CONFIDENCE = ConfidenceModel()
