"""The voice path through the browser: a spoken WAV is the microphone (Chromium's fake capture device), the app
captures it at its declared input rate and sends binary PCM16 frames; the reply audio is played back.

The mock upstream's `voice` scenario hears the speech by energy (server VAD), commits it, sends the transcript
and answers with text and audio, as the real service does with server VAD. Durations and speech energy are
compared, never bytes: the browser may lose a few ms at the start and stall briefly on a busy machine.
"""

from __future__ import annotations

import pytest

from voice_harness.judging import catalogue
from voice_harness.judging.checks import fail, for_want_of
from voice_harness.judging.timeline import (CLIENT_TO_PROXY, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, UPSTREAM_TO_PROXY,
                                           appended_audio)
from voice_harness.mock_upstream import vad
from voice_harness.timeouts import units

from .flows import connect

CANARY = catalogue.get("CANARY-2")
TOLERANCE = 0.05          # durations within 5%
SPEECH_SLACK_S = 0.15     # plus the browser's lost start and a stall


def spoken_turn(app, recording, spoken, req: str, **params):
    """Open the app, connect, speak the WAV, wait for the agent's reply; (reply outcome, time the mic started)."""
    app.open(**params)
    if not app.has_microphone():
        pytest.skip(f"the app has no microphone control ({app.s.microphone!r} not on the page)")
    if params.get("micEarly") == "true":
        started = app.speak()   # before the connection is ready: the app streams as soon as the socket opens
        connect(app, recording, req)
    else:
        connect(app, recording, req)
        started = app.speak()
    outcome = app.wait_for_reply(CANARY.within_s + spoken.duration_s)
    return outcome, started


def sent_audio(timeline) -> bytes:
    """What the app sent the proxy as microphone audio (leg A binary frames)."""
    return b"".join(f.data for f in timeline.select(route=CLIENT_TO_PROXY, kind="binary"))


def stop_and_settle(app, recording) -> tuple[bytes, bytes]:
    """Stop the microphone, then wait (a few seconds at most) until what the app sent has gone upstream."""
    app.stop_speaking()
    recording.wait_for(lambda tl: len(appended_audio(tl.frames)) >= len(sent_audio(tl)) * (1 - TOLERANCE),
                       units(3))
    timeline = recording.timeline()
    return sent_audio(timeline), appended_audio(timeline.frames)


@pytest.mark.req("CANARY-2")
@pytest.mark.scenario("voice")
def test_agent_replies_to_the_first_spoken_utterance_within_15_s(voice_app, recording, spoken):
    outcome, started = spoken_turn(voice_app, recording, spoken, "CANARY-2")
    timeline = recording.timeline()
    frames = timeline.select(route=CLIENT_TO_PROXY, kind="binary")
    if not frames:
        for_want_of("CANARY-2", "the app sent no microphone audio, so there was no spoken utterance to answer",
                    timeline)
    received, _ = voice_app.audio_counts()
    if outcome.reply is None and not received:
        appended = timeline.select(route=PROXY_TO_UPSTREAM, type="input_audio_buffer.append")
        stopped = timeline.first(route=UPSTREAM_TO_PROXY, type="input_audio_buffer.speech_stopped")
        fail("CANARY-2", f"no agent reply (text or audio) within {CANARY.within_s:g} s of the spoken utterance: "
             f"the app sent {len(frames)} audio frames, the proxy appended {len(appended)} upstream"
             + ("" if stopped is None else ", and the upstream heard the utterance end"),
             timeline, frames[0], stopped)


@pytest.mark.req("WIRE-2")
@pytest.mark.scenario("voice")
def test_the_spoken_audio_goes_upstream_at_the_declared_rate_with_its_duration_and_speech(voice_app, recording,
                                                                                            spoken):
    spoken_turn(voice_app, recording, spoken, "WIRE-2")
    sent, appended = stop_and_settle(voice_app, recording)
    timeline = recording.timeline()
    if not sent:
        for_want_of("WIRE-2", "the app sent no microphone audio", timeline)
    binary = timeline.first(route=PROXY_TO_UPSTREAM, kind="binary")
    if binary is not None:
        fail("WIRE-2", "the proxy sent the microphone audio upstream as binary frames, not as "
             "input_audio_buffer.append events", timeline, binary)
    rate = spoken.rate   # the app declared it (Settings.audio.input.sample_rate) and the session's is the same
    sent_s, appended_s = len(sent) / 2 / rate, len(appended) / 2 / rate
    if abs(appended_s - sent_s) > TOLERANCE * sent_s:
        fail("WIRE-2", f"the app sent {sent_s:.2f} s of audio declared at {rate} Hz; the proxy appended "
             f"{len(appended)} bytes upstream, {appended_s:.2f} s at the session's {rate} Hz "
             f"(as if read at {rate * sent_s / appended_s:.0f} Hz)" if appended_s else
             f"the app sent {sent_s:.2f} s of audio declared at {rate} Hz; the proxy appended none upstream",
             timeline, timeline.first(route=CLIENT_TO_PROXY, kind="binary"),
             timeline.first(route=PROXY_TO_UPSTREAM, type="input_audio_buffer.append"))
    heard, said = vad.speech_seconds(appended, rate), vad.speech_seconds(spoken.samples, rate)
    if heard < said * (1 - TOLERANCE) - SPEECH_SLACK_S:
        fail("WIRE-2", f"the WAV has {said:.2f} s of speech; the audio appended upstream has {heard:.2f} s above "
             f"the speech threshold", timeline)


