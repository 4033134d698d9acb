"""Web origins and Host headers: parsing, normalizing and matching them. Plain functions (no FastAPI), shared
by the settings (which check ARTICLECHAT_CORS_ORIGINS and ARTICLECHAT_ALLOWED_HOSTS) and server/security.py."""

from __future__ import annotations

import ipaddress
import json
import re
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
DEFAULT_ALLOWED_HOSTS = ("127.0.0.1", "localhost", "[::1]")
# A Host header: a name or IPv4 address, or an IPv6 address in brackets; then an optional port. As
# Starlette's TrustedHostMiddleware does, the host is compared without its port, brackets kept.
_HOST_HEADER = re.compile(r"(?P<host>\[[0-9a-f:.]+\]|[a-z0-9._~%!$&'()*+,;=-]+)(?::(?P<port>[0-9]{1,5}))?", re.I)


def split_list(value: object) -> object:
    """A list setting as the environment gives it: a JSON list (`["a", "b"]`) or comma-separated (`a,b`)."""
    if not isinstance(value, str):
        return value
    try:
        parsed = json.loads(value)
    except ValueError:  # not JSON: "[::1],localhost" also lands here
        parsed = None
    if isinstance(parsed, list):
        return parsed
    return [part.strip() for part in value.split(",") if part.strip()]


def normalize_origin(url: str) -> str | None:
    """The origin of a URL as a browser writes it in an Origin header (`scheme://host[:port]`, lower case,
    no default port), or None when it has none (`null`, a relative or non-HTTP URL)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    if scheme not in DEFAULT_PORTS or not host or parts.username is not None or parts.password is not None:
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != DEFAULT_PORTS[scheme] else "")


def configured_origin(value: str) -> str:
    """An entry of ARTICLECHAT_CORS_ORIGINS, normalized; ValueError with what to write instead."""
    origin = normalize_origin(value)
    parts = urlsplit(value.strip())
    if origin is None or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(
            f"{value!r} is not a web origin: write scheme://host[:port], such as https://app.example.com "
            "(no path; '*' is not accepted: list the sites that may call this server)"
        )
    return origin


def host_of(header: str | None) -> str | None:
    """The host of a Host header, lower case and without its port (an IPv6 address keeps its brackets),
    or None when the header is missing or malformed."""
    match = _HOST_HEADER.fullmatch(header or "")
    if match is None:
        return None
    host = match["host"].lower()
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
    return host


def configured_host(value: str) -> str:
    """An entry of ARTICLECHAT_ALLOWED_HOSTS, normalized (an IPv6 address gets its brackets); ValueError
    with what to write instead."""
    entry = value.strip().lower()
    if entry == "*":
        return entry
    try:
        return f"[{ipaddress.IPv6Address(entry)}]"
    except ValueError:
        pass
    wildcard = entry.startswith("*.")
    name = entry[2:] if wildcard else entry
    match = _HOST_HEADER.fullmatch(name)
    if match is None or match["port"] is not None or "*" in name or host_of(name) is None:
        raise ValueError(
            f"{value!r} is not a host name: write a name or address without a port or scheme, such as "
            "articles.example.com, 192.168.1.20, [::1], *.example.com (any subdomain) or * (any host)"
        )
    return f"*.{name}" if wildcard else name


def host_allowed(host: str, allowed: list[str] | tuple[str, ...]) -> bool:
    """Starlette TrustedHostMiddleware's rule: an exact name, `*.example.com` for its subdomains, or `*`."""
    return any(
        pattern == "*" or host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:]))
        for pattern in allowed
    )
