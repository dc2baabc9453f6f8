"""CANARY-1: the release criterion. Connect, wait for SettingsApplied, send one text message, see the reply."""

import pytest

from voice_harness.errors import HarnessFault
from voice_harness.judging import app_settings, catalogue
from voice_harness.judging.checks import fail, not_exercised
from voice_harness.judging.diagnosis import CLOSED_BY, first_close, own_closes, why_no_reply
from voice_harness.suites.flows import open_and_connect, send_and_wait_for_reply
from voice_harness.judging.timeline import CLIENT_TO_PROXY, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, UPSTREAM_TO_PROXY

CANARY = catalogue.get("CANARY-1")
FIRST_MESSAGE = "Hello! Please answer in one short sentence."


# run_canary is also a user's own check (README: a test of theirs, without a req marker): its verdicts name CANARY-1
# themselves, so they are never counted under another id a calling test is marked with.
def run_canary(app, recording, **app_params):
    # No SettingsApplied is the canary's failure (the release criterion), not a step it lacked.
    open_and_connect(app, recording, req=CANARY.id, judge=fail, **app_params)
    # The greeting the app asked for (read from its Settings on leg A) never counts as the reply; the wait does
    # not give up on the mock's refusal: the canary waits to see what the service then does.
    outcome = send_and_wait_for_reply(app, FIRST_MESSAGE, CANARY.within_s, recording, give_up=False)
    timeline = recording.timeline()
    sent = timeline.first(route=CLIENT_TO_PROXY, type="InjectUserMessage")
    if sent is None and app.recorded:
        app_did_not_send(timeline)
    if outcome.reply is None:
        fail(why_no_reply(timeline, sent, outcome.waited_s), timeline,
             sent, first_close(timeline, sent) if sent else None, req=CANARY.id)
    turn_errors = errors_answering_the_turn(timeline, sent)
    if turn_errors is None:   # leg A not recorded (client tap off): the app's own count
        errors = app.error_count()
        if errors:
            fail(f"the agent replied but the app shows {errors} agent error(s)", timeline, req=CANARY.id)
    elif turn_errors:
        fail(f"the agent replied but answered the turn with an error: {turn_errors[0].message}",
             timeline, sent, *turn_errors[:2], req=CANARY.id)
    return outcome


def app_did_not_send(timeline):
    """The app sent no InjectUserMessage after SettingsApplied: the proxy's failure only if it closed the
    connection first (or the upstream's close reached the app); otherwise the app's matter, not a verdict."""
    closes = [c for c in own_closes(timeline) if (c.leg, c.arrow) != ("A", "->")]
    if closes:
        fail(f"{CLOSED_BY[(closes[0].leg, closes[0].arrow)]} {closes[0].data.get('code')} before the "
             f"app could send its first message", timeline, closes[0], req=CANARY.id)
    raise HarnessFault("the app sent no InjectUserMessage after SettingsApplied although its connection stayed "
                       "open: check the profile's text_input and send selectors", party="app")


def errors_answering_the_turn(timeline, sent):
    """The Error messages the client got for this turn: after the message was sent, and not caused by an
    upstream error that answered another client event (e.g. a greeting sent upstream as an assistant item
    and rejected: MAP-6's), nor made up by the proxy once it had accepted the message (its user item upstream)
    with no upstream error or close before it: such an Error rejects nothing of this turn (e.g. one made of a
    server event the proxy does not map, response.created: ERR-4's, an invariant). None when leg A was not
    recorded."""
    if sent is None:
        return None
    answering = []
    accepted = timeline.first(route=PROXY_TO_UPSTREAM, type="conversation.item.create", role="user", after=sent)
    for error in timeline.select(route=PROXY_TO_CLIENT, type="Error", after=sent):
        if accepted is not None and accepted.t < error.t and not any(
                f.t < error.t for f in timeline.select(route=UPSTREAM_TO_PROXY, type="error")
                + timeline.select(leg="B", kind="close")):
            continue
        cause = _upstream_cause(timeline, error)
        if cause is None or cause.type == "response.create" or cause.role == "user":
            answering.append(error)
    return answering


def _upstream_cause(timeline, error):
    """The client event upstream that the latest upstream error before this Error rejected, when the error
    names it (error.event_id) and the proxy gave its events ids; else None."""
    upstream = [f for f in timeline.select(route=UPSTREAM_TO_PROXY, type="error") if f.t <= error.t]
    if not upstream:
        return None
    event_id = (upstream[-1].message.get("error") or {}).get("event_id")
    if not event_id:
        return None
    # In a text frame or a binary one (WIRE-2's): the event the error names is the proxy's either way.
    return next((f for f in timeline.select(route=PROXY_TO_UPSTREAM)
                 if f.message is not None and f.message.get("event_id") == event_id), None)


@pytest.mark.req("CANARY-1")
def test_agent_replies_to_the_first_text_message_within_15_s(app, recording):
    outcome = run_canary(app, recording)
    if not outcome.reply.strip():
        fail("the app shows an empty agent reply", recording.timeline())


@pytest.mark.req("CANARY-1")
def test_a_greeting_shown_before_the_send_is_not_taken_for_the_reply(app, recording):
    """The app asks for a greeting (the bundled one honours the URL parameter; another app sends its own, or
    none): the proxy shows it, and the first message still gets a reply of its own. The reply wait never takes
    the greeting the app sent for the reply, so only a real answer passes."""
    outcome = run_canary(app, recording, greeting="Welcome! How can I help?")
    timeline = recording.timeline()
    settings = app_settings.sent(timeline)
    if app.recorded and (settings is None or settings.greeting is None):
        not_exercised("greeting", "the app sent no greeting in its Settings", timeline,
                      settings.frame if settings else None)
    if not outcome.reply.strip():
        fail("the app shows an empty agent reply", timeline)
