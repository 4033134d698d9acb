"""Articles (plain text, Markdown, HTML) → a canonical stored text with sections and offsets.

Every format is reduced to a list of blocks (headings with a level, and paragraphs). The stored text
is those blocks joined by blank lines, without the title and without promo lines ("READ MORE: …"),
so each section's body is one contiguous span of it and a citation can be checked by its offsets.

Plain-text headings are short lines without terminal punctuation. A heading directly followed by
another is a part heading (level 1) over a section heading (level 2). In a document that uses two
levels, a lone heading is a section of the part that is open (so the sample article's closing "A
Fragile Gesture in a Protracted Conflict" becomes a section of "Outlook and Next Steps").

Parsing takes time linear in the input, whatever its shape (one line of 5 MB, 50,000 lines, 100,000
nested tags), and the work per article is bounded: an input larger or more deeply structured than
any article is refused with an ArticleError that names the limit (see "Limits" below), rather than
kept busy for minutes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from itertools import islice, pairwise
from pathlib import Path
from typing import Any

from index.metadata import ArticleMeta

FORMATS = ("text", "markdown", "html")
SUFFIX_FORMATS = {".txt": "text", ".text": "text", ".md": "markdown", ".markdown": "markdown",
                  ".html": "html", ".htm": "html"}

BOILERPLATE = re.compile(
    r"^\s*(?:(?:read more|also read|see also|related|more from|watch|listen)\s*:"
    r"|read more\b|advertisement\s*$|sponsored\s*$|sign up for\b|subscribe to\b|click here\b)",
    re.IGNORECASE,
)
_TERMINAL = ".!?:;,…"
_CLOSING_QUOTES = "\"'”’»"
# Longest plain-text heading line: headings are short; a longer line is a paragraph even without
# terminal punctuation.
_MAX_HEADING_CHARS = 100
_MAX_HEADING_WORDS = 14
# In a multi-line block, a heading line is clearly shorter than the longest line of the block (its body's
# wrapped lines are long); a hard-wrapped paragraph's first line is not.
_HEADING_LENGTH_RATIO = 0.6
# Heading lines at the top of a block: a part heading and a section heading at most.
_MAX_LEADING_HEADINGS = 2
# Characters of a suffix-less file lower-cased to sniff for HTML: its first tag decides, so a short
# prefix is enough and a large file is not copied.
_SNIFF_CHARS = 500
# Words of the text taken as the title when there is no other.
_TITLE_WORDS = 8
# Between the blocks of the stored text.
_BLOCK_SEPARATOR = "\n\n"
# Text is cleaned this many characters at a time: one call over a 5 MB line holds the GIL for
# ~150 ms, and the server's other requests (/healthz among them) wait for it; and a list of its
# million words made the garbage collector's next full pass take ~110 ms.
_CLEAN_SLICE_CHARS = 65_536
# Heading levels: h1–h6, and a run of plain-text headings goes no deeper.
_MAX_LEVEL = 6

# --- Limits ---------------------------------------------------------------------------------------------
# Far above any news article (a long feature has < 50 headings and < 200 paragraphs), far below what
# keeps the server busy: every paragraph becomes at least one chunk to embed, at ~50 passages/s.
# Headings: each opens a section.
MAX_SECTIONS = 1_000
# Paragraphs (in plain text, a line, or the lines between two blank lines), with or without headings.
MAX_PARAGRAPHS = 2_000
# A longer Markdown or HTML heading is read as a paragraph, and a longer HTML <title> is ignored: a
# heading is a line (a plain-text one at most _MAX_HEADING_CHARS), and each chunk of its section embeds
# it again with its own text.
MAX_HEADING_CHARS = 500
# markdown-it-py is pure Python: measured on a 2-core machine, it costs up to ~100 µs a line (a line
# inside 20 nested block quotes) and ~20 µs a markup character ("[" starts a link), against ~0.01 µs
# a character of prose. These two bounds keep a Markdown article under ~1.5 s whatever its shape; a
# long feature has < 2,000 lines (hard-wrapped) and < 5,000 markup characters.
MAX_MARKDOWN_LINES = 10_000
MAX_MARKDOWN_MARKUP = 20_000
_MARKDOWN_MARKUP_CHARS = "!#$%&*+-:<=>@[\\]^_`{}~"  # where markdown-it's inline parser stops to look
# BeautifulSoup over html.parser takes ~25 µs a tag (measured on a 2-core machine): "<" and "&"
# (tags, character references) are counted, whose work dominates. A saved news page has a few
# thousand elements (two "<" each, with its end tag); an article's text alone, far fewer.
MAX_HTML_MARKUP = 30_000
# Elements open inside one another. BeautifulSoup relinks the whole chain of open elements for each
# string that follows an element (work ∝ depth: 6,000 levels took 1 s, 100,000 minutes); pages nest
# a few dozen deep (unclosed <p>, <li> and <td> are closed as browsers close them, see _HTML_IMPLIED).
MAX_HTML_DEPTH = 256


class ArticleError(ValueError):
    """Bad input article; the message says what to fix (shown to users)."""


@dataclass(frozen=True)
class Section:
    path: tuple[str, ...]  # heading path; () for the lede before the first heading
    heading_start: int  # offset of the innermost heading line; == start when path == ()
    start: int  # body span [start, end) in ParsedArticle.text, heading excluded
    end: int
    paragraphs: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class ParsedArticle:
    title: str
    text: str
    sections: tuple[Section, ...]
    format: str
    has_headings: bool
    # What an HTML page says of itself (URL, publication, author, date).
    meta: ArticleMeta = field(default_factory=ArticleMeta)


@dataclass
class _Block:
    text: str
    level: int = 0  # 0: paragraph; 1–6: heading level


# --- input checks ------------------------------------------------------------------------------------


def _binary_error(name: str) -> ArticleError:
    return ArticleError(f"{name} looks binary (it contains NUL bytes): upload a .txt, .md or .html text file")


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _check_characters(raw: str, name: str = "the article") -> None:
    """ArticleError for a NUL character (as `decode_bytes` for bytes) or a lone surrogate, which no
    UTF-8 encoder takes (the store and the embedder would fail on it later)."""
    if "\x00" in raw:
        raise _binary_error(name)
    if match := _SURROGATE.search(raw):
        raise ArticleError(
            f"{name} is not valid Unicode text: it contains a lone surrogate (U+{ord(match.group()):04X}) "
            f"at character {match.start()}, such as half of an emoji cut by a program: send it as UTF-8"
        )


def decode_bytes(data: bytes, name: str = "input") -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise ArticleError(f"{name} is not valid UTF-16 text") from None
    else:
        if b"\x00" in data:
            raise _binary_error(name)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ArticleError(
                f"{name} is not UTF-8 text (invalid byte at position {exc.start}): save it as UTF-8"
            ) from None
    if not text.strip():
        raise ArticleError(f"{name} is empty")
    return text


def format_of_file(filename: str) -> str:
    """The format a file's suffix names; ArticleError for any other suffix, or none."""
    suffix = Path(filename).suffix.lower()
    if suffix not in SUFFIX_FORMATS:
        raise ArticleError(f"unsupported file type {suffix or '(none)'!r}: use .txt, .md or .html")
    return SUFFIX_FORMATS[suffix]


