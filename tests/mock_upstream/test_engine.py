"""The mock upstream engine, without sockets: it must behave like the real service."""

import base64

import pytest

from voice_harness.mock_upstream.engine import CloseSocket, Engine, Send, unused_rules
from voice_harness.mock_upstream.scenario import Close, Delay, Drop, Duplicate, InjectError, Reorder, Scenario, Turn
from voice_harness.wire.validation import server_event_problems

USER_ITEM = {"type": "conversation.item.create", "item": {
    "id": "msg_user1", "type": "message", "role": "user",
    "content": [{"type": "input_text", "text": "hello"}]}}


def sends(outcome):
    return [a for a in outcome.actions if isinstance(a, Send)]


def types(outcome):
    return [a.event["type"] for a in sends(outcome)]


def configured(scenario=Scenario(), **session):
    engine = Engine(scenario)
    engine.connect(0.0)
    engine.receive(0.0, {"type": "session.update", "session": {"type": "realtime", "instructions": "x", **session}})
    return engine


def tool(name: str) -> dict:
    return {"type": "function", "name": name, "description": "d", "parameters": {"type": "object", "properties": {}}}


def test_session_created_is_sent_on_connect_before_any_client_event():
    assert types(Engine(Scenario()).connect(0.0)) == ["session.created"]


def test_session_update_is_answered_with_session_updated():
    engine = Engine(Scenario())
    engine.connect(0.0)
    out = engine.receive(1.0, {"type": "session.update", "session": {"type": "realtime", "instructions": "x"}})
    assert types(out) == ["session.updated"]
    assert sends(out)[0].event["session"]["instructions"] == "x"


def test_user_item_is_confirmed_with_added_then_done_after_the_confirm_latency():
    out = configured().receive(1.0, USER_ITEM)
    assert types(out) == ["conversation.item.added", "conversation.item.done"]
    assert all(s.at == pytest.approx(1.04) for s in sends(out))
    assert out.note == {"item_id": "msg_user1", "role": "user"}


def test_response_create_after_confirmation_gets_a_full_text_reply():
    engine = configured()
    engine.receive(1.0, USER_ITEM)
    out = engine.receive(1.1, {"type": "response.create"})
    assert types(out)[0] == "response.created" and types(out)[-2:] == ["response.done", "rate_limits.updated"]
    assert "response.output_text.delta" in types(out)
    done = [s.event for s in sends(out) if s.event["type"] == "conversation.item.done"][0]
    assert done["item"]["role"] == "assistant"
    assert done["item"]["content"][0] == {"type": "output_text", "text": "Mock reply to: hello"}


def test_premature_response_create_gets_no_reply_and_a_close_1000_after_2_7_s():
    engine = configured()
    engine.receive(1.0, USER_ITEM)
    out = engine.receive(1.001, {"type": "response.create"})
    assert sends(out) == []
    assert out.note["premature"] is True
    assert out.actions == [CloseSocket(pytest.approx(3.701), 1000, "")]


def test_with_delivery_tracked_a_confirmation_counts_once_it_is_on_the_wire_not_when_it_was_due():
    # A stalled mock reads the proxy's back-to-back response.create late, after the confirmation was due but
    # before it went out: the proxy cannot have seen it, so the request is still premature.
    engine = Engine(Scenario(), track_delivery=True)
    engine.connect(0.0)
    engine.receive(0.0, {"type": "session.update", "session": {"type": "realtime", "instructions": "x"}})
    confirmations = sends(engine.receive(1.0, USER_ITEM))
    assert engine.receive(1.2, {"type": "response.create"}).note["premature"] is True
    engine = Engine(Scenario(), track_delivery=True)
    engine.connect(0.0)
    engine.receive(0.0, {"type": "session.update", "session": {"type": "realtime", "instructions": "x"}})
    confirmations = sends(engine.receive(1.0, USER_ITEM))
    engine.delivered(confirmations[0].event)
    assert "response_id" in engine.receive(1.05, {"type": "response.create"}).note


