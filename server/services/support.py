"""The support check of LLM answers: every sentence a model writes must be stated by a passage it was
sent, and the one it cites.

The marker check alone passed what small models really return (issue 14, llama.cpp's server with
Gemma-3-270M and SmolLM2-135M): the prompt echoed back, and invented facts ("killed at least 788
people") with a valid [n] after them. So each sentence of the answer (a "claim") is checked against
its cited passages with what we ship, and kept only when:

- every number it states is in the passages (digits, "1,000" = "1000");
- every name it states (a capitalised word, also the first unless it is a common opener such as
  "However") is in the passages or in the question; an acronym may stand for the initials of a
  passage's name ("UN", "United Nations"), and a name may be a longer form of one ("Belarusian");
- most of its content words are in the passages, and it is close in meaning (the embedder's cosine)
  to one of their sentences (`SupportModel`);
- what it adds to the question (its words that the question lacks) is in the passages but for a
  paraphrase's verb or two, and the question's words it repeats are there too: a claim that wraps
  the question around a subject or a link the passage does not give is not stated by it;
- the names and numbers it adds to the question stand together in one sentence of the passages;
- a short claim ("Belarus.", "PWNED") holds only words of a passage sentence that itself answers the
  question: a bare word copied from an unrelated sentence, such as an instruction planted in an
  article, is not an answer.

An echo of the prompt's scaffolding (the passages' header lines, "Question:", the delimiter lines,
the system prompt's rules) is no claim: the answer stops there. Thresholds are measured by
`python -m bench.support` on bench/sets/support.jsonl (hand-written paraphrases, invented facts,
changed numbers and names, miscitations, and a real small model's sentences) and on quotes and
perturbations of SQuAD's answer sentences. What it cannot see: the passage's own words in a wrong
relation within one sentence ("the crossings are 50 kilometers from Chernihiv", where the 50 km lie
between the two crossings).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from index.embedding import Embedder
from index.sentences import split_sentences
from index.store import ScoredChunk
from index.text import STOPWORDS, content_stems, stem_all
from server.services.results import publication_label
from server.services.scoring import ScoredSentence

# A citation marker, "[3]" or "[1, 2]": the one pattern every step that reads markers uses.
MARKER = r"\[\s*\d+(?:\s*,\s*\d+)*\s*\]"
MARKERS_RE = re.compile(MARKER)
_MARKER_RUN = re.compile(rf"(?:\s*{MARKER})+")
_DIGITS = re.compile(r"\d(?:[\d,]*\d)?(?:\.\d+)?")
# A capitalised word that does not open the sentence: a name, as far as plain text says.
_NAME = re.compile(r"(?<=[^\s\"“‘(\[])\s+[\"“‘(]?([A-Z][\w’'.-]*)")
_FIRST_WORD = re.compile(r"^[\"“‘(]?([A-Z][\w’'-]*)")
# Capitalised words that open sentences without naming anything (any other opening word is
# checked like a name: "Normandy is…" must be in the passages).
OPENERS = STOPWORDS | {
    "yes", "however", "overall", "both", "although", "though", "while", "during", "despite", "since",
    "because", "meanwhile", "finally", "first", "firstly", "second", "third", "then", "thus", "therefore",
    "instead", "still", "today", "currently", "now", "later", "earlier", "here", "only", "neither",
    "either", "several", "most", "many", "few", "another", "one", "two", "three", "among", "under",
    "until", "unlike", "like", "once", "according", "based", "in", "on", "by", "at", "to", "it",
    "this", "these", "those", "that", "such", "its", "their", "his", "her", "they", "he", "she",
}
_ACRONYM = re.compile(r"^[A-Z]{2,6}$")
# Lines of the prompt a model may echo: a passage's header "[1] (Title — Section)", the delimiters,
# the question line, the system prompt's rules.
_SCAFFOLDING = re.compile(
    r"^\s*\[\d+\]\s*\(|===|NOT_IN_ARTICLES|^\s*(?:Question|Passages|Rules|Conversation|Last message)\s*:|"
    r"\bnumbered passages\b|\bdata, never instructions\b|\boutside knowledge\b",
    re.IGNORECASE,
)
# Verbs that say when or how long, not what: "took place", "lasted" need not be in the passage (they
# do not count among a claim's words).
LIGHT_VERBS = frozenset(stem_all(["take", "took", "taken", "place", "happen", "occur", "last"]))
# How models open a sentence about the passages ("According to the passage,", "Based on the information
# provided in the passages,", "The passage states that"): words about the text, not claims about the
# world, so they are not looked for in it.
PREAMBLE = re.compile(
    r"^\s*(?:(?:according to|based on|as stated in|from)\s+(?:the\s+)?(?:information\s+(?:provided|given)\s+in\s+"
    r"(?:the\s+)?)?(?:passages?|articles?|texts?|context|sources?)(?:\s*\[\d+\])?\s*,?\s*|"
    r"the\s+(?:passages?|articles?|texts?)\s+(?:states?|says?|mentions?|notes?|reports?)\s+(?:that\s+)?)",
    re.IGNORECASE)
# A sentence this long that adds at most one common word to the question only restates it.
RESTATING_WORDS = 6
# A claim of at most this many content words is "short": checked against one relevant sentence.
SHORT_CLAIM_STEMS = 2


@dataclass(frozen=True)
class SupportModel:
    """What support means, in numbers (chosen with bench.support on its tuning split)."""

    # Most of the claim's content words are in the passages and it means much the same as one of
    # their sentences (cosine; a short claim's cosine to a long sentence is low even when it is
    # stated there)…
    min_coverage: float = 0.75
    min_cosine: float = 0.30
    # …or fewer of its words are there but it is close in meaning.
    min_coverage_close: float = 0.6
    min_cosine_close: float = 0.65
    # A short claim's sentence must be this close to the question (cosine) to count as its answer.
    min_relevance: float = 0.35
    # What the claim adds to the question (its words that the question lacks) must be in the passages,
    # but for a paraphrase's verb or two ("stretches", "portray"): "The Russian and Ukrainian
    # delegations arranged the reception centers" restates the question around a subject the passage
    # does not give. Missing at most this share of them (and one, when they are three or more).
    new_missing_share: float = 0.3
    # And the question's words it repeats must be there too, when it repeats several: "The detainees
    # given priority for medical care included those held in Russian-controlled facilities" ties the
    # question to a passage that never mentions priority or care.
    min_link_coverage: float = 0.6

    def supports(self, coverage: float, cosine: float) -> bool:
        return (coverage >= self.min_coverage and cosine >= self.min_cosine) or (
            coverage >= self.min_coverage_close and cosine >= self.min_cosine_close)


SUPPORT = SupportModel()


@dataclass(frozen=True)
class Claim:
    """One sentence of a model's answer."""

    text: str  # as written, markers included, trimmed
    cited: tuple[int, ...]  # the passage numbers its markers name, in order, repeats dropped
    gap: str  # the white space before it in the answer
    end: int = 0  # where it ends in the text it was cut from

    @property
    def plain(self) -> str:
        return " ".join(MARKERS_RE.sub(" ", self.text).split())


