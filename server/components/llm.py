"""The LLM component: any OpenAI-compatible chat-completions endpoint, through the `openai` client,
behind a limit on the calls in flight."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

# The client is imported when an LLM is configured: the default (extractive) server starts ~0.4 s
# sooner without it.
if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam


class LLMError(RuntimeError):
    """The LLM failed, timed out or answered nothing usable; callers fall back to extractive."""


class LLMBusy(LLMError):
    """Every LLM slot stayed taken for the whole wait (see `LimitedLLM`)."""


@dataclass(frozen=True)
class Piece:
    """Text from the model; `finish_reason` ("stop", "length", …) comes with the last piece."""

    text: str
    finish_reason: str | None = None


class ChatLLM(Protocol):
    model: str

    def complete(self, messages: list[dict[str, str]]) -> Piece: ...
    def stream(self, messages: list[dict[str, str]]) -> Iterator[Piece]: ...


class OpenAIChat:
    def __init__(self, model: str, api_key: str | None, base_url: str | None, timeout: float, max_tokens: int):
        self.model = model
        self._max_tokens = max_tokens
        # A local OpenAI-compatible server often needs no key, but the client insists on one.
        # No retries: a slow or failing LLM must give way to the extractive answer quickly.
        from openai import OpenAI

        self._client = OpenAI(api_key=api_key or "not-needed", base_url=base_url, timeout=timeout, max_retries=0)

    def complete(self, messages: list[dict[str, str]]) -> Piece:
        try:
            response = self._client.chat.completions.create(
                model=self.model, messages=_typed(messages), temperature=0, max_tokens=self._max_tokens
            )
            choice = response.choices[0]
            return Piece(choice.message.content or "", choice.finish_reason)
        except Exception as exc:  # any client, protocol or shape error means: fall back
            raise LLMError(_describe(exc)) from exc

    def stream(self, messages: list[dict[str, str]]) -> Iterator[Piece]:
        try:
            with self._client.chat.completions.create(
                model=self.model, messages=_typed(messages), temperature=0, max_tokens=self._max_tokens, stream=True
            ) as chunks:  # closed, and the model stopped, when the caller stops reading
                yield from _pieces(chunks)
        except Exception as exc:
            raise LLMError(_describe(exc)) from exc


def _pieces(chunks: Iterable[ChatCompletionChunk]) -> Iterator[Piece]:
    for chunk in chunks:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        if choice.delta.content or choice.finish_reason:
            yield Piece(choice.delta.content or "", choice.finish_reason)


class LimitedLLM:
    """At most `limit` calls in flight; a call that finds no free slot within `wait` seconds raises
    `LLMBusy`, so the reader gets the extractive answer at once instead of queueing behind a local
    server that answers one request at a time (a third simultaneous question timed out after 60 s)."""

    def __init__(self, llm: ChatLLM, limit: int, wait: float):
        self.llm = llm
        self.model = llm.model
        self.limit = limit
        self.wait = wait
        self._slots = threading.BoundedSemaphore(limit)

    def _acquire(self) -> None:
        if not self._slots.acquire(timeout=self.wait):
            raise LLMBusy(f"all {self.limit} LLM slots stayed busy for {self.wait:g} s (ARTICLECHAT_LLM_CONCURRENCY)")

    def complete(self, messages: list[dict[str, str]]) -> Piece:
        self._acquire()
        try:
            return self.llm.complete(messages)
        finally:
            self._slots.release()

    def stream(self, messages: list[dict[str, str]]) -> Iterator[Piece]:
        self._acquire()
        try:
            yield from self.llm.stream(messages)
        finally:  # also when the reader goes away and the stream is closed early
            self._slots.release()


def _typed(messages: list[dict[str, str]]) -> list[ChatCompletionMessageParam]:
    # Plain {"role", "content"} dicts are what the SDK's message TypedDicts describe.
    return cast("list[ChatCompletionMessageParam]", messages)


def _describe(exc: Exception) -> str:
    name = type(exc).__name__
    return f"{name}: {exc}"[:300]
