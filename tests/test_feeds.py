"""Feeds through the real API: an RSS and an Atom feed of the local news site (tests/news_server.py) are
followed, their entries' pages ingested, a failing entry reported while the others go on, a second poll
fetching only new or changed entries; the state lives in the store (another process sees it); `serve`
polls configured feeds on an interval."""

from __future__ import annotations

import time

import pytest

from tests.conftest import make_settings

RSS, ATOM = "/feeds/gazette.rss", "/feeds/roundup.atom"


@pytest.fixture
def serve(make_container, start_server):
    return lambda **settings: start_server(make_container(seed_sample=False, allow_private_urls=True, **settings))


def statuses(run: dict) -> dict[str, str]:
    return {entry["url"].rsplit("/", 1)[1]: entry["status"] for entry in run["entries"]}


def test_a_feed_is_followed_and_polled_again_idempotently(serve, news_site):
    server = serve()
    rss = news_site.url("gazette.test", RSS)
    with server.client() as client:
        first = client.post("/feeds", json={"url": rss})
        assert first.status_code == 201, first.text
        run = first.json()
        assert statuses(run) == {"ferry-workers-strike": "new", "harbour-dredging": "failed", "breakwater": "new"}
        failed = next(e for e in run["entries"] if e["status"] == "failed")
        assert failed["error_status"] == 502 and "404 Not Found" in failed["error"]  # reported; the others went on
        assert (run["new"], run["failed"], run["seen"]) == (2, 1, 0)
        assert run["feed"]["title"] == "The Harbour Gazette — Local News"
        ids = {a["id"] for a in client.get("/articles").json()}
        assert ids == {"gazette-test-2025-03-04-ferry-workers-strike", "gazette-test-2025-02-20-breakwater"}
        # The feed's own date and author are kept, the page's own win.
        breakwater = client.get("/articles/gazette-test-2025-02-20-breakwater").json()
        assert (breakwater["published"], breakwater["author"]) == ("2025-02-20T15:05:00Z", "Joe Lindqvist")

        again = client.post("/feeds", json={"url": rss})
        assert again.status_code == 200, again.text
        # Seen entries are not fetched again; the failing one is tried again.
        requests_before = len(news_site.requests)
        assert statuses(again.json()) == {"ferry-workers-strike": "seen", "harbour-dredging": "failed",
                                          "breakwater": "seen"}
        third = client.post("/feeds", json={"url": rss}).json()
        fetched = [path for _, path in news_site.requests[requests_before:]]
        assert fetched == [RSS, "/2025/03/03/harbour-dredging"]
        assert third["seen"] == 2

        # A changed entry (a new date in the feed) is fetched again: its page changed, so it is updated.
        feed, content_type = news_site.routes[RSS]
        page, page_type = news_site.routes["/2025/02/20/breakwater"]
        try:
            news_site.routes[RSS] = (feed.replace(b"Thu, 20 Feb 2025 15:05:00 GMT", b"Fri, 21 Feb 2025 09:00:00 GMT"),
                                     content_type)
            news_site.routes["/2025/02/20/breakwater"] = (page.replace(b"nine to two", b"ten to one"), page_type)
            changed = client.post("/feeds", json={"url": rss}).json()
        finally:
            news_site.routes[RSS] = (feed, content_type)
            news_site.routes["/2025/02/20/breakwater"] = (page, page_type)
        assert statuses(changed)["breakwater"] == "updated" and statuses(changed)["ferry-workers-strike"] == "seen"
        assert "ten to one" in client.get("/articles/gazette-test-2025-02-20-breakwater").json()["text"]

        listed = client.get("/feeds").json()
        assert len(listed) == 1
        feed_out = listed[0]
        assert feed_out["url"] == rss and feed_out["entries"] == 3 and feed_out["last_error"] is None
        assert feed_out["last_polled_at"] >= feed_out["added_at"]
        assert feed_out["last_run"] == {"new": 0, "updated": 1, "unchanged": 0, "seen": 1, "failed": 1, "deferred": 0}
        assert feed_out["articles"] == 3  # two new at first, one updated since

        # The state is in the store: another process over it (here another container) sees the same feeds.
        other = server.container.__class__(server.container.settings, embedder=server.container.embedder)
        assert [f.url for f in other.feeds.list_feeds()] == [rss]

        assert client.delete(f"/feeds/{feed_out['id']}").status_code == 204
        assert client.get("/feeds").json() == []
        assert client.delete(f"/feeds/{feed_out['id']}").status_code == 404
        assert len(client.get("/articles").json()) == 2  # the articles stay


def test_an_atom_feed_and_the_pages_per_run_cap(serve, news_site):
    server = serve(feed_max_pages=1)
    atom = news_site.url("roundup.test", ATOM)
    with server.client() as client:
        first = client.post("/feeds", json={"url": atom}).json()
        assert statuses(first) == {"skerry-ferry-strike": "new", "skerry-lighthouse-restored": "deferred"}
        second = client.post("/feeds", json={"url": atom}).json()
        assert statuses(second) == {"skerry-ferry-strike": "seen", "skerry-lighthouse-restored": "new"}
        lighthouse = client.get("/articles/islander-test-news-skerry-lighthouse-restored").json()
        assert lighthouse["source"] == "The Islander"


def test_what_is_not_a_feed_is_refused_and_a_new_one_not_kept(serve, news_site):
    server = serve()
    with server.client() as client:
        page = client.post("/feeds", json={"url": news_site.page_url("gazette-breakwater")})
        assert page.status_code == 422 and "not an RSS or Atom feed" in page.json()["error"]
        missing = client.post("/feeds", json={"url": news_site.url("gazette.test", "/feeds/none.rss")})
        assert missing.status_code == 502 and "404" in missing.json()["error"]
        assert client.post("/feeds", json={"url": "gazette.test/rss"}).status_code == 422
        assert client.post("/feeds", json={"url": news_site.url("gazette.test", RSS), "x": 1}).status_code == 422
        assert client.get("/feeds").json() == []


def test_serve_polls_the_configured_feeds_on_an_interval(make_container, news_site, start_server, tmp_path):
    atom = news_site.url("roundup.test", ATOM)
    assert make_settings(tmp_path, feeds=f"{atom}, {news_site.url('gazette.test', RSS)}").poll_interval == 3600
    assert make_settings(tmp_path, feeds=atom, feed_interval=0).poll_interval == 0  # off
    assert make_settings(tmp_path).poll_interval == 0  # off by default
    server = start_server(make_container(seed_sample=False, allow_private_urls=True, feeds=atom, feed_interval=1))
    with server.client() as client:
        deadline = time.monotonic() + 60
        while not client.get("/feeds").json() or len(client.get("/articles").json()) < 2:
            assert time.monotonic() < deadline, "the configured feed was not polled"
            time.sleep(0.2)
        feeds = client.get("/feeds").json()
        assert [f["url"] for f in feeds] == [atom] and feeds[0]["articles"] == 2
        first_poll = feeds[0]["last_polled_at"]
        deadline = time.monotonic() + 30
        while client.get("/feeds").json()[0]["last_polled_at"] == first_poll:  # polled again, a second later
            assert time.monotonic() < deadline, "the feed was not polled again"
            time.sleep(0.2)
        assert client.get("/feeds").json()[0]["last_run"]["seen"] == 2
