"""Access control over real HTTP (uvicorn): the API key on writes (and reads with protect-reads), writes from
other sites refused, CORS only when configured, the Host allow-list, the request log and X-Request-ID, and
the security scheme in the OpenAPI schema."""

from __future__ import annotations

import logging
import re
import time
from types import SimpleNamespace

import pytest
from pydantic import SecretStr, ValidationError

from server import security
from server.cli import main
from server.hosts import configured_host, configured_origin, host_of, split_list
from server.settings import Settings, get_settings
from tests.conftest import make_settings

KEY = "k3y-for-tests-7f1c"
ARTICLE = {"id": "guarded", "text": "Harbour news\n\nThe ferry to Skerry now leaves at 7:15 every morning.\n"}
EVIL = "http://evil.example"
REQUEST_ID = re.compile(r"[0-9a-f]{12}")


@pytest.fixture
def serve(make_container, start_server):
    """A server with these settings over an empty store."""
    return lambda **settings: start_server(make_container(seed_sample=False, **settings))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_refused(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    if response.request.url.path.startswith("/v1/"):  # OpenAI's error body, for the SDKs
        assert message["type"] == "invalid_request_error", message
        message = message["message"]
    assert all(word in message for word in words), message


# ---- the API key -------------------------------------------------------------------------------


def test_writes_need_the_key_and_reads_stay_open(serve):
    server = serve(api_key=KEY)
    with server.client() as client:
        for headers in ({}, bearer("wrong"), {"Authorization": f"Basic {KEY}"}, bearer(KEY + "x")):
            response = client.post("/articles", json=ARTICLE, headers=headers)
            assert_refused(response, 401, "Authorization: Bearer", "ARTICLECHAT_API_KEY")
            assert response.headers["www-authenticate"] == "Bearer"
        assert_refused(client.post("/articles/upload", files={"file": ("a.txt", b"Some text.\n")}), 401)
        assert_refused(client.post("/articles/batch", json={"articles": [ARTICLE]}), 401)
        assert_refused(client.post("/articles", json={"url": "http://gazette.test/story"}), 401)
        assert_refused(client.post("/feeds", json={"url": "http://gazette.test/rss"}), 401)
        assert_refused(client.delete("/feeds/0123456789abcdef"), 401)
        assert client.get("/articles").json() == []  # nothing was written
        assert client.get("/feeds").json() == []

        assert client.post("/articles", json=ARTICLE, headers=bearer(KEY)).status_code == 201
        upload = client.post("/articles/upload", files={"file": ("ferry.md", b"# Ferry\n\nIt runs daily.\n")},
                             headers={"authorization": f"bearer {KEY}"})  # the scheme is case-insensitive
        assert upload.status_code == 201, upload.text

        # Reads need no key.
        assert {a["id"] for a in client.get("/articles").json()} == {"guarded", "ferry"}
        assert client.get("/articles/guarded").status_code == 200
        assert client.post("/ask", json={"question": "When does the ferry to Skerry leave?"}).status_code == 200
        assert client.post("/ask/stream", json={"question": "When does the ferry leave?"}).status_code == 200
        # SDKs always send some key: without ARTICLECHAT_PROTECT_READS, any will do.
        chat = client.post("/v1/chat/completions", headers=bearer("sk-anything"),
                           json={"messages": [{"role": "user", "content": "When does the ferry to Skerry leave?"}]})
        assert chat.status_code == 200 and "7:15" in chat.json()["choices"][0]["message"]["content"]
        assert client.get("/v1/models").status_code == 200

        assert_refused(client.delete("/articles/guarded"), 401)
        assert_refused(client.delete("/articles/guarded", headers=bearer("wrong")), 401)
        assert client.delete("/articles/guarded", headers=bearer(KEY)).status_code == 204


def test_protect_reads_needs_the_key_everywhere_but_health_ui_and_docs(serve):
    server = serve(api_key=KEY, protect_reads=True)
    with server.client() as client:
        chat = {"messages": [{"role": "user", "content": "When does the ferry leave?"}]}
        reads = [("GET", "/articles", None), ("GET", "/articles/guarded", None), ("GET", "/feeds", None),
                 ("GET", "/articles/guarded/outline", None),
                 ("POST", "/ask", {"question": "When does the ferry leave?"}),
                 ("POST", "/ask/stream", {"question": "When does the ferry leave?"}),
                 ("POST", "/v1/chat/completions", chat), ("POST", "/v1/chat/completions", {**chat, "stream": True}),
                 ("GET", "/v1/models", None), ("GET", "/v1/models/articlechat", None)]
        for method, path, body in reads:
            response = client.request(method, path, json=body)
            assert_refused(response, 401, "ARTICLECHAT_API_KEY")
            assert response.headers["www-authenticate"] == "Bearer"
            assert_refused(client.request(method, path, json=body, headers=bearer("wrong")), 401)
        assert client.post("/articles", json=ARTICLE, headers=bearer(KEY)).status_code == 201
        for method, path, body in reads:
            assert client.request(method, path, json=body, headers=bearer(KEY)).status_code == 200, path
        for path in ("/healthz", "/", "/ui/app.js", "/favicon.ico", "/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 200, path


def test_protect_reads_without_a_key_is_a_settings_error(tmp_path):
    with pytest.raises(ValidationError, match="ARTICLECHAT_API_KEY"):
        make_settings(tmp_path, protect_reads=True)
    assert make_settings(tmp_path, api_key="").api_key is None  # blank is unset
    assert KEY not in repr(make_settings(tmp_path, api_key=KEY))  # never printed


def test_the_key_is_compared_in_constant_time(monkeypatch):
    calls = []

    def compare_digest(a, b):
        calls.append((a, b))
        return a == b

    monkeypatch.setattr(security.hmac, "compare_digest", compare_digest)
    assert security.key_matches(KEY, SecretStr(KEY))
    assert not security.key_matches("guess", SecretStr(KEY))
    assert calls == [(KEY.encode(), KEY.encode()), (b"guess", KEY.encode())]


# ---- writes from other sites, CORS -------------------------------------------------------------


def test_writes_from_another_site_are_refused(serve):
    server = serve()
    with server.client() as client:
        cross_site = [{"Origin": EVIL}, {"Referer": EVIL + "/page?x=1"}, {"Origin": "null"},
                      {"Origin": server.url.replace("127.0.0.1", "localhost")}]  # another origin, same machine
        for headers in cross_site:
            assert_refused(client.post("/articles", json=ARTICLE, headers=headers), 403,
                           "cross-site", "ARTICLECHAT_CORS_ORIGINS")
            assert_refused(client.post("/feeds", json={"url": "http://gazette.test/rss"}, headers=headers), 403)
            upload = client.post("/articles/upload", files={"file": ("a.txt", b"Some text.\n")}, headers=headers)
            assert_refused(upload, 403)
        assert "page?x=1" not in client.post("/articles", json=ARTICLE, headers=cross_site[1]).text
        assert client.get("/articles").json() == []

        # This server's own pages, and clients that are not browsers, may write.
        assert client.post("/articles", json=ARTICLE, headers={"Origin": server.url}).status_code == 201
        assert client.post("/articles", json=ARTICLE, headers={"Referer": server.url + "/"}).status_code == 200
        assert client.post("/articles", json=ARTICLE).status_code == 200
        assert_refused(client.delete("/articles/guarded", headers={"Origin": EVIL}), 403)
        # Reads from anywhere are answered, but without CORS a browser keeps them from the other page.
        response = client.get("/articles", headers={"Origin": EVIL})
        assert response.status_code == 200 and "access-control-allow-origin" not in response.headers
        preflight = client.options("/articles", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in preflight.headers
        assert client.delete("/articles/guarded", headers={"Origin": server.url}).status_code == 204


def test_listed_origins_may_write_with_cors(serve):
    app_origin = "https://app.example"
    server = serve(api_key=KEY, cors_origins=f"{app_origin}/, http://other.example:8080")
    with server.client() as client:
        preflight = client.options("/articles", headers={
            "Origin": app_origin, "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "authorization,content-type"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == app_origin
        assert set(preflight.headers["access-control-allow-methods"].split(", ")) == {"GET", "POST", "DELETE"}
        assert {"authorization", "content-type"} <= set(preflight.headers["access-control-allow-headers"].lower()
                                                         .split(", "))
        created = client.post("/articles", json=ARTICLE, headers={"Origin": app_origin, **bearer(KEY)})
        assert created.status_code == 201, created.text
        assert created.headers["access-control-allow-origin"] == app_origin
        assert "x-request-id" in created.headers["access-control-expose-headers"].lower()
        # Listed is not a key: the key is still needed.
        assert_refused(client.delete("/articles/guarded", headers={"Origin": app_origin}), 401)
        other = client.delete("/articles/guarded", headers={"Origin": "http://other.example:8080", **bearer(KEY)})
        assert other.status_code == 204

        refused = client.post("/articles", json=ARTICLE, headers={"Origin": EVIL, **bearer(KEY)})
        assert_refused(refused, 403, EVIL)
        assert "access-control-allow-origin" not in refused.headers


def test_list_settings_take_commas_or_json(monkeypatch, tmp_path):
    monkeypatch.setenv("ARTICLECHAT_CORS_ORIGINS", "https://a.example, HTTP://B.example:80/")
    monkeypatch.setenv("ARTICLECHAT_ALLOWED_HOSTS", '["articles.example.com", "::1", "*.Example.org"]')
    settings = Settings(_env_file=None, data_dir=tmp_path)
    assert settings.cors_origins == ["https://a.example", "http://b.example"]
    assert settings.allowed_hosts == ["articles.example.com", "[::1]", "*.example.org"]
    monkeypatch.setenv("ARTICLECHAT_ALLOWED_HOSTS", "[::1],localhost")  # not JSON, though it starts with [
    assert Settings(_env_file=None, data_dir=tmp_path).allowed_hosts == ["[::1]", "localhost"]
    monkeypatch.setenv("ARTICLECHAT_ALLOWED_HOSTS", "")
    assert Settings(_env_file=None, data_dir=tmp_path).allowed_hosts == ["127.0.0.1", "localhost", "[::1]"]
    assert split_list('["a", "b"]') == split_list("a, b,") == ["a", "b"]
    for bad_origin in ("*", "app.example", "https://app.example/path", "ftp://app.example"):
        with pytest.raises(ValueError, match="not a web origin"):
            configured_origin(bad_origin)
    for bad_host in ("localhost:8000", "http://localhost", "a*b.example", "*example.com"):
        with pytest.raises(ValueError, match="not a host name"):
            configured_host(bad_host)


# ---- the Host allow-list -----------------------------------------------------------------------


def test_only_allowed_hosts_are_answered(serve, sample_server):
    with sample_server.client() as client:
        port = sample_server.port
        for host in ("evil.example", f"evil.example:{port}", f"127.0.0.2:{port}", f"localhost.evil.example:{port}"):
            response = client.get("/healthz", headers={"Host": host})
            assert_refused(response, 400, "ARTICLECHAT_ALLOWED_HOSTS")
            assert REQUEST_ID.fullmatch(response.headers["x-request-id"])
        assert_refused(client.get("/", headers={"Host": "evil.example"}), 400)  # the UI too
        assert_refused(client.get("/healthz", headers={"Host": "[::1"}), 400, "malformed")
        assert_refused(client.get("/v1/models", headers={"Host": "evil.example"}), 400, "ARTICLECHAT_ALLOWED_HOSTS")
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}", "127.0.0.1"):
            assert client.get("/healthz", headers={"Host": host}).status_code == 200, host

    with serve(allowed_hosts="*").client() as client:
        assert client.get("/healthz", headers={"Host": "evil.example"}).status_code == 200
    with serve(allowed_hosts="articles.example.com,*.corp.example").client() as client:
        assert client.get("/healthz", headers={"Host": "articles.example.com:8000"}).status_code == 200
        assert client.get("/healthz", headers={"Host": "a.b.corp.example"}).status_code == 200
        assert_refused(client.get("/healthz"), 400, "'127.0.0.1'")
    assert host_of("[::1]:8000") == "[::1]" and host_of("Example.COM") == "example.com"
    assert host_of("[zz::1]") is None and host_of("a b") is None and host_of(None) is None


# ---- request log, X-Request-ID -----------------------------------------------------------------


def wait_for_line(caplog, request_id: str) -> str:
    deadline = time.monotonic() + 10  # logged by the server's thread once the response is sent
    while time.monotonic() < deadline:
        lines = [r.getMessage() for r in caplog.records if r.name == "articlechat.requests"]
        found = [line for line in lines if line.startswith(request_id + " ")]
        if found:
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.02)
    raise AssertionError(f"no log line for request {request_id}")


def test_one_log_line_per_request_with_its_id_and_no_text(serve, caplog):
    caplog.set_level(logging.INFO, logger="articlechat.requests")
    question = "When does the ferry to Skerry leave on Sundays?"
    server = serve(api_key=KEY)
    with server.client() as client:
        added = client.post("/articles?secret=q1", json=ARTICLE, headers=bearer(KEY))
        line = wait_for_line(caplog, added.headers["x-request-id"])
        assert re.fullmatch(r"[0-9a-f]{12} POST /articles 201 \d+\.\dms", line), line

        streamed = client.post("/ask/stream", json={"question": question})
        assert "event: done" in streamed.text
        line = wait_for_line(caplog, streamed.headers["x-request-id"])
        assert " POST /ask/stream 200 " in line

        answered = client.post("/ask", json={"question": question}, headers={"X-Request-ID": "proxy-42.a:b_c"})
        assert answered.headers["x-request-id"] == "proxy-42.a:b_c"  # a client's id is reused
        assert " POST /ask 200 " in wait_for_line(caplog, "proxy-42.a:b_c")

        for unsafe in ("x" * 65, "two words", "<script>"):
            replaced = client.get("/healthz", headers={"X-Request-ID": unsafe}).headers["x-request-id"]
            assert REQUEST_ID.fullmatch(replaced)
        responses = [client.get("/healthz"), client.get("/"), client.get("/ui/app.css"), client.get("/docs"),
                     client.get("/nowhere"), client.post("/articles", json=ARTICLE),
                     client.post("/ask", content=b"{", headers={"content-type": "application/json"}),
                     client.get("/articles/x%0Ainjected")]
        ids = [r.headers["x-request-id"] for r in responses]
        assert all(REQUEST_ID.fullmatch(i) for i in ids) and len(set(ids)) == len(ids)
        assert " POST /articles 401 " in wait_for_line(caplog, ids[5])
        assert "/articles/x\\x0ainjected 404" in wait_for_line(caplog, ids[7])  # one request, one line

    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (question, "Skerry", KEY, "secret=q1", ARTICLE["text"][:20]):
        assert secret not in logged


def test_serve_warns_when_writes_are_open_to_the_network(monkeypatch, caplog, tmp_path):
    import uvicorn

    runs: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: runs.append(kwargs))
    monkeypatch.chdir(tmp_path)  # no developer's .env
    monkeypatch.setenv("ARTICLECHAT_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ARTICLECHAT_API_KEY", raising=False)

    def serve(*args: str) -> list[str]:
        get_settings.cache_clear()
        caplog.clear()
        try:
            assert main(["serve", *args], make_container=lambda settings: SimpleNamespace(settings=settings)) == 0
        finally:
            get_settings.cache_clear()
        return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]

    warnings = serve("--host", "0.0.0.0")
    assert len(warnings) == 1 and "writes are open to the network" in warnings[0]
    assert runs[-1]["access_log"] is False  # request_log logs each request, once
    assert serve() == [] and serve("--host", "::1") == [] and serve("--host", "localhost") == []
    monkeypatch.setenv("ARTICLECHAT_API_KEY", KEY)
    assert serve("--host", "0.0.0.0") == []


# ---- the OpenAPI schema ------------------------------------------------------------------------


def security_of(schema: dict) -> dict[str, list | None]:
    return {f"{method.upper()} {path}": operation.get("security")
            for path, item in schema["paths"].items() for method, operation in item.items()}


def test_openapi_lists_the_key_on_the_protected_operations(serve, sample_server):
    writes = {"POST /articles", "POST /articles/upload", "POST /articles/batch", "DELETE /articles/{article_id}",
              "POST /feeds", "DELETE /feeds/{feed_id}"}
    reads = {"GET /articles", "GET /articles/{article_id}", "GET /articles/{article_id}/outline", "GET /feeds",
             "POST /ask", "POST /ask/stream",
             "POST /v1/chat/completions", "GET /v1/models", "GET /v1/models/{model_id}"}
    with serve(api_key=KEY).client() as client:
        schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["APIKey"] == {
        "type": "http", "scheme": "bearer", "description": security.SCHEME_DESCRIPTION}
    operations = security_of(schema)
    assert {op for op, needs in operations.items() if needs} == writes
    assert all(operations[op] == [{"APIKey": []}] for op in writes)
    assert operations["GET /healthz"] is None
    write = schema["paths"]["/articles"]["post"]["responses"]
    assert write["401"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    assert "403" in write

    with serve(api_key=KEY, protect_reads=True).client() as client:
        schema = client.get("/openapi.json").json()
    operations = security_of(schema)
    assert {op for op, needs in operations.items() if needs} == writes | reads
    chat = schema["paths"]["/v1/chat/completions"]["post"]["responses"]["401"]  # in the error shape SDKs read
    assert chat["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/OpenAIErrorBody"}

    with sample_server.client() as client:  # no key: no scheme, no "Authorize" button
        schema = client.get("/openapi.json").json()
    assert "securitySchemes" not in schema.get("components", {})
    assert not any(security_of(schema).values())
