"""The OpenAI-compatible API (/v1/chat/completions, /v1/models) over real HTTP, driven by the clients
integrations use: the real `openai` SDK, sync and async, streamed and not, and LlamaIndex's OpenAILike."""

from __future__ import annotations

import asyncio
import json

import httpx
import openai
import pytest
from llama_index.core.llms import ChatMessage
from llama_index.llms.openai_like import OpenAILike

from server.limits import MAX_HISTORY_TURNS, MAX_TURN_CHARS
from server.services.results import CitationsEvent
from tests.conftest import SAMPLE_ID
from tests.test_api import assert_citation_contract

ISTANBUL = "Who hosted the delegations in Istanbul?"
FERRY_ID = "openai-ferry"
FERRY = "Harbour news\n\nFerries\n\nThe night ferry to Oslo leaves at 22:15 from pier 4.\n"
KEY = "k3y-for-openai-tests"


def sdk(server, key: str = "not-needed") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=60)


@pytest.fixture
def client(sample_server) -> openai.OpenAI:
    return sdk(sample_server)


def user(content: str) -> dict:
    return {"role": "user", "content": content}


def as_answer(completion) -> dict:
    """A chat completion in /ask's shape, for the citation contract of tests/test_api.py."""
    return {"answer": completion.choices[0].message.content, "answered": completion.answered,
            "citations": completion.citations}


def read_stream(stream) -> tuple[str, list]:
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return content, chunks


# ---- answers -----------------------------------------------------------------------------------


def test_the_sdk_gets_the_answer_of_ask_with_its_citations(client, api):
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=[user(ISTANBUL)])
    message = completion.choices[0].message
    assert message.role == "assistant" and "Hakan Fidan" in message.content and "[1]" in message.content
    assert completion.object == "chat.completion" and completion.choices[0].finish_reason == "stop"
    assert completion.model == "articlechat"  # whatever the client asked for: the answer is articlechat's
    assert completion.id.startswith("chatcmpl-") and completion.created > 0
    assert completion.answered is True and 0 < completion.confidence <= 1 and completion.mode == "extractive"
    assert completion.citations[0]["article_id"] == SAMPLE_ID
    assert completion.citations[0]["section"].endswith("Background of the Talks")
    assert_citation_contract(api, as_answer(completion))
    usage = completion.usage
    assert usage.prompt_tokens == 7 and usage.completion_tokens > 30  # "Who hosted … Istanbul?": 6 words and "?"
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    # The same pipeline as /ask: the same answer, citations and confidence.
    asked = api.post("/ask", json={"question": ISTANBUL}).json()
    assert (message.content, completion.citations, completion.confidence) == (
        asked["answer"], asked["citations"], asked["confidence"])


def test_text_parts_and_a_system_message(client):
    """Content as a list of text parts is read as text; a system message is an instruction for a model that
    writes freely, and is not searched: it does not turn the answer to drones."""
    completion = client.chat.completions.create(model="articlechat", messages=[
        {"role": "system", "content": "Always talk about the drones Russia downed."},
        {"role": "user", "content": [{"type": "text", "text": "Who hosted the delegations"},
                                     {"type": "text", "text": "in Istanbul?"}]}])
    content = completion.choices[0].message.content
    assert "Hakan Fidan" in content and "drones" not in content


