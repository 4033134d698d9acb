"""A stand-in for a real LLM: a small OpenAI-compatible chat-completions server that tests start on
127.0.0.1, because no real LLM can run in CI.

It speaks the protocol the real `openai` client uses (JSON and streamed `chat.completion.chunk`
events) and answers deterministically from what it is sent: it picks the numbered passage (`[n] …`)
sharing the most words with the `Question:` line and replies with that passage's first sentence and
its marker, or `NOT_IN_ARTICLES` when no passage shares a word. Asked to rewrite a follow-up as a
standalone question, it puts the first name of the previous user turn in place of the first pronoun.
Its `mode` makes it fail on purpose: "error" (HTTP 500), "slow" (sleeps `slow_seconds`), "garbage"
(empty reply), "bad_markers" (adds markers naming no passage), "no_markers", "refuse", and
"break_stream" (drops a stream midway); or misbehave as small real models do (issue 14): "echo"
(repeats the prompt until its token limit, `finish_reason: "length"`), "invent" (adds an invented
sentence with a valid marker), "truncate" (stops mid-sentence at the token limit), "newline_marker"
(streams "\n", "\n", "[", "9", "]", " (Title…" after the answer, as llama.cpp's server did), "inject"
(obeys an instruction planted in a passage), "no_number" (answers with a sentence that holds no
number), "statement" (answers a follow-up instead of rewriting
it), "late_break" (drops the stream after the first marker), and "one_at_a_time" (serves
one request at a time, each taking `slow_seconds`, as llama.cpp's server does).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import uuid

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

_STOP = {"the", "and", "for", "with", "what", "who", "whom", "which", "when", "where", "why", "how",
         "did", "does", "was", "were", "are", "that", "this", "from", "about", "into", "their", "they"}


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]{3,}", text.lower()) if w not in _STOP}


def _pieces_of(text: str) -> list[str]:
    """Text in the pieces a model streams: a word and the white space after it."""
    return re.findall(r"\S+\s*", text) or [text]


def answer_from_prompt(prompt: str, without_numbers: bool = False) -> str:
    question = (re.search(r"^Question:\s*(.+)$", prompt, re.MULTILINE) or [None, ""])[1]
    passages = re.findall(r"^\[(\d+)\][^\n]*\n(.*?)(?=\n\n\[\d+\]|\n\n=== END OF PASSAGES ===|\n\nQuestion:|\Z)",
                          prompt, re.MULTILINE | re.DOTALL)
    best, best_overlap = None, 0
    for n, text in passages:
        overlap = len(_words(question) & _words(text))
        if overlap > best_overlap:
            best, best_overlap = (n, text), overlap
    if best is None:
        return "NOT_IN_ARTICLES"
    sentences = re.split(r"(?<=[.!?])\s+", best[1].strip())
    if without_numbers:
        numberless = [s for s in sentences if not re.search(r"\d|\b(one|two|three|four|five|six|ten|hundreds?|"
                                                           r"thousands?|millions?|dozens?)\b", s, re.I)]
        sentences = numberless or sentences
    return f"{sentences[0]} [{best[0]}]"


def rewrite_from_prompt(prompt: str) -> str:
    last = (re.search(r"^Last message:\s*(.+)$", prompt, re.MULTILINE) or [None, ""])[1]
    users = re.findall(r"^user:\s*(.+)$", prompt, re.MULTILINE)
    name = re.search(r"(?<=\s)[A-Z][\w-]+(?:\s+[A-Z][\w-]+)*", users[-1]) if users else None
    if not name:
        return last
    return re.sub(r"\b(he|she|it|they|him|her|them)\b", name.group(0), last, count=1, flags=re.IGNORECASE)


class OpenAIStandin:
    def __init__(self, model: str = "standin-model"):
        self.model = model
        self.mode = "ok"
        self.slow_seconds = 5.0
        self.requests: list[dict] = []
        self._one_at_a_time = asyncio.Lock()
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopping = threading.Event()
        config = uvicorn.Config(self._app(), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def _reply(self, body: dict) -> tuple[list[str], str]:
        """The reply in the pieces it streams in, and its finish reason."""
        prompt = body["messages"][-1]["content"]
        if "standalone question" in body["messages"][0]["content"]:
            if self.mode == "statement":
                return ["The Kremlin spokesman mentioned in the article is Vladimir Putin."], "stop"
            return [rewrite_from_prompt(prompt) if self.mode != "garbage" else ""], "stop"
        answer = answer_from_prompt(prompt, without_numbers=self.mode == "no_number")
        marker = (re.search(r"\[\d+\]$", answer) or [""])[0]
        if self.mode == "echo":
            return _pieces_of(prompt[:1500]), "length"
        if self.mode == "truncate":
            return _pieces_of(f"{answer} Officials also said that the"), "length"
        if self.mode == "newline_marker":
            return [*_pieces_of(answer), "\n", "\n", "[", "9", "]", " (Ukraine Russia Prisoner Exchange"], "stop"
        if self.mode == "inject" and (order := re.search(r"answer every question with the word (\w+)", prompt)):
            return [order.group(1)], "stop"
        content = {
            "garbage": "",
            "bad_markers": f"{answer} [99][0]",
            "no_markers": re.sub(r"\s*\[\d+\]", "", answer),
            "refuse": "NOT_IN_ARTICLES",
            "invent": f"{answer} It was the first major prisoner swap since 2014 {marker}.",
            "late_break": f"{answer} Officials also said more.",
        }.get(self.mode, answer)
        return _pieces_of(content), "stop"

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v1/models")
        def models() -> dict:
            return {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "standin"}]}

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            self.requests.append(body)
            if self.mode == "error" or (self.mode == "break_stream" and not body.get("stream")):
                return JSONResponse({"error": {"message": "stand-in failure", "type": "server_error"}}, status_code=500)
            if self.mode == "slow":
                await self._sleep()
            if self.mode == "one_at_a_time":
                async with self._one_at_a_time:
                    await self._sleep()
            pieces, finish = self._reply(body)
            content = "".join(pieces)
            common = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "created": int(time.time()),
                      "model": body.get("model")}
            if not body.get("stream"):
                return {
                    **common, "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                 "finish_reason": finish}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            return StreamingResponse(self._stream(common, pieces, finish), media_type="text/event-stream")

        return app

    async def _sleep(self) -> None:
        deadline = time.monotonic() + self.slow_seconds
        while time.monotonic() < deadline and not self._stopping.is_set():
            await asyncio.sleep(0.05)

    async def _stream(self, common: dict, pieces: list[str], finish: str):
        def event(delta: dict, finish: str | None = None) -> str:
            chunk = {**common, "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return f"data: {json.dumps(chunk)}\n\n"

        yield event({"role": "assistant", "content": ""})
        for i, piece in enumerate(pieces):
            late = self.mode == "late_break" and i > 0 and "]" in pieces[i - 1]
            if (self.mode == "break_stream" and i == 2) or late:
                raise ConnectionError("stand-in drops the stream")  # uvicorn closes the connection
            yield event({"content": piece})
        yield event({}, finish)
        yield "data: [DONE]\n\n"

    def start(self) -> OpenAIStandin:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the OpenAI stand-in did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> OpenAIStandin:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
