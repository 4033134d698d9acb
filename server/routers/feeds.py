"""GET/POST /feeds and DELETE /feeds/{id}: thin HTTP over the FeedService."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Response

from server.api_models import ErrorBody, FeedEntryOut, FeedIn, FeedOut, FeedRunOut
from server.dependencies import FeedsDep
from server.routers.articles import FETCH_ERRORS, ingest_out
from server.security import ReadAccess, WriteAccess
from server.services.feeds import FeedInfo, FeedRun

router = APIRouter(prefix="/feeds", tags=["feeds"], dependencies=[ReadAccess])
Responses = dict[int | str, dict[str, Any]]


@router.get("", response_model=list[FeedOut])
def list_feeds(feeds: FeedsDep) -> list[FeedOut]:
    """The followed feeds, with when each was last polled and what that poll did."""
    return [_feed(f) for f in feeds.list_feeds()]


# Plain `def`: FastAPI runs it in its threadpool (fetching and embedding take seconds).
@router.post(
    "",
    status_code=201,
    dependencies=[WriteAccess],
    response_model=FeedRunOut,
    responses={
        200: {"model": FeedRunOut, "description": "The feed was followed already; it was polled again."},
        400: {"model": ErrorBody, "description": "The body is not valid JSON."},
        **FETCH_ERRORS,
    },
)
def follow_feed(body: FeedIn, response: Response, feeds: FeedsDep) -> FeedRunOut:
    """Follow an RSS or Atom feed and poll it now: the page of every entry is fetched and ingested as
    POST /articles {"url"} does (at most ARTICLECHAT_FEED_MAX_PAGES a run). Polling again fetches only
    entries that are new or changed (their date); an entry whose page fails is reported with its error and
    the others go on. 201 when the feed is new, 200 when it was followed already. A feed that cannot be
    read at all is a 422, 502 or 504, and a new one is then not kept."""
    run = feeds.follow(body.url.strip())
    response.status_code = 201 if run.created else 200
    return _run(run)


@router.delete("/{feed_id}", status_code=204, dependencies=[WriteAccess],
               responses={404: {"model": ErrorBody, "description": "No followed feed has this id."}})
def unfollow_feed(feed_id: str, feeds: FeedsDep) -> Response:
    """Stop following a feed (its articles stay)."""
    feeds.unfollow(feed_id)
    return Response(status_code=204)


def _feed(info: FeedInfo) -> FeedOut:
    return FeedOut(**asdict(info))


def _run(run: FeedRun) -> FeedRunOut:
    entries = []
    for e in run.entries:
        article = ingest_out(e.article) if e.article is not None else None
        entries.append(FeedEntryOut(url=e.url, status=e.status, article=article, error=e.error,
                                    error_status=e.error_status))
    return FeedRunOut(feed=_feed(run.feed), entries=entries, new=run.count("new"), updated=run.count("updated"),
                      unchanged=run.count("unchanged"), seen=run.count("seen"), failed=run.count("failed"),
                      deferred=run.count("deferred"))
