"""The LLM component: any OpenAI-compatible chat-completions endpoint, through the `openai` client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol, cast

# The client is imported when an LLM is configured: the default (extractive) server starts ~0.4 s
# sooner without it.
if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam


class LLMError(RuntimeError):
    """The LLM failed, timed out or answered nothing usable; callers fall back to extractive."""


class ChatLLM(Protocol):
    model: str

    def complete(self, messages: list[dict[str, str]]) -> str: ...
    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]: ...


class OpenAIChat:
    def __init__(self, model: str, api_key: str | None, base_url: str | None, timeout: float, max_tokens: int):
        self.model = model
        self._max_tokens = max_tokens
        # A local OpenAI-compatible server often needs no key, but the client insists on one.
        # No retries: a slow or failing LLM must give way to the extractive answer quickly.
        from openai import OpenAI

        self._client = OpenAI(api_key=api_key or "not-needed", base_url=base_url, timeout=timeout, max_retries=0)

    def complete(self, messages: list[dict[str, str]]) -> str:
        try:
            response = self._client.chat.completions.create(
                model=self.model, messages=_typed(messages), temperature=0, max_tokens=self._max_tokens
            )
            return response.choices[0].message.content or ""
        except Exception as exc:  # any client, protocol or shape error means: fall back
            raise LLMError(_describe(exc)) from exc

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        try:
            chunks = self._client.chat.completions.create(
                model=self.model, messages=_typed(messages), temperature=0, max_tokens=self._max_tokens, stream=True
            )
            for chunk in chunks:
                if chunk.choices and chunk.choices[0].delta.content:
                    yield chunk.choices[0].delta.content
        except Exception as exc:
            raise LLMError(_describe(exc)) from exc


def _typed(messages: list[dict[str, str]]) -> list[ChatCompletionMessageParam]:
    # Plain {"role", "content"} dicts are what the SDK's message TypedDicts describe.
    return cast("list[ChatCompletionMessageParam]", messages)


def _describe(exc: Exception) -> str:
    name = type(exc).__name__
    return f"{name}: {exc}"[:300]
