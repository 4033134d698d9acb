"""Parsing articles into sections: the sample article, Markdown, HTML, paragraph-only text, bad bytes."""

from __future__ import annotations

import pytest

from index.chunking import MAX_CHUNKS, MAX_SENTENCES, SectionNodeParser
from index.parsing import ArticleError, decode_bytes, detect_format, is_boilerplate, parse_article
from index.sentences import MAX_SENTENCE_CHARS, split_sentences
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def sample():
    return parse_article(SAMPLE.read_text(encoding="utf-8"), "text", filename=SAMPLE.name)


def test_sample_sections_levels_and_lede(sample):
    raw_lines = [line for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert sample.title == "Ukraine Russia Prisoner Exchange"  # the first line is a lede, not a title
    assert sample.has_headings
    paths = [s.path for s in sample.sections]
    assert paths[0] == ()  # the lede
    assert sample.text[sample.sections[0].start :].startswith("CHERNIHIV REGION, Ukraine")
    assert paths[1:4] == [
        ("Context of the Istanbul Dialogue", "Background of the Talks"),
        ("Context of the Istanbul Dialogue", "Stalled Progress on a Ceasefire"),
        ("Operation of the Prisoner Exchange", "Location and Logistics"),
    ]
    assert all(len(p) == 2 for p in paths[1:])  # every heading pair is part > section
    assert len(paths) == 19 and len(set(paths)) == 19
    assert paths[-1] == ("Outlook and Next Steps", "A Fragile Gesture in a Protracted Conflict")
    # Every paragraph of the original is one section body, verbatim.
    bodies = [sample.text[s.start : s.end] for s in sample.sections]
    assert bodies == [line for line in raw_lines if line in bodies]
    assert len(bodies) == len([line for line in raw_lines if len(line) > 120])
    for s in sample.sections[1:]:
        assert sample.text[s.heading_start :].startswith(s.path[-1] + "\n\n")


def test_sample_promo_line_belongs_to_nothing(sample):
    assert "READ MORE" not in sample.text
    assert "Language of Respect" not in sample.text


def test_markdown_levels_lists_and_links():
    md = """# Storm hits the coast

Residents were warned on *Monday*.

## Damage

- Roofs torn off in [Brest](https://example.com/brest)
- Power cut for `12,000` homes

### Ports

The port of Roscoff closed.

Advertisement

## Recovery

Crews worked overnight.
"""
    a = parse_article(md, "markdown")
    assert a.title == "Storm hits the coast" and "Storm hits" not in a.text
    assert [s.path for s in a.sections] == [(), ("Damage",), ("Damage", "Ports"), ("Recovery",)]
    damage = a.sections[1]
    assert [a.text[s:e] for s, e in damage.paragraphs] == ["Roofs torn off in Brest", "Power cut for 12,000 homes"]
    assert "https://" not in a.text and "*" not in a.text and "Advertisement" not in a.text


def test_html_drops_chrome_and_uses_headings():
    html = """<!doctype html><html><head><title>Election night</title><style>p{}</style></head>
<body><header>Site header</header><nav><a href="/">Home</a></nav>
<article><h1>Election night</h1><p>Polls closed at <b>8 pm</b>.</p>
<h2>Results</h2><p>The incumbent won.</p><aside>Related: other stories</aside>
<h3>Turnout</h3><p>Turnout was 61%.</p><script>alert("x")</script>
<p>&lt;script&gt;alert(1)&lt;/script&gt; is shown as text.</p></article>
<footer>Copyright</footer></body></html>"""
    a = parse_article(html, "html")
    assert a.title == "Election night"
    assert [s.path for s in a.sections] == [(), ("Results",), ("Results", "Turnout")]
    for gone in ("Site header", "Home", "Related", "Copyright", 'alert("x")', "p{}"):
        assert gone not in a.text
    assert "Polls closed at 8 pm." in a.text
    assert "<script>alert(1)</script> is shown as text." in a.text


def test_paragraph_only_article():
    text = "Bees\n\nBees pollinate crops.\n\nHoney production rose.\n\nA new mite worries beekeepers.\n"
    a = parse_article(text, "text", filename="bees.txt")
    assert a.title == "Bees" and not a.has_headings
    assert len(a.sections) == 1 and a.sections[0].path == ()
    assert [a.text[s:e] for s, e in a.sections[0].paragraphs] == [
        "Bees pollinate crops.", "Honey production rose.", "A new mite worries beekeepers."]


def test_hard_wrapped_plain_text_with_blank_lines():
    text = """Budget approved

The council approved the budget on Tuesday after a long debate that ran
late into the evening, with several amendments rejected
by a narrow margin.

Schools
Spending on schools rises by four percent, the
largest increase in a decade.
"""
    a = parse_article(text, "text")
    assert a.title == "Budget approved"
    assert [s.path for s in a.sections] == [(), ("Schools",)]
    assert a.text[a.sections[0].start : a.sections[0].end].endswith("rejected by a narrow margin.")
    assert a.text[a.sections[1].start : a.sections[1].end] == (
        "Spending on schools rises by four percent, the largest increase in a decade.")



def test_a_line_break_inside_a_sentence_is_not_a_heading():
    """Text copied from the web breaks lines at subscripts ("O\\n2"): the short first half of such a
    sentence must not become a heading, or a paragraph-only article would turn into sections."""
    text = """Oxygen

Oxygen is a chemical element with symbol O and atomic number 8.

Singlet oxygen is a name given to several species of molecular O
2 in which all the electron spins are paired. It is more reactive.

Trioxygen (O
3) is usually known as ozone and is a very reactive allotrope of oxygen.
"""
    a = parse_article(text, "text")
    assert not a.has_headings
    assert [a.text[s:e] for s, e in a.sections[0].paragraphs][1:] == [
        "Singlet oxygen is a name given to several species of molecular O 2 in which all the electron spins "
        "are paired. It is more reactive.",
        "Trioxygen (O 3) is usually known as ozone and is a very reactive allotrope of oxygen.",
    ]

@pytest.mark.parametrize("line", ["READ MORE: The Language of Respect", "Read more: x", "Advertisement",
                                  "Sign up for our newsletter", "Related: Ten things", "ADVERTISEMENT"])
def test_boilerplate_lines(line):
    assert is_boilerplate(line)


@pytest.mark.parametrize("line", ["Related talks were held in Geneva.", "Readers sign up in droves.",
                                  "The advertisement campaign failed."])
def test_ordinary_sentences_are_not_boilerplate(line):
    assert not is_boilerplate(line)


def test_decode_bytes_errors():
    assert decode_bytes("\ufeffCafé".encode("utf-8")) == "Café"
    assert decode_bytes("Hello".encode("utf-16")) == "Hello"
    with pytest.raises(ArticleError, match="empty"):
        decode_bytes(b"  \n", "a.txt")
    with pytest.raises(ArticleError, match="binary"):
        decode_bytes(b"abc\x00def", "a.txt")
    with pytest.raises(ArticleError, match="not UTF-8"):
        decode_bytes("Café".encode("latin-1"), "a.txt")


def test_detect_format():
    assert detect_format("a.md", "") == "markdown"
    assert detect_format("a.HTM", "") == "html"
    assert detect_format(None, "<!doctype html><p>x</p>") == "html"
    assert detect_format(None, "# Title\n\nText") == "markdown"
    assert detect_format(None, "Plain words.") == "text"
    with pytest.raises(ArticleError, match=r"unsupported file type '\.docx'"):
        detect_format("a.docx", "")


def test_article_without_paragraphs_is_rejected():
    with pytest.raises(ArticleError, match="no text"):
        parse_article("# Only a heading\n", "markdown")
    with pytest.raises(ArticleError, match="unknown format"):
        parse_article("Text.", "pdf")


def test_sentences_keep_abbreviations_quotes_and_offsets():
    text = ("U.S. President Donald Trump declared the swap “just completed.” The U.S. State Department agreed. "
            "Dr. Smith left at 3.5 p.m. on Jan. 5 with J. K. Rowling. Was it over? Yes!\n\nNew paragraph")
    sentences = [text[s:e] for s, e in split_sentences(text)]
    assert sentences == [
        "U.S. President Donald Trump declared the swap “just completed.”",
        "The U.S. State Department agreed.",
        "Dr. Smith left at 3.5 p.m. on Jan. 5 with J. K. Rowling.",
        "Was it over?",
        "Yes!",
        "New paragraph",
    ]
    start = text.index("The U.S.")
    first, *_ = split_sentences(text, start, start + 40)
    assert text[first[0] : first[1]] == "The U.S. State Department agreed."


# --- bounded work: deep structures, long articles, characters no encoder takes ---------------------------


def test_blank_lines_holding_spaces_still_separate_paragraphs():
    """Several blank lines, some with spaces or tabs (as editors leave them), are one paragraph break:
    the hard-wrapped lines between them are one paragraph each, not a paragraph per line."""
    text = "The storm hit the coast on Monday\nand cut power to many homes.\n \n\t\nCrews worked overnight.\n"
    a = parse_article(text, "text")
    assert [a.text[s:e] for s, e in a.sections[0].paragraphs] == [
        "The storm hit the coast on Monday and cut power to many homes.", "Crews worked overnight."]


def test_a_run_of_plain_text_headings_nests_no_deeper_than_six():
    text = "The lede comes first.\n\n" + "\n\n".join(f"Heading Number {i}" for i in range(1, 11))
    a = parse_article(text + "\n\nThe body of the last section.\n", "text")
    assert a.sections[-1].path == (*(f"Heading Number {i}" for i in range(1, 6)), "Heading Number 10")


@pytest.mark.parametrize("depth", [1_000, 20_000])
def test_deeply_nested_html_is_refused_with_what_to_fix(depth):
    """1,000 nested <div> raised RecursionError (a 500); 100,000 kept a core busy for minutes."""
    with pytest.raises(ArticleError, match=r"nests elements more than 256 deep.*close its tags"):
        parse_article("<div>" * depth + "<p>Deep text.</p>", "html")


def test_html_nested_within_bounds_is_read_whole():
    html = "<article><p>Lede.</p>" + "<div><section>" * 100 + "<h2>Deep</h2><p>Deep <b>text</b>.</p>"
    a = parse_article(html + "</section></div>" * 100 + "<p>After.</p></article>", "html")
    assert [s.path for s in a.sections] == [(), ("Deep",)]
    assert a.text == "Lede.\n\nDeep\n\nDeep text.\n\nAfter."


def test_unclosed_paragraphs_list_items_and_cells_are_closed_as_browsers_do():
    """html.parser nests every unclosed <p> in the previous one (deeper and deeper, and their text ran
    together: "Para one.Para two.")."""
    a = parse_article("<p>Para one.<p>Para two.<ul><li>One<li>Two</ul><table><tr><td>A<td>B<tr><td>C</table>",
                      "html", title="T")
    assert [a.text[s:e] for s, e in a.sections[0].paragraphs] == ["Para one.", "Para two.", "One", "Two", "A", "B", "C"]
    many = parse_article("".join(f"<p>Paragraph {i}." for i in range(1_000)), "html", title="T")
    assert len(many.sections[0].paragraphs) == 1_000


@pytest.mark.parametrize("markup", ["<p>Text.</p><![foo bar]]>more", "<p>Text.</p><![ x", "<p>Text.</p><a href=\"x"])
def test_html_that_html_parser_rejects_or_leaves_open_is_text(markup):
    """`<![foo` made html.parser raise (BeautifulSoup's ParserRejectedMarkup: a 500)."""
    assert parse_article(markup, "html", title="T").text.startswith("Text.")


def test_html_unterminated_tags_are_read_as_text():
    # Each unterminated "<a " made html.parser scan to the end again: 100 KB of them took 128 s.
    a = parse_article("<p>Start.</p>" + "<a " * 3_000, "html", title="T")
    assert a.text.startswith("Start.")


def test_invalid_character_references_do_not_turn_the_page_into_text():
    a = parse_article("<p>a &#y; b</p><p>c &#q; d</p><p>tail</p>", "html", title="T")
    assert [a.text[s:e] for s, e in a.sections[0].paragraphs] == ["a &#y; b", "c &#q; d", "tail"]


@pytest.mark.parametrize(("markdown", "limit"), [
    ("> " * 100_000 + "Deep quote.", r"markup characters.*20,000"),
    ("- " * 100_000 + "Deep list.", r"markup characters.*20,000"),
    ("[" * 30_000 + "links", r"markup characters.*20,000"),
    ("Words of a line\n" * 20_000, r"20,001 lines.*10,000"),
])
def test_markdown_beyond_any_article_is_refused(markdown, limit):
    with pytest.raises(ArticleError, match=limit):
        parse_article(markdown, "markdown")


def test_html_beyond_any_article_is_refused():
    with pytest.raises(ArticleError, match=r"30,001 tags and character references.*30,000"):
        parse_article("<p>" + "&amp;" * 30_000, "html")


def test_too_many_lines_paragraphs_or_headings_are_refused():
    """50,000 short lines were 50,000 chunks to embed (and 57,000 paragraphs ran for > 300 s)."""
    with pytest.raises(ArticleError, match=r"50,000 paragraphs and headings .*a line.* more than the 3,000"):
        parse_article("A short line of text\n" * 50_000, "text")
    paragraphs = "\n\n".join(f"Paragraph number {i} is here." for i in range(2_001))
    with pytest.raises(ArticleError, match=r"2,001 paragraphs.* more than the 2,000"):
        parse_article(paragraphs, "text")
    assert len(parse_article(paragraphs.rsplit("\n\n", 1)[0], "text").sections[0].paragraphs) == 2_000
    with pytest.raises(ArticleError, match=r"1,001 headings, more than the 1,000 sections"):
        parse_article("Lede.\n\n" + "".join(f"## H{i}\n\nText {i}.\n\n" for i in range(1_001)), "markdown")


def test_nul_characters_are_refused_in_text_as_in_bytes():
    with pytest.raises(ArticleError) as from_bytes:
        decode_bytes(b"Some text\x00more", "a.txt")
    with pytest.raises(ArticleError) as from_text:
        parse_article("Some text\x00more", "text", filename="a.txt")
    assert str(from_text.value) == str(from_bytes.value)
    with pytest.raises(ArticleError, match=r"the article looks binary \(it contains NUL bytes\)"):
        parse_article("<p>Some\x00text</p>", "html")


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_lone_surrogates_are_refused(fmt):
    """JSON may carry "\\ud800" alone; no UTF-8 encoder takes it, so Chroma and the embedder failed later."""
    with pytest.raises(ArticleError, match=r"lone surrogate \(U\+D83D\) at character 12"):
        parse_article("Hello world \ud83d and more.", fmt)


def test_a_sentence_longer_than_the_limit_is_cut_at_spaces():
    text = "word " * 1_000 + "end. Next sentence."
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans][-1] == "Next sentence."
    assert all(e - s <= MAX_SENTENCE_CHARS for s, e in spans)
    assert all(text[s:e].split() == text[s:e].split(" ") for s, e in spans)  # no word is cut
    assert " ".join(text[s:e] for s, e in spans) == text.strip()
    unbroken = "x" * 2_500
    assert split_sentences(unbroken) == [(0, 1_000), (1_000, 2_000), (2_000, 2_500)]


