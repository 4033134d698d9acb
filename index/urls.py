"""URLs of articles: one spelling per page, the article id it gives, and which canonical links to trust."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from index.ingest import MAX_ARTICLE_ID_CHARS, slugify

# Query parameters that say who sent the reader, not which page it is.
_TRACKING = re.compile(r"^(?:utm_\w+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|ocid|cmpid|ito|_ga|igshid|ref_src)$",
                       re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Prefixes of a host that name the same site in another form (the mobile or AMP edition).
_EDITION_PREFIXES = ("www.", "amp.", "m.", "mobile.")
_ID_HASH_HEX = 12


def normalize_url(url: str) -> str:
    """The URL with its scheme and host in lower case, without a default port, a fragment or tracking
    parameters (utm_source…): two links to one page become one string."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        host += f":{parts.port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)])
    return urlunsplit((parts.scheme.lower(), host, parts.path or "/", query, ""))


def article_id_for_url(url: str) -> str:
    """An article id from a URL: its host without "www." and its path, as a slug
    ("https://www.gazette.example/2025/03/04/ferry-strike" -> "gazette-example-2025-03-04-ferry-strike");
    a long one is cut and ends with a hash of the whole URL. The port is left out (it names a server,
    not an article)."""
    parts = urlsplit(normalize_url(url))
    host = (parts.hostname or "").removeprefix("www.")
    slug = slugify(f"{host} {parts.path} {parts.query}")
    if len(slug) > MAX_ARTICLE_ID_CHARS - _ID_HASH_HEX - 1 or not slug:
        digest = hashlib.sha256(normalize_url(url).encode()).hexdigest()[:_ID_HASH_HEX]
        slug = slug[: MAX_ARTICLE_ID_CHARS - _ID_HASH_HEX - 1].strip("-")
        slug = f"{slug}-{digest}" if slug else f"url-{digest}"
    return slug


def _site(host: str) -> str:
    for prefix in _EDITION_PREFIXES:
        if host.startswith(prefix):
            return host[len(prefix) :]
    return host


def same_site(url: str, other: str) -> bool:
    """Whether two URLs are on one site: the same host but for a www., amp. or m. prefix, or one a
    subdomain of the other. A page's canonical link is trusted only then: any page can claim any
    canonical URL, and the article id derives from it (an attacker's page claiming a newspaper's URL
    would otherwise replace that newspaper's article)."""
    a, b = _site(urlsplit(url).hostname or ""), _site(urlsplit(other).hostname or "")
    if not a or not b:
        return False
    return a == b or a.endswith("." + b) or b.endswith("." + a)