def test_with_delivery_tracked_a_dropped_confirmation_still_counts_from_its_due_time():
    scenario = Scenario(drops=(Drop("conversation.item.added"),), delays=(Delay("conversation.item.done", 2000),))
    engine = Engine(scenario, track_delivery=True)
    engine.connect(0.0)
    engine.receive(0.0, {"type": "session.update", "session": {"type": "realtime", "instructions": "x"}})
    engine.receive(1.0, USER_ITEM)
    assert "response_id" in engine.receive(1.5, {"type": "response.create"}).note


def test_second_response_create_during_an_active_response_gets_an_error():
    engine = configured()
    engine.receive(1.0, USER_ITEM)
    engine.receive(1.1, {"type": "response.create"})
    out = engine.receive(1.11, {"type": "response.create"})
    assert types(out) == ["error"]
    assert sends(out)[0].event["error"]["code"] == "conversation_already_has_active_response"


def test_delay_rule_for_user_role_holds_back_the_user_confirmation_only():
    scenario = Scenario(delays=(Delay("conversation.item.added", 500, role="user"),))
    engine = configured(scenario)
    out = engine.receive(1.0, {"type": "conversation.item.create", "item": {
        "type": "message", "role": "system", "content": [{"type": "input_text", "text": "ctx"}]}})
    assert sends(out)[0].at == pytest.approx(1.04)
    out = engine.receive(2.0, USER_ITEM)
    assert [s.at for s in sends(out)] == [pytest.approx(2.54), pytest.approx(2.54)]
    assert engine.receive(2.3, {"type": "response.create"}).note["premature"] is True


def test_dropped_confirmations_are_lost_but_the_service_still_has_the_item():
    scenario = Scenario(drops=(Drop("conversation.item.added"), Drop("conversation.item.done")))
    engine = configured(scenario)
    assert sends(engine.receive(1.0, USER_ITEM)) == []
    assert engine.receive(1.01, {"type": "response.create"}).note["premature"] is True
    assert "response_id" in engine.receive(2.0, {"type": "response.create"}).note


def test_events_are_never_sent_out_of_order():
    scenario = Scenario(delays=(Delay("session.updated", 1000),))
    engine = Engine(scenario)
    engine.connect(0.0)
    updated = sends(engine.receive(0.0, {"type": "session.update", "session": {"type": "realtime"}}))[0]
    confirm = sends(engine.receive(0.1, USER_ITEM))[0]
    assert confirm.at >= updated.at == pytest.approx(1.04)


def test_close_rule_fires_after_first_user_item():
    scenario = Scenario(closes=(Close("first_user_item", after_ms=2700, code=1000, reason="bye"),), replies=False)
    engine = configured(scenario)
    out = engine.receive(1.0, USER_ITEM)
    assert out.actions[-1] == CloseSocket(pytest.approx(3.7), 1000, "bye")
    assert sends(engine.receive(1.2, {"type": "response.create"})) == []
    assert unused_rules(scenario, [engine]) == []


def test_unknown_fields_are_flagged_and_answered_with_an_error():
    engine = configured()
    out = engine.receive(1.0, {"type": "session.update", "session": {"type": "realtime", "bogus": 1}})
    assert out.note["problems"] == ["session.bogus: unknown field"]
    assert types(out) == ["error"]


def test_not_json_is_answered_with_an_error():
    out = configured().receive_text(1.0, "{nope")
    assert types(out) == ["error"] and out.note["problems"] == ["not JSON"]


def test_a_binary_frame_of_a_json_event_is_that_event_and_a_problem_raw_bytes_are_refused():
    import json

    engine = configured()
    out = engine.receive_binary(1.0, json.dumps(USER_ITEM).encode())
    assert types(out) == ["conversation.item.added", "conversation.item.done"]   # answered as the event
    assert out.note["problems"] == ["binary frame: the Realtime API takes JSON text events only"]
    assert out.note["role"] == "user"
    raw = engine.receive_binary(1.1, b"\x00\x01\x02\x03")
    assert types(raw) == ["error"] and sends(raw)[0].event["error"]["code"] == "invalid_frame"


