"""Parsing articles into sections: the sample article, Markdown, HTML, paragraph-only text, bad bytes."""

from __future__ import annotations

import pytest

from index.parsing import ArticleError, decode_bytes, detect_format, is_boilerplate, parse_article
from index.sentences import split_sentences
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
