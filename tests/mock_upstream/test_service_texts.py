"""The service's own words (PROTOCOL.md section 3): its rejections and the bundled scenarios of its real errors."""

from voice_harness.mock_upstream import scenario
from voice_harness.mock_upstream.engine import CloseSocket, Engine, Send, unused_rules
from voice_harness.mock_upstream.rejection import rejection
from voice_harness.wire.validation import server_event_problems

USER_ITEM = {"type": "conversation.item.create", "item": {
    "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}}


def sends(outcome):
    return [a for a in outcome.actions if isinstance(a, Send)]


def configured(chosen=scenario.Scenario()):
    engine = Engine(chosen)
    engine.connect(0.0)
    engine.receive(0.0, {"type": "session.update", "session": {"type": "realtime"}})
    return engine


def test_a_session_field_the_ga_api_lacks_is_an_unknown_parameter_and_configures_nothing():
    engine = Engine(scenario.Scenario())
    engine.connect(0.0)
    out = engine.receive(0.1, {"type": "session.update", "event_id": "evt_1",
                               "session": {"type": "realtime", "temperature": 0.7}})
    assert [s.event["type"] for s in sends(out)] == ["error"]          # no session.updated
    assert sends(out)[0].event["error"] == {
        "type": "invalid_request_error", "code": "unknown_parameter",
        "message": "Unknown parameter: 'session.temperature'.", "param": "session.temperature", "event_id": "evt_1"}
    assert out.note["problems"] == ["session.temperature: unknown field"]   # still WIRE-3's to judge
    assert server_event_problems(sends(out)[0].event) == []


def test_an_assistant_item_with_input_text_content_is_an_invalid_value():
    out = configured().receive(1.0, {"type": "conversation.item.create", "item": {
        "type": "message", "role": "assistant", "content": [{"type": "input_text", "text": "earlier reply"}]}})
    error = sends(out)[0].event["error"]
    assert (error["code"], error["param"]) == ("invalid_value", "item.content[0].type")
    assert error["message"] == "Invalid value: 'input_text'. Supported values are: 'output_text' and 'output_audio'."
    assert out.note["problems"] and "item_id" not in out.note          # never added to the conversation


def test_other_invalid_events_keep_the_mocks_own_answer():
    code, message, param = rejection({"type": "response.create", "response": 5}, ["response: not a dict"])
    assert (code, message, param) == ("invalid_event", "response: not a dict", None)
    assert rejection({}, ["a: unknown field", "b: missing"])[0] == "invalid_event"


def test_server_error_scenario_sends_the_real_text_after_the_first_user_item():
    chosen = scenario.load("server-error")
    engine = configured(chosen)
    out = engine.receive(1.0, USER_ITEM)
    kinds = [s.event["type"] for s in sends(out)]
    assert kinds == ["conversation.item.added", "conversation.item.done", "error"]
    error = sends(out)[-1].event["error"]
    assert (error["type"], error["code"]) == ("server_error", "server_error")
    assert error["message"].startswith("The server had an error while processing your request. Sorry about that!")
    assert unused_rules(chosen, [engine]) == []


def test_session_max_duration_scenario_sends_the_real_error_after_the_first_response_then_closes_1000():
    chosen = scenario.load("session-max-duration")
    engine = configured(chosen)
    engine.receive(1.0, USER_ITEM)
    out = engine.receive(1.1, {"type": "response.create"})
    done_at = [s.at for s in sends(out) if s.event["type"] == "response.done"][0]
    error = [s for s in sends(out) if s.event["type"] == "error"][0]
    assert error.at >= done_at
    assert error.event["error"]["code"] == "session_expired"
    assert error.event["error"]["message"] == "Your session hit the maximum duration of 60 minutes."
    closes = [a for a in out.actions if isinstance(a, CloseSocket)]
    assert [(c.code, c.at > error.at) for c in closes] == [(1000, True)]
    assert unused_rules(chosen, [engine]) == []


def test_unknown_events_scenario_names_types_the_api_does_not_have():
    chosen = scenario.load("unknown-events")
    assert chosen.unknown_events and not set(chosen.unknown_events) & scenario.SERVER_EVENTS
