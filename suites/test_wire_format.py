"""The wire format of both legs: what goes upstream validates as Realtime client events (WIRE-3); what goes to
the client is a known component message (WIRE-4) and never a raw upstream event (MAP-10)."""

import pytest

from voice_harness.drivers.wire_client import settings
from voice_harness.judging import app_settings, component_protocol
from voice_harness.judging import invariants
from voice_harness.judging.checks import fail_on, fail, not_exercised, provoked
from voice_harness.timeouts import units
from .flows import app_params, browser_turn, fail_for_want_of, unless_called, user_creates
from .test_function_calls import FUNCTIONS
from voice_harness.judging.timeline import (CLIENT_TO_PROXY, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, UPSTREAM_TO_PROXY,
                                           is_event)


def assert_upstream_events_validate(timeline):
    """WIRE-3 as the invariant judges it (the framing of a binary frame is WIRE-2's, forwarded client messages
    CLI-1's or CLI-2's), provoked by at least one event sent upstream (in a text frame, or JSON in a binary one)."""
    provoked(any(is_event(f) for f in timeline.select(route=PROXY_TO_UPSTREAM)), "an event sent upstream",
             timeline)
    fail_on(invariants.wire_3(timeline), timeline)


@pytest.mark.req("WIRE-3")
@pytest.mark.scenario("function-call")
def test_every_upstream_event_of_a_full_conversation_validates(app, recording):
    timeline = browser_turn(app, recording, "What is the weather in Paris?", greeting="Hi!",
                            functions=FUNCTIONS, context=[{"role": "user", "content": "I am in France."}])
    unless_called(timeline)   # a conversation without its function call is not the full one this test is for
    assert_upstream_events_validate(timeline)


@pytest.mark.req("WIRE-3")
def test_upstream_events_validate_whatever_the_client_sends(make_wire_client, recording):
    client = make_wire_client()
    if client.configure() is None:
        fail_for_want_of("no SettingsApplied", recording.timeline())
    client.send({"type": "KeepAlive"})
    client.send({"type": "SomethingNew", "value": 1})
    for index in range(3):  # microphone audio: what becomes input_audio_buffer.append
        client.send_raw(bytes((index * 7 + i) % 251 for i in range(960)))
    client.send({"type": "InjectUserMessage", "content": "Still there?"})
    # The proxy handles a client's messages in order: once this message is upstream, so is all that came
    # before it.
    mine = recording.wait_for(lambda tl: next((f for f in user_creates(tl) if "Still there?" in str(f.message)), None),
                              units(10))
    if mine is None:
        fail_for_want_of("the message never went upstream (MAP-1's to judge)", recording.timeline())
    assert_upstream_events_validate(recording.timeline())


@pytest.mark.req("WIRE-4", "MAP-10")
@pytest.mark.parametrize("features", [
    pytest.param({}, id="text-and-audio-turn", marks=pytest.mark.scenario(reply_audio_chunks=2)),
    pytest.param({"greeting": "Hi!", "functions": FUNCTIONS}, id="greeting-and-function-call",
                 marks=pytest.mark.scenario("function-call", reply_audio_chunks=2)),
])
def test_the_client_gets_only_known_component_messages(app, recording, features):
    # Marked with two ids: each check names the one it judges (a missing reply leaves WIRE-4 inconclusive).
    timeline = browser_turn(app, recording, "What is the weather in Paris?", req="WIRE-4", **features)
    if "functions" in features:   # the messages of a function call must have arisen
        unless_called(timeline, req="WIRE-4")
    for frame in timeline.select(route=PROXY_TO_CLIENT, kind="text"):
        if frame.type and "." in frame.type:
            fail(f"a raw upstream event reached the client: {frame.type}", timeline, frame, req="MAP-10")
        problems = component_protocol.problems(frame.data)
        if problems:
            fail(f"{frame.label()}: {'; '.join(problems)}", timeline, frame, req="WIRE-4")


TEMPERATURE = 0.7   # what real apps of this family send in Settings.agent.think.provider; the GA session has none


def temperature_sent(timeline):
    """The temperature in the Settings the app or client actually sent (leg A), or None."""
    settings = app_settings.sent(timeline)
    provider = ((settings.raw.get("agent") or {}).get("think") or {}).get("provider") if settings else None
    return provider.get("temperature") if isinstance(provider, dict) else None


def session_answered(recording):
    """Wait until the service answered the proxy's session.update: session.updated, or its error (the service
    rejects a session.update with a field the GA session does not have and never configures the session, so
    SettingsApplied may never come: WIRE-3 is judged on what went upstream, not on waiting for it)."""
    recording.wait_for(lambda tl: tl.first(route=UPSTREAM_TO_PROXY, type=("session.updated", "error"),
                                           after=tl.first(route=PROXY_TO_UPSTREAM, type="session.update")),
                       units(10), while_live=True)
    return recording.timeline()


@pytest.mark.req("WIRE-3")
def test_a_temperature_in_settings_does_not_make_an_invalid_session_update(make_wire_client, recording):
    client = make_wire_client()
    client.send(settings(think={"provider": {"type": "open_ai", "model": "gpt-realtime", "temperature": TEMPERATURE}}))
    timeline = session_answered(recording)
    provoked(temperature_sent(timeline) is not None and timeline.first(route=PROXY_TO_UPSTREAM,
             type="session.update"), "Settings with a temperature, and the session.update made of it", timeline)
    assert_upstream_events_validate(timeline)


@pytest.mark.req("WIRE-3")
def test_the_apps_temperature_does_not_make_an_invalid_session_update(app, recording):
    app.open(**app_params(temperature=TEMPERATURE))
    app.send("Hello.")   # opens the connection without waiting for SettingsApplied, which may never come
    timeline = session_answered(recording)
    if timeline.first(route=CLIENT_TO_PROXY, type="Settings") is None:
        fail_for_want_of("the app sent no Settings", timeline)
    if temperature_sent(timeline) is None:
        not_exercised("temperature", "the app sent no temperature in its Settings", timeline)
    provoked(timeline.first(route=PROXY_TO_UPSTREAM, type="session.update"),
             "the session.update made of the app's Settings", timeline)
    assert_upstream_events_validate(timeline)
