"""Upstream errors: passed to the client with their codes (ERR-1, ERR-2), except the one the proxy itself
caused and the client cannot act on (ERR-3)."""

import pytest

from voice_harness.judging.checks import fail
from voice_harness.timeouts import units
from voice_harness.suites.flows import browser_turn, fail_for_want_of
from voice_harness.judging.timeline import PROXY_TO_CLIENT, UPSTREAM_TO_PROXY


def error_at_first_message(code, type_="invalid_request_error"):
    return pytest.mark.scenario(errors=[{"trigger": "first_user_item", "code": code, "type": type_}])


def client_errors(timeline):
    return timeline.select(route=PROXY_TO_CLIENT, type="Error")


def error_relayed(app, recording, req: str):
    """Send one message (the scenario answers its user item with an upstream error); the Error the proxy then
    sent the app on leg A, and the upstream error. Without an upstream error (no user item went upstream) the
    requirement could not be judged."""
    app.open()
    app.send("Hello.")
    error = recording.first(units(10), route=PROXY_TO_CLIENT, type="Error")
    timeline = recording.timeline()
    upstream = timeline.first(route=UPSTREAM_TO_PROXY, type="error")
    if upstream is None:
        fail_for_want_of(req, "the upstream never sent its error (no user item went upstream)", timeline)
    return error, upstream, timeline


@pytest.mark.req("ERR-1")
@error_at_first_message("rate_limit_exceeded", type_="rate_limit_error")
def test_an_upstream_error_reaches_the_client_with_its_code(app, recording):
    error, upstream, timeline = error_relayed(app, recording, "ERR-1")
    if error is None or error.message.get("code") != "rate_limit_exceeded":
        fail("ERR-1", f"the client got {error.message if error else 'no Error'}, expected code rate_limit_exceeded",
             timeline, upstream, error)


@pytest.mark.req("ERR-2")
@pytest.mark.parametrize("code", [
    pytest.param("idle_timeout", marks=error_at_first_message("idle_timeout")),
    pytest.param("session_max_duration", marks=error_at_first_message("session_max_duration")),
])
def test_expected_closure_codes_are_passed_as_they_are(app, recording, code):
    # Judged on what the proxy sent (leg A): how the app counts the Error is the app's business.
    error, upstream, timeline = error_relayed(app, recording, "ERR-2")
    if error is None or error.message.get("code") != code:
        fail("ERR-2", f"the client got {error.message if error else 'no Error'}, expected code {code}",
             timeline, upstream, error)


@pytest.mark.req("ERR-3")
@error_at_first_message("conversation_already_has_active_response")
def test_an_active_response_error_is_not_forwarded_to_the_client(app, recording):
    timeline = browser_turn(app, recording, "Hello.", "ERR-3")
    # The reply followed the error upstream, so anything made of the error has reached the client.
    forwarded = [f for f in client_errors(timeline)
                 if f.message.get("code") == "conversation_already_has_active_response"]
    if forwarded:
        fail("ERR-3", "conversation_already_has_active_response was forwarded to the client", timeline, forwarded[0])
