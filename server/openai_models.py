"""Bodies of the OpenAI-compatible API (POST /v1/chat/completions, GET /v1/models): OpenAI's chat
completions schema as the `openai` SDKs and LlamaIndex's OpenAILike send and read it, with articlechat's
own fields added: `article_ids`, `top_k` and `min_confidence` in the request (an SDK's `extra_body`), the
/ask response's `citations`, `answered`, `confidence`, `mode` and `warnings` in the response.

Fields of OpenAI's request that articlechat has no use for (`temperature`, `max_tokens`, `tools`,
`response_format`, `seed`…) are accepted and ignored, as are fields it does not know; those it reads
are checked as strictly as /ask's (`"stream": "true"` is refused, not read as true).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
)

from server.api_models import (
    MIN_CONFIDENCE,
    ArticleId,
    AskResponse,
    CitationOut,
    PublicationFilters,
    Text,
    VerifiedOut,
)
from server.limits import MAX_ARTICLE_IDS, MAX_TOP_K, MIN_TOP_K

MODEL_ID: Final = "articlechat"
Role = Literal["system", "developer", "user", "assistant", "tool", "function"]
IMAGE_PARTS = ("image_url", "input_image", "image")


def _content_text(value: Any) -> Any:
    """A message's content, a string or OpenAI's list of parts, as one string. Only text parts are read:
    any other part (an image, audio, a file) is refused, since the articles are searched with text."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise ValueError('must be a string, a list of text parts ([{"type": "text", "text": "..."}]) or null')
    texts = []
    for i, part in enumerate(value):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in IMAGE_PARTS:
            raise ValueError(f"part {i} is an image: articlechat answers from the text of its articles and reads "
                             "no images; send the question as text")
        if kind != "text":
            shown = f"of type {kind!r}" if isinstance(kind, str) else "not a text part"
            raise ValueError(f'part {i} is {shown[:80]}: send text parts only ({{"type": "text", "text": "..."}})')
        if not isinstance(part.get("text"), str):
            raise ValueError(f"part {i} is a text part without text: give it a string 'text'")
        texts.append(part["text"])
    return "\n".join(texts)


_TEXT_PART = {
    "type": "object",
    "properties": {"type": {"type": "string", "enum": ["text"]}, "text": {"type": "string"}},
    "required": ["type", "text"],
}
# Read as one string (text parts joined by line breaks); documented as OpenAI's schema has it.
Content = Annotated[
    Text | None,
    BeforeValidator(_content_text),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "array", "items": _TEXT_PART}, {"type": "null"}],
                    "description": "A string, or a list of text parts; images are refused."}),
]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")  # name, tool_calls, tool_call_id…
    role: Role = Field(
        ..., description="The last message must be the user's: it is the question. Earlier user and assistant "
        "messages are the history; system, developer and tool messages are not searched.",
    )
    content: Content = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool | None = Field(
        None, strict=True, description="Send a last chunk with `usage` and no choices, before `data: [DONE]`."
    )


def _one(value: int | None) -> int | None:
    if value is not None and value != 1:
        raise ValueError("articlechat gives one answer per request: send n=1 or leave n out")
    return value


def _some(messages: list[ChatMessage]) -> list[ChatMessage]:
    if not messages:
        raise ValueError("the list is empty: send the conversation, ending with the user's question")
    return messages


