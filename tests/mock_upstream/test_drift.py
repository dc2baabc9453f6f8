"""Drift on hand-edited sessions: the mock's own answers, taken as the service's, show no difference; each kind
of edit (a renamed event, a dropped field, a late confirmation, another error or close code) is found."""

import copy

from voice_harness.mock_upstream import drift
from voice_harness.mock_upstream.scenario import Scenario
from voice_harness.wire.cassette import Cassette, Connection, Entry

CLIENT_EVENTS = [
    (0.10, {"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}}),
    (0.50, {"type": "conversation.item.create", "item": {"id": "item_user_1", "type": "message", "role": "user",
                                                         "content": [{"type": "input_text", "text": "Hello"}]}}),
    (0.70, {"type": "response.create"}),
]


def recorded_as_the_mock_answers(edit=None) -> Cassette:
    """A cassette whose service side is what the mock's engine answers (an honest mock: no drift), edited."""
    bare = Connection(1, 0.0, "/v1/realtime", [Entry(t, "client", e) for t, e in CLIENT_EVENTS])
    answers = drift.mock_session(bare, Scenario())
    entries = [Entry(t, "client", e) for t, e in CLIENT_EVENTS] + \
              [Entry(t, "server", copy.deepcopy(e)) for t, e in answers.events]
    entries.sort(key=lambda e: e.t)
    connection = Connection(1, 0.0, "/v1/realtime", entries, None)
    if edit is not None:
        edit(connection)
    return Cassette({"cassette": 1, "test": "t"}, [connection])


def differences(edit=None):
    return drift.compare(drift.pairs([recorded_as_the_mock_answers(edit)], lambda c: Scenario()))


def server_events(connection, kind):
    return [e for e in connection.entries if e.source == "server" and e.type == kind]


def test_the_mocks_own_answers_show_no_difference():
    assert differences() == []


def test_a_renamed_event_is_a_structural_difference_on_both_sides():
    def rename(connection):
        for entry in server_events(connection, "conversation.item.added"):
            entry.event["type"] = "conversation.item.created"
    found = {(d.kind, d.what, d.service, d.mock) for d in differences(rename)}
    assert ("event type", "`conversation.item.created`", "sends it", "never") in found
    assert ("event type", "`conversation.item.added`", "never", "sends it") in found


def test_a_dropped_field_is_named_with_its_event_type():
    def drop(connection):
        for entry in server_events(connection, "conversation.item.added"):
            entry.event.pop("previous_item_id", None)
    found = [d for d in differences(drop) if d.kind == "field"]
    assert [(d.what, d.service, d.mock, d.fails) for d in found] == \
        [("`conversation.item.added` field `previous_item_id`", "never", "has it", True)]


def test_a_late_confirmation_fails_on_timing_and_an_early_one_within_tolerance_is_only_noted():
    def late(seconds):
        def edit(connection):
            for entry in server_events(connection, "conversation.item.added"):
                entry.t += seconds
        return edit
    slow = [d for d in differences(late(3.0)) if d.kind == "timing"]
    assert [(d.what, d.fails) for d in slow] == [("confirmation", True)]
    assert slow[0].service.startswith("median 3040 ms")
    noted = [d for d in differences(late(0.1)) if d.kind == "timing"]
    assert [(d.what, d.fails) for d in noted] == [("confirmation", False)]


def test_another_error_code_and_close_code_are_found():
    def error_and_close(connection):
        connection.entries.append(Entry(0.8, "server", {"type": "error", "event_id": "e", "error": {
            "type": "invalid_request_error", "code": "rate_limit_exceeded", "message": "slow down"}}))
        connection.close = {"t": 3.0, "code": 1011, "reason": "", "by": "server"}
    found = {(d.kind, d.what) for d in differences(error_and_close)}
    assert ("error code", "`rate_limit_exceeded`") in found and ("close code", "`1011`") in found


def test_fields_the_openai_models_do_not_declare_are_reported():
    def extra(connection):
        server_events(connection, "session.updated")[0].event["surprise"] = 1
    found = [d for d in differences(extra) if d.kind == "model"]
    assert [d.what for d in found] == ["`session.updated`: surprise: unknown field"]
