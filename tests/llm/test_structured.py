"""StructuredCall against Instructor's own client, both over the real stub server: same requests, same answers."""

from __future__ import annotations

import asyncio
import json

import instructor
import pytest
from instructor.core.exceptions import IncompleteOutputException, InstructorRetryException
from pydantic import BaseModel, ValidationError, field_validator

from judge.core.settings import JudgeSettings
from judge.llm.structured import StructuredCall
from judge.llm.transport import DirectTransport
from judge.testing import Reply, chat_text

MODES = [instructor.Mode.JSON, instructor.Mode.MD_JSON, instructor.Mode.JSON_SCHEMA]


class Untemplated(dict):
    """A validation context Instructor does not render the messages with (it templates on a truthy context)."""

    def __bool__(self) -> bool:
        return False


class Answer(BaseModel):
    """A small typed answer whose validator needs the validation context."""

    label: str
    """One word that must occur in the context's text."""

    @field_validator("label")
    @classmethod
    def in_text(cls, v: str, info):  # type: ignore[no-untyped-def]
        text = (info.context if info.context is not None else {}).get("text", "")
        if v not in text:
            raise ValueError(f"label {v!r} does not occur in the text")
        return v


def scripted(*answers: str):  # type: ignore[no-untyped-def]
    """A responder giving `answers` in turn, per conversation length (so two clients see the same script)."""

    def respond(body: dict) -> str:
        turn = (len(body["messages"]) - 2) // 2  # every re-ask adds the assistant answer and a user message
        return answers[min(turn, len(answers) - 1)]

    return respond


def messages(user: str, system: str = "Classify the text.") -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def transport_for(server) -> DirectTransport:  # type: ignore[no-untyped-def]
    return DirectTransport(JudgeSettings(model="openai/stub", api_base=server.base_url, transport="direct"))


def closing(transport: DirectTransport, coro):  # type: ignore[no-untyped-def]
    """Run `coro` on a fresh event loop, closing the transport's session of that loop afterwards."""

    async def run():  # type: ignore[no-untyped-def]
        try:
            return await coro
        finally:
            await transport.aclose()

    return asyncio.run(run())


def instructor_call(transport: DirectTransport, mode, msgs, context, max_retries):  # type: ignore[no-untyped-def]
    """Instructor's own (async) client; a falsy context keeps it from rendering the messages as Jinja templates."""
    client = instructor.from_litellm(transport.acreate, mode=mode)
    return closing(transport, client.chat.completions.create_with_completion(
        model="openai/stub", messages=msgs, response_model=Answer, max_retries=max_retries,
        context=Untemplated(context), temperature=0.0))


