"""Properties of parsing and chunking for any input (hypothesis), and parsing time linear in the input.

Whatever the text, in each format, `parse_article` either refuses it with an ArticleError or returns
sections whose offsets slice its stored text exactly, and the chunks of SectionNodeParser are slices of
that text holding their sentences. The runs are derandomized (the same examples on every run, in CI
too) and bounded: ~200 examples a test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from index.chunking import SectionNodeParser
from index.parsing import FORMATS, ArticleError, ParsedArticle, parse_article
from tests.conftest import ROOT

pytestmark = pytest.mark.filterwarnings(
    "ignore::bs4.MarkupResemblesLocatorWarning", "ignore::bs4.XMLParsedAsHTMLWarning"
)

PROPERTIES = settings(
    max_examples=200,
    deadline=5_000,  # ms; an example takes a few
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Pieces an article is made of, in every format, and the markup of the others: headings, paragraphs,
# promo lines, sentence ends, abbreviations, Markdown markers, HTML tags, entities, line breaks.
PIECES = [
    "Heading One", "Another Title", "Part Two", "Trioxygen (O", "2 in which", "READ MORE: elsewhere",
    "Advertisement", "The council met on Tuesday.", "U.S. President Donald Trump spoke.", "Dr. Smith left at 3 p.m.",
    "Was it over? Yes!", "“Quoted,” he said.", "e.g.", "...", "!?", "a", "word", "É", "日本語", "😀",
    "# ", "## ", "###### ", "> ", "- ", "* ", "1. ", "```", "    ", "---", "===", "[link](http://x)", "![img](y)",
    "*em*", "_u_", "`code`", "<", ">", "&", "&amp;", "&#", "&#65;", "&#x;", "<p>", "</p>", "<h1>", "</h1>", "<h3>",
    "</h3>", "<div>", "</div>", "<li>", "<ul>", "<td>", "<tr>", "<br>", "<br/>", "<b>", "</b>", "<title>",
    "</title>", "<script>", "</script>", "<style>", "<nav>", "<aside>", "<!--", "-->", "<![CDATA[", "]]>", "<![x",
    "<?pi", "<!doctype html>", '<a href="', "'", '"', "\n", "\n\n", "\r\n", "\r", " ", "\t", "\x0b", "\x0c",
    "\x1c", "\x85", "\u2028", "\u00a0", "\ufeff", "\x7f", "\x01",
]
piece = st.sampled_from(PIECES)
fragments = st.lists(st.one_of(piece, piece, st.text(max_size=20)), max_size=60).map("".join)
# A NUL or a lone surrogate (refused) somewhere in a document.
refused = st.builds(lambda text, char, at: text[:at] + char + text[at:], fragments, st.sampled_from(["\x00", "\udc80"]),
                    st.integers(0, 1_000))
# Any characters at all, control characters and lone surrogates included.
any_text = st.text(st.characters(codec=None, categories=None), max_size=300)
long_lines = st.builds(lambda unit, n, tail: unit * n + tail,
                       st.sampled_from(["word ", "a", ". ", "A. ", "(", "Mr. X ", "!", "<b>", "# ", "> ", "[", "x\n"]),
                       st.integers(50, 3_000), st.sampled_from(["", "\n\nEnd.", " Last sentence."]))
only_headings = st.lists(st.sampled_from(["Heading One", "Another Title", "Part Two", "# Title", "<h2>T</h2>"]),
                         min_size=1, max_size=30).flatmap(
    lambda hs: st.sampled_from(["\n", "\n\n"]).map(lambda sep: sep.join(hs)))
inputs = st.one_of(fragments, any_text, long_lines, only_headings, refused)


def count_tokens(texts: list[str]) -> list[int]:
    return [len(text.split()) + 2 for text in texts]


def check_offsets(article: ParsedArticle) -> None:
    text = article.text
    previous_end = 0
    for section in article.sections:
        assert previous_end <= section.heading_start <= section.start < section.end <= len(text)
        if section.path:
            assert section.heading_start < section.start
            assert text[section.heading_start :].startswith(section.path[-1])
            assert all(heading and heading == heading.strip() for heading in section.path)
        else:
            assert section.heading_start == section.start
        assert section.paragraphs[0][0] == section.start and section.paragraphs[-1][1] == section.end
        paragraph_end = section.start
        for start, end in section.paragraphs:
            assert paragraph_end <= start < end <= section.end
            assert "\n" not in text[start:end] and text[start:end] == text[start:end].strip()
            paragraph_end = end
        previous_end = section.end
    assert article.title and "\n" not in article.title


def check_chunks(article: ParsedArticle) -> None:
    try:
        chunks = SectionNodeParser(count_tokens=count_tokens, max_tokens=24).chunk(article)
    except ArticleError:
        return
    spans = [(s.start, s.end) for s in article.sections]
    previous_end = 0
    for chunk in chunks:
        assert chunk.text == article.text[chunk.start : chunk.end] and chunk.text
        assert previous_end <= chunk.start
        assert any(start <= chunk.start and chunk.end <= end for start, end in spans)
        assert chunk.sentences[0][0] == chunk.start and chunk.sentences[-1][1] == chunk.end
        sentence_end = chunk.start
        for start, end in chunk.sentences:
            assert sentence_end <= start < end <= chunk.end
            sentence_end = end
        previous_end = chunk.end


def parsed_or_refused(raw: str, fmt: str) -> ParsedArticle | None:
    try:
        article = parse_article(raw, fmt)
    except ArticleError as exc:
        assert str(exc)  # says what to fix
        event(f"refused: {str(exc).split(':')[0]}")
        return None
    event(f"parsed, {'with' if article.has_headings else 'without'} headings")
    return article


@pytest.mark.parametrize("fmt", FORMATS)
@PROPERTIES
@given(raw=inputs)
def test_any_input_is_refused_or_sliced_exactly(fmt, raw):
    if (article := parsed_or_refused(raw, fmt)) is not None:
        check_offsets(article)
        check_chunks(article)


@pytest.mark.parametrize("fmt", FORMATS)
@PROPERTIES
@given(paragraphs=st.lists(fragments, min_size=1, max_size=12), blank=st.sampled_from(["\n\n", "\n \n", "\r\n\r\n"]))
def test_articles_of_many_blocks_are_refused_or_sliced_exactly(fmt, paragraphs, blank):
    if (article := parsed_or_refused(blank.join(paragraphs), fmt)) is not None:
        check_offsets(article)
        check_chunks(article)


# --- time linear in the input -----------------------------------------------------------------------------

# Shapes that were quadratic or worse, each made `size` characters long, kept within the limits so that
# the whole input is read (`n` is the number of repeated units).
SHAPES = {
    "text, one line": ("text", "'word ' * (size // 5)"),
    "text, periods": ("text", "'.' * size"),
    "text, long lines": ("text", "('x ' * 1_000 + '\\n') * (size // 2_001)"),
    "markdown, prose lines": ("markdown", "('Some words of prose here. ' * 16 + '\\n') * (size // 433)"),
    "html, paragraphs": ("html", "'<div>' * 200 + ('<p>' + 'some words ' * 54 + '</p>\\n') * (size // 602)"),
    "html, unterminated": ("html", "'<p>x</p>' + 'words ' * (size // 7) + '<a ' * (size // 400)"),
}
LINEAR_SCRIPT = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
from index.chunking import SectionNodeParser
from index.parsing import ArticleError, parse_article
parser = SectionNodeParser(count_tokens=lambda ts: [len(t.split()) + 2 for t in ts])
def work(raw, fmt):
    try:
        parser.chunk(parse_article(raw, fmt))
    except ArticleError:
        pass
fmt, expression = sys.argv[1], sys.argv[2]
work(eval(expression, {"size": 1_000}), fmt)  # imports, compiled patterns
times = []
for size in (1_000_000, 4_000_000):
    raw = eval(expression, {"size": size})
    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        work(raw, fmt)
        best = min(best, time.perf_counter() - started)
    times.append(best)
print(json.dumps(times))
"""


