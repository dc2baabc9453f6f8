"""Upstream errors: passed to the client with their codes (ERR-1, ERR-2), except the one the proxy itself
caused and the client cannot act on (ERR-3); and no Error that nothing asked for (ERR-4, also an invariant:
judging/errors.py)."""

import pytest

from voice_harness.judging import errors
from voice_harness.mock_upstream import scenario as scenarios
from voice_harness.judging.checks import fail_on, fail, provoked
from voice_harness.timeouts import units
from voice_harness.suites.test_audio import chunk
from voice_harness.suites.flows import browser_turn, fail_for_want_of, send_and_wait_for_reply
from voice_harness.judging.timeline import PROXY_TO_CLIENT, UPSTREAM_TO_PROXY


def error_at_first_message(code, type_="invalid_request_error"):
    return pytest.mark.scenario(errors=[{"trigger": "first_user_item", "code": code, "type": type_}])


def client_errors(timeline):
    return timeline.select(route=PROXY_TO_CLIENT, type="Error")


def error_relayed(app, recording):
    """Send one message (the scenario answers its user item with an upstream error); the Error the proxy then
    sent the app on leg A, and the upstream error. Without an upstream error (no user item went upstream) the
    requirement could not be judged."""
    app.open()
    app.send("Hello.")
    error = recording.first(units(10), route=PROXY_TO_CLIENT, type="Error")
    timeline = recording.timeline()
    upstream = timeline.first(route=UPSTREAM_TO_PROXY, type="error")
    if upstream is None:
        fail_for_want_of("the upstream never sent its error (no user item went upstream)", timeline)
    return error, upstream, timeline


@pytest.mark.req("ERR-1")
@error_at_first_message("rate_limit_exceeded", type_="rate_limit_error")
def test_an_upstream_error_reaches_the_client_with_its_code(app, recording):
    error, upstream, timeline = error_relayed(app, recording)
    if error is None or error.message.get("code") != "rate_limit_exceeded":
        fail(f"the client got {error.message if error else 'no Error'}, expected code rate_limit_exceeded",
             timeline, upstream, error)


@pytest.mark.req("ERR-1")
@pytest.mark.scenario("server-error")
def test_the_services_real_server_error_reaches_the_client_as_server_error(app, recording):
    """The service's internal failure in its own words (PROTOCOL.md section 3), not an error made up for the test:
    a failure the client must see as one, never relabelled as an expected closure (idle_timeout,
    session_max_duration). That relabelling is counted here, under ERR-1, not again under ERR-2."""
    error, upstream, timeline = error_relayed(app, recording)
    want = (upstream.message.get("error") or {}).get("code")
    if error is None or error.message.get("code") != want:
        fail(f"the service's {want} ({(upstream.message.get('error') or {}).get('message')!r}) reached the "
             f"client as {error.message if error else 'no Error'}, expected code {want}",
             timeline, upstream, error)


@pytest.mark.req("ERR-2")
@pytest.mark.parametrize("code", [
    pytest.param("idle_timeout", marks=error_at_first_message("idle_timeout")),
    pytest.param("session_max_duration", marks=error_at_first_message("session_max_duration")),
])
def test_expected_closure_codes_are_passed_as_they_are(app, recording, code):
    """Judged on what the proxy sent (leg A): how the app counts the Error is the app's business. ERR-2's other
    half, no other error relabelled as one of these codes, is the same defect as ERR-1's relabelled code (the
    service's real server_error shown as idle_timeout): it is counted once, under ERR-1
    (test_the_services_real_server_error_reaches_the_client_as_server_error), not again here."""
    error, upstream, timeline = error_relayed(app, recording)
    if error is None or error.message.get("code") != code:
        fail(f"the client got {error.message if error else 'no Error'}, expected code {code}",
             timeline, upstream, error)


