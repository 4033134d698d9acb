"""The fetch component: a web page or a feed by URL, within limits, never from this machine's network.

A server that fetches any URL it is given can be made to fetch what only it can reach: its own admin
ports, a cloud's metadata service (169.254.169.254), the office network (server-side request forgery).
So, unless ARTICLECHAT_ALLOW_PRIVATE_URLS is set:

- the host is resolved here, and every address it resolves to must be public (`is_public_address`:
  no loopback, private, link-local, shared, reserved or multicast address, IPv4-mapped IPv6 included);
  one that is not refuses the URL, whichever address a connection would have used;
- the connection goes to the address that was checked, with the URL's host name as the Host header
  and as the TLS server name (SNI, and the certificate is verified against it): a DNS answer that
  changes between the check and the connection (DNS rebinding) is never used;
- redirects are followed here, one hop at a time, each hop's host resolved and checked the same way
  (at most MAX_REDIRECTS);
- no proxy from the environment (HTTP_PROXY…) is used: it would resolve and connect itself.

Limits: ARTICLECHAT_FETCH_TIMEOUT for each step (resolving, connecting, each read) and for the whole
fetch, checked between reads; ARTICLECHAT_FETCH_MAX_BYTES of body after decompression (a declared
Content-Length above it is refused before reading); only HTML for pages, only XML for feeds.

Errors carry the status the HTTP API answers: 422 for a URL the user must change (malformed, not
http(s), a private address, not HTML, too large, too many redirects), 502 when the site fails (cannot be
resolved or reached, answers an error status), 504 when it is too slow.
"""

from __future__ import annotations

import codecs
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urljoin, urlsplit

import httpx

from index.metadata import MAX_URL_CHARS
from index.parsing import ArticleError
from server.limits import MAX_REDIRECTS

Kind = Literal["page", "feed"]
# (host, port) -> the IP addresses it resolves to; raises OSError when it does not resolve.
Resolver = Callable[[str, int], list[str]]

USER_AGENT = "articlechat/0.1 (reads the news pages and feeds its users add)"
ACCEPT = {
    "page": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
    "feed": "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.1",
}
# Media types accepted for each kind (a missing Content-Type is let through: the parser decides).
_PAGE_TYPES = {"text/html", "application/xhtml+xml"}
_FEED_TYPE = re.compile(r"xml|rss|atom|rdf|^text/plain$")
_REDIRECTS = {301, 302, 303, 307, 308}
_DEFAULT_PORTS = {"http": 80, "https": 443}
SETTING = "ARTICLECHAT_ALLOW_PRIVATE_URLS"
ECHO_CHARS = 200  # of a URL, in an error message
# Look-ups run in these threads, so that one that hangs (no DNS server answering) is given up on.
_RESOLVERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)


class FetchError(ArticleError):
    """A URL that gave no page; `status` is what the HTTP API answers (an ArticleError, so that a batch, a
    feed or the CLI reports it for that article and goes on with the others)."""

    status = 502


class URLRefused(FetchError):
    """The URL cannot be used as given: what to change is in the message."""

    status = 422


class UpstreamError(FetchError):
    """The site could not be reached or answered with an error."""

    status = 502


class UpstreamTimeout(FetchError):
    """The site took longer than ARTICLECHAT_FETCH_TIMEOUT."""

    status = 504


