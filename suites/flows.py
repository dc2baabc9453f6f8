"""Stimuli shared by the suites: the usual ways to drive a conversation. Checks stay in the suites."""

from __future__ import annotations

import array
import json
import math
import sys
import time

from voice_harness.drivers.app_driver import AppDriver, ReplyOutcome
from voice_harness.judging import app_settings
from voice_harness.judging.checks import for_want_of, not_exercised
from voice_harness.judging.diagnosis import ended_by, refusal, refused_reply
from voice_harness.errors import HarnessFault
from voice_harness.judging.invariants import CONFIRMATIONS
from voice_harness.mock_upstream import session_config
from voice_harness.mock_upstream.engine import AUDIO_BYTES_PER_MS
from voice_harness.timeouts import units
from voice_harness.judging.timeline import (CLIENT_TO_PROXY, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, UPSTREAM_LEG,
                                            UPSTREAM_TO_PROXY)


def app_params(**params) -> dict:
    """URL parameters for the app; lists and dicts become JSON."""
    return {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in params.items()}


def open_and_connect(app: AppDriver, recording, *, req: str | None = None, judge=None, **params) -> None:
    """Open the app with these URL parameters and connect (SettingsApplied shown; `req` and `judge` as for
    `connect`)."""
    app.open(**app_params(**params))
    connect(app, recording, req=req, judge=judge)


def connect(app: AppDriver, recording, within_s: float | None = None, judge=None, *, req: str | None = None) -> None:
    """Connect the opened app and wait for SettingsApplied. Without it, blame whom this attempt's frames show:
    the proxy (no SettingsApplied after Settings, or a close first) by `judge` (a check: `fail` where this is the
    requirement, as for the canary, the release criterion), which by default leaves the test's id (or `req`, in a
    test marked with several) inconclusive (READY-1's and the canary's to say); the app, when the wait timed out
    although the proxy had answered (or the app never sent Settings)."""
    within = within_s or units(10)
    started = time.monotonic()
    state = app.connect(within)
    if state == "ready":
        return
    judge = judge or for_want_of
    timeline = recording.timeline()
    settings = timeline.first(route=CLIENT_TO_PROXY, type="Settings", after=started)
    applied = next((f for f in timeline.select(route=PROXY_TO_CLIENT, type="SettingsApplied", after=started)
                    if settings is not None and f.conn == settings.conn), None)
    if state == "timeout" and app.recorded and (applied is not None or settings is None):
        raise HarnessFault(f"the proxy sent SettingsApplied at {timeline.offset(applied):.3f}s but the app did not "
                           f"show it within {within:g} s: check the profile's settings_applied selector"
                           if applied is not None else
                           f"the app sent no Settings within {within:g} s of being asked to connect: check the "
                           f"profile's text_input selector and the app's endpoint parameter", party="app")
    close = timeline.first(kind="close", after=started)
    if state == "closed":
        judge("the connection closed " + ("right after SettingsApplied" if applied else "before SettingsApplied"),
              timeline, settings, applied, close, req=req)
    judge(f"no SettingsApplied within {within:g} s after Settings", timeline, settings, req=req)


def not_replies(app: AppDriver, recording):
    """What never counts as a reply in this test: the assistant text the app itself sent in its Settings on leg
    A (its greeting, its assistant-role context messages), read again at each look (a reconnect sends new
    Settings). Empty when leg A is not recorded."""
    if recording is None or not app.recorded:
        return ()
    return lambda: app_settings.not_replies(recording.timeline())


def send_and_wait_for_reply(app: AppDriver, text: str, within_s: float, recording=None,
                            give_up: bool = True) -> ReplyOutcome:
    """Send one message and wait for the agent's reply to it. Given the recording, judged from leg A: the wait
    for the reply begins once the app's InjectUserMessage went over the wire (nothing before it can answer it),
    and the assistant text the app sent in its Settings (greeting, context) never counts as the reply (it may
    reach the page after the send). With give_up, the wait also ends as soon as the mock upstream has refused to reply (the canary
    leaves it off: it waits to see what the service then does)."""
    before, since = app.text(app.s.agent_response), app.history_length()
    start = app.send(text)
    if recording is not None and app.recorded:
        sent = recording.first(within_s, route=CLIENT_TO_PROXY, type="InjectUserMessage", after=start)
        if sent is None:
            return ReplyOutcome(waited_s=time.monotonic() - start,
                                gave_up=f"the app sent no InjectUserMessage within {within_s:g} s of the send "
                                        f"(the app's matter)")
    stop = (lambda: refused_reply(recording.timeline())) if recording is not None and give_up else None
    return app.wait_for_reply(max(0.0, start + within_s - time.monotonic()), before=before, since=since,
                              ignore=not_replies(app, recording), give_up=stop)