def test_a_long_run_of_periods_is_read_once():
    """Each period of a run was a new start for the sentence-end pattern, which then took the rest of the
    run: quadratic (150 KB of periods did not finish in a minute)."""
    text = "Wait... What?! " + "." * 20_000 + " x. Then it ended."
    spans = [text[s:e] for s, e in split_sentences(text)]
    assert spans[:2] == ["Wait...", "What?!"]
    assert spans[-1] == "Then it ended."
    assert all(len(span) <= MAX_SENTENCE_CHARS for span in spans)


def words_and_specials(texts: list[str]) -> list[int]:
    return [len(text.split()) + 2 for text in texts]


def test_chunking_refuses_more_sentences_or_chunks_than_an_article_has():
    """Every chunk and sentence is embedded (~50 a second): a text of 5 MB was minutes of work."""
    parser = SectionNodeParser(count_tokens=words_and_specials, max_tokens=16)
    sentences = parse_article("Long\n\n" + "One more short sentence. " * (MAX_SENTENCES + 1), "text")
    with pytest.raises(ArticleError, match=r"more than the 20,000 sentences"):
        parser.chunk(sentences)
    # Sentences of 10 words: one chunk each in a window of 16 tokens.
    ten = "Ten words make up this sentence about the harbour today. "
    with pytest.raises(ArticleError, match=r"more than the 2,000 passages"):
        parser.chunk(parse_article("Long\n\n" + ten * (MAX_CHUNKS + 1), "text"))
    fits = parse_article("Long\n\n" + ten * MAX_CHUNKS, "text")
    assert len(parser.chunk(fits)) == MAX_CHUNKS


def test_chunks_of_a_line_without_punctuation_fit_the_window():
    """A line without a sentence end was one "sentence" (5 MB: 9 s to count its tokens), and one chunk
    the model truncated to its first 256 tokens."""
    article = parse_article("word " * 20_000, "text", title="T")
    chunks = SectionNodeParser(count_tokens=words_and_specials).chunk(article)
    assert all(len(c.text) <= 2 * MAX_SENTENCE_CHARS for c in chunks)
    assert " ".join(c.text for c in chunks) == article.text


def test_a_heading_longer_than_a_line_is_a_paragraph():
    """Every chunk of a section embeds its heading again: a heading of 1 MB was 1 MB a chunk."""
    long = "word " * 200
    a = parse_article(f"Lede.\n\n## {long}\n\nBody.\n\n## Real heading\n\nMore.", "markdown")
    assert [s.path for s in a.sections] == [(), ("Real heading",)]
    assert a.text.startswith("Lede.\n\n" + long.strip() + "\n\nBody.")
    html = parse_article(f"<title>{long}</title><p>Lede.</p><h2>{long}</h2><p>Body.</p>", "html")
    assert not html.has_headings and html.title == "Lede. word word word word word word word…"
