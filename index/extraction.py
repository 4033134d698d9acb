"""A news page → its article: the main text with its headings, and its metadata, by trafilatura.

A saved or fetched news page holds far more than the article: a menu, a share bar, captions, "related
stories", a newsletter box, comments, a footer. Dropping a few tags (what `index/parsing.py` did for
every page) keeps most of it, and each piece became a section an answer could quote. trafilatura
(Barbaresi, ACL 2021: the best-scoring open-source extractor in the benchmarks it and others ran)
finds the article's main text. On our fixture pages (`python -m bench.extraction`, README) it keeps
every article line and lets through none of the 84 boilerplate lines, where the tag-dropping parser let
85 % of them through.

Metadata: title, author and publication name come from trafilatura (meta tags, JSON-LD, bylines);
the canonical URL and the published date-time are read here first (`<link rel="canonical">`, Open
Graph and article meta tags, JSON-LD `datePublished`), since trafilatura keeps only the day of a
date-time, then from trafilatura's date finder (htmldate).

`extract_page` returns None when the page is not HTML it can read or holds no article text; the
caller then reads the page with the tag-dropping parser. The work is bounded by MAX_PAGE_ELEMENTS.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urljoin

from index.metadata import ArticleMeta, is_web_url, normalize_published

log = logging.getLogger("articlechat")

# Elements of a page, counted once lxml has parsed it (in C: ~15 ms for 16,000 elements). trafilatura
# works in Python, on 2 cores ~13 µs an element of a page that is mostly chrome (a news page grown to
# 16,000 elements by its comments took 0.17 s) and up to ~55 µs one of text: the worst measured, 20,000
# paragraphs, 1.1 s (then refused: more paragraphs than an article has); one 5 MB paragraph, 0.5 s. A
# long news page has 3,000–10,000 elements, more with inline SVG icons.
MAX_PAGE_ELEMENTS = 20_000
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
# trafilatura's output: blocks that hold text, and containers of blocks.
_CONTAINERS = {"body", "div", "list", "main", "doc"}
_LEAVES = {"p", "item", "quote", "code", "head"}
# Meta tags that give the publication date-time (the first found wins).
_DATE_META = (
    "article:published_time", "og:published_time", "datepublished", "pubdate", "publishdate", "publish-date",
    "parsely-pub-date", "sailthru.date", "dc.date.issued", "dcterms.issued", "dc.date", "date",
)
_ARTICLE_TYPES = re.compile(r"article|posting|report", re.IGNORECASE)


class PageTooLarge(ValueError):
    """More elements than MAX_PAGE_ELEMENTS."""


@dataclass
class ExtractedPage:
    title: str
    blocks: list[tuple[int, str]]  # (heading level 1–6, or 0 for a paragraph; text), in order
    meta: ArticleMeta = field(default_factory=ArticleMeta)


def extract_page(raw: str, base_url: str = "") -> ExtractedPage | None:
    """The article of an HTML page and its metadata; None when there is none to be found (an empty or
    unreadable document). PageTooLarge beyond MAX_PAGE_ELEMENTS. `base_url` resolves a relative
    canonical link."""
    from trafilatura import bare_extraction
    from trafilatura.settings import Document
    from trafilatura.utils import load_html

    try:
        tree = load_html(raw)
    except Exception:  # lxml refuses some inputs outright ("Document is empty", encodings…)
        log.debug("the page could not be parsed as HTML", exc_info=True)
        return None
    if tree is None:
        return None
    elements = sum(1 for _ in tree.iter())
    if elements > MAX_PAGE_ELEMENTS:
        raise PageTooLarge(
            f"the page is too large: it has {elements:,} HTML elements, more than the {MAX_PAGE_ELEMENTS:,} a news "
            "page has; send the article's text alone"
        )
    canonical, published = _head_metadata(tree, base_url)
    try:
        document = bare_extraction(
            tree, url=base_url or None, with_metadata=True, include_comments=False, include_images=False,
            include_links=False, include_tables=True, config=_config(),
            date_extraction_params={"original_date": True, "extensive_search": False,
                                    "outputformat": "%Y-%m-%dT%H:%M:%S%z"},
        )
    except Exception:  # a bug of the extractor on an odd page must not lose the article: the caller falls back
        log.warning("trafilatura failed on a page; reading it with the tag-dropping parser", exc_info=True)
        return None
    if not isinstance(document, Document) or document.body is None:
        return None
    blocks = list(_blocks(document.body))
    if not any(level == 0 for level, _ in blocks):
        return None
    url = canonical or (document.url if is_web_url(document.url or "") else "") or base_url
    meta = ArticleMeta(url=url, source=document.sitename or "", author=document.author or "",
                       published=published or normalize_published(document.date or ""))
    return ExtractedPage(document.title or "", blocks, meta)


@cache
def _config() -> Any:
    from trafilatura.settings import use_config

    config = use_config()
    # Below this many characters found by its main algorithm, trafilatura also tries its fallbacks and keeps
    # the longest result: at its default, 250, a short item (a brief of one paragraph) went to its baseline,
    # which kept the page's <nav> with it ("Home | News" as the article's first line). 50 keeps a brief; the
    # fixture pages read the same either way.
    config.set("DEFAULT", "MIN_EXTRACTED_SIZE", "50")
    return config


def _text(element: Any) -> str:
    """An element's text, a space for each line break (<lb/>), white space collapsed."""
    for line_break in element.iter("lb"):
        line_break.text = " "
    return " ".join("".join(element.itertext()).split())


