"""The fetch component against the local news site (tests/news_server.py): the server-side request forgery
rule (every resolved address checked, on every redirect hop, and the connection made to the address
checked), and the limits (size, redirects, content type, time). Refused URLs are refused before any
connection: the site's request log shows none."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from server.components import fetch
from server.components.fetch import Fetcher, UpstreamError, UpstreamTimeout, URLRefused, is_public_address
from tests.news_server import offline_resolver


def fetcher(**overrides) -> Fetcher:
    settings = {"allow_private": True, "timeout": 3.0, "max_bytes": 1_000_000, "resolver": offline_resolver}
    return Fetcher(**{**settings, **overrides})


def resolving(table: dict[str, list[str]], calls: list[str] | None = None) -> fetch.Resolver:
    def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise OSError(f"{host} does not resolve")
        return table[host]

    return resolve


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "::1", "10.0.0.5", "172.16.4.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "fe80::1", "fc00::5", "::ffff:127.0.0.1", "::ffff:10.0.0.5", "224.0.0.1", "240.0.0.1", "::",
])
def test_non_public_addresses_are_recognised(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:93.184.216.34"])
def test_public_addresses_are_recognised(address):
    assert is_public_address(address)


def test_loopback_and_private_hosts_are_refused_by_default_without_a_connection(news_site):
    before = len(news_site.requests)
    refusing = fetcher(allow_private=False)
    for url in (news_site.page_url("gazette-ferry-strike.html"),  # gazette.test -> 127.0.0.1
                f"http://127.0.0.1:{news_site.port}/2025/02/20/breakwater",
                f"http://localhost:{news_site.port}/", f"http://[::1]:{news_site.port}/"):
        with pytest.raises(URLRefused, match=r"resolves to a private address .*ARTICLECHAT_ALLOW_PRIVATE_URLS=true"):
            refusing.fetch(url)
    # A name that resolves to a public address and a private one is refused too, whichever would be used.
    mixed = fetcher(allow_private=False, resolver=resolving({"mixed.example": ["93.184.216.34", "10.0.0.5"]}))
    with pytest.raises(URLRefused, match=r"'mixed.example' resolves to a private address \(10\.0\.0\.5\)"):
        mixed.fetch("http://mixed.example/story")
    metadata = fetcher(allow_private=False, resolver=resolving({"169.254.169.254": ["169.254.169.254"]}))
    with pytest.raises(URLRefused, match=r"169\.254\.169\.254"):
        metadata.fetch("http://169.254.169.254/latest/meta-data/")
    assert len(news_site.requests) == before  # nothing was sent anywhere


def test_a_redirect_to_a_private_address_is_refused(news_site, monkeypatch):
    """The site itself counts as public here (it must be reached); its redirect to a private address is
    refused before that address is connected to, as is a redirect to a name resolving to one."""
    site_address = "127.0.0.1"
    real = fetch.is_public_address
    monkeypatch.setattr(fetch, "is_public_address", lambda a: a == site_address or real(a))
    resolve = resolving({"gazette.test": [site_address], "intranet.example": ["192.168.0.10"],
                         "10.0.0.5": ["10.0.0.5"], "169.254.169.254": ["169.254.169.254"]})
    refusing = fetcher(allow_private=False, resolver=resolve)
    assert refusing.fetch(news_site.url("gazette.test", "/2025/02/20/breakwater")).content  # reachable
    for target in ("http://10.0.0.5/admin", "http://intranet.example/", "http://169.254.169.254/latest/meta-data/"):
        url = news_site.url("gazette.test", f"/x-redirect?to={target}")
        with pytest.raises(URLRefused, match="resolves to a private address"):
            refusing.fetch(url)
    # Allowed, the same redirect is followed (here to the site itself, as 127.0.0.1).
    allowing = fetcher(resolver=resolving({"gazette.test": [site_address], "127.0.0.1": [site_address]}))
    page = allowing.fetch(news_site.url("gazette.test", f"/x-redirect?to=http://127.0.0.1:{news_site.port}"
                                                        "/2025/02/20/breakwater"))
    assert page.url.startswith("http://127.0.0.1:") and b"breakwater" in page.content


def test_the_connection_goes_to_the_address_checked(news_site, monkeypatch):
    """DNS rebinding: a name that resolves to a public address when checked and to a private one a moment
    later. The host is resolved once per hop, and the request goes to the address checked, with the host
    name in the Host header."""
    calls: list[str] = []
    answers = iter([["127.0.0.1"], ["10.0.0.5"], ["10.0.0.5"]])
    monkeypatch.setattr(fetch, "is_public_address", lambda a: a == "127.0.0.1")

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    rebind = fetcher(allow_private=False, resolver=rebinding)
    page = rebind.fetch(news_site.url("rebind.test", "/2025/02/20/breakwater"))
    assert b"400-metre breakwater" in page.content
    assert calls == ["rebind.test"]
    assert news_site.requests[-1] == (f"rebind.test:{news_site.port}", "/2025/02/20/breakwater")


def test_redirects_are_followed_up_to_the_limit(news_site):
    page = fetcher().fetch(news_site.url("gazette.test", "/x-chain/5"))
    assert page.url.endswith("/2025/02/20/breakwater") and b"breakwater" in page.content
    with pytest.raises(URLRefused, match="redirects more than 5 times"):
        fetcher().fetch(news_site.url("gazette.test", "/x-chain/6"))


def test_size_type_status_and_time_limits(news_site):
    small = fetcher(max_bytes=100_000)
    for query in ("bytes=200000", "bytes=200000&chunked=1"):  # declared, or only seen while reading
        with pytest.raises(URLRefused, match=r"larger than 100,000 bytes \(ARTICLECHAT_FETCH_MAX_BYTES\)"):
            small.fetch(news_site.url("gazette.test", f"/x-big?{query}"))
    assert len(small.fetch(news_site.url("gazette.test", "/x-big?bytes=50000")).content) < 100_000
    with pytest.raises(URLRefused, match="is application/pdf, not an HTML page"):
        fetcher().fetch(news_site.url("gazette.test", "/x-pdf"))
    with pytest.raises(URLRefused, match="is text/html, not an RSS or Atom feed"):
        fetcher().fetch(news_site.page_url("gazette-breakwater"), "feed")
    feed = fetcher().fetch(news_site.url("gazette.test", "/feeds/gazette.rss"), "feed")
    assert feed.media_type == "application/rss+xml"
    with pytest.raises(UpstreamError, match="answered 404 Not Found"):
        fetcher().fetch(news_site.url("gazette.test", "/2025/03/03/harbour-dredging"))
    with pytest.raises(UpstreamError, match="answered 503"):
        fetcher().fetch(news_site.url("gazette.test", "/x-error?status=503"))
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout, match=r"within 1 s"):
        fetcher(timeout=1.0).fetch(news_site.url("gazette.test", "/x-slow?seconds=3"))
    assert time.monotonic() - started < 2.5
    with pytest.raises(UpstreamError, match="could not be resolved"):
        fetcher().fetch("http://nowhere.example/")


@pytest.mark.parametrize(("url", "message"), [
    ("ftp://gazette.test/file", "not a web address"),
    ("file:///etc/passwd", "not a web address"),
    ("http:///no-host", "not a web address"),
    ("http://user:secret@gazette.test/", "user name or password"),
    ("http://gazette.test:99999/", "not a valid URL"),
    ("http://gazette.test/" + "a" * 3000, "characters long"),
])
def test_urls_that_cannot_be_fetched_are_refused_with_what_to_fix(url, message):
    with pytest.raises(URLRefused, match=message):
        fetcher().fetch(url)


def test_a_page_is_decoded_with_the_charset_it_declares():
    latin = "Caf\xe9 au port".encode("latin-1")
    assert fetch.FetchedPage("u", latin, "text/html", "iso-8859-1").text() == "Café au port"
    declared = b'<html><head><meta charset="windows-1252"></head><body>Caf\xe9</body></html>'
    assert "Café" in fetch.FetchedPage("u", declared, "text/html", None).text()
    assert fetch.FetchedPage("u", "Café".encode(), "text/html", None).text() == "Café"
    assert fetch.FetchedPage("u", b"Caf\xe9", "text/html", None).text() == "Café"  # not UTF-8: Windows-1252


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_https_is_verified_against_the_host_name_while_connecting_to_the_address(tmp_path):
    """The connection goes to the checked address; the TLS server name (SNI) and the certificate check are
    the URL's host name's, so a certificate for another name is refused."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=Test CA")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "site.key", "-out", "site.csr",
            "-subj", "/CN=secure.test")
    (tmp_path / "ext.cnf").write_text("subjectAltName=DNS:secure.test\n")
    openssl("x509", "-req", "-in", "site.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
            "site.pem", "-days", "2", "-extfile", "ext.cnf")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"<html><body><p>Host {self.headers['Host']}</p></body></html>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "site.pem", tmp_path / "site.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        trusting = fetcher(verify=ssl.create_default_context(cafile=str(tmp_path / "ca.pem")))
        assert f"Host secure.test:{port}" in trusting.fetch(f"https://secure.test:{port}/").text()
        with pytest.raises(UpstreamError, match="CERTIFICATE_VERIFY_FAILED"):
            trusting.fetch(f"https://other.test:{port}/")
    finally:
        server.shutdown()
        server.server_close()