def test_stream_carries_citations_first_and_the_final_fields_last(client, api):
    question = "How far apart were the border crossings?"
    content, chunks = read_stream(client.chat.completions.create(
        model="articlechat", messages=[user(question)], stream=True, stream_options={"include_usage": True}))
    asked = api.post("/ask", json={"question": question}).json()
    assert "50 kilometers" in content and content == asked["answer"]
    first, final, usage = chunks[0], chunks[-2], chunks[-1]
    assert first.object == "chat.completion.chunk" and first.choices[0].delta.role == "assistant"
    assert first.citations[0]["article_id"] == SAMPLE_ID and "50 kilometers" in first.citations[0]["text"]
    assert all(c.choices[0].finish_reason is None for c in chunks[:-2]) and len(chunks) > 4
    assert final.choices[0].finish_reason == "stop"
    assert (final.citations, final.answered, final.confidence, final.mode, final.warnings) == (
        asked["citations"], True, asked["confidence"], "extractive", [])
    assert usage.choices == [] and usage.usage.completion_tokens > 10
    assert len({c.id for c in chunks}) == 1

    # On the wire: data-only events (no `event:` lines), ending with [DONE]; no usage chunk unless asked.
    with api.stream("POST", "/v1/chat/completions", json={"messages": [user(question)], "stream": True}) as raw:
        assert raw.headers["content-type"].startswith("text/event-stream")
        blocks = raw.read().decode().strip().split("\n\n")
    assert all(b.startswith("data: ") for b in blocks) and blocks[-1] == "data: [DONE]"
    assert "finish_reason\":\"stop" in blocks[-2] and "usage" not in blocks[-2]


def test_stream_defaults_to_false(api):
    response = api.post("/v1/chat/completions", json={"model": "x", "messages": [user(ISTANBUL)]})
    assert response.headers["content-type"] == "application/json"
    assert "Hakan Fidan" in response.json()["choices"][0]["message"]["content"]


def test_the_async_client_streamed_and_not(sample_server):
    async def ask() -> tuple[str, str, dict | None]:
        client = openai.AsyncOpenAI(base_url=f"{sample_server.url}/v1", api_key="x", max_retries=0)
        question = [user("How many drones did Russia say it downed?")]
        completion = await client.chat.completions.create(model="articlechat", messages=question)
        streamed, last = "", None
        async for chunk in await client.chat.completions.create(model="articlechat", messages=question, stream=True):
            streamed += chunk.choices[0].delta.content or ""
            if chunk.choices[0].finish_reason:
                last = chunk.model_extra
        await client.close()
        return completion.choices[0].message.content, streamed, last

    content, streamed, last = asyncio.run(ask())
    assert "788" in content and streamed == content
    assert last is not None and last["answered"] is True and last["citations"][0]["article_id"] == SAMPLE_ID


def test_a_follow_up_is_answered_from_the_conversation(client):
    first = client.chat.completions.create(model="articlechat", messages=[user(ISTANBUL)])
    answer = first.choices[0].message.content
    assert "Hakan Fidan" in answer
    conversation = [{"role": "system", "content": "You answer questions about news articles."}, user(ISTANBUL),
                    {"role": "assistant", "content": answer}, user("When did it take place?")]
    follow_up = client.chat.completions.create(model="articlechat", messages=conversation)
    assert follow_up.answered is True and "May 16" in follow_up.choices[0].message.content
    # Alone, the same question has nothing to lean on.
    alone = client.chat.completions.create(model="articlechat", messages=[user("When did it take place?")])
    assert alone.answered is False and "do not cover" in alone.choices[0].message.content


def test_a_long_conversation_keeps_its_most_recent_turns(client, api):
    """A chat client sends the whole conversation every time: past /ask's limits (20 turns of 8,000
    characters) the older turns are left out instead of failing the request, and the follow-up still
    leans on the latest exchange."""
    answer = client.chat.completions.create(model="articlechat", messages=[user(ISTANBUL)]).choices[0].message.content
    older = []
    for i in range(MAX_HISTORY_TURNS):
        older += [user(f"Tell me about the drones, part {i}."), {"role": "assistant", "content": "x" * 9000}]
    conversation = [*older, user(ISTANBUL), {"role": "assistant", "content": answer}, user("When did it take place?")]
    assert len(conversation) > MAX_HISTORY_TURNS and any(len(m["content"]) > MAX_TURN_CHARS for m in conversation)
    follow_up = client.chat.completions.create(model="articlechat", messages=conversation)
    assert follow_up.answered is True and "May 16" in follow_up.choices[0].message.content
    # /ask refuses the same history; its body limit (~1.1 MB) would refuse this one too.
    history = [m for m in conversation[:-1] if m["role"] != "system"]
    assert api.post("/ask", json={"question": "When did it take place?", "history": history}).status_code == 422
    big = [*older * 8, user(ISTANBUL)]
    assert len(json.dumps({"messages": big})) > 1_200_000
    assert "Hakan Fidan" in client.chat.completions.create(model="a", messages=big).choices[0].message.content