def fail_for_want_of(what: str, timeline, *anchors, req: str | None = None) -> None:
    """End the test inconclusive because `what` never came (a step the check needed: it is another id's
    failure, judged there), naming what ended the wait early (the mock upstream refused to reply for good, or
    one of this test's connections closed), if anything did. Under the test's id, or `req` in a test marked
    with several."""
    note, close = ended_by(timeline)
    for_want_of(what + note, timeline, *anchors, close, req=req)


UNCALLED = ("no function call came: the session the upstream confirmed declares no function (session.tools), and "
            "the service answered the question without one (MAP-8's to judge)")


def uncalled(timeline) -> str | None:
    """Why the function call a test waits for can no longer come, or None while it still can. The service calls
    only a function it was given (the session's tools, or a response's own): once the session it confirmed last
    (session.updated) declares none, no response.create since the question gave one of its own, and a response
    asked for after the question (the first user item the proxy made after the client's latest
    InjectUserMessage) completed without a call, the question was answered in words, and no call follows."""
    typed = timeline.select(route=CLIENT_TO_PROXY, type="InjectUserMessage")
    question = typed and timeline.first(route=PROXY_TO_UPSTREAM, type="conversation.item.create", role="user",
                                        after=typed[-1])
    if not question:
        return None
    on_its_connection = {"route": UPSTREAM_TO_PROXY, "conn": question.conn, "after": question}
    confirmed = timeline.select(route=UPSTREAM_TO_PROXY, type="session.updated", conn=question.conn)
    if not confirmed or session_config.declares_function(confirmed[-1].message.get("session") or {}):
        return None
    if any(session_config.declares_function({}, f.message.get("response"))
           for f in timeline.select(route=PROXY_TO_UPSTREAM, type="response.create", conn=question.conn,
                                    after=question)):
        return None
    created = {(f.message.get("response") or {}).get("id")
               for f in timeline.select(type="response.created", **on_its_connection)}
    for done in timeline.select(type="response.done", **on_its_connection):
        response = done.message.get("response") or {}
        if response.get("id") in created and response.get("status") == "completed" and not made_a_call(done):
            return UNCALLED
    return None


def made_a_call(done) -> bool:
    """This response.done's response has a function_call item in its output."""
    return any(isinstance(item, dict) and item.get("type") == "function_call"
               for item in (done.message.get("response") or {}).get("output") or [])


def unless_called(timeline, *, req: str | None = None) -> None:
    """End the test inconclusive (for_want_of_a_call) when its conversation was answered without the function call
    it was built around."""
    why_not = uncalled(timeline)
    if why_not:
        for_want_of_a_call(why_not, "", timeline, req=req)


def for_want_of_a_call(why_not: str | None, otherwise: str, timeline, *, req: str | None = None) -> None:
    """End the test inconclusive for want of a function call: the app's (it lacks the capability) when the Settings
    it sent carried no functions, so that no call could be asked for; else why_not (uncalled's), or otherwise."""
    settings = app_settings.sent(timeline)
    if why_not and (settings is None or not settings.functions):
        not_exercised("functions", "the app sent no functions (agent.think.functions)", timeline, req=req)
    fail_for_want_of(why_not or otherwise, timeline, req=req)


def until_called(recording, found, timeout: float):
    """Wait for found(timeline), a step of a function call (its request to the client, its output upstream),
    while the call can still come and the test's connections live. (the frame, None), or (None, why not):
    uncalled's reason, or None when the time ran out or a connection closed (fail_for_want_of names that)."""
    value = recording.wait_for(lambda tl: found(tl) or uncalled(tl), timeout, while_live=True)
    return (None, value) if value is None or isinstance(value, str) else (value, None)


def function_call_request(client, recording, timeout: float):
    """The FunctionCallRequest the wire client got (None, why not), as until_called."""
    request, why_not = until_called(recording, lambda tl: tl.first(route=PROXY_TO_CLIENT, type="FunctionCallRequest"),
                                    timeout)
    return (client.expect("FunctionCallRequest", units(2)), None) if request is not None else (None, why_not)


def browser_turn(app: AppDriver, recording, text: str, *, req: str | None = None, **params):
    """Open the app, connect, send one message, wait for the agent's reply; the timeline. A step that did not
    happen leaves the test's id (or `req`, in a test marked with several) inconclusive."""
    open_and_connect(app, recording, req=req, **params)
    outcome = send_and_wait_for_reply(app, text, units(10), recording)
    if outcome.reply is None:
        why = f" ({outcome.gave_up})" if outcome.gave_up else ""
        for_want_of(f"no agent reply, so the requirement could not be checked{why}", recording.timeline(),
                    refusal(recording.timeline()), req=req)
    return recording.timeline()


