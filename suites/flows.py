"""Stimuli shared by the suites: the usual ways to drive a conversation. Checks stay in the suites."""

from __future__ import annotations

import json

from harness.app_driver import AppDriver, ReplyOutcome
from harness.checks import fail
from harness.timeouts import units


def app_params(**params) -> dict:
    """URL parameters for the app; lists and dicts become JSON."""
    return {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in params.items()}


def open_and_connect(app: AppDriver, recording, req: str, **params) -> None:
    """Open the app with these URL parameters and connect (SettingsApplied shown)."""
    app.open(**app_params(**params))
    if not app.connect(units(10)):
        fail(req, "the connection closed before SettingsApplied", recording.timeline())


def send_and_wait_for_reply(app: AppDriver, text: str, within_s: float, greeting: str | None = None) -> ReplyOutcome:
    """Send one message and wait for the agent's reply to it. A configured greeting never counts as the
    reply: it may follow SettingsApplied by a moment and reach the app after the send."""
    before = app.text(app.s.agent_response)
    app.send(text)
    return app.wait_for_reply(within_s, before=before, ignore=(greeting,) if greeting else ())


def browser_turn(app: AppDriver, recording, text: str, req: str, **params):
    """Open the app, connect, send one message, wait for the agent's reply; the timeline."""
    open_and_connect(app, recording, req, **params)
    outcome = send_and_wait_for_reply(app, text, units(10), params.get("greeting"))
    if outcome.reply is None:
        fail(req, "no agent reply, so the requirement could not be checked", recording.timeline())
    return recording.timeline()


def send_until_response_create(app: AppDriver, recording, text: str):
    """Open the app, connect, send one message and wait until the proxy asks upstream for a response."""
    app.open()
    app.connect(units(10))
    app.send(text)
    recording.first(units(10), leg="B", arrow="->", type="response.create")
    return recording.timeline()


def user_creates(timeline):
    return timeline.select(leg="B", arrow="->", type="conversation.item.create", role="user")


def frames_of_upstream_connection(timeline, conn: int):
    return [f for f in timeline.frames if f.leg == "B" and f.conn == conn]
