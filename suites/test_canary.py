"""CANARY-1: the release criterion. Connect, wait for SettingsApplied, send one text message, see the reply."""

import pytest

from harness import catalogue
from harness.checks import fail
from harness.diagnosis import first_close, why_no_reply
from suites.flows import open_and_connect, send_and_wait_for_reply

CANARY = catalogue.get("CANARY-1")
FIRST_MESSAGE = "Hello! Please answer in one short sentence."


def run_canary(app, recording, **app_params):
    open_and_connect(app, recording, "CANARY-1", **app_params)
    outcome = send_and_wait_for_reply(app, FIRST_MESSAGE, CANARY.within_s, app_params.get("greeting"))
    timeline = recording.timeline()
    sent = timeline.first(leg="A", arrow="->", type="InjectUserMessage")
    if outcome.reply is None:
        fail("CANARY-1", why_no_reply(timeline, sent, outcome.waited_s), timeline,
             sent, first_close(timeline, sent) if sent else None)
    errors = app.error_count()
    if errors:
        fail("CANARY-1", f"the agent replied but the app shows {errors} agent error(s)", timeline)
    return outcome


@pytest.mark.req("CANARY-1")
def test_agent_replies_to_the_first_text_message_within_15_s(app, recording):
    outcome = run_canary(app, recording)
    assert outcome.reply.strip()


@pytest.mark.req("CANARY-1")
def test_a_greeting_shown_before_the_send_is_not_taken_for_the_reply(app, recording):
    greeting = "Welcome! How can I help?"
    outcome = run_canary(app, recording, greeting=greeting)
    assert outcome.reply != greeting