def _blocks(body: Any) -> Iterator[tuple[int, str]]:
    """trafilatura's XML (head rend="h2", p, list/item, quote, table/row/cell, code) as (level, text)
    blocks, in order, without recursion."""
    stack = [iter(body)]
    while stack:
        element = next(stack[-1], None)
        if element is None:
            stack.pop()
            continue
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag == "table":
            for row in element.iter("row"):
                cells = [text for cell in row.iter("cell") if (text := _text(cell))]
                if cells:
                    yield 0, " | ".join(cells)
        elif tag in _CONTAINERS or (tag == "item" and element.find("list") is not None):
            stack.append(iter(element))
        elif tag in _LEAVES:
            text = _text(element)
            if text:
                yield (_HEADINGS.get(element.get("rend") or "", 2) if tag == "head" else 0), text


def _head_metadata(tree: Any, base_url: str) -> tuple[str, str]:
    """(canonical URL, published date-time) from the page's own markup: link and meta tags, then JSON-LD."""
    canonical = published = ""
    for link in tree.iterfind(".//link[@rel][@href]"):
        if "canonical" in link.get("rel", "").lower().split():
            canonical = _absolute(link.get("href", ""), base_url)
            break
    metas: dict[str, str] = {}
    for meta in tree.iterfind(".//meta[@content]"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        if key and key not in metas:
            metas[key] = meta.get("content", "")
    canonical = canonical or _absolute(metas.get("og:url", ""), base_url)
    for key in _DATE_META:
        if published := normalize_published(metas.get(key, "")):
            break
    for item in _json_ld(tree):
        if not published:
            published = normalize_published(str(item.get("datePublished") or ""))
        if not canonical:
            main = item.get("mainEntityOfPage")
            for candidate in (item.get("url"), main.get("@id") if isinstance(main, dict) else main):
                if isinstance(candidate, str) and (canonical := _absolute(candidate, base_url)):
                    break
    return canonical, published


def _absolute(url: str, base_url: str) -> str:
    url = urljoin(base_url, url.strip()) if base_url else url.strip()
    return url if is_web_url(url) else ""


def _json_ld(tree: Any) -> Iterator[dict[str, Any]]:
    """The JSON-LD objects of the page that describe an article (NewsArticle, BlogPosting…)."""
    for script in tree.iterfind(".//script[@type]"):
        if script.get("type", "").strip().lower() != "application/ld+json" or not script.text:
            continue
        try:
            data = json.loads(script.text)
        except ValueError:
            continue
        pending = [data]
        while pending:
            item = pending.pop()
            if isinstance(item, list):
                pending.extend(item)
            elif isinstance(item, dict):
                if isinstance(item.get("@graph"), list):
                    pending.extend(item["@graph"])
                kind = item.get("@type")
                kinds = kind if isinstance(kind, list) else [kind]
                if any(isinstance(k, str) and _ARTICLE_TYPES.search(k) for k in kinds):
                    yield item
