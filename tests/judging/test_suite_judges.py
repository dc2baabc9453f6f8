"""The suites' own judges on hand-built timelines: red for the defect, inconclusive where the situation they
need never arose, and never a pass then."""

import json

import pytest

from voice_harness.judging.checks import ConformanceFailure, Inconclusive
from voice_harness.judging.timeline import Timeline
from voice_harness.wire.recording import Frame
from suites.flows import UNCALLED, uncalled
from suites.test_ordering import judge_ord_7
import synthetic_sessions as made


def text(t, leg, arrow, data):
    return Frame(t, leg, arrow, "text", data.get("type"), 1, len(json.dumps(data)), data)


def inject(t, content):
    return [text(t, "A", "->", {"type": "InjectUserMessage", "content": content}),
            text(t + 0.001, "B", "->", {"type": "conversation.item.create", "item": {
                "id": f"u_{content}", "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": content}]}}),
            text(t + 0.02, "B", "<-", {"type": "conversation.item.added", "item": {"id": f"u_{content}",
                                                                                  "role": "user"}})]


def response(t_created, t_done, rid):
    return [text(t_created, "B", "<-", {"type": "response.created", "response": {"id": rid}}),
            text(t_done, "B", "<-", {"type": "response.done", "response": {"id": rid}})]


def create(t):
    return [text(t, "B", "->", {"type": "response.create"})]


def reply(t):
    return [text(t, "A", "<-", {"type": "ConversationText", "role": "assistant", "content": "answer"})]


def timeline(*parts):
    return Timeline(sorted((f for part in parts for f in part), key=lambda f: f.t), 0.0)


def test_ord_7_is_inconclusive_when_no_message_was_sent_during_a_response():
    with pytest.raises(Inconclusive, match="a user message sent while a response was active"):
        judge_ord_7(timeline(inject(0.1, "one"), create(0.2), response(0.21, 0.4, "r1"), reply(0.41)))


def test_ord_7_is_red_when_a_message_sent_during_a_response_gets_no_response_create_after_it():
    lost = timeline(inject(0.1, "one"), create(0.2), response(0.21, 0.6, "r1"), inject(0.3, "two"), reply(0.61))
    with pytest.raises(ConformanceFailure, match="the turn was lost") as caught:
        judge_ord_7(lost)
    assert not isinstance(caught.value, Inconclusive)


def test_ord_7_holds_when_the_message_is_answered_after_the_response_is_done():
    judge_ord_7(timeline(inject(0.1, "one"), create(0.2), response(0.21, 0.6, "r1"), inject(0.3, "two"),
                         reply(0.61), create(0.62), response(0.63, 0.8, "r2"), reply(0.81)))


# ---- a function call that can no longer come (suites/flows.py: uncalled)

WEATHER = {"type": "function", "name": "get_weather", "parameters": {"type": "object"}}
WORDS = [{"type": "message", "role": "assistant", "content": []}]
CALL = [{"type": "function_call", "name": "get_weather", "call_id": "c1", "arguments": "{}"}]


def done_response(t_created, rid="r", output=WORDS, status="completed", conn=1):
    return [made.upstream(t_created, "response.created", conn, response={"id": rid}),
            made.upstream(1.5, "response.done", conn, response={"id": rid, "status": status, "output": output})]


def answered(session_tools=None, output=WORDS, created_at=1.1, status="completed", asked=None, conn=1, before=()):
    """The session the upstream confirmed (with these tools), a typed question, the proxy's response.create (with
    its own `asked` response object) and a response created at created_at and done with this output."""
    create = made.proxy(1.05, "response.create", **({"response": asked} if asked is not None else {}))
    return made.timeline(made.upstream(0.1, "session.updated", session={"type": "realtime", **(session_tools or {})}),
                         *before, made.typed(1.0, "What is the weather?", "u1"), create,
                         done_response(created_at, output=output, status=status, conn=conn))


def test_a_question_answered_in_words_by_a_session_without_a_function_can_get_no_call():
    assert uncalled(answered()) == UNCALLED
    assert uncalled(answered({"tools": []})) == UNCALLED
    assert uncalled(answered({"tools": [{"type": "mcp", "server_label": "x"}]})) == UNCALLED
    assert uncalled(answered(asked={"tools": None})) == UNCALLED
    assert "MAP-8's to judge" in UNCALLED


@pytest.mark.parametrize("case", [
    pytest.param(lambda: answered({"tools": [WEATHER]}), id="the-session-declares-a-function"),
    pytest.param(lambda: answered({"tools": [{"name": "get_weather"}]}), id="a-tool-of-no-type-is-a-function"),
    pytest.param(lambda: answered(asked={"tools": [WEATHER]}), id="the-response-declares-its-own"),
    pytest.param(lambda: answered(output=CALL), id="the-response-made-a-call"),
    pytest.param(lambda: answered(status="cancelled", output=[]), id="the-response-was-cancelled"),
    pytest.param(lambda: answered(created_at=0.5), id="a-response-asked-for-before-the-question"),
    pytest.param(lambda: answered(conn=2), id="a-response-on-another-connection"),
    pytest.param(lambda: made.timeline(made.upstream(0.1, "session.updated", session={}),
                                       made.typed(1.0, "Hi", "u1")), id="the-question-not-answered-yet"),
    pytest.param(lambda: made.timeline(
                     made.upstream(0.1, "session.updated", session={}),
                     made.proxy(0.2, "conversation.item.create", item=made.item("user", "ctx", "I am in France.")),
                     made.upstream(0.3, "response.created", response={"id": "greeting"}),
                     made.upstream(0.4, "response.done", response={"id": "greeting", "status": "completed",
                                                                   "output": WORDS}),
                     made.from_client(1.0, "InjectUserMessage", content="What is the weather?")),
                 id="a-context-item-and-a-greeting-before-the-question-went-upstream"),
    pytest.param(lambda: answered(before=[made.proxy(0.2, "session.update", session={"tools": [WEATHER]}),
                                          made.upstream(0.3, "session.updated", session={"tools": [WEATHER]})]),
                 id="a-later-session-declares-one"),
])
def test_a_call_that_can_still_come_is_waited_for(case):
    assert uncalled(case()) is None
