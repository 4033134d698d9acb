"""Citation markers from an LLM: only markers naming a passage that was sent survive, also when
they arrive split across streamed pieces."""

from server.services.llm_answer import MarkerFilter, clean_markers


def test_invalid_markers_are_dropped_and_lists_split():
    text, cited = clean_markers("Kyiv agreed [1]. Moscow refused [7]. Both sides met [2, 9, 3].", {1, 2, 3})
    assert text == "Kyiv agreed [1]. Moscow refused. Both sides met [2][3]."
    assert cited == {1, 2, 3}


def test_stream_filter_handles_markers_split_across_pieces():
    pieces = ["The swap began", " [", "1", "] at the border", " [1", "2]", ". Buses came [", "2]."]
    f = MarkerFilter({1, 2})
    out = "".join(f.feed(p) for p in pieces) + f.flush()
    assert out == "The swap began [1] at the border. Buses came [2]."
