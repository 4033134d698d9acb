"""GET/POST/DELETE /articles."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from index.ingest import IngestionService, IngestResult
from index.parsing import ArticleError
from server.api_models import MAX_TITLE, ArticleDetail, ArticleIn, ArticleSummary, ErrorBody, IngestOut, SectionOut
from server.container import Container
from server.dependencies import container, ingestion

router = APIRouter(prefix="/articles", tags=["articles"])
ERRORS = {400: {"model": ErrorBody}, 413: {"model": ErrorBody}, 415: {"model": ErrorBody}, 422: {"model": ErrorBody}}

_UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": ArticleIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": ".txt, .md or .html"},
                        "title": {"type": "string"},
                        "id": {"type": "string"},
                    },
                }
            },
        },
    }
}


@router.get("", response_model=list[ArticleSummary])
def list_articles(c: Container = Depends(container)) -> list[ArticleSummary]:
    return [
        ArticleSummary(id=r.id, title=r.title, sections=r.section_count, chunks=r.chunk_count, ingested_at=r.ingested_at)
        for r in c.store.list_articles()
    ]


@router.get("/{article_id}", response_model=ArticleDetail, responses={404: {"model": ErrorBody}})
def get_article(article_id: str, c: Container = Depends(container)) -> ArticleDetail:
    record = c.store.get_article(article_id)
    if record is None:
        raise HTTPException(404, f"no article with id {article_id!r}; GET /articles lists the indexed ones")
    return ArticleDetail(
        id=record.id,
        title=record.title,
        format=record.format,
        ingested_at=record.ingested_at,
        text=record.text,
        sections=[SectionOut(heading=" > ".join(s["path"]), **s) for s in record.sections],
    )


@router.post(
    "",
    status_code=201,
    response_model=IngestOut,
    responses={200: {"model": IngestOut, "description": "Unchanged: already indexed as is."}, **ERRORS},
    openapi_extra=_UPLOAD_SCHEMA,
)
async def add_article(request: Request, response: Response, service: IngestionService = Depends(ingestion)) -> IngestOut:
    """Add or replace an article: JSON `{text, title?, format?, id?}` or a multipart `file` upload.
    201 when new or changed, 200 when unchanged."""
    limit = request.app.state.container.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64_000:
        raise HTTPException(413, f"the request is larger than {limit} bytes: send a smaller article")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        result = await _from_upload(request, service, limit)
    elif content_type.startswith("application/json") or not content_type:
        result = await _from_json(request, service)
    else:
        raise HTTPException(415, f"unsupported content-type {content_type!r}: send application/json or multipart/form-data")
    response.status_code = 200 if result.status == "unchanged" else 201
    return IngestOut(id=result.article_id, title=result.title, status=result.status, sections=result.sections, chunks=result.chunks)


async def _from_json(request: Request, service: IngestionService) -> IngestResult:
    try:
        payload = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise HTTPException(400, "the request body is not valid JSON: send {\"text\": ..., \"title\": ...}") from None
    try:
        body = ArticleIn.model_validate(payload)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False), body=payload) from None
    if not body.text.strip():
        raise ArticleError("text is blank: send the article's text")
    return await _run(service.ingest_text, body.text, body.format, article_id=body.id, title=body.title)


async def _from_upload(request: Request, service: IngestionService, limit: int) -> IngestResult:
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise HTTPException(422, "no file in the upload: send the article as the multipart field 'file'")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{upload.filename} is larger than {limit} bytes")
    title = form.get("title") or None
    article_id = form.get("id") or None
    if isinstance(title, UploadFile) or isinstance(article_id, UploadFile):
        raise HTTPException(422, "'title' and 'id' must be plain form fields")
    if title and len(title) > MAX_TITLE:
        raise HTTPException(422, f"title is {len(title)} characters long: keep it to {MAX_TITLE}")
    return await _run(service.ingest_bytes, data, upload.filename, article_id=article_id, title=title)


async def _run(fn, *args, **kwargs):
    # Embedding is CPU-bound: keep it off the event loop.
    return await run_in_threadpool(fn, *args, **kwargs)


@router.delete("/{article_id}", status_code=204, responses={404: {"model": ErrorBody}})
def delete_article(article_id: str, service: IngestionService = Depends(ingestion)) -> Response:
    if not service.delete(article_id):
        raise HTTPException(404, f"no article with id {article_id!r}; GET /articles lists the indexed ones")
    return Response(status_code=204)
