"""Citation markers from an LLM: only markers naming a passage that was sent survive, and an
answer is cut into sentences with the markers that follow them."""

from server.services.llm_answer import clean_markers
from server.services.support import claims


def test_invalid_markers_are_dropped_and_lists_split():
    text, cited = clean_markers("Kyiv agreed [1]. Moscow refused [7]. Both sides met [2, 9, 3].", {1, 2, 3})
    assert text == "Kyiv agreed [1]. Moscow refused. Both sides met [2][3]."
    assert cited == {1, 2, 3}


def test_a_dropped_marker_takes_a_space_with_it_but_not_a_line_break():
    assert clean_markers("peace.\n\n[6] (Ukraine", {1, 2, 3, 4, 5})[0] == "peace.\n\n (Ukraine"
    assert clean_markers("peace [6].", {1})[0] == "peace."


def test_markers_after_a_sentence_belong_to_it():
    cut = claims("The swap began [1]. Buses came. [2][3] Then\n\nmore [4]")
    assert [(c.text, c.cited) for c in cut] == [
        ("The swap began [1].", (1,)), ("Buses came. [2][3]", (2, 3)), ("Then", ()), ("more [4]", (4,))]
    assert [c.gap for c in cut] == ["", " ", " ", "\n\n"]
