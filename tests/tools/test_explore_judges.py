"""explore's TURN-1 and FN-1 (exactly judging/turns.py's turn_1 and fn_1, the suites' judges, on the recording so
far: a missing answer counts only where the session's recording covers its horizon) and the runner's pure decisions
about when a session is over, on hand-built timelines."""

import json

from voice_harness.judging.timeline import Timeline
from voice_harness.judging.turns import RELAY_S, follow_up_within_s, lost_after_s
from voice_harness.tools import explore_model
from voice_harness.tools.explore_runner import (FN_1_MARGIN_S, LONG_QUIET_S, LOST_MARGIN_S, in_flight,
                                                service_answer_pending, stuck_after)
from voice_harness.wire.recording import Frame


def text(t, leg, arrow, data, note=None):
    return Frame(t, leg, arrow, "text", data.get("type"), 1, len(json.dumps(data)), data, dict(note or {}))


def client(t, type_, **fields):
    return text(t, "A", "->", {"type": type_, **fields})


def to_client(t, type_, **fields):
    return text(t, "A", "<-", {"type": type_, **fields})


def upstream(t, type_, **fields):
    return text(t, "B", "<-", {"type": type_, **fields})


def proxy(t, type_, note=None, **fields):
    return text(t, "B", "->", {"type": type_, **fields}, note)


def closed(t):
    return Frame(t, "A", "->", "close", None, 1, 0, {"code": 1000, "reason": ""})


def binary(t, data=b"\x01\x02"):
    return Frame(t, "A", "<-", "binary", None, 1, len(data), data)


def flat(parts):
    for part in parts:
        yield from flat(part) if isinstance(part, list) else (part,)


def judged(req, *parts):
    """The id's violation as explore finds it (explore_model.judge: the recording so far, to its last frame)."""
    found = explore_model.judge(Timeline(sorted(flat(parts), key=lambda f: f.t), 0.0))
    return next((v for v in found if v.req == req), None)


H = lost_after_s()      # the horizon of a lost turn


SETTINGS = [client(0.0, "Settings", agent={}), proxy(0.001, "session.update", session={})]


def typed(t, content, item_id):
    return [client(t, "InjectUserMessage", content=content),
            proxy(t + 0.001, "conversation.item.create", item={"id": item_id, "type": "message", "role": "user",
                                                               "content": [{"type": "input_text", "text": content}]}),
            upstream(t + 0.03, "conversation.item.added", item={"id": item_id, "type": "message", "role": "user"})]


def audio_reply(t, rid, ask=True, status="completed"):
    """A response (asked for by the proxy unless the service answers by itself) whose audio reaches the client."""
    return ([proxy(t, "response.create")] if ask else []) + [
        upstream(t + 0.01, "response.created", response={"id": rid}),
        upstream(t + 0.05, "response.output_audio.delta", response_id=rid, delta="AQI="), binary(t + 0.052),
        upstream(t + 0.2, "response.done", response={"id": rid, "status": status, "output": []})]


def spoken(t, item_id):
    return [upstream(t, "input_audio_buffer.committed", item_id=item_id),
            upstream(t + 0.01, "conversation.item.added", item={"id": item_id, "type": "message", "role": "user"})]


# --------------------------------------------------------------------------------------------------- TURN-1

def test_a_typed_turn_after_an_audio_reply_never_asked_for_is_a_turn_1_violation_once_the_session_covers_it():
    lost = [SETTINGS, typed(0.1, "one", "u1"), audio_reply(0.14, "r1"), typed(0.5, "two", "u2")]
    violation = judged("TURN-1", lost, closed(0.53 + H + 0.1))      # u2 confirmed at 0.53
    assert violation is not None and violation.req == "TURN-1"
    assert "turn 2 (typed 'two') was never answered: the proxy sent no response.create" in violation.reason
    assert violation.anchors[0].type == "InjectUserMessage"
    # Cut before the horizon of a lost turn (the session's cap, a stop): the proxy may still answer, not judged.
    assert judged("TURN-1", lost, closed(0.53 + H - 0.1)) is None


def test_every_typed_and_spoken_turn_answered_holds_turn_1():
    answered = [SETTINGS, typed(0.1, "one", "u1"), audio_reply(0.14, "r1"), spoken(0.5, "s1"),
                audio_reply(0.52, "r2", ask=False), typed(1.0, "three", "u3"), audio_reply(1.04, "r3")]
    assert judged("TURN-1", answered, closed(2.0)) is None


def test_a_reply_still_streaming_when_the_session_ends_is_not_a_lost_turn():
    streaming = [SETTINGS, typed(0.1, "one", "u1"), proxy(0.14, "response.create"),
                 upstream(0.15, "response.created", response={"id": "r1"}),
                 upstream(1.0, "response.done", response={"id": "r1", "output": []})]
    assert judged("TURN-1", streaming, closed(1.0 + RELAY_S - 0.1)) is None   # its output may still reach it
    assert judged("TURN-1", streaming, closed(H + 1)) is not None                # nothing reached the client


def test_a_spoken_turn_committed_during_a_reply_is_due_only_once_that_reply_is_done():
    during = [SETTINGS, upstream(0.1, "response.created", response={"id": "r0"}), spoken(0.2, "s1"),
              upstream(0.9, "response.done", response={"id": "r0", "output": []})]
    assert judged("TURN-1", during, closed(0.9 + H - 0.1)) is None     # the proxy may still answer
    assert "turn 1 (spoken" in judged("TURN-1", during, closed(0.9 + H + 0.1)).reason


