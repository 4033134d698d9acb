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
from server.services.articles import ARTICLE_ID_PATTERN, ArticleError, ArticleInput, IngestResult

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


@router.get("", response_model=list[ArticleSummary])
def list_articles(articles: ArticlesDep) -> list[ArticleSummary]:
    """The indexed articles, by title."""
    return [ArticleSummary(**asdict(info)) for info in articles.list_articles()]


@router.get("/{article_id}", response_model=ArticleDetail, responses=NOT_FOUND)
def get_article(article_id: str, articles: ArticlesDep) -> ArticleDetail:
    """An article's full text and its sections with their offsets (to show a citation in context)."""
    article = articles.get(article_id)
    return ArticleDetail(
        id=article.id,
        title=article.title,
        format=article.format,
        ingested_at=article.ingested_at,
        text=article.text,
        sections=[SectionOut(**asdict(s)) for s in article.sections],
        headings=[HeadingOut(**asdict(h)) for h in article.headings],
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
        415: {"model": ErrorBody, "description": "Not JSON: upload files to POST /articles/upload."},
    },
)
def add_article(body: ArticleIn, response: Response, articles: ArticlesDep) -> IngestOut:
    """Add or replace an article given as JSON text. 201 when new or changed, 200 when unchanged."""
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
    """Add or replace up to 100 articles in one request, embedded together (several times faster than
    one request each). Always 207 once the request is valid: each result carries the status POST
    /articles would have given that article (201, 200 or 422 with its error); an unusable article
    does not stop the others."""
    items = [ArticleInput(a.text, None, a.format, a.id, a.title) for a in body.articles]
    results = []
    for index, outcome in enumerate(articles.add_many(items)):
        if isinstance(outcome, ArticleError):
            results.append(BatchItemOut(index=index, status=422, error=str(outcome)))
        else:
            results.append(BatchItemOut(index=index, status=200 if outcome.status == "unchanged" else 201,
                                        article=_out(outcome)))
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
    return _out(result)


def _out(result: IngestResult) -> IngestOut:
    return IngestOut(
        id=result.article_id, title=result.title, status=result.status, sections=result.sections, chunks=result.chunks
    )


@router.delete("/{article_id}", status_code=204, responses=NOT_FOUND, dependencies=[WriteAccess])
def delete_article(article_id: str, articles: ArticlesDep) -> Response:
    """Remove an article and all its passages."""
    articles.delete(article_id)
    return Response(status_code=204)
