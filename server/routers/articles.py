"""GET/POST/DELETE /articles and POST /articles/upload: thin HTTP over the ArticleService."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Response, UploadFile

from server.api_models import (
    ArticleDetail,
    ArticleIn,
    ArticleOutline,
    ArticlesBatchIn,
    ArticlesBatchOut,
    ArticleSummary,
    BatchItemOut,
    ErrorBody,
    HeadingOut,
    IngestOut,
    SectionOut,
)
from server.dependencies import ArticlesDep
from server.limits import MAX_TITLE_CHARS
from server.security import ReadAccess, WriteAccess
from server.services.articles import ARTICLE_ID_PATTERN, ArticleError, ArticleInput, IngestResult, UrlInput

# Every route is a read (the key with ARTICLECHAT_PROTECT_READS); the writes add WriteAccess.
router = APIRouter(prefix="/articles", tags=["articles"], dependencies=[ReadAccess])
Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: {"model": ErrorBody, "description": "No article has this id."}}
UNCHANGED: Responses = {200: {"model": IngestOut, "description": "Unchanged: already indexed as is."}}
ADD_ERRORS: Responses = {
    400: {"model": ErrorBody, "description": "The body is not valid JSON."},
    413: {"model": ErrorBody, "description": "Larger than ARTICLECHAT_MAX_UPLOAD_BYTES."},
    422: {"model": ErrorBody, "description": "Invalid fields, or an unusable article (empty, binary, not UTF-8…)."},
}
# A page fetched by URL (POST /articles {"url"}, and POST /feeds).
FETCH_ERRORS: Responses = {
    422: {"model": ErrorBody, "description": "Invalid fields, an unusable article, or a URL that cannot be fetched as "
          "given: not http(s), resolving to a private address (see ARTICLECHAT_ALLOW_PRIVATE_URLS), not HTML, larger "
          "than ARTICLECHAT_FETCH_MAX_BYTES, more than 5 redirects."},
    502: {"model": ErrorBody, "description": "The site could not be resolved or reached, or answered an error."},
    504: {"model": ErrorBody, "description": "The site took longer than ARTICLECHAT_FETCH_TIMEOUT."},
}


@router.get("", response_model=list[ArticleSummary])
def list_articles(articles: ArticlesDep) -> list[ArticleSummary]:
    """The indexed articles, by title, with what is known of their publication (URL, source, author,
    date; null when unknown)."""
    return [ArticleSummary(**_known(asdict(info))) for info in articles.list_articles()]


def _known(fields: dict[str, Any]) -> dict[str, Any]:
    """Unknown metadata ("" in the services) is null in the API."""
    return {k: (None if v == "" and k in ("url", "source", "author", "published") else v) for k, v in fields.items()}


@router.get("/{article_id}", response_model=ArticleDetail, responses=NOT_FOUND)
def get_article(article_id: str, articles: ArticlesDep) -> ArticleDetail:
    """An article's full text and its sections with their offsets (to show a citation in context)."""
    article = articles.get(article_id)
    fields = _known({"url": article.url, "source": article.source, "author": article.author,
                     "published": article.published})
    return ArticleDetail(
        id=article.id,
        title=article.title,
        format=article.format,
        ingested_at=article.ingested_at,
        text=article.text,
        sections=[SectionOut(**asdict(s)) for s in article.sections],
        aliases=article.aliases,
        headings=[HeadingOut(**asdict(h)) for h in article.headings],
        **fields,
    )


@router.get("/{article_id}/outline", response_model=ArticleOutline, responses=NOT_FOUND)
def get_outline(article_id: str, articles: ArticlesDep) -> ArticleOutline:
    """An article without its text: its first sentence, its headings with their levels and the names it
    mentions most, to suggest questions or list its sections (a few hundred bytes to a few KB)."""
    outline = articles.outline(article_id)
    return ArticleOutline(
        id=outline.id,
        title=outline.title,
        ingested_at=outline.ingested_at,
        lede=outline.lede,
        headings=[HeadingOut(**asdict(h)) for h in outline.headings],
        names=outline.names,
    )


