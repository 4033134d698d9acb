"""The offline answer: the best sentences of the retrieved passages, quoted verbatim, each followed
by its passage's [n] marker."""

from __future__ import annotations

from server.services.question import History
from server.services.results import QUOTED_AGAIN, Answer
from server.services.scoring import ScoredSentence
from server.services.search import Passages

MAX_ANSWER_SENTENCES = 2
# A second sentence joins the answer only if it scores nearly as well as the best one…
SECOND_SENTENCE_MARGIN = 0.06
# A follow-up should move the conversation on: a sentence quoted in an earlier answer scores less…
ALREADY_SAID_PENALTY = 0.15


def extractive_answer(
    found: Passages, history: History, min_second_evidence: float, warnings: list[str] | None = None
) -> Answer:
    """Quote the best sentences; `min_second_evidence`: the least evidence of a second sentence (…and
    holds enough evidence on its own)."""
    said = _already_said(found, history)
    chosen = choose_sentences(found, said, min_second_evidence)
    # Sentences of the best passage first, in article order; any other keeps its rank after them.
    best_n = chosen[0].n
    chosen.sort(key=lambda t: (0, t.sentence.start) if t.n == best_n else (1, 0))
    text = " ".join(f"{t.text} [{t.n}]" for t in chosen)
    if said and all(t.text in said for t in chosen):
        text = QUOTED_AGAIN + text
    cited = sorted({t.n for t in chosen})
    return Answer(text, True, found.citations(cited), "extractive", [*found.warnings, *(warnings or [])])


def _already_said(found: Passages, history: History) -> str:
    """The earlier answers, for a follow-up; nothing for a question that stands alone, which is
    answered exactly as if asked first."""
    return " ".join(c for role, c in history if role == "assistant") if found.question.follow_up else ""


def choose_sentences(found: Passages, said: str, min_second_evidence: float) -> list[ScoredSentence]:
    if found.topic:  # what the named section says: its opening sentences
        opening = sorted((t for t in found.sentences if t.n == 1), key=lambda t: t.sentence.start)
        if opening:
            return opening[:MAX_ANSWER_SENTENCES]
    fresh = sorted(found.sentences, key=lambda t: -(t.score - ALREADY_SAID_PENALTY * (t.text in said)))
    chosen = [fresh[0]]
    for t in fresh[1:]:
        if len(chosen) == MAX_ANSWER_SENTENCES or t.score < fresh[0].score - SECOND_SENTENCE_MARGIN:
            break
        if t.evidence >= min_second_evidence and t.text not in said:  # a follow-up adds, not repeats
            chosen.append(t)
    return chosen
