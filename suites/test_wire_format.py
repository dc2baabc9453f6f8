"""The wire format of both legs: what goes upstream validates as Realtime client events (WIRE-3); what goes to
the client is a known component message (WIRE-4) and never a raw upstream event (MAP-10)."""

import pytest

from voice_harness.judging import component_protocol
from voice_harness.judging import invariants
from voice_harness.judging.checks import fail, provoked
from voice_harness.timeouts import units
from .flows import browser_turn, fail_for_want_of, user_creates
from .test_function_calls import FUNCTIONS
from voice_harness.judging.timeline import PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, is_event


def assert_upstream_events_validate(timeline):
    """WIRE-3 as the invariant judges it (the framing of a binary frame is WIRE-2's, forwarded client messages
    CLI-1's or CLI-2's), provoked by at least one event sent upstream (in a text frame, or JSON in a binary one)."""
    provoked("WIRE-3", any(is_event(f) for f in timeline.select(route=PROXY_TO_UPSTREAM)), "an event sent upstream",
             timeline)
    violation = invariants.wire_3(timeline)
    if violation is not None:
        fail("WIRE-3", violation.reason, timeline, *violation.anchors)


@pytest.mark.req("WIRE-3")
@pytest.mark.scenario("function-call")
def test_every_upstream_event_of_a_full_conversation_validates(app, recording):
    timeline = browser_turn(app, recording, "What is the weather in Paris?", "WIRE-3", greeting="Hi!",
                            functions=FUNCTIONS, context=[{"role": "user", "content": "I am in France."}])
    assert_upstream_events_validate(timeline)


@pytest.mark.req("WIRE-3")
def test_upstream_events_validate_whatever_the_client_sends(make_wire_client, recording):
    client = make_wire_client()
    if client.configure() is None:
        fail_for_want_of("WIRE-3", "no SettingsApplied", recording.timeline())
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
        fail_for_want_of("WIRE-3", "the message never went upstream (MAP-1's to judge)", recording.timeline())
    assert_upstream_events_validate(recording.timeline())


@pytest.mark.req("WIRE-4", "MAP-10")
@pytest.mark.parametrize("features", [
    pytest.param({}, id="text-and-audio-turn", marks=pytest.mark.scenario(reply_audio_chunks=2)),
    pytest.param({"greeting": "Hi!", "functions": FUNCTIONS}, id="greeting-and-function-call",
                 marks=pytest.mark.scenario("function-call", reply_audio_chunks=2)),
])
def test_the_client_gets_only_known_component_messages(app, recording, features):
    timeline = browser_turn(app, recording, "What is the weather in Paris?", "WIRE-4", **features)
    for frame in timeline.select(route=PROXY_TO_CLIENT, kind="text"):
        if frame.type and "." in frame.type:
            fail("MAP-10", f"a raw upstream event reached the client: {frame.type}", timeline, frame)
        problems = component_protocol.problems(frame.data)
        if problems:
            fail("WIRE-4", f"{frame.label()}: {'; '.join(problems)}", timeline, frame)