@dataclass(frozen=True)
class FetchedPage:
    url: str  # the URL that answered (after redirects)
    content: bytes
    media_type: str  # "text/html", "" when the site sent none
    charset: str | None

    def text(self) -> str:
        """The body as text: the charset the site declared, else the one the page declares in a <meta>,
        else UTF-8 (Windows-1252, the web's old default, when it is not UTF-8)."""
        for candidate in (self.charset, _meta_charset(self.content)):
            if candidate:
                try:
                    return self.content.decode(codecs.lookup(candidate).name, errors="replace")
                except LookupError:
                    continue
        try:
            return self.content.decode("utf-8-sig")
        except UnicodeDecodeError:
            return self.content.decode("cp1252", errors="replace")


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public_address(address: str) -> bool:
    """Whether an IP address is on the public internet: not loopback, private (10/8, 172.16/12,
    192.168/16, fc00::/7), link-local (169.254/16, where clouds serve instance credentials; fe80::/10),
    shared (100.64/10), reserved, unspecified or multicast; an IPv4-mapped IPv6 address is judged by its
    IPv4 address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _echo(url: str) -> str:
    return url if len(url) <= ECHO_CHARS else url[: ECHO_CHARS - 1] + "…"


def check_url(url: str) -> str:
    """The URL, stripped, if it can be fetched at all; URLRefused saying why not."""
    url = url.strip()
    if len(url) > MAX_URL_CHARS:
        raise URLRefused(f"the URL is {len(url):,} characters long: at most {MAX_URL_CHARS:,}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is no number or out of range)
    except ValueError:
        raise URLRefused(f"{_echo(url)!r} is not a valid URL: send an http:// or https:// address") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise URLRefused(f"{_echo(url)!r} is not a web address: send an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise URLRefused("the URL carries a user name or password: send it without them (user:pass@)")
    return url


class Fetcher:
    """Fetches pages and feeds over HTTP(S), with the limits and the address rule of the module's docstring."""

    def __init__(self, *, allow_private: bool, timeout: float, max_bytes: int, max_redirects: int = MAX_REDIRECTS,
                 resolver: Resolver = system_resolver, verify: bool | ssl.SSLContext = True):
        self.allow_private = allow_private
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.resolver = resolver
        self.verify = verify

    def fetch(self, url: str, kind: Kind = "page") -> FetchedPage:
        url = check_url(url)
        deadline = time.monotonic() + self.timeout
        # No connection is kept for a later request: one made for a host (its TLS server name) must not
        # carry a request for another host on the same address. No proxy or .netrc from the environment.
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(timeout=self.timeout, limits=limits, trust_env=False, verify=self.verify,
                          follow_redirects=False) as client:
            for _ in range(self.max_redirects + 1):
                response = self._request(client, url, kind, deadline)
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    response.close()
                    url = check_url(urljoin(url, location))
                    continue
                try:
                    return self._read(response, url, kind, deadline)
                finally:
                    response.close()
        raise URLRefused(f"{_echo(url)} redirects more than {self.max_redirects} times: send the URL it ends at")

    def _addresses(self, host: str, port: int, deadline: float) -> list[str]:
        """The addresses of `host`, every one of them checked."""
        future = _RESOLVERS.submit(self.resolver, host, port)
        try:
            addresses = future.result(timeout=max(0.0, deadline - time.monotonic()))
        except FutureTimeout:
            raise UpstreamTimeout(f"looking up {host!r} took longer than {self.timeout:g} s") from None
        except (OSError, UnicodeError) as exc:
            raise UpstreamError(f"the host {host!r} could not be resolved ({exc}): check the URL") from None
        if not addresses:
            raise UpstreamError(f"the host {host!r} has no address: check the URL")
        if not self.allow_private:
            for address in addresses:
                if not is_public_address(address):
                    raise URLRefused(
                        f"the URL's host {host!r} resolves to a private address ({address}), which this server does "
                        f"not fetch from (server-side request forgery); set {SETTING}=true to allow it"
                    )
        return addresses

    def _request(self, client: httpx.Client, url: str, kind: Kind, deadline: float) -> httpx.Response:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or _DEFAULT_PORTS[parts.scheme.lower()]
        addresses = self._addresses(host, port, deadline)
        target = httpx.URL(url)
        headers = {"Host": parts.netloc.rsplit("@", 1)[-1], "User-Agent": USER_AGENT, "Accept": ACCEPT[kind]}
        last: Exception | None = None
        for address in addresses:  # each one checked; the next is tried when one cannot be connected to
            request = client.build_request("GET", target.copy_with(host=address), headers=headers,
                                           extensions={"sni_hostname": host})
            try:
                return client.send(request, stream=True)
            except httpx.ConnectError as exc:
                last = exc
            except httpx.TimeoutException:
                raise UpstreamTimeout(f"{_echo(url)} did not answer within {self.timeout:g} s") from None
            except httpx.HTTPError as exc:
                raise UpstreamError(f"{_echo(url)} could not be fetched: {exc}") from None
        raise UpstreamError(f"{_echo(url)} could not be reached ({last})")

    def _read(self, response: httpx.Response, url: str, kind: Kind, deadline: float) -> FetchedPage:
        if response.status_code >= 400:
            raise UpstreamError(f"{_echo(url)} answered {response.status_code} {response.reason_phrase}".rstrip())
        if response.status_code != 200:
            raise UpstreamError(f"{_echo(url)} answered {response.status_code} instead of a page")
        content_type = response.headers.get("content-type", "")
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type and (media_type not in _PAGE_TYPES if kind == "page" else not _FEED_TYPE.search(media_type)):
            wanted = "an HTML page" if kind == "page" else "an RSS or Atom feed (XML)"
            raise URLRefused(f"{_echo(url)} is {media_type}, not {wanted}")
        declared = response.headers.get("content-length", "")
        too_large = URLRefused(f"{_echo(url)} is larger than {self.max_bytes:,} bytes (ARTICLECHAT_FETCH_MAX_BYTES)")
        if declared.isdigit() and int(declared) > self.max_bytes and "content-encoding" not in response.headers:
            raise too_large
        body = bytearray()
        try:
            for piece in response.iter_bytes():  # decompressed: the limit holds for what is read, not what is sent
                body += piece
                if len(body) > self.max_bytes:
                    raise too_large
                if time.monotonic() > deadline:
                    raise UpstreamTimeout(f"{_echo(url)} took longer than {self.timeout:g} s to send")
        except httpx.TimeoutException:
            raise UpstreamTimeout(f"{_echo(url)} stopped sending for {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{_echo(url)} could not be read: {exc}") from None
        return FetchedPage(url, bytes(body), media_type, response.charset_encoding)


def _meta_charset(content: bytes) -> str | None:
    match = _META_CHARSET.search(content[:4096])
    return match.group(1).decode("ascii") if match else None
