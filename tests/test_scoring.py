"""The answer scorer and the extractive composer on hand-made passages and vectors: which sentence a
reader gets quoted, and when there is enough evidence to answer at all. No model, no store."""

from __future__ import annotations

import numpy as np
import pytest

from index.store import ScoredChunk, SentenceVector
from server.services.evidence import EVIDENCE, EvidenceModel
from server.services.extractive import extractive_answer
from server.services.question import FollowUp, Question
from server.services.scoring import (
    PASSAGE_WEIGHT,
    TYPE_BONUS,
    asks_negative,
    expected_kind,
    says_negative,
    score_sentences,
)
from server.services.search import Passages


def unit(*xs: float) -> list[float]:
    v = np.asarray(xs, dtype=np.float32)
    return (v / np.linalg.norm(v)).tolist()


QUERY = np.asarray(unit(1, 0, 0), dtype=np.float32)


def chunk(cid: str, text: str, score: float, section: str = "", start: int = 0) -> ScoredChunk:
    return ScoredChunk(cid, "a", section, 0, start, start + len(text), text, score, "Title")


def sentence(cid: str, text: str, vector: list[float], start: int) -> SentenceVector:
    return SentenceVector(cid, start, start + len(text), text, vector)


def test_evidence_is_cosine_plus_the_weighted_share_of_question_words():
    chunks = [chunk("c1", "", 0.5)]
    s = sentence("c1", "The ferry leaves Bergen after the storm.", unit(3, 4, 0), 0)  # cosine 0.6 with QUERY
    # Content words of the question: ferry, leave, oslo (stemmed); the sentence holds 2 of 3.
    [scored] = score_sentences("When does the ferry leave for Oslo?", QUERY, chunks, [s])
    assert scored.evidence == pytest.approx(0.6 + EVIDENCE.overlap_weight * 2 / 3, abs=1e-6)
    heavier = EvidenceModel(overlap_weight=0.5)
    [rescored] = score_sentences("When does the ferry leave for Oslo?", QUERY, chunks, [s], model=heavier)
    assert rescored.evidence == pytest.approx(0.6 + 0.5 * 2 / 3, abs=1e-6)
    # The ranking score adds the passage's similarity; "when" wants a date or a time, and there is none.
    assert scored.score == pytest.approx(scored.evidence + PASSAGE_WEIGHT * 0.5, abs=1e-6)


def test_a_question_for_a_number_prefers_the_sentence_holding_one():
    chunks = [chunk("c1", "", 0.5)]
    vague = sentence("c1", "Many prisoners were exchanged at the border.", unit(1, 0.3, 0), 0)
    exact = sentence("c1", "In all 390 prisoners were exchanged at the border.", unit(1, 0.35, 0), 50)
    scored = score_sentences("How many prisoners were exchanged?", QUERY, chunks, [vague, exact])
    assert scored[0].sentence is exact  # a slightly lower cosine, but it holds the number
    assert scored[0].score - scored[0].evidence - PASSAGE_WEIGHT * 0.5 == pytest.approx(TYPE_BONUS, abs=1e-6)


def test_the_heading_of_a_named_section_counts_as_said():
    chunks = [chunk("c1", "", 0.4, section="Logistics")]
    s = sentence("c1", "Buses waited at both crossings.", unit(1, 1, 0), 0)
    plain = score_sentences("What about logistics?", QUERY, chunks, [s])[0]
    named = score_sentences("What about logistics?", QUERY, chunks, [s], named={1})[0]
    assert named.evidence == pytest.approx(plain.evidence + EVIDENCE.overlap_weight, abs=1e-6)


@pytest.mark.parametrize("question, holds, lacks", [
    ("How long did the talks last?", "They lasted two hours.", "They lasted all afternoon."),
    ("When did the swap happen?", "It happened in May.", "It happened after the talks."),
    ("Who led the delegation?", "It was led by Rustem Umerov.", "It was led by the minister."),
    ("How many drones were downed?", "Air defences downed 12 drones.", "Air defences downed drones."),
])
def test_question_types(question, holds, lacks):
    kind = expected_kind(question)
    assert kind is not None and kind.search(holds) and not kind.search(lacks)
    assert expected_kind("Why did the talks stall?") is None


def passages(
    sentences: list[tuple[str, float, float, int]], topic: bool = False, follow_up: FollowUp | None = None
) -> Passages:
    """Passages whose scored sentences are (text, evidence, score, n), best first."""
    from server.services.scoring import ScoredSentence

    chunks = [chunk(f"c{n}", f"passage {n}", 0.5, start=100 * n) for n in (1, 2)]
    scored = [ScoredSentence(sentence(f"c{n}", text, [1.0], 100 * n + i), n, ev, sc)
              for i, (text, ev, sc, n) in enumerate(sentences)]
    question = Question("q", "q", "q", follow_up=follow_up)
    return Passages(question, chunks, scored, max(s.evidence for s in scored), topic)


def test_a_second_sentence_needs_a_close_score_and_enough_evidence_of_its_own():
    both = passages([("First.", 0.8, 1.0, 1), ("Second.", 0.7, 0.97, 2)])
    assert extractive_answer(both, (), min_second_evidence=0.49).answer == "First. [1] Second. [2]"
    far = passages([("First.", 0.8, 1.0, 1), ("Second.", 0.7, 0.9, 2)])
    assert extractive_answer(far, (), min_second_evidence=0.49).answer == "First. [1]"
    weak = passages([("First.", 0.8, 1.0, 1), ("Second.", 0.4, 0.99, 2)])
    answer = extractive_answer(weak, (), min_second_evidence=0.49)
    assert answer.answer == "First. [1]" and [c.n for c in answer.citations] == [1]