def detect_format(filename: str | None, raw: str) -> str:
    """The format of a file by its suffix, or of suffix-less text by its first characters."""
    if filename and Path(filename).suffix:
        return format_of_file(filename)
    head = raw.lstrip()[:_SNIFF_CHARS].lower()
    if re.match(r"<(!doctype|html|head|body|article|p|h[1-6]|div)\b", head):
        return "html"
    if re.search(r"^#{1,6} \S", raw, re.MULTILINE):
        return "markdown"
    return "text"


def is_boilerplate(line: str) -> bool:
    return bool(BOILERPLATE.match(line))


def title_from_filename(filename: str) -> str:
    stem = re.sub(r"[-_]+", " ", Path(filename).stem).strip()
    return " ".join(w[:1].upper() + w[1:] for w in stem.split())


def _clean(text: str) -> str:
    """Whitespace runs → one space, stripped; a slice at a time (see _CLEAN_SLICE_CHARS)."""
    out: list[str] = []
    for i in range(0, len(text), _CLEAN_SLICE_CHARS):
        if piece := " ".join(text[i : i + _CLEAN_SLICE_CHARS].split()):
            if out:  # no space where the slice cut a word in two
                out.append("" if not text[i - 1].isspace() and not text[i].isspace() else " ")
            out.append(piece)
    return "".join(out)


