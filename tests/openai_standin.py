"""A stand-in for a real LLM: a small OpenAI-compatible chat-completions server that tests start on
127.0.0.1, because no real LLM can run in CI.

It speaks the protocol the real `openai` client uses (JSON and streamed `chat.completion.chunk`
events) and answers deterministically from what it is sent: it picks the numbered passage (`[n] …`)
sharing the most words with the `Question:` line and replies with that passage's first sentence and
its marker, or `NOT_IN_ARTICLES` when no passage shares a word. Asked to rewrite a follow-up as a
standalone question, it puts the first name of the previous user turn in place of the first pronoun.
Its `mode` makes it fail on purpose: "error" (HTTP 500), "slow" (sleeps `slow_seconds`), "garbage"
(empty reply), "bad_markers" (adds markers naming no passage), "no_markers", "refuse", and
"break_stream" (drops a stream midway).
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


def answer_from_prompt(prompt: str) -> str:
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
    first_sentence = re.split(r"(?<=[.!?])\s+", best[1].strip())[0]
    return f"{first_sentence} [{best[0]}]"


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
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopping = threading.Event()
        config = uvicorn.Config(self._app(), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def _reply(self, body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        rewrite = "standalone question" in body["messages"][0]["content"]
        answer = rewrite_from_prompt(prompt) if rewrite else answer_from_prompt(prompt)
        return {
            "garbage": "",
            "bad_markers": f"{answer} [99][0]",
            "no_markers": re.sub(r"\s*\[\d+\]", "", answer),
            "refuse": "NOT_IN_ARTICLES",
        }.get(self.mode, answer)

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
                deadline = time.monotonic() + self.slow_seconds
                while time.monotonic() < deadline and not self._stopping.is_set():
                    await asyncio.sleep(0.05)
            content = self._reply(body)
            common = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "created": int(time.time()),
                      "model": body.get("model")}
            if not body.get("stream"):
                return {
                    **common, "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            return StreamingResponse(self._stream(common, content), media_type="text/event-stream")

        return app

    async def _stream(self, common: dict, content: str):
        def event(delta: dict, finish: str | None = None) -> str:
            chunk = {**common, "object": "chat.completion.chunk",
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            return f"data: {json.dumps(chunk)}\n\n"

        yield event({"role": "assistant", "content": ""})
        pieces = re.findall(r"\S+\s*", content)
        for i, piece in enumerate(pieces):
            if self.mode == "break_stream" and i == 2:
                raise ConnectionError("stand-in drops the stream")  # uvicorn closes the connection
            yield event({"content": piece})
        yield event({}, "stop")
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