def test_rules_that_never_applied_are_reported():
    scenario = Scenario(delays=(Delay("conversation.item.added", 300),), closes=())
    assert unused_rules(scenario, [configured(scenario)]) == [
        "delay event=conversation.item.added ms=300 never applied"]


def test_commit_with_less_than_100_ms_of_audio_gets_an_error():
    engine = configured()
    engine.receive(1.0, {"type": "input_audio_buffer.append", "audio": "AAAA"})
    out = engine.receive(1.1, {"type": "input_audio_buffer.commit"})
    assert sends(out)[0].event["error"]["code"] == "input_audio_buffer_commit_empty"


def test_every_event_the_engine_sends_validates_as_a_realtime_server_event():
    engine = configured()
    events = [s.event for s in sends(Engine(Scenario()).connect(0.0))]
    events += [s.event for s in sends(engine.receive(0.5, {"type": "session.update", "session": {"type": "realtime"}}))]
    events += [s.event for s in sends(engine.receive(1.0, USER_ITEM))]
    events += [s.event for s in sends(engine.receive(1.1, {"type": "response.create"}))]
    events += [s.event for s in sends(engine.receive(1.101, {"type": "response.create"}))]
    assert len(events) > 10
    for event in events:
        assert server_event_problems(event) == [], (event, server_event_problems(event))


def all_events(engine_outcomes):
    return [s.event for outcome in engine_outcomes for s in sends(outcome)]


def test_a_scripted_function_call_turn_streams_arguments_then_completes():
    scenario = Scenario(script=(Turn("function_call", "get_time", '{"tz": "UTC"}'),))
    engine = configured(scenario, tools=[tool("get_time")])
    engine.receive(1.0, USER_ITEM)
    out = engine.receive(1.1, {"type": "response.create"})
    done = [e for e in all_events([out]) if e["type"] == "response.function_call_arguments.done"][0]
    assert (done["name"], done["arguments"]) == ("get_time", '{"tz": "UTC"}')
    assert types(out)[-2] == "response.done"
    output = engine.receive(2.0, {"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": done["call_id"], "output": "12:00"}})
    assert output.note["role"] == "function_call_output"
    follow_up = engine.receive(2.1, {"type": "response.create"})
    assert "response.output_text.done" in types(follow_up)


@pytest.mark.parametrize("session, asked, calls", [
    ({}, None, False),                                                   # no tools: answered in words
    ({"tools": []}, None, False),
    ({"tools": [tool("get_time")]}, None, True),
    ({}, {"tools": [tool("get_time")]}, True),                           # the response's own tools
    ({"tools": [tool("get_time")]}, {"tools": []}, False),               # which replace the session's
    ({"tools": [{"type": "mcp", "server_label": "x"}]}, None, False),    # a tool, but no function
])
def test_a_function_call_comes_only_where_a_function_was_declared(session, asked, calls):
    """The service never calls a function it was not given: a scripted call without one is a reply in words."""
    engine = configured(Scenario(script=(Turn("function_call", "get_time", "{}"),)), **session)
    engine.receive(1.0, USER_ITEM)
    out = engine.receive(1.1, {"type": "response.create", **({"response": asked} if asked is not None else {})})
    assert ("response.function_call_arguments.done" in types(out)) is calls
    assert ("response.output_text.done" in types(out)) is not calls
    assert ("no_function_declared" in out.note) is not calls


def test_audio_replies_carry_pcm_deltas_and_a_transcript():
    engine = configured(Scenario(reply_audio_chunks=3))
    engine.receive(1.0, USER_ITEM)
    out = engine.receive(1.1, {"type": "response.create"})
    assert types(out).count("response.output_audio.delta") == 3
    done = [e for e in all_events([out]) if e["type"] == "conversation.item.done"][0]
    assert done["item"]["content"][0] == {"type": "output_audio", "transcript": "Mock reply to: hello"}