def _heading_like(line: str) -> bool:
    line = line.strip()
    if not line or len(line) > _MAX_HEADING_CHARS or len(line.split()) > _MAX_HEADING_WORDS or is_boilerplate(line):
        return False
    if not (line[0].isupper() or line[0].isdigit()):
        return False
    if line[-1] in _TERMINAL or (line[-1] in _CLOSING_QUOTES and len(line) > 1 and line[-2] in _TERMINAL):
        return False
    if any(line.count(a) != line.count(b) for a, b in ("()", "[]")):
        return False  # "Trioxygen (O" is a sentence cut by a line break, not a heading
    return any(c.isalpha() for c in line)


def _starts_like_a_line(line: str) -> bool:
    """Whether `line` can follow a heading: a wrapped sentence goes on in lower case or with a
    digit ("molecular O" / "2 in which all the electron spins are paired")."""
    first = line.lstrip()[:1]
    return bool(first) and (first.isupper() or first in "\"'“‘(")


# --- per-format block extraction ----------------------------------------------------------------------


def _uses_blank_lines(lines: list[str]) -> bool:
    """Whether a blank line stands between two lines of text (stripped lines; "" is blank)."""
    text_before = gap = False
    for line in lines:
        if line:
            if gap:
                return True
            text_before = True
        else:
            gap = text_before
    return False