def test_a_follow_up_moves_on_and_says_when_it_quotes_again():
    history = [("user", "q"), ("assistant", "First. [1]")]
    found = passages([("First.", 0.8, 1.0, 1), ("Other.", 0.7, 0.9, 2)], follow_up="pointer")
    assert extractive_answer(found, history, min_second_evidence=0.49).answer == "Other. [2]"
    # The earlier quote is still far the best: quoted again, and said to be.
    found = passages([("First.", 0.8, 1.0, 1), ("Weak.", 0.3, 0.6, 2)], follow_up="pointer")
    assert extractive_answer(found, history, min_second_evidence=0.49).answer == "As quoted above: First. [1]"
    # A question that stands alone is answered as if asked first, whatever was said before.
    found = passages([("First.", 0.8, 1.0, 1), ("Other.", 0.7, 0.9, 2)])
    assert extractive_answer(found, history, min_second_evidence=0.49).answer == "First. [1]"


def test_a_question_about_a_section_gets_its_opening():
    found = passages([("Later in the section.", 0.9, 1.0, 1), ("Opening.", 0.5, 0.6, 1)], topic=True)
    found.sentences[1] = found.sentences[1].__class__(
        SentenceVector("c1", 0, 8, "Opening.", [1.0]), 1, 0.5, 0.6)  # it starts the section
    assert extractive_answer(found, (), min_second_evidence=0.49).answer.startswith("Opening. [1]")


def test_a_follow_up_prefers_the_sentence_after_the_one_it_was_quoted():
    """"Who commissioned it?" after a quote naming the tapestry: the next sentence ("Odo, the bishop,
    paid for it") says more than a sentence elsewhere that merely resembles the question."""
    chunks = [chunk("c1", "", 0.5), chunk("c2", "", 0.5)]
    quoted = sentence("c1", "The most famous work is the Bayeux Tapestry.", unit(1, 0.2, 0), 0)
    after = sentence("c1", "Odo, the bishop, paid for it.", unit(1, 0.9, 0), 46)  # cosine 0.74
    elsewhere = sentence("c2", "Another tapestry hangs in the cathedral.", unit(1, 0.6, 0), 0)  # 0.86

    def ranked(question: Question) -> list[SentenceVector]:
        scored = score_sentences(question.search_text, QUERY, chunks, [quoted, after, elsewhere], follow_up=question)
        return [s.sentence for s in scored]

    asked = "Who commissioned it?"
    follow_up = Question(asked, f"{asked} Bayeux Tapestry", asked, follow_up="pointer",
                         leans_on="The most famous work is the Bayeux Tapestry. [1]")
    assert ranked(follow_up).index(after) < ranked(follow_up).index(elsewhere)
    nothing_quoted = Question(asked, f"{asked} Bayeux Tapestry", asked, follow_up="pointer")
    assert ranked(nothing_quoted).index(after) > ranked(nothing_quoted).index(elsewhere)


def test_a_follow_up_asking_for_a_duration_is_not_answered_by_its_own_quote_without_one():
    """"How long did it last?" after a quote of the talks: the words carried from that quote find it
    again, but it holds no duration; the sentence after it does, and is the answer. A quote that does
    hold what is asked stays first."""
    chunks = [chunk("c1", "", 0.5)]
    quoted = sentence("c1", "Delegations met for talks in Istanbul.", unit(1, 0.1, 0), 0)  # cosine 0.99
    after = sentence("c1", "The session ended after two hours.", unit(1, 1.2, 0), 40)  # 0.64

    def first(question: Question, sentences: list[SentenceVector]) -> SentenceVector:
        return score_sentences(question.search_text, QUERY, chunks, sentences, follow_up=question)[0].sentence

    asked = "How long did it last?"
    follow_up = Question(asked, f"{asked} Delegations Istanbul talks", asked, follow_up="pointer",
                         leans_on=f"{quoted.text} [1]")
    assert first(follow_up, [quoted, after]) == after
    nothing_quoted = Question(asked, f"{asked} Delegations Istanbul talks", asked, follow_up="pointer")
    assert first(nothing_quoted, [quoted, after]) == quoted
    with_duration = sentence("c1", "Delegations met for two hours of talks in Istanbul.", unit(1, 0.1, 0), 0)
    follow_up = Question(asked, f"{asked} Delegations Istanbul talks", asked, follow_up="pointer",
                         leans_on=f"{with_duration.text} [1]")
    assert first(follow_up, [with_duration, after]) == with_duration


@pytest.mark.parametrize("sentence, negative", [
    ("White House officials declined to confirm details.", True),
    ("The Kremlin initially remained silent on Friday's operation.", True),
    ("Moscow has yet to respond to proposals.", True),
    ("Directives do not generally give citizens the right to sue.", True),
    ("They didn't agree.", True),
    ("Germanic tribes expanded throughout northern Europe.", False),  # "no" inside a word is no negation
    ("Settlers ranged along the coast from Nova Scotia.", False),
    ("The European Commission is the main executive body.", False),
])
def test_what_counts_as_saying_what_is_not(sentence, negative):
    assert says_negative(sentence) is negative


def test_negative_questions():
    assert asks_negative("What was not the main executive body of the EU?")
    assert asks_negative("What is one thing cilia don't have?")
    assert not asks_negative("Who is the UN envoy? Where is Norway's nominee from?")