def test_a_script_mixes_audio_and_text_replies_in_one_session():
    engine = configured(Scenario(script=(Turn(audio_chunks=2), Turn(audio_chunks=0))))
    engine.receive(1.0, USER_ITEM)
    spoken = engine.receive(1.1, {"type": "response.create"})
    engine.receive(3.0, USER_ITEM)
    written = engine.receive(3.1, {"type": "response.create"})
    assert types(spoken).count("response.output_audio.delta") == 2 and "response.output_text.done" not in types(spoken)
    assert "response.output_audio.delta" not in types(written) and "response.output_text.done" in types(written)


def test_server_vad_detects_an_utterance_after_enough_audio_and_replies():
    engine = configured(Scenario(vad_utterance_ms=100))
    chunk = base64.b64encode(bytes(2400)).decode()  # 50 ms
    first = engine.receive(1.0, {"type": "input_audio_buffer.append", "audio": chunk})
    assert types(first) == ["input_audio_buffer.speech_started"]
    second = engine.receive(1.05, {"type": "input_audio_buffer.append", "audio": chunk})
    assert types(second)[:3] == ["input_audio_buffer.speech_stopped", "input_audio_buffer.committed",
                                 "conversation.item.added"]
    assert "conversation.item.input_audio_transcription.completed" in types(second)
    assert types(second)[-2] == "response.done"


def test_an_injected_error_is_sent_at_its_trigger():
    scenario = Scenario(errors=(InjectError("first_user_item", "rate_limit_exceeded", after_ms=100),))
    engine = configured(scenario)
    out = engine.receive(1.0, USER_ITEM)
    error = [s for s in sends(out) if s.event["type"] == "error"][0]
    assert error.event["error"]["code"] == "rate_limit_exceeded" and error.at == pytest.approx(1.1)
    assert unused_rules(scenario, [engine]) == []


def test_duplicate_and_reorder_rules():
    scenario = Scenario(duplicates=(Duplicate("conversation.item.done", role="user"),),
                        reorders=(Reorder("conversation.item.added", after="conversation.item.done"),))
    out = configured(scenario).receive(1.0, USER_ITEM)
    assert types(out) == ["conversation.item.done", "conversation.item.done", "conversation.item.added"]


def test_a_reorder_with_a_role_holds_the_response_done_of_the_function_call_response_only():
    """A first response (a greeting the proxy has the model speak) ends as usual; the function call's
    response.done waits for the function output's confirmation."""
    rule = Reorder("response.done", after="conversation.item.added", role="function_call",
                   after_role="function_call_output")
    engine = configured(Scenario(script=(Turn(), Turn("function_call", "f", "{}")), reorders=(rule,)), tools=[tool("f")])
    greeting = engine.receive(0.5, {"type": "response.create"})
    assert types(greeting)[-2] == "response.done"
    engine.receive(1.0, USER_ITEM)
    call = engine.receive(1.1, {"type": "response.create"})
    assert "response.function_call_arguments.done" in types(call) and "response.done" not in types(call)
    assert "rate_limits.updated" not in types(call)   # it follows its response.done, held back or not
    call_id = [e for e in all_events([call]) if e["type"] == "response.function_call_arguments.done"][0]["call_id"]
    output = engine.receive(5.0, {"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": call_id, "output": "21"}})
    assert types(output) == ["conversation.item.added", "response.done", "rate_limits.updated",
                             "conversation.item.done"]
    assert sends(output)[1].event["response"]["output"][0]["type"] == "function_call"


def test_every_kind_of_reply_validates_as_realtime_server_events():
    scenario = Scenario(reply_audio_chunks=2, vad_utterance_ms=50,
                        script=(Turn("function_call", "f", '{"a": 1}'),),
                        errors=(InjectError("first_user_item", "idle_timeout"),))
    engine = Engine(scenario)
    outcomes = [engine.connect(0.0),
                engine.receive(0.1, {"type": "session.update", "session": {"type": "realtime", "tools": [tool("f")]}}),
                engine.receive(1.0, USER_ITEM), engine.receive(1.1, {"type": "response.create"}),
                engine.receive(5.0, {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(4800)).decode()})]
    events = all_events(outcomes)
    assert {"response.function_call_arguments.done", "response.output_audio.delta",
            "input_audio_buffer.speech_started", "error"} <= {e["type"] for e in events}
    for event in events:
        assert server_event_problems(event) == [], (event, server_event_problems(event))


