"""Articles (plain text, Markdown, HTML) → a canonical stored text with sections and offsets.

Every format is reduced to a list of blocks (headings with a level, and paragraphs). The stored text
is those blocks joined by blank lines, without the title and without promo lines ("READ MORE: …"),
so each section's body is one contiguous span of it and a citation can be checked by its offsets.

Plain-text headings are short lines without terminal punctuation. A heading directly followed by
another is a part heading (level 1) over a section heading (level 2). In a document that uses two
levels, a lone heading is a section of the part that is open (so the sample article's closing "A
Fragile Gesture in a Protracted Conflict" becomes a section of "Outlook and Next Steps").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

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


@dataclass
class _Block:
    text: str
    level: int = 0  # 0: paragraph; 1–6: heading level


# --- input checks ------------------------------------------------------------------------------------


def decode_bytes(data: bytes, name: str = "input") -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise ArticleError(f"{name} is not valid UTF-16 text") from None
    else:
        if b"\x00" in data:
            raise ArticleError(f"{name} looks binary (it contains NUL bytes): upload a .txt, .md or .html text file")
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
    return re.sub(r"\s+", " ", text).strip()


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


def _text_blocks(raw: str) -> tuple[str | None, list[_Block]]:
    lines = raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    uses_blank_lines = bool(re.search(r"\S[^\n]*\n[ \t]*\n+[ \t]*\S", raw.replace("\r\n", "\n")))
    chunks: list[list[str]] = []
    if uses_blank_lines:
        current: list[str] = []
        for line in lines:
            if line.strip():
                current.append(line.strip())
            elif current:
                chunks.append(current)
                current = []
        if current:
            chunks.append(current)
    else:
        chunks = [[line.strip()] for line in lines if line.strip()]

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
            blocks += [_Block(_clean(h), level) for level, h in enumerate(run, start=1)]
            part_open = True
        else:
            blocks.append(_Block(_clean(text), 2 if two_levels and part_open else 1))
            part_open = part_open or not two_levels
        i += len(run)
    return title, blocks


def _markdown_blocks(raw: str) -> tuple[str | None, list[_Block]]:
    from markdown_it import MarkdownIt

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
    return _leading_heading_title(blocks)


def _render_inline(children) -> str:
    out = []
    for child in children:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif child.type == "image":
            out.append(_render_inline(child.children or []))
    return "".join(out)


def _leading_heading_title(blocks: list[_Block]) -> tuple[str | None, list[_Block]]:
    """The first heading is the title when nothing but headings come before it."""
    if blocks and blocks[0].level and len(blocks) > 1:
        return blocks[0].text, blocks[1:]
    return None, blocks


_HTML_DROP = ["script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "iframe", "svg"]
_HTML_TEXT_BLOCKS = {"p", "li", "blockquote", "pre", "td", "th", "dd", "dt", "figcaption", "caption", "address"}
_HTML_CONTAINERS = {"html", "body", "main", "article", "section", "div", "ul", "ol", "dl", "table", "thead",
                    "tbody", "tfoot", "tr", "figure", "center", "hgroup", "details", "summary"}


def _html_blocks(raw: str) -> tuple[str | None, list[_Block]]:
    from bs4 import BeautifulSoup, NavigableString
    from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction

    soup = BeautifulSoup(raw, "html.parser")
    title_tag = soup.find("title")
    title = _clean(title_tag.get_text(" ")) if title_tag else None
    for tag in soup.find_all(["head", "title", "meta", "link", *_HTML_DROP]):
        tag.decompose()
    # Words in neighbouring blocks must not run together, while inline tags ("8 <b>pm</b>.") add
    # no space: mark block boundaries with a space, then read text without a separator.
    for tag in soup.find_all(["br", "h1", "h2", "h3", "h4", "h5", "h6", *_HTML_TEXT_BLOCKS, *_HTML_CONTAINERS]):
        tag.insert_after(" ")
    blocks: list[_Block] = []
    skip = (Comment, Doctype, Declaration, ProcessingInstruction)

    def walk(node) -> None:
        pending: list[str] = []

        def flush() -> None:
            text = _clean(" ".join(pending))
            if text:
                blocks.append(_Block(text))
            pending.clear()

        for child in node.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, skip):
                    pending.append(str(child))
            elif child.name and re.fullmatch(r"h[1-6]", child.name):
                flush()
                if text := _clean(child.get_text()):
                    blocks.append(_Block(text, int(child.name[1])))
            elif child.name in _HTML_TEXT_BLOCKS:
                flush()
                if text := _clean(child.get_text()):
                    blocks.append(_Block(text))
            elif child.name in _HTML_CONTAINERS:
                flush()
                walk(child)
            elif child.name == "br":
                pending.append(" ")
            else:
                pending.append(child.get_text())
        flush()

    walk(soup)
    if title:
        # The page title usually repeats as the h1: it is the title, not a section.
        blocks = [b for b in blocks if not (b.level and b.text.lower() == title.lower())]
        return title, blocks
    return _leading_heading_title(blocks)


# --- assembly -----------------------------------------------------------------------------------------


def parse_article(raw: str, fmt: str, *, filename: str | None = None, title: str | None = None) -> ParsedArticle:
    if fmt not in FORMATS:
        raise ArticleError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    raw = raw.lstrip("\ufeff")
    found_title, blocks = {"text": _text_blocks, "markdown": _markdown_blocks, "html": _html_blocks}[fmt](raw)
    blocks = [b for b in blocks if not (b.level == 0 and is_boilerplate(b.text))]
    if not any(b.level == 0 for b in blocks):
        raise ArticleError("no text found in the article: it needs at least one paragraph")

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
        words = text.split()
        final_title = " ".join(words[:_TITLE_WORDS]) + ("…" if len(words) > _TITLE_WORDS else "")
    return ParsedArticle(final_title, text, tuple(sections), fmt, any(b.level for b in blocks))
