"""A local news site for the tests: the fixture pages and feeds of tests/fixtures/news served on 127.0.0.1,
plus pages that misbehave (a redirect chain, a page too large, a slow one, a PDF, a 404). The pages name
their sites by host (`gazette.test`, `coastal.test`…); `offline_resolver` resolves every `.test` host to
127.0.0.1, and nothing else: no test ever reaches another machine."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "news"
PAGES = json.loads((FIXTURES / "pages.json").read_text(encoding="utf-8"))
FEEDS = {"/feeds/gazette.rss": ("gazette.rss", "application/rss+xml"),
         "/feeds/roundup.atom": ("roundup.atom", "application/atom+xml; charset=utf-8")}
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def offline_resolver(host: str, port: int) -> list[str]:
    """The resolver of every test container: `.test` hosts and loopback names are this machine; any
    other name or address does not resolve (so a URL the fuzzer makes up is a clean 502, never a fetch)."""
    host = host.lower().strip("[]")
    if host.endswith(".test") or host in LOOPBACK_NAMES or host.startswith("127."):
        return ["::1"] if host == "::1" else ["127.0.0.1"]
    raise OSError(f"{host} does not resolve in the tests (no network)")


class NewsSite:
    """The site on a free port; `url(host, path)` gives a URL on it. `routes` maps a path to (body, content
    type): a test may change one (a page updated, a feed with a new entry)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, str]] = {}
        self.requests: list[tuple[str, str]] = []  # (Host header, path) of every request
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        for page in PAGES:
            self.routes[page["path"]] = (self.fixture(page["file"]), "text/html; charset=utf-8")
        for path, (name, content_type) in FEEDS.items():
            self.routes[path] = (self.fixture(name), content_type)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def fixture(self, name: str) -> bytes:
        return (FIXTURES / name).read_text(encoding="utf-8").replace("{port}", str(self.port)).encode()

    def url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{path}"

    def page(self, name: str) -> dict:
        return next(p for p in PAGES if p["file"].startswith(name))

    def page_url(self, name: str) -> str:
        page = self.page(name)
        return self.url(page["host"], page["path"])

    def start(self) -> NewsSite:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                site.requests.append((self.headers.get("Host", ""), parts.path))
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                special = getattr(self, "_" + parts.path.strip("/").split("/")[0].replace("-", "_"), None)
                if special is not None and parts.path.startswith("/x-"):
                    special(parts.path, query)
                elif parts.path in site.routes:
                    body, content_type = site.routes[parts.path]
                    self._send(200, body, content_type)
                else:
                    self._send(404, b"<html><body><h1>Not found</h1></body></html>", "text/html")

            def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            # /x-redirect?to=URL: one redirect; /x-chain/N: N redirects, then the breakwater page.
            def _x_redirect(self, path: str, query: dict) -> None:
                self._send(302, b"", "text/html", {"Location": query["to"]})

            def _x_chain(self, path: str, query: dict) -> None:
                left = int(path.rsplit("/", 1)[1])
                target = f"/x-chain/{left - 1}" if left > 1 else "/2025/02/20/breakwater"
                self._send(301, b"", "text/html", {"Location": target})

            # A page of `bytes` bytes: declared (Content-Length) or not (chunked).
            def _x_big(self, path: str, query: dict) -> None:
                size = int(query.get("bytes", "6000000"))
                filler = b"<html><body><p>" + b"word " * (size // 5) + b"</p></body></html>"
                if query.get("chunked"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(0, len(filler), 65536):
                        piece = filler[i : i + 65536]
                        self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self._send(200, filler, "text/html")

            def _x_slow(self, path: str, query: dict) -> None:
                time.sleep(float(query.get("seconds", "3")))
                self._send(200, site.routes["/2025/02/20/breakwater"][0], "text/html")

            def _x_pdf(self, path: str, query: dict) -> None:
                self._send(200, b"%PDF-1.4 not a page", "application/pdf")

            def _x_error(self, path: str, query: dict) -> None:
                self._send(int(query.get("status", "500")), b"<html><body>Server error</body></html>", "text/html")

        return Handler