@dataclass(frozen=True)
class Verdict:
    supported: bool
    passages: tuple[int, ...]  # the passages that support it (the cited ones, or the one found)
    # why not: "number", "name", "words", "meaning", "new words", "link", "off-topic", "no content"; "" if kept
    reason: str
    cosine: float = 0.0
    coverage: float = 0.0


def claims(text: str) -> list[Claim]:
    """`text` cut into sentences, each with the markers that follow it ("… said. [2]" cites 2)."""
    out: list[Claim] = []
    previous_end = 0
    for s, e in split_sentences(text):
        lead = _MARKER_RUN.match(text, s, e)
        if lead and out and "\n" not in text[previous_end:s]:  # markers opening a span close the last
            last = out[-1]
            out[-1] = Claim(last.text + text[previous_end : lead.end()], (), last.gap, lead.end())
            s = previous_end = lead.end()
            while s < e and text[s].isspace():
                s += 1
            if s == e:
                previous_end = e
                continue
        out.append(Claim(text[s:e], (), text[previous_end:s], e))
        previous_end = e
    return [Claim(c.text, cited_numbers(c.text), c.gap, c.end) for c in out]


def cited_numbers(text: str) -> tuple[int, ...]:
    found = [int(n) for m in MARKERS_RE.finditer(text) for n in re.findall(r"\d+", m.group(0))]
    return tuple(dict.fromkeys(found))


def is_scaffolding(claim: Claim, titles: Sequence[str]) -> bool:
    """Whether the claim repeats the prompt rather than answering: a header line, a delimiter, a rule."""
    if _SCAFFOLDING.search(claim.text):
        return True
    return any(title and f"({title}" in claim.text for title in titles)


def numbers(text: str) -> set[str]:
    return {m.replace(",", "") for m in _DIGITS.findall(text)}


def names(text: str) -> list[str]:
    found = [m.group(1).rstrip(".’'") for m in _NAME.finditer(text)]
    first = _FIRST_WORD.match(text)
    if first and first.group(1).lower() not in OPENERS:
        found.insert(0, first.group(1))
    return found


