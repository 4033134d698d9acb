"""The refusal rules that read words (server/services/confidence.py), on sentences where a reader can
tell the answer from its opposite. The API tests check the same rules end to end on the sample."""

from __future__ import annotations

import pytest

from server.services.confidence import opposite


@pytest.mark.parametrize("question, sentence, pair", [
    ("What is one of the last responses of the immune system to infection?",
     "Inflammation is one of the first responses of the immune system to infection.", ("last", "first")),
    ("What is the least important natural region of the Netherlands?",
     "The Rhine-Meuse Delta, the most important natural region of the Netherlands, begins near Millingen.",
     ("least", "most")),
    ("What area remained uninhabited for thousands of years?",
     "The area of the modern city has been inhabited for thousands of years.", ("uninhabited", "inhabited")),
    ("What happens when B cells are deactivated?", "When B cells are activated they replicate.",
     ("deactivated", "activated")),
    ("It is always possible to model forces as being due to what?",
     "For certain scenarios, it is impossible to model forces as being due to potentials.", ("possible", "impossible")),
    ("Newton's Fifth Law is the result of applying symmetry to what?",
     "Newton's Third Law is a result of applying symmetry to situations.", ("fifth", "third")),
])
def test_a_sentence_saying_the_opposite_of_the_question(question, sentence, pair):
    assert opposite(question, sentence) == pair


@pytest.mark.parametrize("question, sentence", [
    # the same word, or no opposite at all
    ("Where was the first face-to-face meeting held?", "It marked the first face-to-face meeting since 2022."),
    ("What was the second-largest city?", "Los Angeles is the largest city and San Diego the second largest."),
    # idioms of time and quantity are not order or degree
    ("How many prisoners did each side release in the first swap?",
     "The swap was agreed in principle during the brief Istanbul talks last week."),
    ("Which cydippid is used as a description in most textbooks?",
     "At least two textbooks base their descriptions of ctenophores on the cydippid Pleurobrachia."),
    # a negated word says what its prefixed form says; a prefix-like start is no prefix
    ("Why was the plan unsuccessful?", "The plan was not successful because funds ran out."),
    ("What is the information about?", "The rock formation is old."),
    ("What insight did he have?", "It came into sight."),
    ("Who designed the palace?", "The treaty was signed in the palace."),
    ("What was discovered in the basin?", "The basin is covered by rainforest."),
    ("What improved after the war?", "The theory proved right after the war."),
])
def test_no_opposite(question, sentence):
    assert opposite(question, sentence) is None
