"""READY-*: the proxy tells the client the session is ready only once the upstream configured it."""

import pytest

from voice_harness.judging.checks import assert_before, fail
from voice_harness.timeouts import units
from voice_harness.drivers.wire_client import settings
from .flows import connect, fail_for_want_of, send_until_response_create, user_creates
from voice_harness.judging.timeline import PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, UPSTREAM_TO_PROXY, is_event

SLOW_UPDATE = [{"event": "session.updated", "ms": 800}]


@pytest.mark.req("READY-1")
@pytest.mark.parametrize("update_delay", [
    pytest.param(0, id="prompt-session-updated"),
    pytest.param(800, id="slow-session-updated", marks=pytest.mark.scenario(delays=SLOW_UPDATE)),
])
def test_settings_applied_is_sent_only_after_session_updated(app, recording, update_delay):
    app.open()
    connect(app, recording)
    timeline = recording.timeline()
    applied = timeline.first(route=PROXY_TO_CLIENT, type="SettingsApplied")
    if applied is None:
        fail_for_want_of("the app never received SettingsApplied", timeline)
    updated = timeline.first(route=UPSTREAM_TO_PROXY, type="session.updated")
    assert_before(timeline, updated, applied, "upstream session.updated")


@pytest.mark.req("READY-2")
def test_a_repeated_settings_is_applied_without_a_second_session_update(make_wire_client, recording):
    client = make_wire_client()
    if client.configure() is None:
        fail_for_want_of("no SettingsApplied for the first Settings", recording.timeline())
    client.send(settings())
    second = client.expect("SettingsApplied", units(5))
    timeline = recording.timeline()
    updates = timeline.select(route=PROXY_TO_UPSTREAM, type="session.update")
    if len(updates) != 1:
        fail(f"{len(updates)} session.update events for one connection", timeline, *updates[:3])
    if second is None:
        fail("the repeated Settings got no SettingsApplied", timeline)


def assert_session_update_first(timeline):
    # In a text frame or a binary one (whose framing is WIRE-2's): the first event is what READY-3 judges.
    first = next((f for f in timeline.select(route=PROXY_TO_UPSTREAM) if is_event(f)), None)
    if first is None or first.type != "session.update":
        fail(f"the first upstream event is {first.label() if first else 'missing'}", timeline, first)


@pytest.mark.req("READY-3")
def test_session_update_is_the_first_event_sent_upstream(app, recording):
    assert_session_update_first(send_until_response_create(app, recording, "Hello there."))


@pytest.mark.req("READY-3")
def test_session_update_comes_first_even_when_a_message_arrives_before_settings(make_wire_client, recording):
    client = make_wire_client()
    client.send({"type": "InjectUserMessage", "content": "Too early."})
    client.send(settings())
    recording.first(units(10), route=PROXY_TO_UPSTREAM, type="conversation.item.create")
    assert_session_update_first(recording.timeline())


@pytest.mark.req("READY-4")
@pytest.mark.scenario(delays=SLOW_UPDATE)
def test_messages_before_session_updated_are_queued_and_sent_after_it_in_order(make_wire_client, recording):
    client = make_wire_client()
    client.send(settings())
    for text in ("first", "second"):
        client.send({"type": "InjectUserMessage", "content": text})
    timeline = recording.wait_for(lambda tl: tl if len(user_creates(tl)) >= 2 else None, units(10))
    timeline = timeline or recording.timeline()
    creates = user_creates(timeline)
    updated = timeline.first(route=UPSTREAM_TO_PROXY, type="session.updated")
    for create in creates:
        assert_before(timeline, updated, create, "upstream session.updated")
    texts = [c.message["item"]["content"][0]["text"] for c in creates]
    if texts != ["first", "second"]:
        fail(f"user items sent as {texts}, expected ['first', 'second']", timeline, *creates)
