"""Replay as a pure state machine: a recorded connection played back against live client events."""

import pytest

from voice_harness.mock_upstream.replay import Divergence, ReplaySession, renumbered
from voice_harness.wire.cassette import Connection, Entry


def recorded(close_by="server"):
    """session.created at open; item.create answered by item.added 0.3 s later; response.create answered by
    two deltas; the service closes 2.7 s after response.create."""
    entries = [
        Entry(0.05, "server", {"type": "session.created"}),
        Entry(0.10, "client", {"type": "session.update"}),
        Entry(0.15, "server", {"type": "session.updated"}),
        Entry(1.00, "client", {"type": "conversation.item.create", "event_id": "rec_e1",
                               "item": {"id": "rec_item", "type": "message", "role": "user"}}),
        Entry(1.30, "server", {"type": "conversation.item.added", "item": {"id": "rec_item"},
                               "previous_item_id": None}),
        Entry(2.00, "client", {"type": "response.create"}),
        Entry(2.10, "server", {"type": "response.output_text.delta", "item_id": "srv_1", "delta": "Hi"}),
        Entry(2.20, "server", {"type": "response.output_text.delta", "item_id": "srv_1", "delta": "!"}),
    ]
    return Connection(1, 0.0, "/v1/realtime", entries, {"t": 4.7, "code": 1000, "reason": "", "by": close_by})


def test_the_open_brings_what_was_recorded_before_the_first_client_event():
    due = ReplaySession(recorded()).open(now=10.0)
    assert [(d.at, d.entry.type) for d in due] == [(pytest.approx(10.05), "session.created")]


def test_a_matching_event_brings_its_recorded_answers_at_their_delays_and_ids_renumbered():
    session = ReplaySession(recorded())
    session.open(10.0)
    session.receive(10.1, {"type": "session.update"})
    due = session.receive(20.0, {"type": "conversation.item.create", "event_id": "live_e1",
                                 "item": {"id": "live_item", "type": "message", "role": "user"}})
    assert [(d.at, d.entry.event["item"]["id"]) for d in due] == [(pytest.approx(20.3), "live_item")]
    due = session.receive(30.0, {"type": "response.create"})
    assert [(round(d.at, 3), d.entry.type if d.entry else "close") for d in due] == \
        [(30.1, "response.output_text.delta"), (30.2, "response.output_text.delta"), (32.7, "close")]
    assert due[-1].close["code"] == 1000


def test_speed_scales_the_delays_and_the_recorded_order_holds():
    session = ReplaySession(recorded(), speed=2.0)
    session.open(0.0)
    session.receive(0.0, {"type": "session.update"})
    session.receive(0.0, {"type": "conversation.item.create", "item": {"id": "x"}})
    due = session.receive(0.0, {"type": "response.create"})
    # Recorded 0.1 and 0.2 s after response.create: 0.05 and 0.1 s at twice the speed, but never before the
    # item.added still due at 0.15 s (recorded first, so sent first).
    assert [d.at for d in due if d.entry is not None] == [pytest.approx(0.15), pytest.approx(0.15)]
    assert due[-1].close is not None and due[-1].at == pytest.approx(1.35)


def test_a_client_close_is_not_replayed_by_the_server():
    session = ReplaySession(recorded(close_by="client"))
    session.open(0.0)
    for event in ({"type": "session.update"}, {"type": "conversation.item.create"}):
        session.receive(0.0, event)
    assert all(d.close is None for d in session.receive(0.0, {"type": "response.create"}))


def test_another_event_than_the_recorded_one_is_a_divergence_naming_both():
    session = ReplaySession(recorded())
    session.open(0.0)
    session.receive(0.0, {"type": "session.update"})
    with pytest.raises(Divergence) as caught:
        session.receive(0.0, {"type": "response.create"})
    assert (caught.value.expected, caught.value.got, caught.value.index) == \
        ("conversation.item.create", "response.create", 1)
    assert "expects `conversation.item.create`, the proxy sent `response.create`" in str(caught.value)
    assert "recorded before it: session.update" in str(caught.value)


def test_an_event_past_the_end_of_the_recording_is_a_divergence():
    session = ReplaySession(recorded())
    session.open(0.0)
    for kind in ("session.update", "conversation.item.create", "response.create"):
        session.receive(0.0, {"type": kind})
    with pytest.raises(Divergence, match="nothing more"):
        session.receive(0.0, {"type": "response.create"})


def test_renumbering_reaches_nested_values_and_leaves_others():
    event = {"item": {"id": "a", "content": [{"ref": "a"}]}, "other": "b"}
    assert renumbered(event, {"a": "z"}) == {"item": {"id": "z", "content": [{"ref": "z"}]}, "other": "b"}


def test_what_waits_behind_an_event_the_proxy_did_not_send_is_named():
    session = ReplaySession(recorded())
    session.open(0.0)
    session.receive(0.0, {"type": "session.update"})
    session.receive(0.0, {"type": "conversation.item.create", "item": {"id": "x"}})
    why = session.held_back()
    assert why is not None and "`response.output_text.delta` (and 1 more server events) follows a " \
                               "`response.create` the proxy has not sent" in why
    session.receive(0.0, {"type": "response.create"})
    assert session.held_back() is None


def test_a_recorded_close_never_overtakes_the_events_recorded_before_it():
    connection = recorded()
    connection.close["t"] = 2.05   # recorded 50 ms after response.create, before the deltas were all due
    session = ReplaySession(connection)
    session.open(0.0)
    session.receive(0.0, {"type": "session.update"})
    session.receive(0.0, {"type": "conversation.item.create"})
    due = session.receive(0.0, {"type": "response.create"})
    assert [d.close is not None for d in due] == [False, False, True]
    assert due[-1].at >= max(d.at for d in due[:-1])