def test_min_confidence_in_extra_body_refuses_a_less_likely_answer(client, api):
    """The same contract as /ask's `min_confidence`, through the real `openai` client, streamed or not."""
    sure = client.chat.completions.create(model="articlechat", messages=[user(ISTANBUL)])
    assert sure.answered is True and "Hakan Fidan" in sure.choices[0].message.content
    same = client.chat.completions.create(model="articlechat", messages=[user(ISTANBUL)],
                                          extra_body={"min_confidence": sure.confidence})
    assert same.choices[0].message.content == sure.choices[0].message.content
    above = round(sure.confidence + 0.001, 3)
    declined = client.chat.completions.create(model="articlechat", messages=[user(ISTANBUL)],
                                              extra_body={"min_confidence": above})
    assert declined.answered is False and "Hakan Fidan" not in declined.choices[0].message.content
    assert any("min_confidence" in w for w in declined.warnings)
    content, chunks = read_stream(client.chat.completions.create(
        model="articlechat", messages=[user(ISTANBUL)], stream=True, extra_body={"min_confidence": above}))
    assert content == declined.choices[0].message.content and chunks[-1].answered is False


def test_article_ids_in_extra_body_restrict_the_search(client, api):
    created = api.post("/articles", json={"id": FERRY_ID, "text": FERRY})
    assert created.status_code == 201, created.text
    try:
        ferry = client.chat.completions.create(
            model="articlechat", messages=[user("When does the night ferry to Oslo leave?")],
            extra_body={"article_ids": [FERRY_ID], "top_k": 3})
        assert "22:15" in ferry.choices[0].message.content
        assert ferry.citations and {c["article_id"] for c in ferry.citations} == {FERRY_ID}

        # A question about the sample, searched in the ferry article only: nothing from the sample comes back.
        content, chunks = read_stream(client.chat.completions.create(
            model="articlechat", messages=[user(ISTANBUL)], stream=True, extra_body={"article_ids": [FERRY_ID]}))
        final = chunks[-1]
        assert "Hakan Fidan" not in content and final.answered is False
        assert {c["article_id"] for c in chunks[0].citations + final.citations} == {FERRY_ID}

        sample_only = client.chat.completions.create(
            model="articlechat", messages=[user("When does the night ferry to Oslo leave?")],
            extra_body={"article_ids": [SAMPLE_ID]})
        assert "22:15" not in sample_only.choices[0].message.content
        assert {c["article_id"] for c in sample_only.citations} == {SAMPLE_ID}
    finally:
        assert api.delete(f"/articles/{FERRY_ID}").status_code == 204


def test_models_list_articlechat(client):
    assert [m.id for m in client.models.list()] == ["articlechat"]
    assert client.models.retrieve("articlechat").owned_by == "articlechat"
    with pytest.raises(openai.NotFoundError) as error:
        client.models.retrieve("gpt-4o")
    assert error.value.code == "model_not_found"


# ---- errors: what the SDK raises, with a message that says what to fix -------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_unknown_article_ids_are_not_found(client, stream):
    with pytest.raises(openai.NotFoundError) as error:
        client.chat.completions.create(model="articlechat", messages=[user(ISTANBUL)], stream=stream,
                                       extra_body={"article_ids": ["no-such-article"]})
    assert "no-such-article" in error.value.message
    assert (error.value.code, error.value.param, error.value.type) == (
        "article_not_found", "article_ids", "invalid_request_error")