class ChatCompletionRequest(PublicationFilters):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{
            "model": MODEL_ID,
            "messages": [{"role": "user", "content": "Who arranged the reception centers for returning prisoners?"}],
        }]},
    )
    model: str = Field(
        MODEL_ID, strict=True, description=f"Any name (clients send the one they are configured with); the "
        f"response names `{MODEL_ID}`.",
    )
    messages: Annotated[list[ChatMessage], AfterValidator(_some)] = Field(
        ..., json_schema_extra={"minItems": 1}, description="The conversation, oldest first, ending with the question.",
    )
    stream: bool = Field(False, strict=True, description="Server-Sent Events of `chat.completion.chunk` objects.")
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2, strict=True, description="Accepted and ignored.")
    top_p: float | None = Field(None, ge=0, le=1, strict=True, description="Accepted and ignored.")
    max_tokens: int | None = Field(None, ge=1, strict=True, description="Accepted and ignored.")
    max_completion_tokens: int | None = Field(None, ge=1, strict=True, description="Accepted and ignored.")
    n: Annotated[int | None, AfterValidator(_one)] = Field(
        None, strict=True, json_schema_extra={"minimum": 1, "maximum": 1}, description="Only 1.",
    )
    user: str | None = Field(None, strict=True, description="Accepted and ignored (never logged).")
    article_ids: list[ArticleId] | None = Field(
        None, max_length=MAX_ARTICLE_IDS, description="articlechat: search only these articles (`extra_body`)."
    )
    top_k: int | None = Field(
        None, ge=MIN_TOP_K, le=MAX_TOP_K, strict=True,
        description="articlechat: passages to retrieve (`extra_body`; default from the settings). Not a sampling "
        "parameter.",
    )
    min_confidence: float | None = Field(
        None, ge=0, le=1, strict=True, description=f"articlechat (`extra_body`): {MIN_CONFIDENCE}")


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str = Field(..., description="The answer with inline [n] markers naming `citations`.")
    refusal: None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int = Field(..., description="Estimated: the words and punctuation marks of the messages.")
    completion_tokens: int = Field(..., description="Estimated: the words and punctuation marks of the answer.")
    total_tokens: int


_ANSWER = AskResponse.model_fields


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(..., description="Unix time, seconds.")
    model: Literal["articlechat"] = MODEL_ID
    choices: list[Choice] = Field(..., min_length=1, max_length=1)
    usage: Usage
    # articlechat's own, as in the /ask response.
    citations: list[CitationOut] = Field(..., description="The passages the answer's [n] markers name.")
    answered: bool = Field(..., description=_ANSWER["answered"].description)
    confidence: float = Field(..., ge=0, le=1, description=_ANSWER["confidence"].description)
    mode: Literal["extractive", "llm"]
    warnings: list[str]
    verified: VerifiedOut | None = Field(None, description=_ANSWER["verified"].description)


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None

    @model_serializer(mode="wrap")
    def _present(self, handler: SerializerFunctionWrapHandler) -> Any:
        return {k: v for k, v in handler(self).items() if v is not None}


class ChunkChoice(BaseModel):
    index: int = 0
    delta: ChunkDelta
    finish_reason: Literal["stop"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    """One Server-Sent Event's data. The first chunk carries the candidate `citations`; the chunk with
    `finish_reason` the final answer's `citations`, `answered`, `confidence`, `mode`, `warnings` and
    `verified` (LLM answers)."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: Literal["articlechat"] = MODEL_ID
    choices: list[ChunkChoice]
    usage: Usage | None = None
    citations: list[CitationOut] | None = None
    answered: bool | None = None
    confidence: float | None = None
    mode: Literal["extractive", "llm"] | None = None
    warnings: list[str] | None = None
    verified: VerifiedOut | None = None

    @model_serializer(mode="wrap")
    def _present(self, handler: SerializerFunctionWrapHandler) -> Any:
        return {k: v for k, v in handler(self).items() if v is not None}


class Model(BaseModel):
    id: str = MODEL_ID
    object: Literal["model"] = "model"
    created: int = Field(..., description="Unix time the server started, seconds.")
    owned_by: str = "articlechat"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


class OpenAIError(BaseModel):
    message: str = Field(..., description="What went wrong and what to fix.")
    type: Literal["invalid_request_error", "server_error"]
    param: str | None = Field(None, description='The field to fix, e.g. "messages.2.content".')
    code: str | None = Field(None, description="invalid_api_key, article_not_found, model_not_found, unknown_url…")


class OpenAIErrorBody(BaseModel):
    """OpenAI's error body: the `openai` SDKs raise their usual exceptions from it (400 BadRequestError,
    401 AuthenticationError, 404 NotFoundError…)."""

    error: OpenAIError
