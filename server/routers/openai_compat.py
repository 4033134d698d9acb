"""POST /v1/chat/completions, GET /v1/models: the OpenAI-compatible API, thin HTTP over the ChatService.

Its errors come in OpenAI's error body (server/errors.py), so the `openai` SDKs raise their usual
exceptions."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from server.api_models import CitationOut, VerifiedOut
from server.dependencies import ChatDep
from server.errors import OpenAIRequestError, error_content
from server.openai_models import (
    MODEL_ID,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    Choice,
    ChunkChoice,
    ChunkDelta,
    Model,
    ModelList,
    OpenAIErrorBody,
    Usage,
)
from server.routers.sse import event_stream
from server.security import ReadAccess
from server.services.chat import ChatEvent, ChatReply
from server.services.results import Answer, Citation, CitationsEvent, DeltaEvent

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], dependencies=[ReadAccess])  # reads, like /ask
CHAT_PATH = "/v1/chat/completions"
STARTED = int(time.time())
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": OpenAIErrorBody, "description": "Invalid JSON or fields, or a conversation that does not end with "
          "the user's question; `param` names the field."},
    404: {"model": OpenAIErrorBody, "description": "Unknown `article_ids` (code `article_not_found`)."},
    413: {"model": OpenAIErrorBody, "description": "A body over 4 MiB."},
    415: {"model": OpenAIErrorBody, "description": "Not JSON."},
}
STREAM_DESCRIPTION = """A `chat.completion`. With `"stream": true`, Server-Sent Events instead, each
`data: <chat.completion.chunk>`, then `data: [DONE]`. The first chunk (`delta.role` "assistant") also
carries `citations`: the passages the answer may cite. The chunk with `finish_reason` "stop" carries the
final answer's `citations`, `answered`, `confidence`, `mode`, `warnings` and `verified`. With
`stream_options.include_usage`, one more chunk with no choices carries `usage`. If answering fails
midway: `data: {"error": {...}}` and no `[DONE]`."""


@router.get("/models", response_model=ModelList)
def list_models() -> ModelList:
    """The one model, `articlechat` (OpenAI's model list, for clients that pick a model from it)."""
    return ModelList(data=[Model(created=STARTED)])


@router.get("/models/{model_id}", response_model=Model,
            responses={404: {"model": OpenAIErrorBody, "description": "Not `articlechat`."}})
def get_model(model_id: str) -> Model:
    """`articlechat`; any other id is unknown (code `model_not_found`)."""
    if model_id != MODEL_ID:
        raise OpenAIRequestError(
            404, f"no model {model_id[:100]!r} here: articlechat serves one model, {MODEL_ID!r} (chat completions "
            "accept any model name)", param="model", code="model_not_found")
    return Model(created=STARTED)


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={**ERRORS, 200: {"content": {"text/event-stream": {}}, "description": STREAM_DESCRIPTION}},
)
def chat_completions(body: ChatCompletionRequest, chat: ChatDep) -> ChatCompletion | StreamingResponse:
    """OpenAI's chat completions, answered like POST /ask: the last message (the user's) is the question,
    earlier user and assistant messages the history (the most recent 20, each cut to 8,000 characters);
    system, developer and tool messages are not searched. Any `model` name is accepted; `temperature`,
    `max_tokens` and other sampling fields are ignored. articlechat's own request fields (`extra_body` in
    the SDKs): `article_ids`, `top_k`, `min_confidence`, `published_after`, `published_before`, `sources`.
    The response adds the /ask fields `citations`, `answered`, `confidence`, `mode` and `warnings`; `usage`
    counts are estimates."""
    messages = [(m.role, m.content or "") for m in body.messages]
    completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if not body.stream:
        reply = chat.reply(messages, body.article_ids, body.top_k, body.filters(), body.min_confidence)
        answer = reply.answer
        return ChatCompletion(
            id=completion_id, created=created, choices=[Choice(message=AssistantMessage(content=reply.content))],
            usage=_usage(reply), citations=_citations(answer.citations), answered=answer.answered,
            confidence=answer.confidence, mode=answer.mode, warnings=answer.warnings,
            verified=_verified(answer),
        )
    # Checked before the stream starts: a bad conversation or unknown ids are a 400 or a 404, not an event.
    events = chat.stream(messages, body.article_ids, body.top_k, body.filters(), body.min_confidence)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return event_stream(_chunks(events, completion_id, created, include_usage), _stream_error)


def _chunks(events: Iterator[ChatEvent], completion_id: str, created: int, include_usage: bool) -> Iterator[str]:
    def chunk(choices: list[ChunkChoice], **fields: Any) -> str:
        data = ChatCompletionChunk(id=completion_id, created=created, choices=choices, **fields)
        return f"data: {data.model_dump_json()}\n\n"

    for event in events:
        if isinstance(event, CitationsEvent):
            yield chunk([ChunkChoice(delta=ChunkDelta(role="assistant", content=""))],
                        citations=_citations(event.citations))
        elif isinstance(event, DeltaEvent):
            yield chunk([ChunkChoice(delta=ChunkDelta(content=event.text))])
        elif isinstance(event, ChatReply):
            answer = event.answer
            yield chunk([ChunkChoice(delta=ChunkDelta(), finish_reason="stop")], citations=_citations(answer.citations),
                        answered=answer.answered, confidence=answer.confidence, mode=answer.mode,
                        warnings=answer.warnings, verified=_verified(answer))
            if include_usage:
                yield chunk([], usage=_usage(event))
    yield "data: [DONE]\n\n"


def _stream_error(exc: Exception) -> str:
    error = error_content(CHAT_PATH, 500, f"answering failed: {type(exc).__name__}")
    return f"data: {json.dumps(error)}\n\n"


def _citations(citations: list[Citation]) -> list[CitationOut]:
    return [CitationOut.model_validate(c) for c in citations]


def _verified(answer: Answer) -> VerifiedOut | None:
    return VerifiedOut.model_validate(answer.verified) if answer.verified else None


def _usage(reply: ChatReply) -> Usage:
    usage = reply.usage
    return Usage(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens,
                 total_tokens=usage.total_tokens)
