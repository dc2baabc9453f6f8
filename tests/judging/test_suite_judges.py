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


def answered(session_tools, output, response_id="r1", created_at=1.1):
    """session.updated with these tools, a typed question, and a response created at created_at and done with
    this output."""
    return made.timeline(made.upstream(0.1, "session.updated", session={"type": "realtime", **session_tools}),
                         made.typed(1.0, "What is the weather?", "u1"),
                         made.upstream(created_at, "response.created", response={"id": response_id}),
                         made.upstream(1.5, "response.done", response={"id": response_id, "output": output}))


WORDS = [{"type": "message", "role": "assistant", "content": []}]
CALL = [{"type": "function_call", "name": "get_weather", "call_id": "c1", "arguments": "{}"}]


def test_a_question_answered_in_words_by_a_session_without_a_function_can_get_no_call():
    assert uncalled(answered({}, WORDS)) == UNCALLED
    assert uncalled(answered({"tools": []}, WORDS)) == UNCALLED
    assert "MAP-8's to judge" in UNCALLED


def asked_and_answered(*before):
    """These frames, then a typed question answered in words."""
    return made.timeline(*before, made.typed(1.0, "Hi", "u1"),
                         made.upstream(1.1, "response.created", response={"id": "r"}),
                         made.upstream(1.5, "response.done", response={"id": "r", "output": WORDS}))


@pytest.mark.parametrize("case", [
    pytest.param(lambda: answered({"tools": [WEATHER]}, WORDS), id="the-session-declares-a-function"),
    pytest.param(lambda: answered({}, CALL), id="the-response-made-a-call"),        # the response's own tools
    pytest.param(lambda: answered({}, WORDS, created_at=0.5), id="a-response-asked-for-before-the-question"),
    pytest.param(lambda: made.timeline(made.upstream(0.1, "session.updated", session={}),
                                       made.typed(1.0, "Hi", "u1")), id="the-question-not-answered-yet"),
    pytest.param(lambda: asked_and_answered(), id="no-session-confirmed"),
    pytest.param(lambda: asked_and_answered(made.upstream(0.1, "session.updated", session={}),
                                            made.proxy(0.2, "session.update", session={"tools": [WEATHER]}),
                                            made.upstream(0.3, "session.updated", session={"tools": [WEATHER]})),
                 id="a-later-session-declares-one"),
])
def test_a_call_that_can_still_come_is_waited_for(case):
    assert uncalled(case()) is None