class SupportChecker:
    def __init__(self, embedder: Embedder, model: SupportModel = SUPPORT):
        self.embedder = embedder
        self.model = model

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.embedder.embed_texts(texts), dtype=np.float32)

    def check(
        self,
        claim: str,
        vector: np.ndarray,
        passages: Sequence[int],
        chunks: Sequence[ScoredChunk],
        sentences: Sequence[ScoredSentence],
        question: str,
        question_vector: np.ndarray | None,
    ) -> Verdict:
        """Whether the passages numbered `passages` (together) state `claim`."""
        claim = PREAMBLE.sub("", claim)
        stems = _stems(claim) - LIGHT_VERBS
        if not stems or claim.rstrip().endswith(":"):  # "The two crossings were:" leads in, states nothing
            return Verdict(False, (), "no content")
        chosen = [chunks[n - 1] for n in passages]
        # The header of a passage (its article's title, section, publication and date) is said by it too.
        said = " ".join(f"{c.title} {c.section} {publication_label(c)} {c.text}" for c in chosen)
        if not numbers(claim) <= numbers(said):
            return Verdict(False, (), "number")
        if not _names_found(names(claim), said, question):
            return Verdict(False, (), "name")
        own = [s for s in sentences if s.n in passages]
        if not own:
            return Verdict(False, (), "meaning")
        if not _anchored_together(claim, question, own):
            return Verdict(False, (), "together")
        matrix = np.asarray([s.sentence.embedding for s in own], dtype=np.float32)
        cosines = matrix @ vector
        cosine = float(cosines.max())
        acronyms = {a for a in _acronyms(claim) if stands_for(a.upper(), said)}
        found = _found(stems, _stems(said) | acronyms)
        coverage = len(found) / len(stems)
        m = self.model
        if len(stems) <= SHORT_CLAIM_STEMS:
            # A few words: one sentence must hold them all, and answer the question itself.
            holding = [i for i, s in enumerate(own) if stems <= _stems(s.text) | acronyms]
            if not holding:
                return Verdict(False, (), "words", cosine, coverage)
            if question_vector is not None:
                relevance = max(float(matrix[i] @ question_vector) for i in holding)
                if relevance < m.min_relevance:
                    return Verdict(False, (), "off-topic", cosine, coverage)
            return Verdict(True, tuple(passages), "", cosine, coverage)
        if not m.supports(coverage, cosine):
            return Verdict(False, (), "words" if coverage < m.min_coverage_close else "meaning", cosine, coverage)
        asked = _stems(question)
        new, linked = stems - asked, stems & asked
        if len(new - found) > max(1 if len(new) >= 3 else 0, int(m.new_missing_share * len(new))):
            return Verdict(False, (), "new words", cosine, coverage)
        if len(linked) > 1 and len(linked & found) / len(linked) < m.min_link_coverage:
            return Verdict(False, (), "link", cosine, coverage)
        if len(claim.split()) >= RESTATING_WORDS and len(new) <= 1 and not numbers(claim) and not (
                _stems(" ".join(names(claim))) - asked):
            # A sentence with nothing of its own but a common word: "The exchange is on Russia's roster
            # for the exchange of prisoners" restates the question (a short answer, "steam engine
            # indicator", may add one word).
            return Verdict(False, (), "restates", cosine, coverage)
        return Verdict(True, tuple(passages), "", cosine, coverage)


def _anchored_together(claim: str, question: str, own: Sequence[ScoredSentence]) -> bool:
    """Whether the names and numbers the claim adds to the question stand together in one sentence of
    its passages, as it puts them together: "Turkey, Qatar and Egypt offered to host talks" (Turkey
    only mediated, a sentence earlier), "Fidan hosted the delegations, with a total of 1,000
    prisoners" (the 1,000 are the next sentence's). A sound claim joining two sentences' names is
    dropped too: a lost sentence costs less than a false one."""
    asked = _stems(question)
    anchors = _stems(" ".join(names(claim))) - asked
    digits = numbers(claim) - numbers(question)
    if len(anchors) + len(digits) < 2:
        return True
    return any(
        len(_found(anchors, _stems(s.text))) == len(anchors) and digits <= numbers(s.text) for s in own)


def _stems(text: str) -> frozenset[str]:
    """Content stems, a hyphenated word counting as its parts ("two-hour" holds "hour")."""
    return content_stems(text.replace("-", " "))


def _acronyms(text: str) -> set[str]:
    """The stems of the claim's acronyms ("UN" -> "un")."""
    return {stem_all([w.lower()])[0] for w in re.findall(r"\b[A-Z]{2,6}\b", text)}


# A stem this long meets its longer forms: "belarus" in "belarusian", "russia" in "russian".
MIN_VARIANT_STEM = 5


def _found(stems: frozenset[str], known: frozenset[str]) -> frozenset[str]:
    """The stems that `known` holds, as they are or as a variant (see MIN_VARIANT_STEM)."""
    found = stems & known
    rest = [s for s in stems - found if len(s) >= MIN_VARIANT_STEM]
    if rest:
        long_known = [k for k in known if len(k) >= MIN_VARIANT_STEM]
        found |= {s for s in rest if any(s.startswith(k) or k.startswith(s) for k in long_known)}
    return found


def _names_found(claimed: list[str], said: str, question: str) -> bool:
    known = _stems(said) | _stems(question)
    for name in claimed:
        if len(_found(_stems(name), known)) == len(_stems(name)):
            continue
        if _ACRONYM.match(name) and stands_for(name, said):
            continue
        return False
    return True


def stands_for(acronym: str, text: str) -> bool:
    """"UN" in "the United Nations", "ICRC" in "International Committee of the Red Cross"."""
    capitals = r"\s+(?:(?:of|the|and|for)\s+)*".join(f"{letter}[\\w’'-]*" for letter in acronym)
    return re.search(rf"\b{capitals}\b", text) is not None
