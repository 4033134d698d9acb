"""What is known of an article beyond its text: where it was published (its URL and the publication's
name), by whom and when. A page found by URL gives all of it; a pasted text, none.

Dates are kept as ISO 8601 text as precise as the page gives them, in UTC: "2025-03-04T06:30:00Z", or
"2025-03-04" when only the day is known; and as a Unix timestamp for the store's range filters (a day
alone counts from its midnight, UTC).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, time
from urllib.parse import urlsplit

# Longest author, publication name and URL kept: longer values are not metadata but text a page put
# in the wrong place.
MAX_META_CHARS = 300
MAX_URL_CHARS = 2048
# Dates outside these years are read as mistakes (a page's "0001-01-01", a "9999" placeholder).
_FIRST_YEAR, _LAST_YEAR = 1900, 2200
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class ArticleMeta:
    url: str = ""  # the article's canonical URL (or the page fetched); "" when unknown
    source: str = ""  # the publication, as the page names itself ("The Harbour Gazette"), else its host
    author: str = ""
    published: str = ""  # ISO 8601, see the module's docstring; "" when unknown

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", clean_field(self.source))
        object.__setattr__(self, "author", clean_field(self.author))
        object.__setattr__(self, "published", normalize_published(self.published))
        url = self.url.strip()
        object.__setattr__(self, "url", url if len(url) <= MAX_URL_CHARS and is_web_url(url) else "")

    def or_else(self, fallback: ArticleMeta) -> ArticleMeta:
        """This metadata with its unknown fields taken from `fallback`."""
        return replace(self, **{k: v for k, v in asdict(fallback).items() if v and not getattr(self, k)})

    @property
    def published_ts(self) -> int | None:
        return timestamp(self.published)

    @property
    def host(self) -> str:
        return host_key(self.url)

    @property
    def source_key(self) -> str:
        return source_key(self.source)

    def fields(self) -> dict[str, str]:
        """The known fields (the article's version hash includes them: a new date is a new version)."""
        return {k: v for k, v in asdict(self).items() if v}


def clean_field(value: str | None) -> str:
    value = _SPACES.sub(" ", value or "").strip()
    return value if len(value) <= MAX_META_CHARS else value[: MAX_META_CHARS - 1].rstrip() + "…"


def is_web_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def host_key(url: str) -> str:
    """The host of a URL, lower-cased, without "www.": what a `sources` filter may name."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def source_key(source: str) -> str:
    """A publication's name as filters compare it: case and spacing folded."""
    return _SPACES.sub(" ", source).strip().casefold()


def parse_datetime(value: str) -> datetime | date | None:
    """An ISO 8601 date or date-time ("2025-03-04", "2025-03-04T07:30:00+01:00", "…Z", "…+0100"), or None."""
    value = value.strip()
    if not value:
        return None
    try:
        if len(value) == 10:
            parsed: datetime | date = date.fromisoformat(value)
        else:
            parsed = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        return None
    return parsed if _FIRST_YEAR <= parsed.year <= _LAST_YEAR else None


def normalize_published(value: str) -> str:
    """ISO 8601 text in UTC ("2025-03-04T06:30:00Z"), or the day alone ("2025-03-04") when that is all
    `value` gives (a time of exactly midnight without a zone is how extractors write a day); "" when
    `value` is no date."""
    parsed = parse_datetime(value)
    if parsed is None:
        return ""
    if not isinstance(parsed, datetime):
        return parsed.isoformat()
    if parsed.tzinfo is None:
        if parsed.time() == time(0, 0):
            return parsed.date().isoformat()
        parsed = parsed.replace(tzinfo=UTC)  # a time without a zone: taken as UTC
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def timestamp(value: str) -> int | None:
    """Seconds since the epoch of a date or date-time (a day alone: its midnight, UTC), or None."""
    parsed = parse_datetime(value)
    if parsed is None:
        return None
    if not isinstance(parsed, datetime):
        parsed = datetime.combine(parsed, time(0, 0))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())