@pytest.mark.req("ORD-2")
@pytest.mark.scenario("voice", delays=[{"event": "session.updated", "ms": 1500}])
def test_speech_streamed_before_the_session_is_configured_waits_for_session_updated(voice_app, recording, spoken):
    spoken_turn(voice_app, recording, spoken, "ORD-2", micEarly="true")
    timeline = recording.timeline()
    updated = timeline.first(route=UPSTREAM_TO_PROXY, type="session.updated")
    early = timeline.first(route=CLIENT_TO_PROXY, kind="binary")
    if updated is None or early is None or early.t >= updated.t:
        for_want_of("ORD-2", "microphone audio from the app before the upstream's session.updated", timeline)
    appended = timeline.first(route=PROXY_TO_UPSTREAM, type="input_audio_buffer.append")
    if appended is not None and appended.t < updated.t:
        fail("ORD-2", "the proxy appended microphone audio before the upstream confirmed the session "
             "(session.updated)", timeline, early, appended, updated)


@pytest.mark.req("MAP-9")
@pytest.mark.scenario("voice")
def test_the_app_shows_that_the_user_spoke_and_what_was_heard(voice_app, recording, spoken, harness_config):
    outcome, _ = spoken_turn(voice_app, recording, spoken, "MAP-9")
    timeline = recording.timeline()
    started = timeline.first(route=UPSTREAM_TO_PROXY, type="input_audio_buffer.speech_started")
    heard = timeline.first(route=UPSTREAM_TO_PROXY, type="conversation.item.input_audio_transcription.completed")
    if started is None or heard is None:
        for_want_of("MAP-9", "the upstream hearing the speech (speech_started, a transcription)", timeline)
    transcript = heard.data.get("transcript", "")
    shown = {"UserStartedSpeaking": timeline.first(route=PROXY_TO_CLIENT, type="UserStartedSpeaking"),
             "UtteranceEnd": timeline.first(route=PROXY_TO_CLIENT, type="UtteranceEnd")}
    missing = [name for name, frame in shown.items() if frame is None]
    log = voice_app.event_log()
    missing += [f"{name} in the app" for name in shown if f"recv {name}" not in log and name not in missing]
    users = [text for role, text in voice_app.history() if role == "user"]
    if transcript and transcript not in users and "recv Transcript" not in log:
        missing.append(f"the transcript {transcript!r} in the app")
    if missing:
        fail("MAP-9", "the upstream heard the user speak, but the app did not get " + ", ".join(missing),
             timeline, started, heard)


@pytest.mark.req("WIRE-1")
@pytest.mark.scenario("voice")
def test_every_reply_audio_chunk_is_played_in_the_browser(voice_app, recording, spoken):
    outcome, _ = spoken_turn(voice_app, recording, spoken, "WIRE-1")
    timeline = recording.timeline()
    deltas = timeline.select(route=UPSTREAM_TO_PROXY, type="response.output_audio.delta")
    if not deltas:
        for_want_of("WIRE-1", "reply audio from the upstream", timeline)
    done = voice_app.wait_until(
        "([received, played]) => { const n = (id) => Number(document.querySelector(`[data-testid=\"${id}\"]`)"
        "?.textContent ?? 0); return n(received) > 0 && n(played) === n(received); }",
        [voice_app.s.audio_chunks, voice_app.s.audio_played], units(5))
    received, played = voice_app.audio_counts()
    if done is None:
        fail("WIRE-1", f"the upstream sent {len(deltas)} audio deltas; the app received {received} binary chunks "
             f"and finished playing {played} of them", timeline, deltas[0])
