"""POST /ask and POST /ask/stream."""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from server.api_models import AskRequest, AskResponse, CitationOut, ErrorBody
from server.dependencies import AnswersDep
from server.routers.sse import event_stream
from server.security import ReadAccess
from server.services.results import CitationsEvent, DeltaEvent, DoneEvent, StreamEvent

router = APIRouter(tags=["ask"], dependencies=[ReadAccess])  # reads, though POSTed
ERRORS: dict[int | str, dict] = {400: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}}


def _history(body: AskRequest) -> list[tuple[str, str]]:
    return [(t.role, t.content) for t in body.history]


@router.post("/ask", response_model=AskResponse, responses=ERRORS)
def ask(body: AskRequest, service: AnswersDep) -> AskResponse:
    """Answer a question from the indexed articles, citing passages with inline [n] markers; optionally
    only from articles published in a span of time (`published_after`, `published_before`) or by some
    publications (`sources`). Each citation says when and where its passage was published. With
    `min_confidence`, an answer less likely than that to be right is refused (`answered` false)."""
    answer = service.ask(body.question, _history(body), body.article_ids, body.top_k, body.filters(),
                         body.min_confidence)
    return AskResponse.model_validate(answer)


@router.post(
    "/ask/stream",
    responses={**ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
)
def ask_stream(body: AskRequest, service: AnswersDep) -> StreamingResponse:
    """Server-Sent Events: `citations` (candidate passages), `delta` (answer text, in order), then
    `done` (the full /ask response, authoritative); `error` if something fails mid-stream."""
    service.check_articles(body.article_ids)  # unknown ids: a 404 before the stream starts
    events = service.ask_stream(body.question, _history(body), body.article_ids, body.top_k, body.filters(),
                                body.min_confidence)
    return event_stream(map(_sse, events), _sse_error)


def _sse_error(exc: Exception) -> str:
    return f"event: error\ndata: {json.dumps({'error': f'answering failed: {type(exc).__name__}'})}\n\n"


def _sse(event: StreamEvent) -> str:
    if isinstance(event, CitationsEvent):
        name = "citations"
        data = json.dumps({"citations": [CitationOut.model_validate(c).model_dump() for c in event.citations]})
    elif isinstance(event, DeltaEvent):
        name, data = "delta", json.dumps({"text": event.text})
    elif isinstance(event, DoneEvent):  # the same response model as POST /ask
        name, data = "done", AskResponse.model_validate(event.answer).model_dump_json()
    return f"event: {name}\ndata: {data}\n\n"