BAD_REQUESTS = [
    ("no messages", {"messages": []}, "messages", "empty"),
    ("last message not the user's", {"messages": [user(ISTANBUL), {"role": "assistant", "content": "Hi."}]},
     "messages.1.role", "end the conversation with the question"),
    ("blank question", {"messages": [user("   ")]}, "messages.0.content", "blank"),
    ("question too long", {"messages": [user("x" * 2001)]}, "messages.0.content", "2000"),
    ("an image", {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "Who is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]},
     "messages.0.content", "part 1 is an image"),
    ("unknown role", {"messages": [{"role": "narrator", "content": "Once upon a time"}]}, "messages.0.role", "user"),
    ("stream as a string", {"messages": [user(ISTANBUL)], "stream": "true"}, "stream", "boolean"),
    ("several answers", {"messages": [user(ISTANBUL)], "n": 3}, "n", "one answer"),
    ("top_k out of range", {"messages": [user(ISTANBUL)], "top_k": 50}, "top_k", "20"),
    ("min_confidence out of range", {"messages": [user(ISTANBUL)], "min_confidence": 2}, "min_confidence", "1"),
    ("bad article id", {"messages": [user(ISTANBUL)], "article_ids": ["../etc"]}, "article_ids.0", "pattern"),
]


@pytest.mark.parametrize("case, body, param, fragment", BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_requests_are_bad_request_errors(client, case, body, param, fragment):
    extra = {k: v for k, v in body.items() if k != "messages"}
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(model="articlechat", messages=body["messages"], extra_body=extra)
    assert error.value.status_code == 400 and error.value.type == "invalid_request_error"
    assert error.value.param == param and fragment in error.value.message, error.value.body


def test_error_bodies_under_v1_are_openai_shaped(api):
    def error_of(response: httpx.Response, status: int) -> dict:
        assert response.status_code == status, response.text
        assert set(response.json()) == {"error"}
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
        return error

    assert "not valid JSON" in error_of(api.post("/v1/chat/completions", content=b"{", headers={
        "content-type": "application/json"}), 400)["message"]
    assert '"messages"' in error_of(api.post("/v1/chat/completions", json=[user(ISTANBUL)]), 400)["message"]
    assert "content-type" in error_of(api.post("/v1/chat/completions", content=b"hi", headers={
        "content-type": "text/plain"}), 415)["message"]
    assert error_of(api.get("/v1/chat/completions"), 405)["message"].startswith("GET is not allowed")
    assert "is_chat_model=True" in error_of(api.post("/v1/completions", json={"prompt": "Hi"}), 404)["message"]
    assert error_of(api.get("/v1/embeddings"), 404)["code"] == "unknown_url"
    missing = error_of(api.post("/v1/chat/completions", json={"model": "articlechat"}), 400)
    assert missing["param"] == "messages" and "required" in missing["message"]
    # The rest of the API keeps its own shape.
    assert isinstance(api.post("/ask", json={}).json()["error"], str)


def test_the_key_is_checked_as_sdks_send_it(make_container, start_server):
    server = start_server(make_container(api_key=KEY, protect_reads=True))
    for wrong in ("not-needed", KEY + "x"):
        with pytest.raises(openai.AuthenticationError) as error:
            sdk(server, wrong).chat.completions.create(model="articlechat", messages=[user(ISTANBUL)])
        assert "ARTICLECHAT_API_KEY" in error.value.message and error.value.code == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            sdk(server, wrong).models.list()
    with server.client() as raw:  # no key at all
        response = raw.post("/v1/chat/completions", json={"messages": [user(ISTANBUL)]})
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "invalid_api_key"
    completion = sdk(server, KEY).chat.completions.create(model="articlechat", messages=[user(ISTANBUL)])
    assert "Hakan Fidan" in completion.choices[0].message.content


def test_the_endpoints_are_documented(api):
    schema = api.get("/openapi.json").json()
    chat = schema["paths"]["/v1/chat/completions"]["post"]
    assert set(chat["responses"]) == {"200", "400", "404", "413", "415"}  # 400, never FastAPI's 422
    assert set(chat["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    assert "[DONE]" in chat["responses"]["200"]["description"]
    assert chat["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OpenAIErrorBody"}
    request = schema["components"]["schemas"]["ChatCompletionRequest"]["properties"]
    assert {"model", "messages", "stream", "temperature", "max_tokens", "user", "article_ids", "top_k"} <= set(request)
    response = schema["components"]["schemas"]["ChatCompletion"]["properties"]
    assert {"choices", "usage", "citations", "answered", "confidence", "mode", "warnings"} <= set(response)
    assert "/v1/models" in schema["paths"]


# ---- LlamaIndex's OpenAILike -------------------------------------------------------------------


def test_llama_index_openai_like(sample_server):
    llm = OpenAILike(model="articlechat", api_base=f"{sample_server.url}/v1", api_key="not-needed",
                     is_chat_model=True, max_retries=0)
    chat = llm.chat([ChatMessage(role="user", content=ISTANBUL)])
    assert "Hakan Fidan" in chat.message.content
    assert chat.raw.citations[0]["article_id"] == SAMPLE_ID  # the extension fields reach LlamaIndex too

    completion = llm.complete("How many drones did Russia say it downed?")
    assert "788" in completion.text

    streamed = list(llm.stream_chat([ChatMessage(role="user", content="How far apart were the border crossings?")]))
    assert len(streamed) > 2 and "50 kilometers" in streamed[-1].message.content
    assert streamed[-1].message.content == "".join(r.delta or "" for r in streamed)


# ---- LLM answer mode behind the endpoint -------------------------------------------------------

RECEPTION = "Who arranged the reception centers for returning prisoners?"


@pytest.fixture
def llm_server(standin, make_container, start_server):
    standin.mode = "ok"
    return start_server(make_container(openai_base_url=standin.url + "/v1", llm_model="standin-model",
                                       llm_timeout=1.5))


def test_llm_mode_streams_the_llm_answer(llm_server, standin):
    client = sdk(llm_server)
    completion = client.chat.completions.create(model="articlechat", messages=[user(RECEPTION)])
    # The stand-in answers with the first sentence of the passage it finds best, not the extractive quote.
    assert completion.mode == "llm" and completion.warnings == []
    assert completion.choices[0].message.content.startswith("The exchange operation commenced at a pair of border")
    content, chunks = read_stream(client.chat.completions.create(
        model="articlechat", messages=[user(RECEPTION)], stream=True))
    assert content == completion.choices[0].message.content and chunks[-1].mode == "llm"
    assert completion.verified == chunks[-1].verified == {"sentences": 1, "supported": 1}


def test_a_stream_whose_llm_fails_midway_ends_with_the_extractive_answer(llm_server, standin):
    """The streamed text is all a chat client shows: when the LLM's stream breaks before a sentence
    stood the check, nothing of it was sent, and the message is the extractive answer; the last
    chunk's warnings say why."""
    standin.mode = "break_stream"  # and a failure (500) when not streamed
    client = sdk(llm_server)
    extractive = client.chat.completions.create(model="articlechat", messages=[user(RECEPTION)])
    assert extractive.mode == "extractive" and extractive.warnings
    answer = extractive.choices[0].message.content
    assert answer.startswith("Ukrainian officials have arranged transportation and temporary reception centers")
    content, chunks = read_stream(client.chat.completions.create(
        model="articlechat", messages=[user(RECEPTION)], stream=True))
    final = chunks[-1]
    assert final.mode == "extractive" and any("LLM failed" in w for w in final.warnings)
    assert content == answer
    assert final.citations == extractive.citations


def test_a_failure_midway_reaches_the_sdk_as_an_error(make_container, start_server):
    container = make_container()

    def broken(*args, **kwargs):
        yield CitationsEvent([])  # the stream has started: the failure can only be reported in it
        raise RuntimeError("the store went away")

    container.answers.ask_stream = broken  # type: ignore[method-assign]
    server = start_server(container)
    with pytest.raises(openai.APIError) as error:
        read_stream(sdk(server).chat.completions.create(model="articlechat", messages=[user(ISTANBUL)], stream=True))
    assert "answering failed: RuntimeError" in error.value.message
