"""Which questions lean on the conversation, and what a follow-up carries from it (offline)."""

from __future__ import annotations

import pytest

from server.services.followup import follow_up_kind, resolve, rewrite_problem, search_text

ZELENSKYY = [("user", "How did Zelenskyy describe the swap?"),
             ("assistant", "Zelenskyy called the swap “a step toward peace” [1]")]


@pytest.mark.parametrize("question", [
    "How many prisoners were exchanged?", "Who was Rollo?", "Where is Normandy?", "Why did the talks stall?",
    "Are there plans for more talks?", "What did the report say that Turkey offered?", "When did the swap happen?",
])
def test_a_question_that_names_what_it_asks_about_stands_alone(question):
    assert follow_up_kind(question) is None
    # Answered exactly as without the conversation: same search, same question, no carried words.
    resolved = resolve(question, ZELENSKYY, llm=None)
    assert (resolved.search_text, resolved.follow_up) == (question, None)


@pytest.mark.parametrize("question, kind", [
    ("What did he say next?", "pointer"), ("Did his officials confirm it?", "pointer"),
    ("Where did they meet?", "pointer"), ("Who rejected it?", "pointer"), ("And the Kremlin?", "ellipsis"),
    ("What about Turkey?", "ellipsis"), ("And how did Russia respond?", "ellipsis"), ("Why?", "bare"),
    ("When was that?", "bare"), ("How many?", "bare"),
])
def test_follow_ups_say_that_they_lean_on_the_conversation(question, kind):
    assert follow_up_kind(question) == kind
    assert resolve(question, ZELENSKYY, llm=None).follow_up
    assert resolve(question, [], llm=None).search_text == question  # nothing to lean on: asked as is


def test_a_pronoun_carries_the_names_and_an_ellipsis_the_predicate():
    pointer = search_text("What did he say next?", ZELENSKYY)
    assert "Zelenskyy" in pointer and "swap" not in pointer
    ellipsis = search_text("And the Kremlin?", ZELENSKYY)
    assert "describe" in ellipsis and "swap" in ellipsis and "Zelenskyy" not in ellipsis  # the new name replaces it
    bare = search_text("Why?", ZELENSKYY)
    assert "Zelenskyy" in bare and "swap" in bare


def test_an_ellipsis_without_a_name_of_its_own_keeps_the_subject():
    """"And the metropolitan area?" after a question about Warsaw is still about Warsaw."""
    history = [("user", "How many residents live in Warsaw's city proper?"),
               ("assistant", "Its population is estimated at 1.740 million residents. [1]")]
    carried = search_text("And the metropolitan area?", history)
    assert "Warsaw" in carried or "warsaw" in carried
    assert "residents" in carried


def test_a_follow_up_knows_the_answer_it_leans_on():
    assert resolve("And the Kremlin?", ZELENSKYY, llm=None).leans_on == ZELENSKYY[1][1]
    assert resolve("Who was Rollo?", ZELENSKYY, llm=None).leans_on == ""  # stands alone


def test_a_chain_of_follow_ups_keeps_its_subject():
    history = [*ZELENSKYY, ("user", "And the Kremlin?"), ("assistant", "Peskov said the exchange went ahead [2]")]
    chained = search_text("Did it confirm the numbers?", history)
    assert "Kremlin" in chained and "Zelenskyy" not in chained


HISTORY = [("user", "What did Zelenskyy call the prisoner swap?"),
           ("assistant", "He welcomed the swap as a “first step in restoring human dignity”. [1]")]


@pytest.mark.parametrize("rewrite, problem", [
    ("Whom did Zelenskyy appeal to?", None),
    ("The Kremlin spokesman mentioned in the article is Vladimir Putin.", "statement"),
    ("Zelenskyy appealed to Western partners.", "statement"),
    ("Whom did Zelenskyy appeal to? And why?", "statement"),
    ("Whom did Vladimir Putin appeal to?", "Vladimir Putin"),
    ("What did Zelenskyy say about the weather?", "changed the question"),
])
def test_an_llm_rewrite_must_be_one_question_about_the_conversation(rewrite, problem):
    found = rewrite_problem(rewrite, "Whom did he appeal to?", HISTORY)
    assert found is None if problem is None else (found is not None and problem in found), found
