"""A chat conversation answered like POST /ask: the use case behind the OpenAI-compatible
POST /v1/chat/completions.

Chat clients (the `openai` SDKs, LlamaIndex's OpenAILike, chat front ends) send the whole
conversation every time. Its last message, which must be the user's, is the question; earlier user
and assistant messages are the history; system and developer messages (instructions for a model that
writes freely) and tool messages (results of calls articlechat never offers) are not searched.
A long conversation is not refused: like /ask's, the history is its most recent MAX_HISTORY_TURNS
turns, each cut to MAX_TURN_CHARS characters (its beginning: the follow-up resolver reads the previous
question and the names that open the previous answer, and looks back 3 questions at most).

A streamed chat answer is the concatenation of its content deltas: a client has nothing else to go
by. AnswerService streams only text that stands (an LLM's sentences once checked, or the extractive
answer that replaces them), so the deltas always make up the final answer.

Token counts are estimates: words and punctuation marks (a regular expression, no tokenizer), which
is close to what BPE tokenizers count for English prose.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from index.store import SearchFilters
from server.limits import MAX_HISTORY_TURNS, MAX_TURN_CHARS, question_error
from server.services.answering import AnswerService
from server.services.results import Answer, CitationsEvent, DeltaEvent, DoneEvent

# Roles whose messages are the conversation; the others (system, developer, tool, function) are read
# by no step of answering.
CONVERSATION_ROLES = ("user", "assistant")
_TOKEN = re.compile(r"\w+|[^\w\s]")


class ChatRequestError(ValueError):
    """The conversation cannot be answered as sent; `param` names the field to fix ("messages.2.role")."""

    def __init__(self, message: str, param: str):
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Conversation:
    question: str
    history: list[tuple[str, str]]  # (role, content), oldest first, within the limits
    prompt_tokens: int  # estimated, over every message sent


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class ChatReply:
    """The answer, and what the assistant message says: the answer's text (streamed: every delta sent)."""

    answer: Answer
    content: str
    usage: Usage


ChatEvent = CitationsEvent | DeltaEvent | ChatReply


def approximate_tokens(text: str) -> int:
    """Words and punctuation marks: an estimate of a tokenizer's count."""
    return len(_TOKEN.findall(text))


def conversation(messages: Sequence[tuple[str, str]]) -> Conversation:
    """The question and history of a chat, from its (role, text) messages, oldest first."""
    if not messages:
        raise ChatRequestError("messages is empty: send the conversation, ending with the user's question",
                               "messages")
    last = len(messages) - 1
    role, text = messages[last]
    if role != "user":
        raise ChatRequestError(
            f"the last message is the {role}'s: end the conversation with the question, as a message with "
            "role 'user'", f"messages.{last}.role")
    question = text.strip()
    if problem := question_error(question):
        raise ChatRequestError(f"the last message is the question, and the {problem}", f"messages.{last}.content")
    history = [(r, t.strip()[:MAX_TURN_CHARS]) for r, t in messages[:last] if r in CONVERSATION_ROLES and t.strip()]
    return Conversation(question, history[-MAX_HISTORY_TURNS:], sum(approximate_tokens(t) for _, t in messages))


class ChatService:
    def __init__(self, answers: AnswerService):
        self.answers = answers

    def reply(
        self, messages: Sequence[tuple[str, str]], article_ids: list[str] | None = None, top_k: int | None = None,
        filters: SearchFilters | None = None, min_confidence: float | None = None,
    ) -> ChatReply:
        chat = conversation(messages)
        answer = self.answers.ask(chat.question, chat.history, article_ids, top_k, filters, min_confidence)
        return ChatReply(answer, answer.answer, Usage(chat.prompt_tokens, approximate_tokens(answer.answer)))

    def stream(
        self, messages: Sequence[tuple[str, str]], article_ids: list[str] | None = None, top_k: int | None = None,
        filters: SearchFilters | None = None, min_confidence: float | None = None,
    ) -> Iterator[ChatEvent]:
        """`CitationsEvent`, `DeltaEvent`s, then the `ChatReply`. The request is checked now (a
        `ChatRequestError`, unknown articles), before the first event is asked for."""
        chat = conversation(messages)
        self.answers.check_articles(article_ids)
        return self._events(chat, self.answers.ask_stream(chat.question, chat.history, article_ids, top_k, filters,
                                                                 min_confidence))

    def _events(self, chat: Conversation, events: Iterator[CitationsEvent | DeltaEvent | DoneEvent]
                ) -> Iterator[ChatEvent]:
        for event in events:
            if isinstance(event, DoneEvent):
                text = event.answer.answer
                yield ChatReply(event.answer, text, Usage(chat.prompt_tokens, approximate_tokens(text)))
                return
            yield event
