"""Stimuli shared by the suites: the usual ways to drive a conversation. Checks stay in the suites."""

from __future__ import annotations

import json

from harness.app_driver import AppDriver
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


def not_replies(params: dict) -> tuple[str, ...]:
    """Texts that never count as the reply: a configured greeting may follow SettingsApplied by a moment and
    reach the app after the send, where it must not pass for the reply."""
    return (params["greeting"],) if params.get("greeting") else ()


def browser_turn(app: AppDriver, recording, text: str, req: str, **params):
    """Open the app, connect, send one message, wait for the agent's reply; the timeline."""
    open_and_connect(app, recording, req, **params)
    before = app.text(app.s.agent_response)
    app.send(text)
    outcome = app.wait_for_reply(units(10), before=before, ignore=not_replies(params))
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