@pytest.mark.req("ERR-2")
@pytest.mark.scenario("session-max-duration")
def test_the_services_60_minute_limit_reaches_the_client_as_session_max_duration(app, recording):
    """The 60-minute limit in the service's own words (PROTOCOL.md section 3): an error whose code is not
    session_max_duration and whose message names the maximum duration, after the first response, then the close.
    The client is told session_max_duration, so it treats the end as expected."""
    browser_turn(app, recording, "Hello.")
    upstream = recording.first(units(10), route=UPSTREAM_TO_PROXY, type="error")
    if upstream is None:
        fail_for_want_of("the service never sent its 60-minute error", recording.timeline())
    # The service closes right after its error: once the proxy closed the client too (LIFE-1's), all it made of
    # the error has reached the client; an Error it invented meanwhile is ERR-4's, so any Error here may be it.
    recording.wait_for(lambda tl: tl.first(leg="A", kind="close", after=upstream), units(5))
    timeline = recording.timeline()
    relayed = client_errors(timeline)
    relayed = [f for f in relayed if f.t > upstream.t]
    if not any(f.message.get("code") == "session_max_duration" for f in relayed):
        detail = upstream.message.get("error") or {}
        fail(f"the service's 60-minute limit ({detail.get('code')}: {detail.get('message')!r}) reached the "
             f"client as {[f.message for f in relayed] or 'no Error'}, expected code session_max_duration",
             timeline, upstream, *relayed[:2])


@pytest.mark.req("ERR-3")
@error_at_first_message("conversation_already_has_active_response")
def test_an_active_response_error_is_not_forwarded_to_the_client(app, recording):
    timeline = browser_turn(app, recording, "Hello.")
    # The reply followed the error upstream, so anything made of the error has reached the client.
    forwarded = [f for f in client_errors(timeline)
                 if f.message.get("code") == "conversation_already_has_active_response"]
    if forwarded:
        fail("conversation_already_has_active_response was forwarded to the client", timeline, forwarded[0])


# ------------------------------------------------------------------------------------------------ ERR-4

# Server events no proxy maps to the client: the scenario's types the client has never seen, and two the service
# sends in every reply (response.created first, rate_limits.updated after response.done).
UNKNOWN_TYPES = tuple(scenarios.load("unknown-events").unknown_events)
ALWAYS_UNMAPPED = ("response.created", "rate_limits.updated")


def judge_err_4(timeline) -> None:
    """ERR-4 as the invariant judges it, provoked by server events the proxy does not map reaching it, all of them
    before the last reply the test waited for, so that any Error made of them has reached the client."""
    seen = {f.type for f in timeline.select(route=UPSTREAM_TO_PROXY)}
    provoked(UNKNOWN_TYPES and set(UNKNOWN_TYPES + ALWAYS_UNMAPPED) <= seen,
             f"the server events {', '.join(UNKNOWN_TYPES + ALWAYS_UNMAPPED)} reaching the proxy", timeline)
    fail_on(errors.err_4(timeline), timeline)


@pytest.mark.req("ERR-4")
@pytest.mark.scenario("unknown-events")
def test_server_events_the_proxy_does_not_map_are_never_turned_into_errors(app, recording):
    """Two typed turns; every reply carries event types the client has never seen, response.created, deltas and
    rate_limits.updated (after response.done). The second reply comes after all of the first turn's events went to
    the proxy, so an Error made of them has been sent by then."""
    browser_turn(app, recording, "Hello.")
    outcome = send_and_wait_for_reply(app, "And now?", units(10), recording)
    if outcome.reply is None:
        fail_for_want_of("no reply to the second message", recording.timeline())
    judge_err_4(recording.timeline())


@pytest.mark.req("ERR-4")
@pytest.mark.scenario("unknown-events", vad_utterance_ms=100, transcript="turn on the lights")
def test_server_events_of_a_spoken_turn_the_proxy_does_not_map_are_never_turned_into_errors(make_wire_client,
                                                                                             recording):
    """A spoken turn (the service's server VAD commits and answers it), then a typed one: every reply carries the
    unmapped events; the typed turn's reply comes after all of the spoken turn's events went to the proxy."""
    client = make_wire_client()
    if client.configure() is None:
        fail_for_want_of("no SettingsApplied (READY-1's to judge)", recording.timeline())
    for index in range(5):
        client.send_raw(chunk(index))
    spoken = recording.first(units(10), route=UPSTREAM_TO_PROXY, type="rate_limits.updated", while_live=True)
    if spoken is None:
        fail_for_want_of("the spoken turn got no reply from the service (its audio never reached it as "
                         "appends: WIRE-2's)", recording.timeline())
    client.send({"type": "InjectUserMessage", "content": "And now?"})
    if recording.first(units(10), route=PROXY_TO_CLIENT, type="ConversationText", role="assistant", after=spoken,
                       while_live=True) is None:
        fail_for_want_of("no reply to the typed turn after the spoken one", recording.timeline())
    judge_err_4(recording.timeline())