def _text_blocks(raw: str) -> tuple[str | None, list[_Block]]:
    lines = [line.strip() for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    chunks: list[list[str]] = []
    if _uses_blank_lines(lines):
        current: list[str] = []
        for line in lines:
            if line:
                current.append(line)
            elif current:
                chunks.append(current)
                current = []
        if current:
            chunks.append(current)
    else:
        chunks = [[line] for line in lines if line]
    if len(chunks) > MAX_PARAGRAPHS + MAX_SECTIONS:  # each is a paragraph or a heading: refused before reading them
        raise ArticleError(
            f"the article is too long: it has {len(chunks):,} paragraphs and headings (in plain text, a line, or the "
            f"lines between two blank lines), more than the {MAX_PARAGRAPHS + MAX_SECTIONS:,} an article can have"
        )

    # Each chunk is a heading or a paragraph; a multi-line chunk may start with heading lines
    # ("Part\nSection\nBody…") or be one hard-wrapped paragraph.
    items: list[tuple[str, bool]] = []  # (text, heading-like)
    for chunk in chunks:
        chunk = [line for line in chunk if not is_boilerplate(line)]
        if not chunk:
            continue
        if len(chunk) == 1:
            items.append((chunk[0], _heading_like(chunk[0])))
            continue
        longest = max(len(line) for line in chunk)
        heads = 0
        while (heads < min(_MAX_LEADING_HEADINGS, len(chunk) - 1) and _heading_like(chunk[heads])
               and len(chunk[heads]) < _HEADING_LENGTH_RATIO * longest and _starts_like_a_line(chunk[heads + 1])):
            heads += 1
        items += [(line, True) for line in chunk[:heads]]
        items.append((" ".join(chunk[heads:]), False))

    # A heading-like last line (a byline, a sign-off) heads nothing: it is a paragraph.
    if items and items[-1][1]:
        items[-1] = (items[-1][0], False)
    title = None
    if len(items) > 1 and items[0][1]:
        title, items = items[0][0], items[1:]

    two_levels = any(a[1] and b[1] for a, b in pairwise(items))
    blocks: list[_Block] = []
    part_open = False
    i = 0
    while i < len(items):
        text, heading = items[i]
        if not heading:
            blocks.append(_Block(_clean(text)))
            i += 1
            continue
        run = [text]
        while i + len(run) < len(items) and items[i + len(run)][1]:
            run.append(items[i + len(run)][0])
        if len(run) > 1:  # part heading, then section heading(s)
            blocks += [_Block(_clean(h), min(level, _MAX_LEVEL)) for level, h in enumerate(run, start=1)]
            part_open = True
        else:
            blocks.append(_Block(_clean(text), 2 if two_levels and part_open else 1))
            part_open = part_open or not two_levels
        i += len(run)
    return title, blocks


def _markdown_blocks(raw: str) -> tuple[str | None, list[_Block]]:
    from markdown_it import MarkdownIt

    lines = raw.count("\n") + raw.count("\r") - raw.count("\r\n") + 1
    if lines > MAX_MARKDOWN_LINES:
        raise ArticleError(
            f"the article is too long: its Markdown has {lines:,} lines, more than the {MAX_MARKDOWN_LINES:,} "
            "an article can have"
        )
    markup = sum(map(raw.count, _MARKDOWN_MARKUP_CHARS))
    if markup > MAX_MARKDOWN_MARKUP:
        raise ArticleError(
            f"the article has too much markup: its Markdown has {markup:,} markup characters (such as "
            f"# * _ [ ] ` < > - :), more than the {MAX_MARKDOWN_MARKUP:,} an article can have; send it as plain text"
        )
    # The CommonMark preset nests blocks at most 20 deep (maxNesting): no recursion to fear.
    tokens = MarkdownIt("commonmark").parse(raw)
    blocks: list[_Block] = []
    heading_level = 0
    for token in tokens:
        if token.type == "heading_open":
            heading_level = int(token.tag[1])
        elif token.type == "heading_close":
            heading_level = 0
        elif token.type == "inline":
            text = _clean(_render_inline(token.children or []))
            if text:
                blocks.append(_Block(text, heading_level))
        elif token.type in ("fence", "code_block") and token.content.strip():
            blocks.append(_Block(_clean(token.content)))
    return _leading_heading_title(_long_headings_as_paragraphs(blocks))


def _render_inline(children) -> str:
    out = []
    stack = [iter(children)]  # an image's alt text is its children: depth first, without recursion
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif child.type == "image":
            stack.append(iter(child.children or []))
    return "".join(out)


def _long_headings_as_paragraphs(blocks: list[_Block]) -> list[_Block]:
    """A Markdown or HTML "heading" longer than MAX_HEADING_CHARS is a paragraph marked up as one."""
    for block in blocks:
        if block.level and len(block.text) > MAX_HEADING_CHARS:
            block.level = 0
    return blocks


def _leading_heading_title(blocks: list[_Block]) -> tuple[str | None, list[_Block]]:
    """The first heading is the title when nothing but headings come before it."""
    if blocks and blocks[0].level and len(blocks) > 1:
        return blocks[0].text, blocks[1:]
    return None, blocks


_HTML_DROP = ["script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "iframe", "svg"]
_HTML_TEXT_BLOCKS = {"p", "li", "blockquote", "pre", "td", "th", "dd", "dt", "figcaption", "caption", "address"}
_HTML_CONTAINERS = {"html", "body", "main", "article", "section", "div", "ul", "ol", "dl", "table", "thead",
                    "tbody", "tfoot", "tr", "figure", "center", "hgroup", "details", "summary"}
_HTML_HEADINGS = {f"h{level}": level for level in range(1, 7)}
# Skipped with everything inside them.
_HTML_SKIP = {"head", "title", "meta", "link", *_HTML_DROP}
# Elements that end a run of words: the text after them is a new word ("a<br>b" is "a b"), while an
# inline element adds no space ("8 <b>pm</b>." is "8 pm.").
_HTML_BREAKS = {"br", *_HTML_HEADINGS, *_HTML_TEXT_BLOCKS, *_HTML_CONTAINERS}

# html.parser (before CPython 3.12.11 / 3.13.4) scans to the end of the input again for every
# construct that is never closed: n unterminated "<a " or "<!--" cost O(n²) (100 KB of "<a " took
# 128 s). Their "<" is text to it anyway, so such a "<" is escaped first (see _defuse_html).
_COMMENT_CLOSE = re.compile(r"(?<!-)-{2,}+\s*+>")  # html.parser's "--\s*>", tried once per run of dashes
_MARKED_SECTION = re.compile(r"<!\[([a-zA-Z][-_.a-zA-Z0-9]*)?")
_MARKED_CLOSE = re.compile(r"\]\s*+(\]\s*+)?>")
_BAD_CHARREF = re.compile(r"&#(?!(?:[0-9]++|[xX][0-9a-fA-F]++)[^0-9a-fA-F])")  # html.parser's charref fails
_MARKED_SECTION_KINDS = {"temp": 2, "cdata": 2, "ignore": 2, "include": 2, "rcdata": 2, "if": 1, "else": 1, "endif": 1}


def _defuse_html(raw: str) -> str:
    """`raw` with the "<" of every construct html.parser would find unterminated escaped as "&lt;" (the
    same text to it, parsed once instead of once per construct), and "&#" without a number escaped
    (html.parser turns the rest of the page into text after the second one)."""
    escape: set[int] = set()
    last_gt = raw.rfind(">")
    escape.update(i for i in _find_all(raw, "<", last_gt + 1))  # nothing after them can close them
    if openings := _find_all(raw, "<!--", 0):
        # A comment needs a "--" at least 4 characters after its "<!--", then ">".
        comment_close = -1
        for match in _COMMENT_CLOSE.finditer(raw):
            dashes = len(match.group()) - len(match.group().lstrip("-"))
            comment_close = match.start() + dashes - 2
        escape.update(i for i in openings if i + 4 > comment_close)
    if "<![" in raw:
        # A marked section needs "]>" ("if", "else", "endif") or "]]>" (CDATA and the like) after its
        # name; any other name makes html.parser raise.
        last_close = {1: -1, 2: -1}
        for match in _MARKED_CLOSE.finditer(raw):
            last_close[1] = match.start()
            if match.group(1):
                last_close[2] = match.start()
        for match in _MARKED_SECTION.finditer(raw):
            kind = _MARKED_SECTION_KINDS.get((match.group(1) or "").lower())
            if kind is None or match.end() >= len(raw) or last_close[kind] < match.start() + 3:
                escape.add(match.start())
    if not escape and "&#" not in raw:
        return raw
    out: list[str] = []
    previous = 0
    for i in sorted(escape):
        out += [raw[previous:i], "&lt;"]
        previous = i + 1
    out.append(raw[previous:])
    return _BAD_CHARREF.sub("&amp;#", "".join(out))


def _find_all(text: str, sub: str, start: int) -> list[int]:
    found = []
    i = text.find(sub, start)
    while i != -1:
        found.append(i)
        i = text.find(sub, i + 1)
    return found


# HTML's implied end tags, as browsers parse them: a new paragraph, list item, definition or table
# row or cell closes the open one (searched for up to a boundary), so that unclosed <p>, <li> or <td>
# do not nest ever deeper (html.parser nests them).
_HTML_SCOPE = {"applet", "caption", "html", "table", "td", "th", "marquee", "object", "template", "button"}
_HTML_CLOSES_P = {"address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div", "dl",
                  "fieldset", "figcaption", "figure", "footer", "form", *_HTML_HEADINGS, "header", "hgroup", "hr",
                  "main", "menu", "nav", "ol", "p", "pre", "section", "summary", "table", "ul", "li", "dd", "dt"}
_HTML_IMPLIED: dict[str, list[tuple[set[str], set[str]]]] = {  # start tag: [(closes, search stops at)]
    name: [({"p"}, _HTML_SCOPE)] for name in _HTML_CLOSES_P
}
_HTML_IMPLIED["li"].insert(0, ({"li"}, _HTML_SCOPE | {"ol", "ul"}))
for _name in ("dd", "dt"):
    _HTML_IMPLIED[_name].insert(0, ({"dd", "dt"}, _HTML_SCOPE | {"dl"}))
_HTML_IMPLIED["tr"] = [({"tr"}, {"table", "thead", "tbody", "tfoot", "html", "template"})]
_HTML_IMPLIED["td"] = _HTML_IMPLIED["th"] = [({"td", "th"}, {"tr", "table", "html", "template"})]
# How far down the open elements an implied end tag is looked for: a paragraph holds inline elements
# only, a few levels deep.
_HTML_IMPLIED_REACH = 32


@cache
def _soup_class() -> type:
    """BeautifulSoup with browsers' implied end tags and MAX_HTML_DEPTH (built on first use: bs4 is
    imported only for HTML)."""
    from bs4 import BeautifulSoup

    class Soup(BeautifulSoup):
        def handle_starttag(self, name: str, *args: Any, **kwargs: Any) -> Any:
            for closes, stop in _HTML_IMPLIED.get(name, ()):
                if not any(self.open_tag_counter.get(c) for c in closes):
                    continue
                for tag in islice(reversed(self.tagStack), _HTML_IMPLIED_REACH):
                    if tag.name in closes:
                        self.handle_endtag(tag.name)
                        break
                    if tag.name in stop:
                        break
            return super().handle_starttag(name, *args, **kwargs)

        def pushTag(self, tag: Any) -> None:
            super().pushTag(tag)
            if len(self.tagStack) > MAX_HTML_DEPTH + 1:  # the soup itself is the first
                raise ArticleError(
                    f"the HTML nests elements more than {MAX_HTML_DEPTH} deep (<{tag.name}> in "
                    f"{len(self.tagStack) - 2} others): close its tags, or send the article's text alone"
                )

    return Soup


def _html_blocks(raw: str) -> tuple[str | None, list[_Block]]:
    from bs4 import NavigableString, ParserRejectedMarkup, Tag
    from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction

    markup = raw.count("<") + raw.count("&")
    if markup > MAX_HTML_MARKUP:
        raise ArticleError(
            f"the article is too large: its HTML has {markup:,} tags and character references (< and &), "
            f"more than the {MAX_HTML_MARKUP:,} an article's page can have; send the article's text alone"
        )
    try:
        # html.parser builds the tree without recursion, however deep; nothing below recurses either.
        soup = _soup_class()(_defuse_html(raw), "html.parser")
    except ParserRejectedMarkup as exc:
        raise ArticleError(f"the HTML could not be parsed ({str(exc).splitlines()[-1].strip()})") from None
    title_tag = soup.find("title")
    title = _clean(title_tag.get_text(" ")) if title_tag else None
    if title and len(title) > MAX_HEADING_CHARS:
        title = None  # not a title: the whole page, in a <title> never closed
    skip = (Comment, Doctype, Declaration, ProcessingInstruction)

    def text_of(root: Tag) -> str:
        """root.get_text() without what is skipped, with a space after each element that ends a run of
        words; iterative, so a tree 100,000 deep is read in linear time (bs4's tree edits and
        `descendants` walk up to the deepest node each time: quadratic)."""
        kinds = root.interesting_string_types or Tag.MAIN_CONTENT_STRING_TYPES
        space = NavigableString in kinds
        out: list[str] = []
        stack = [iter(root.contents)]
        breaks = [False]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                if breaks.pop() and space:
                    out.append(" ")
            elif isinstance(child, NavigableString):
                if type(child) in kinds:
                    out.append(str(child))
            elif isinstance(child, Tag) and child.name not in _HTML_SKIP:
                stack.append(iter(child.contents))
                breaks.append(child.name in _HTML_BREAKS)
        return "".join(out)

    # Containers are walked (their text between blocks is a paragraph); a heading or text block is one
    # block; any other element is read whole into the running paragraph.
    blocks: list[_Block] = []
    pending: list[str] = []

    def flush() -> None:
        text = _clean(" ".join(pending))
        if text:
            blocks.append(_Block(text))
        pending.clear()

    stack = [iter(soup.contents)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            flush()
        elif isinstance(child, NavigableString):
            if not isinstance(child, skip):
                pending.append(str(child))
        elif not isinstance(child, Tag) or child.name in _HTML_SKIP:
            continue
        elif child.name in _HTML_HEADINGS or child.name in _HTML_TEXT_BLOCKS:
            flush()
            if text := _clean(text_of(child)):
                blocks.append(_Block(text, _HTML_HEADINGS.get(child.name, 0)))
        elif child.name in _HTML_CONTAINERS:
            flush()
            stack.append(iter(child.contents))
        elif child.name == "br":
            pending.append(" ")
        else:
            pending.append(text_of(child))

    blocks = _long_headings_as_paragraphs(blocks)
    if title:
        # The page title usually repeats as the h1: it is the title, not a section.
        blocks = [b for b in blocks if not (b.level and b.text.lower() == title.lower())]
        return title, blocks
    return _leading_heading_title(blocks)


# A whole page (not a fragment of article markup): read by the extractor (index/extraction.py).
_PAGE = re.compile(r"<(?:html|body)[\s>/]", re.IGNORECASE)


def _page_blocks(raw: str, base_url: str) -> tuple[str | None, list[_Block], ArticleMeta] | None:
    """A news page's article (trafilatura, see index/extraction.py) with its headings, or None when it
    finds none. trafilatura sometimes drops the headings of an article it finds (its fallback algorithms
    keep paragraphs only, as on our AMP fixture page): a heading of the page that directly precedes a
    paragraph it kept, with nothing but other headings between them, is put back, so sections still work."""
    from index.extraction import PageTooLarge, extract_page

    try:
        page = extract_page(raw, base_url)
    except PageTooLarge as exc:
        raise ArticleError(str(exc)) from None
    if page is None:
        return None
    blocks = [_Block(cleaned, level) for level, text in page.blocks if (cleaned := _clean(text))]
    try:
        _, structure = _html_blocks(raw)
    except ArticleError:  # beyond the tag-dropping parser's limits: the extractor's headings only
        structure = []
    blocks = _long_headings_as_paragraphs(_restore_headings(blocks, structure))
    title = _clean(page.title)
    if not title or len(title) > MAX_HEADING_CHARS:
        found_title, blocks = _leading_heading_title(blocks)
        return found_title, blocks, page.meta
    # The page title usually repeats as the h1: it is the title, not a section.
    return title, [b for b in blocks if not (b.level and b.text.lower() == title.lower())], page.meta


def _fold_block(text: str) -> str:
    return " ".join(text.split()).casefold()


def _restore_headings(extracted: list[_Block], structure: list[_Block]) -> list[_Block]:
    """`extracted` with the headings of `structure` (the whole page's blocks, in order) that directly
    precede one of its paragraphs and that it lacks there."""
    positions: dict[str, list[int]] = {}
    for index, block in enumerate(structure):
        if not block.level:
            positions.setdefault(_fold_block(block.text), []).append(index)
    out: list[_Block] = []
    cursor = 0  # blocks of `structure` before it are matched already
    for block in extracted:
        if not block.level:
            found = next((i for i in positions.get(_fold_block(block.text), ()) if i >= cursor), None)
            if found is not None:
                first = found
                while first > cursor and structure[first - 1].level:
                    first -= 1
                if first < found and not (out and out[-1].level):
                    out += [_Block(h.text, h.level) for h in structure[first:found]]
                cursor = found + 1
        out.append(block)
    return out


# --- assembly -----------------------------------------------------------------------------------------


def parse_article(
    raw: str, fmt: str, *, filename: str | None = None, title: str | None = None, extract: bool | None = None,
    base_url: str = "",
) -> ParsedArticle:
    """`raw` in format `fmt` as an article. HTML that is a whole page (it has an <html> or <body> tag), or
    any HTML with `extract=True` (a fetched page), is read by the article extractor, which also gives its
    metadata; a fragment of article markup, or a page where the extractor finds no article, by the
    tag-dropping parser. `base_url`: where the page came from (resolves its relative links)."""
    if fmt not in FORMATS:
        raise ArticleError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    _check_characters(raw, filename or "the article")
    raw = raw.lstrip("\ufeff")
    meta = ArticleMeta()
    page = None
    if fmt == "html" and (extract or (extract is None and _PAGE.search(raw))):
        page = _page_blocks(raw, base_url)
    if page is not None:
        found_title, blocks, meta = page
    else:
        found_title, blocks = {"text": _text_blocks, "markdown": _markdown_blocks, "html": _html_blocks}[fmt](raw)
    blocks = [b for b in blocks if not (b.level == 0 and is_boilerplate(b.text))]
    paragraph_count = sum(1 for b in blocks if b.level == 0)
    if not paragraph_count:
        raise ArticleError("no text found in the article: it needs at least one paragraph")
    if paragraph_count > MAX_PARAGRAPHS:
        hint = " (in plain text, a paragraph is a line, or the lines between two blank lines)" if fmt == "text" else ""
        raise ArticleError(
            f"the article is too long: it has {paragraph_count:,} paragraphs{hint}, more than the "
            f"{MAX_PARAGRAPHS:,} an article can have"
        )
    if (heading_count := len(blocks) - paragraph_count) > MAX_SECTIONS:
        raise ArticleError(
            f"the article is too long: it has {heading_count:,} headings, more than the {MAX_SECTIONS:,} "
            "sections an article can have"
        )

    pieces: list[str] = []
    offset = 0
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    current_path: tuple[str, ...] = ()
    heading_start = 0
    paragraphs: list[tuple[int, int]] = []

    def close_section() -> None:
        if paragraphs:
            start = heading_start if not current_path else paragraphs[0][0]
            sections.append(Section(current_path, heading_start if current_path else start, start,
                                    paragraphs[-1][1], tuple(paragraphs)))

    for block in blocks:
        if pieces:
            offset += len(_BLOCK_SEPARATOR)
        start, end = offset, offset + len(block.text)
        pieces.append(block.text)
        offset = end
        if block.level:
            close_section()
            paragraphs = []
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            stack.append((block.level, block.text))
            current_path = tuple(text for _, text in stack)
            heading_start = start
        else:
            if not paragraphs and not current_path:
                heading_start = start
            paragraphs.append((start, end))
    close_section()

    text = _BLOCK_SEPARATOR.join(pieces)
    final_title = _clean(title or "") or found_title
    if not final_title and filename:
        final_title = title_from_filename(filename)
    if not final_title:
        words = text.split(maxsplit=_TITLE_WORDS)  # the rest, if any, is one more item
        final_title = " ".join(words[:_TITLE_WORDS]) + ("…" if len(words) > _TITLE_WORDS else "")
    return ParsedArticle(final_title, text, tuple(sections), fmt, any(b.level for b in blocks), meta)