def at_of(outcome, kind, **match):
    return [s.at for s in sends(outcome) if s.event["type"] == kind
            and all(s.event.get(k) == v or (s.event.get("item") or {}).get(k) == v for k, v in match.items())]


def test_response_created_comes_at_once_and_the_reply_latency_delays_the_first_output():
    engine = configured(Scenario(reply_latency_ms=500))
    engine.receive(1.0, USER_ITEM)
    out = engine.receive(1.1, {"type": "response.create"})
    assert sends(out)[0].event["type"] == "response.created" and sends(out)[0].at == pytest.approx(1.1)
    assert at_of(out, "response.output_item.added") == [pytest.approx(1.6)]
    assert at_of(out, "conversation.item.added", role="assistant") == [pytest.approx(1.6)]
    assert min(s.at for s in sends(out) if s.event["type"] != "response.created") == pytest.approx(1.6)
    # Active from response.created on: a second response.create before the first output is rejected.
    rejected = engine.receive(1.3, {"type": "response.create"})
    assert rejected.note["rejected"] == "conversation_already_has_active_response"
    assert "response_id" in engine.receive(at_of(out, "response.done")[0], {"type": "response.create"}).note


def part_events(outcome, prefix):
    return [s.event for s in sends(outcome) if s.event["type"].startswith(prefix)]


def test_a_text_reply_in_several_parts_streams_each_part_and_the_item_holds_them_all():
    engine = configured(Scenario(reply_parts=3, reply_chunks=2))
    engine.receive(1.0, USER_ITEM)
    out = engine.receive(1.1, {"type": "response.create"})
    content = [e for e in all_events([out]) if e["type"] == "conversation.item.done"][-1]["item"]["content"]
    assert len(content) == 3 and all(p["type"] == "output_text" for p in content)
    assert "".join(p["text"] for p in content) == "Mock reply to: hello"
    response_done = [e for e in all_events([out]) if e["type"] == "response.done"][0]
    assert response_done["response"]["output"][0]["content"] == content
    # Per part, in order: added, its deltas, text done, part done.
    streamed = [(e["type"], e["content_index"]) for e in all_events([out])
                if e["type"].startswith(("response.content_part", "response.output_text"))]
    expected = []
    for index in range(3):
        expected += [("response.content_part.added", index), ("response.output_text.delta", index),
                     ("response.output_text.delta", index), ("response.output_text.done", index),
                     ("response.content_part.done", index)]
    assert streamed == expected
    for index, part in enumerate(content):
        deltas = [e["delta"] for e in part_events(out, "response.output_text.delta") if e["content_index"] == index]
        done = [e for e in part_events(out, "response.output_text.done") if e["content_index"] == index][0]
        part_done = [e for e in part_events(out, "response.content_part.done") if e["content_index"] == index][0]
        assert "".join(deltas) == done["text"] == part["text"] == part_done["part"]["text"]
    for event in all_events([out]):
        assert server_event_problems(event) == [], (event, server_event_problems(event))
    # Exactly reply_parts parts, however the text's length divides.
    engine = configured(Scenario(reply_parts=6))
    engine.receive(1.0, USER_ITEM)
    out = engine.receive(1.1, {"type": "response.create"})
    assert len([e for e in all_events([out]) if e["type"] == "conversation.item.done"][-1]["item"]["content"]) == 6