# Plain `def` endpoints: FastAPI runs them in its threadpool, so embedding stays off the event loop.
@router.post(
    "",
    status_code=201,
    dependencies=[WriteAccess],
    response_model=IngestOut,
    responses={
        **UNCHANGED,
        **ADD_ERRORS,
        **FETCH_ERRORS,
        415: {"model": ErrorBody, "description": "Not JSON: upload files to POST /articles/upload."},
    },
)
def add_article(body: ArticleIn, response: Response, articles: ArticlesDep) -> IngestOut:
    """Add or replace an article given as JSON `text`, or fetched from a news page's `url` (its article
    extracted, with its title, author, date, publication and canonical URL; its id from that URL). 201
    when new or changed, 200 when unchanged, or when the page is a copy of an indexed article (a
    syndicated story: `aliased_url` says so, and `id` names that article)."""
    if body.url is not None:
        result = articles.add_url(body.url.strip(), article_id=body.id, title=body.title)
    else:
        assert body.text is not None  # ArticleIn has one of the two
        result = articles.add_text(body.text, body.format, article_id=body.id, title=body.title)
    return _ingested(result, response)


@router.post(
    "/batch",
    status_code=207,
    dependencies=[WriteAccess],
    response_model=ArticlesBatchOut,
    responses={**ADD_ERRORS, 207: {"description": "Processed: each article's own status is in `results`."}},
)
def add_articles(body: ArticlesBatchIn, articles: ArticlesDep) -> ArticlesBatchOut:
    """Add or replace up to 100 articles in one request (up to 20 of them by `url`), embedded together
    (several times faster than one request each). Always 207 once the request is valid: each result
    carries the status POST /articles would have given that article (201, 200, or 422, 502 or 504 with
    its error); an unusable article does not stop the others."""
    items = [UrlInput(a.url.strip(), a.id, a.title) if a.url is not None else ArticleInput(a.text or "", None, a.format,
                                                                                             a.id, a.title)
             for a in body.articles]
    results = []
    for index, outcome in enumerate(articles.add_many(items)):
        if isinstance(outcome, ArticleError):
            results.append(BatchItemOut(index=index, status=getattr(outcome, "status", 422), error=str(outcome)))
        else:
            results.append(BatchItemOut(index=index, status=200 if outcome.status == "unchanged" else 201,
                                        article=ingest_out(outcome)))
    return ArticlesBatchOut(
        results=results,
        added=sum(r.status == 201 for r in results),
        unchanged=sum(r.status == 200 for r in results),
        failed=sum(r.status == 422 for r in results),
    )


@router.post(
    "/upload", status_code=201, response_model=IngestOut, responses={**UNCHANGED, **ADD_ERRORS},
    dependencies=[WriteAccess],
)
def upload_article(
    file: Annotated[UploadFile, File(description="The article: a .txt, .md or .html file, UTF-8.")],
    response: Response,
    articles: ArticlesDep,
    title: Annotated[str | None, Form(max_length=MAX_TITLE_CHARS, description="Default: from the file.")] = None,
    article_id: Annotated[
        str | None, Form(alias="id", pattern=ARTICLE_ID_PATTERN, description="Default: from the file name.")
    ] = None,
) -> IngestOut:
    """Add or replace an article uploaded as a multipart `file`. 201 when new or changed, 200 when
    unchanged."""
    if not file.filename:
        raise HTTPException(422, "no file in the upload: send the article as the multipart field 'file'")
    data = file.file.read(articles.max_upload_bytes + 1)  # one byte over the limit is enough to refuse
    result = articles.add_upload(data, file.filename, article_id=article_id or None, title=title or None)
    return _ingested(result, response)


def _ingested(result: IngestResult, response: Response) -> IngestOut:
    response.status_code = 200 if result.status == "unchanged" else 201
    return ingest_out(result)


def ingest_out(result: IngestResult) -> IngestOut:
    return IngestOut(
        id=result.article_id, title=result.title, status=result.status, sections=result.sections, chunks=result.chunks,
        url=result.url or None, aliased_url=result.aliased or None,
    )


@router.delete("/{article_id}", status_code=204, responses=NOT_FOUND, dependencies=[WriteAccess])
def delete_article(article_id: str, articles: ArticlesDep) -> Response:
    """Remove an article and all its passages."""
    articles.delete(article_id)
    return Response(status_code=204)
