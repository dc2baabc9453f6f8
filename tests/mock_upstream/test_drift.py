"""Drift on hand-edited sessions: the mock's own answers, taken as the service's, show no difference; each kind
of edit (a renamed event, a dropped field, a late confirmation, another error or close code) is found."""

import argparse
import copy
import json

import pytest

from voice_harness.mock_upstream import drift
from voice_harness.mock_upstream.scenario import Close, Scenario
from voice_harness.tools import drift as drift_tool
from voice_harness.wire import cassette as cassettes
from voice_harness.wire.cassette import Cassette, Connection, Entry

CLIENT_EVENTS = [
    (0.10, {"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}}),
    (0.50, {"type": "conversation.item.create", "item": {"id": "item_user_1", "type": "message", "role": "user",
                                                         "content": [{"type": "input_text", "text": "Hello"}]}}),
    (0.70, {"type": "response.create"}),
]


def client_close(t=5.0):
    return {"t": t, "code": 1000, "reason": "", "by": "client"}


def recorded_as_the_mock_answers(edit=None) -> Cassette:
    """A cassette whose service side is what the mock's engine answers (an honest mock: no drift), edited. The
    client closes at 5 s, after the whole reply."""
    bare = Connection(1, 0.0, "/v1/realtime", [Entry(t, "client", e) for t, e in CLIENT_EVENTS], client_close())
    answers = drift.mock_session(bare, Scenario())
    entries = [Entry(t, "client", e) for t, e in CLIENT_EVENTS] + \
              [Entry(t, "server", copy.deepcopy(e)) for t, e in answers.events]
    entries.sort(key=lambda e: e.t)
    connection = Connection(1, 0.0, "/v1/realtime", entries, client_close())
    if edit is not None:
        edit(connection)
    return Cassette({"cassette": 1, "test": "t"}, [connection])


def differences(edit=None, scenario=None):
    return drift.compare(drift.pairs([recorded_as_the_mock_answers(edit)], lambda c: scenario or Scenario()))


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
    assert [(d.what, d.fails) for d in found] == [("`session.updated`: surprise: unknown field", False)]


def test_the_whole_reply_is_compared_when_the_recording_outlives_it():
    """The helper's recording holds the mock's whole reply, so the tests above compare responses too."""
    kinds = {e.type for e in recorded_as_the_mock_answers().connections[0].entries}
    assert {"response.created", "response.output_text.delta", "response.done"} <= kinds


def cut_at(t, close):
    """An edit: the recording ends at t (mid-response), with a close there or without one."""
    def edit(connection):
        connection.entries = [e for e in connection.entries if e.t <= t]
        connection.close = close
    return edit


@pytest.mark.parametrize("close", [client_close(0.74), None, {"t": 0.74, "code": 1000, "reason": "", "by": "server"}],
                         ids=["client close", "no close", "server close"])
def test_a_session_that_ended_mid_response_shows_nothing_the_mock_would_have_sent_after(close):
    recorded = recorded_as_the_mock_answers(cut_at(0.74, close))
    assert "response.done" not in {e.type for e in recorded.connections[0].entries}
    service, mock = drift.pairs([recorded], lambda c: Scenario())[0]
    assert [e["type"] for _, e in mock.events] == [e["type"] for _, e in service.events]
    found = drift.compare([(service, mock)])
    assert [(d.kind, d.what) for d in found] == ([("close code", "`1000`")] if close and close["by"] == "server"
                                                 else [])


def test_the_mocks_close_after_the_client_closed_is_dropped_and_kept_where_the_service_closed_too():
    late_close = Scenario(closes=(Close(trigger="connect", after_ms=8000, code=1011),))
    assert [d.what for d in differences(scenario=late_close) if d.kind == "close code"] == []

    def service_closes(connection):
        connection.close = {"t": 5.0, "code": 1011, "reason": "", "by": "server"}
    assert [d.what for d in differences(service_closes, late_close) if d.kind == "close code"] == []
    assert [(d.what, d.service, d.mock) for d in differences(service_closes) if d.kind == "close code"] == \
        [("`1011`", "sends it", "never")]


def session(*events):
    """A service or mock session with these (time, type) events."""
    return drift.Session([(t, {"type": kind}) for t, kind in events], None)


def test_an_order_the_service_keeps_in_every_session_fails_when_the_mock_reverses_it():
    service = session((0.1, "a"), (0.5, "b"))
    pairs = [(service, session((0.5, "a"), (0.1, "b"))), (service, session((0.1, "a"), (0.5, "b")))]
    assert [(d.what, d.service, d.mock, d.sessions, d.fails) for d in drift._order(pairs)] == \
        [("`a` and `b`", "`a` first", "`b` first", 1, True)]


def test_an_order_the_service_itself_mixes_is_noted_not_failing():
    reversed_mock = session((0.5, "a"), (0.1, "b"))
    pairs = [(session((0.1, "a"), (0.5, "b")), reversed_mock),
             (session((0.1, "a"), (0.5, "b")), reversed_mock),
             (session((0.5, "a"), (0.1, "b")), reversed_mock)]
    assert [(d.what, d.service, d.mock, d.sessions, d.fails) for d in drift._order(pairs)] == \
        [("`a` and `b`", "`a` first in 2 sessions, `b` first in 1", "`b` first", 2, False)]


def test_model_rows_leave_out_list_indices_so_one_row_covers_every_element():
    def extra(connection):
        done = server_events(connection, "response.done")[0].event
        done["response"]["output"] = [dict(item, surprise=i) for i, item in enumerate(
            done["response"]["output"] * 2)]
    found = [(d.what, d.sessions, d.fails) for d in differences(extra) if d.kind == "model"]
    assert found == [("`response.done`: response.output[].surprise: unknown field", 1, False)]
    assert drift.without_indices("response.output.3.content.0: Input should be a valid dictionary") == \
        "response.output[].content[]: Input should be a valid dictionary"


def timing_pairs(n, service_latency, mock_latency=0.04):
    """n sessions, each one confirmation after service_latency (the service) and mock_latency (the mock)."""
    def one(latency):
        return drift.Session([(latency, {"type": "conversation.item.added", "item": {"id": "i"}})], None,
                             [(0.0, {"type": "conversation.item.create", "item": {"id": "i"}})])
    return [(one(service_latency[k] if isinstance(service_latency, list) else service_latency), one(mock_latency))
            for k in range(n)]


@pytest.mark.parametrize("n, fails", [(19, False), (20, True)])
def test_a_p95_past_tolerance_fails_only_from_20_samples(n, fails):
    latencies = [0.04] * (n - 2) + [3.0, 3.0]      # the same median, two slow outliers: the p95
    found = [d for d in drift.compare(timing_pairs(n, latencies)) if d.kind == "timing"]
    assert [(d.what, d.sessions, d.fails) for d in found] == [("confirmation", n, fails)]
    assert "p95 3000 ms" in found[0].service


def test_a_median_past_tolerance_fails_with_few_samples():
    found = [d for d in drift.compare(timing_pairs(2, 3.0)) if d.kind == "timing"]
    assert [(d.what, d.fails) for d in found] == [("confirmation", True)]


def test_the_report_states_the_p95_sample_minimum():
    pairs = timing_pairs(3, 0.04)
    record = drift.to_json(drift.compare(pairs), pairs, 1)
    assert record["tolerance"]["p95_min_samples"] == 20
    assert "the p95 only from 20 samples on" in drift_tool.markdown(record)


def test_events_that_are_not_objects_are_left_out_of_the_comparison():
    def odd(connection):
        connection.entries += [Entry(0.2, "server", ["not", "an", "object"]), Entry(0.3, "client", "text"),
                               Entry(0.8, "server", {"type": "error", "error": "boom"})]
        for entry in server_events(connection, "conversation.item.added"):
            entry.event["item"] = 5
    found = {(d.kind, d.what) for d in differences(odd)}
    assert ("event type", "`error`") in found and ("error code", "`None`") in found


def run_drift_tool(tmp_path, reports):
    cassettes.write(tmp_path / "cassettes" / "t.jsonl", recorded_as_the_mock_answers())
    return drift_tool.main(argparse.Namespace(cassettes=str(tmp_path / "cassettes"), reports_dir=str(reports)))


def test_the_drift_tool_writes_its_reports_and_exits_0_for_an_honest_mock(tmp_path):
    assert run_drift_tool(tmp_path, tmp_path / "reports") == 0
    assert json.loads((tmp_path / "reports" / "drift.json").read_text())["differences"] == []


def test_a_report_that_cannot_be_written_is_one_line_on_stderr_and_exit_2(tmp_path, capsys):
    (tmp_path / "reports" / "drift.json").mkdir(parents=True)      # a folder where the file goes
    assert run_drift_tool(tmp_path, tmp_path / "reports") == 2
    err = capsys.readouterr().err
    assert err.startswith("harness: drift: cannot write") and "drift.json" in err and err.count("\n") == 1
    (tmp_path / "file").write_text("")
    assert run_drift_tool(tmp_path, tmp_path / "file" / "reports") == 2             # a file where the folder goes
    assert capsys.readouterr().err.count("\n") == 1