def send_until_response_create(app: AppDriver, recording, text: str, *, req: str | None = None):
    """Open the app, connect, send one message and wait until the proxy asks upstream for a response."""
    app.open()
    connect(app, recording, req=req)
    app.send(text)
    recording.first(units(10), route=PROXY_TO_UPSTREAM, type="response.create")
    return recording.timeline()


def user_creates(timeline):
    return timeline.select(route=PROXY_TO_UPSTREAM, type="conversation.item.create", role="user")


def frames_of_upstream_connection(timeline, conn: int):
    return [f for f in timeline.frames if f.leg == UPSTREAM_LEG and f.conn == conn]


def confirmations_of(timeline, item_id):
    return timeline.select(route=UPSTREAM_TO_PROXY, type=CONFIRMATIONS, item_id=item_id)


def competing_confirmations(timeline, create):
    """The confirmations of other items that arrived inside this user item's window: after it went upstream,
    before the upstream confirmed it (or up to now, if it never did). What must never release its response."""
    own = confirmations_of(timeline, create.item_id)
    end = own[0].t if own else float("inf")
    return [f for f in timeline.select(route=UPSTREAM_TO_PROXY, type=CONFIRMATIONS, after=create)
            if f.item_id != create.item_id and f.conn == create.conn and f.t < end]


# ------------------------------------------------------------------ audio sent upstream


def appends(timeline, after=None):
    return timeline.select(route=PROXY_TO_UPSTREAM, type="input_audio_buffer.append", after=after)


# How long a proxy that has started passing the client's audio on may pause before the rest counts as never
# coming: from its last append (or binary frame) upstream, or from the client's last frame if it has sent none.
QUIET_S = 2


def raw_binary_upstream(timeline):
    """The binary frames the proxy sent upstream that are not a JSON message: audio sent as bytes, which no check
    but WIRE-2 can read. (A binary frame holding an append is that append to every check, and WIRE-2's binary
    frame besides.)"""
    return [f for f in timeline.select(route=PROXY_TO_UPSTREAM, kind="binary") if f.message is None]


def audio_upstream(timeline):
    """What the proxy sent upstream of the client's audio: its appends (in a text frame or a binary one) and any
    raw binary frame."""
    return appends(timeline) + raw_binary_upstream(timeline)


def wait_until_through(recording, through, quiet_s: float | None = None, timeout: float | None = None):
    """Wait until the client's audio went through: `through(timeline)` holds (all of it appended upstream), or
    the proxy made no progress (no new append or binary frame upstream) for quiet_s (QUIET_S units) after its
    last one, so what it holds back is judged as held back, not as not yet sent; the timeline. Bounded by
    `timeout` (10 units) in all."""
    quiet_s = units(QUIET_S) if quiet_s is None else quiet_s
    deadline = time.monotonic() + (units(10) if timeout is None else timeout)
    while True:
        timeline = recording.timeline()
        seen = len(audio_upstream(timeline))
        remaining = deadline - time.monotonic()
        if through(timeline) or remaining <= 0:
            return timeline
        progressed = recording.wait_for(lambda tl: through(tl) or len(audio_upstream(tl)) > seen,
                                        min(quiet_s, remaining))
        if not progressed:
            return recording.timeline()


# ------------------------------------------------------------------ spoken turns on the wire

FRAME_MS = 20


def speech(ms: int) -> list[bytes]:
    """`ms` of a loud 440 Hz tone (PCM16 mono 24 kHz, 20 ms frames): speech to any energy VAD (RMS far above the
    service's threshold)."""
    per_frame = FRAME_MS * AUDIO_BYTES_PER_MS // 2
    samples = [int(8000 * math.sin(2 * math.pi * 440 * i / 24000)) for i in range(per_frame)]
    frame = array.array("h", samples)
    if sys.byteorder == "big":   # PCM16 on the wire is little-endian
        frame.byteswap()
    return [frame.tobytes()] * (ms // FRAME_MS)


def silence(ms: int) -> list[bytes]:
    return [bytes(FRAME_MS * AUDIO_BYTES_PER_MS)] * (ms // FRAME_MS)


# An utterance: 300 ms of speech, then 600 ms of silence, more than the 500 ms after which the service's server VAD
# (silence_duration_ms) or a proxy that owns turn detection hears its end. Ended by its content, not by a clock.
UTTERANCE_SPEECH_MS, UTTERANCE_SILENCE_MS = 300, 600


def utterance() -> list[bytes]:
    return speech(UTTERANCE_SPEECH_MS) + silence(UTTERANCE_SILENCE_MS)