@pytest.mark.parametrize("shape", SHAPES)
def test_parsing_and_chunking_take_time_linear_in_the_input(shape):
    """4 MB takes less than 8 times as long as 1 MB (a quadratic step takes 16 times as long), plus
    half a second of slack for a busy machine; in a child process, killed if it runs away (100 KB
    of one shape took minutes before)."""
    fmt, expression = SHAPES[shape]
    try:
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(LINEAR_SCRIPT), fmt, expression], cwd=ROOT,
                              capture_output=True, text=True, timeout=120, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{shape}: parsing and chunking 1 MB and 4 MB twice took over 2 minutes")
    one, four = json.loads(done.stdout)
    assert four < 8 * one + 0.5, f"{shape}: 1 MB in {one:.2f} s, 4 MB in {four:.2f} s"


# Long texts are worked on a slice at a time so that no single call holds the GIL for long (the
# server answers other requests meanwhile); with tiny slices, every boundary case is met, and the
# result must be what one call over the whole text gives.
@PROPERTIES
@given(text=fragments)
def test_whitespace_is_collapsed_the_same_a_slice_at_a_time(text):
    from index import parsing

    with patch.object(parsing, "_CLEAN_SLICE_CHARS", 3):
        assert parsing._clean(text) == re.sub(r"\s+", " ", text).strip()


@PROPERTIES
@given(text=fragments)
def test_sentences_are_found_the_same_a_window_at_a_time(text):
    from index import sentences

    whole = sentences.split_sentences(text)
    with patch.object(sentences, "_WINDOW_CHARS", 2):
        assert sentences.split_sentences(text) == whole