def ours(call: StructuredCall, transport: DirectTransport, *args, **kwargs):  # type: ignore[no-untyped-def]
    """StructuredCall over the same transport."""
    return closing(transport, call.acreate(transport.acreate, *args, **kwargs))


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.value)
def test_same_requests_and_answer_as_instructor_with_a_reask(stub_server, mode):
    server = stub_server(scripted('{"label": "fever"}', '{"label": "cough"}'))
    tr = transport_for(server)
    ctx = {"text": "dry cough for a week"}
    want, want_raw = instructor_call(tr, mode, messages("dry cough for a week"), ctx, 2)
    theirs = [json.dumps(b, sort_keys=True) for b in server.requests]
    server.requests.clear()
    got, raw = ours(StructuredCall(Answer, mode), tr, messages("dry cough for a week"), ctx, 2,
                                                   model="openai/stub", temperature=0.0)
    sent = [json.dumps(b, sort_keys=True) for b in server.requests]
    assert got.model_dump() == want.model_dump() and got.label == "cough"
    assert sent == theirs and len(sent) == 2, "the re-ask carries Instructor's own follow-up message"
    assert raw.usage.prompt_tokens == want_raw.usage.prompt_tokens
    assert raw.usage.prompt_tokens == sum(max(1, len(chat_text(b)) // 2) for b in server.requests), \
        "usage is the total over both attempts"


def test_the_prepared_prefix_is_reused_and_the_user_message_is_fresh(stub_server):
    server = stub_server(scripted('{"label": "a"}'))
    call = StructuredCall(Answer, instructor.Mode.JSON)
    tr = transport_for(server)
    for text in ("a b", "a c", "a d"):
        ours(call, tr, messages(text), {"text": text}, 0, model="openai/stub")
    systems = {b["messages"][0]["content"] for b in server.requests}
    users = [b["messages"][-1]["content"] for b in server.requests]
    assert len(systems) == 1 and "json_schema" in next(iter(systems)), "the schema is in the one system message"
    assert users == ["a b", "a c", "a d"]
    assert len(call._prefixes) == 1
    ours(call, tr, messages("a e", system="Another prompt."), {"text": "a e"}, 0, model="openai/stub")
    assert server.requests[-1]["messages"][0]["content"].startswith("Another prompt.")
    assert len(call._prefixes) == 2


def test_a_handler_that_rewrites_the_last_message_is_prepared_per_call(stub_server):
    """Two consecutive user messages are merged by Instructor: no reuse, and the request still matches Instructor."""
    server = stub_server(scripted('{"label": "x"}'))
    tr = transport_for(server)
    msgs = [{"role": "user", "content": "first x"}, {"role": "user", "content": "second x"}]
    instructor_call(tr, instructor.Mode.JSON, [dict(m) for m in msgs], {"text": "x"}, 0)
    call = StructuredCall(Answer, instructor.Mode.JSON)
    ours(call, tr, [dict(m) for m in msgs], {"text": "x"}, 0, model="openai/stub", temperature=0.0)
    assert server.requests[0] == server.requests[1]
    assert list(call._prefixes.values()) == [None]


def test_exhausted_retries_raise_instructors_exception_with_every_attempt(stub_server):
    server = stub_server(scripted('{"label": "fever"}', "not json at all", '{"label": "rash"}'))
    tr = transport_for(server)
    with pytest.raises(InstructorRetryException) as info:
        ours(StructuredCall(Answer, instructor.Mode.JSON), tr, messages("cough"), {"text": "cough"}, 2,
                                                            model="openai/stub")
    exc = info.value
    assert exc.n_attempts == 3 and len(exc.failed_attempts) == 3 and server.count == 3
    assert isinstance(exc.__cause__, ValidationError)
    assert exc.total_usage.prompt_tokens == sum(max(1, len(chat_text(b)) // 2) for b in server.requests)
    assert [a.attempt_number for a in exc.failed_attempts] == [1, 2, 3]


def test_a_truncated_answer_is_not_reasked(stub_server):
    server = stub_server(lambda body: Reply('{"label": "co', finish_reason="length"))
    tr = transport_for(server)
    with pytest.raises(IncompleteOutputException):
        ours(StructuredCall(Answer, instructor.Mode.JSON), tr, messages("cough"), {"text": "cough"}, 3,
                                                            model="openai/stub")
    assert server.count == 1


def test_no_reask_after_the_request_timeout_has_passed(stub_server):
    """Instructor stops re-asking once the request timeout has elapsed in all; so does StructuredCall."""
    server = stub_server(scripted('{"label": "fever"}'), latency_s=0.4)
    tr = transport_for(server)
    with pytest.raises(InstructorRetryException):
        ours(StructuredCall(Answer, instructor.Mode.JSON), tr, messages("cough"), {"text": "cough"}, 5,
                                                            model="openai/stub", timeout=0.6)
    assert server.count == 2, "the second answer arrives after 0.8 s > 0.6 s: no third attempt"


def test_untrusted_text_is_never_rendered_as_a_template(stub_server):
    server = stub_server(scripted('{"label": "x"}'))
    tr = transport_for(server)
    text = "x {{ 7 * 6 }} {% if true %}forged{% endif %}"
    ours(StructuredCall(Answer, instructor.Mode.JSON), tr, messages(text), {"text": text}, 0,
                                                        model="openai/stub")
    assert server.requests[0]["messages"][-1]["content"] == text
