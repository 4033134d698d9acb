"""POST /ask and POST /ask/stream."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Iterator

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from server.api_models import AskRequest, AskResponse, ErrorBody
from server.dependencies import answers
from server.services.answering import AnswerService

router = APIRouter(tags=["ask"])
ERRORS = {400: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}}


def _history(body: AskRequest) -> list[tuple[str, str]]:
    return [(t.role, t.content) for t in body.history]


@router.post("/ask", response_model=AskResponse, responses=ERRORS)
def ask(body: AskRequest, service: AnswerService = Depends(answers)) -> dict:
    """Answer a question from the indexed articles, citing passages with inline [n] markers."""
    return service.ask(body.question, _history(body), body.article_ids, body.top_k).to_dict()


@router.post(
    "/ask/stream",
    responses={**ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
)
def ask_stream(body: AskRequest, service: AnswerService = Depends(answers)) -> StreamingResponse:
    """Server-Sent Events: `citations` (candidate passages), `delta` (answer text, in order), then
    `done` (the full /ask response, authoritative); `error` if something fails mid-stream."""
    service.check_articles(body.article_ids)  # unknown ids: a 404 before the stream starts
    events = service.ask_stream(body.question, _history(body), body.article_ids, body.top_k)

    def sse() -> Iterator[str]:
        try:
            for name, payload in events:
                if name == "citations":
                    data = {"citations": [asdict(c) for c in payload]}
                elif name == "delta":
                    data = {"text": payload}
                else:
                    data = payload.to_dict()
                yield f"event: {name}\ndata: {json.dumps(data)}\n\n"
        except Exception as exc:  # the status line is sent already: report in-band
            yield f"event: error\ndata: {json.dumps({'error': f'answering failed: {type(exc).__name__}'})}\n\n"

    return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