def test_turn_1_leaves_a_premature_or_rejected_response_create_to_ord_1_and_ord_4():
    premature = [SETTINGS, typed(0.1, "one", "u1"), proxy(0.105, "response.create", note={"premature": True})]
    assert judged("TURN-1", premature, closed(H + 1)) is None
    rejected = [SETTINGS, typed(0.1, "one", "u1"), proxy(0.14, "response.create", note={"rejected": True})]
    assert judged("TURN-1", rejected, closed(H + 1)) is None


# ----------------------------------------------------------------------------------------------------- FN-1

def call(t_done):
    """A response that asks for function call c1 and ends at t_done."""
    return [upstream(0.1, "response.created", response={"id": "r1"}),
            upstream(0.15, "response.function_call_arguments.done", response_id="r1", call_id="c1", name="f",
                     arguments="{}"),
            to_client(0.16, "FunctionCallRequest", functions=[{"id": "c1", "name": "f"}]),
            upstream(t_done, "response.done", response={"id": "r1", "output": []})]


def result(t):
    return [client(t, "FunctionCallResponse", id="c1", content="42"),
            proxy(t + 0.001, "conversation.item.create", item={"id": "o1", "type": "function_call_output",
                                                                "call_id": "c1", "output": "42"}),
            upstream(t + 0.02, "conversation.item.added", item={"id": "o1", "type": "function_call_output",
                                                                "call_id": "c1"})]


def test_a_follow_up_that_never_came_is_an_fn_1_violation_once_the_recording_passed_the_bound():
    within = follow_up_within_s()
    hang = [SETTINGS, call(0.2), result(0.3)]      # bound: 0.32 s + within
    assert judged("FN-1", hang, closed(0.32 + within - 0.1)) is None
    violation = judged("FN-1", hang, closed(0.32 + within + 0.1))
    assert violation is not None and violation.req == "FN-1" and "never" in violation.reason
    # Both orders: the call's response.done after the host's answer moves the bound to that response.done.
    later = [SETTINGS, call(1.0), result(0.3)]
    assert judged("FN-1", later, closed(0.32 + within + 0.1)) is None
    assert judged("FN-1", later, closed(1.0 + within + 0.1)) is not None


def test_a_timely_follow_up_holds_fn_1_and_one_the_user_spoke_over_is_not_the_proxys():
    timely = [SETTINGS, call(0.2), result(0.3), audio_reply(0.33, "r2")]
    assert judged("FN-1", timely, closed(3.0)) is None
    cancelled = [SETTINGS, call(0.2), result(0.3), proxy(0.33, "response.create"),
                 upstream(0.34, "response.created", response={"id": "r2"}),
                 upstream(0.4, "response.done", response={"id": "r2", "status": "cancelled", "output": []})]
    assert judged("FN-1", cancelled, closed(3.0)) is None
    silent = cancelled[:-1] + [upstream(0.4, "response.done", response={"id": "r2", "status": "completed",
                                                                       "output": []})]
    assert "sent nothing to the client" in judged("FN-1", silent, closed(3.0)).reason


# --------------------------------------------------------------------------------------- when a session is over

def test_an_unanswered_function_result_keeps_the_session_open_past_fn_1s_bound():
    frames = list(flat([SETTINGS, call(0.2), result(0.3)]))
    assert stuck_after(frames) == follow_up_within_s() + FN_1_MARGIN_S > LONG_QUIET_S
    assert stuck_after(frames + [proxy(0.35, "response.create")]) == LONG_QUIET_S
    answered = list(flat([SETTINGS, typed(0.1, "one", "u1"), audio_reply(0.14, "r1")]))
    assert stuck_after(answered) == LONG_QUIET_S


def test_an_unanswered_turn_keeps_the_session_open_past_the_horizon_of_a_lost_turn():
    """A loaded machine may delay the proxy's answer: the session waits for it as long as the judge would, so a
    slow answer is recorded, never judged lost."""
    assert stuck_after(list(flat([SETTINGS, typed(0.1, "one", "u1")]))) == H + LOST_MARGIN_S
    assert stuck_after(list(flat([SETTINGS, spoken(0.1, "s1")]))) == H + LOST_MARGIN_S


def test_a_committed_spoken_turn_is_in_flight_until_a_response_starts():
    assert in_flight(list(flat([SETTINGS, spoken(0.1, "s1")])))
    assert not in_flight(list(flat([SETTINGS, spoken(0.1, "s1"), audio_reply(0.12, "r1", ask=False)])))


def test_a_step_waits_while_the_service_is_about_to_answer_a_spoken_turn_it_committed():
    committed = list(flat([SETTINGS, spoken(0.1, "s1")]))
    assert service_answer_pending(committed)
    assert not service_answer_pending(committed + [upstream(0.2, "response.created", response={"id": "r1"})])
    # A proxy that turned the service's turn detection off (or its create_response) answers spoken turns itself.
    off = [proxy(0.002, "session.update", session={"audio": {"input": {"turn_detection": None}}})]
    assert not service_answer_pending(list(flat([SETTINGS, off, spoken(0.1, "s1")])))