def test_an_audio_reply_in_several_parts_splits_the_transcript_and_the_audio():
    engine = configured(Scenario(reply_parts=2, reply_audio_chunks=4))
    engine.receive(1.0, USER_ITEM)
    out = engine.receive(1.1, {"type": "response.create"})
    content = [e for e in all_events([out]) if e["type"] == "conversation.item.done"][-1]["item"]["content"]
    assert [p["type"] for p in content] == ["output_audio", "output_audio"]
    assert "".join(p["transcript"] for p in content) == "Mock reply to: hello"
    audio = part_events(out, "response.output_audio.delta")
    assert len(audio) == 4 and {e["content_index"] for e in audio} == {0, 1}
    assert [e["content_index"] for e in part_events(out, "response.output_audio.done")] == [0, 1]
    for index, part in enumerate(content):
        done = [e for e in part_events(out, "response.output_audio_transcript.done") if e["content_index"] == index]
        assert done[0]["transcript"] == part["transcript"]
    for event in all_events([out]):
        assert server_event_problems(event) == [], (event, server_event_problems(event))


def test_content_parts_carry_the_fields_the_service_sends():
    engine = configured()
    engine.receive(1.0, USER_ITEM)
    out = engine.receive(1.1, {"type": "response.create"})
    assert part_events(out, "response.content_part.added")[0]["part"] == {"type": "text", "text": ""}
    engine = configured(Scenario(reply_audio_chunks=1))
    engine.receive(1.0, USER_ITEM)
    out = engine.receive(1.1, {"type": "response.create"})
    assert part_events(out, "response.content_part.added")[0]["part"] == {"type": "audio", "transcript": ""}


def test_a_user_item_sent_during_a_long_reply_is_confirmed_after_the_assistant_item_is_done():
    # The competing confirmation ORD-1 needs: the assistant item's conversation.item.done falls inside the
    # window in which the second user item is unconfirmed; a response.create sent then is premature.
    scenario = Scenario(reply_chunks=20, delta_interval_ms=50,
                        delays=(Delay("conversation.item.added", 600, role="user"),
                                Delay("conversation.item.done", 600, role="user")))
    engine = configured(scenario)
    engine.receive(1.0, USER_ITEM)
    reply = engine.receive(1.7, {"type": "response.create"})
    assistant_added = at_of(reply, "conversation.item.added", role="assistant")[0]
    assistant_done = at_of(reply, "conversation.item.done", role="assistant")[0]
    assert assistant_added == pytest.approx(1.73) and assistant_done > 2.5
    second = engine.receive(2.3, {"type": "conversation.item.create", "item": {
        "id": "msg_user2", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "more"}]}})
    confirmed = min(at_of(second, "conversation.item.added") + at_of(second, "conversation.item.done"))
    assert confirmed > assistant_done
    between = (assistant_done + confirmed) / 2
    premature = engine.receive(between, {"type": "response.create"})
    assert premature.note == {"premature": True, "unconfirmed_item": "msg_user2"} and sends(premature) == []
    assert premature.actions == [CloseSocket(pytest.approx(between + 2.7), 1000, "")]


def test_a_response_create_while_a_server_vad_item_is_unconfirmed_is_premature():
    engine = configured(Scenario(vad_utterance_ms=100))
    utterance = engine.receive(1.0, {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(4800)).decode()})
    confirmed = at_of(utterance, "conversation.item.added", role="user")[0]
    assert confirmed == pytest.approx(1.04)
    out = engine.receive(1.01, {"type": "response.create"})
    assert out.note["premature"] is True and out.note["unconfirmed_item"].startswith("item_vad")
    assert sends(out) == [] and out.actions == [CloseSocket(pytest.approx(3.71), 1000, "")]


def test_a_response_create_right_after_the_clients_own_commit_is_answered():
    # Client-side turn detection's documented flow: commit, then response.create at once, before the item's
    # confirmation went out. The item is the conversation's from the commit on: answered, not the field behaviour.
    engine = configured(Scenario())
    engine.receive(1.0, {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(4800)).decode()})
    committed = engine.receive(1.01, {"type": "input_audio_buffer.commit"})
    assert at_of(committed, "conversation.item.added", role="user")[0] > 1.011
    out = engine.receive(1.011, {"type": "response.create"})
    assert "premature" not in out.note and out.note["response_id"]
