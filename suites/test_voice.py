"""The voice path through the browser: a spoken WAV is the microphone (Chromium's fake capture device), the app
captures it at its declared input rate and sends binary PCM16 frames; the reply audio is played back.

The mock upstream's `voice` scenario hears the speech by energy (server VAD), commits it, sends the transcript
and answers with text and audio, as the real service does with server VAD. Durations and speech energy are
compared, never bytes: the browser may lose a few ms at the start and stall briefly on a busy machine.
"""

from __future__ import annotations

import pytest

from voice_harness.drivers.app_driver import ReplyOutcome
from voice_harness.judging import app_settings, catalogue
from voice_harness.judging.checks import fail, for_want_of, not_exercised
from voice_harness.judging.timeline import (CLIENT_TO_PROXY, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, UPSTREAM_TO_PROXY,
                                           appended_audio)
from voice_harness.mock_upstream import vad
from voice_harness.timeouts import units

from .flows import connect, not_replies, wait_until_through
from .test_audio import judge_interim_transcripts

CANARY = catalogue.get("CANARY-2")
TOLERANCE = 0.05          # durations within 5%
SPEECH_SLACK_S = 0.15     # plus the browser's lost start and a stall
SESSION_RATE = 24000      # the Realtime session's input rate when the proxy's session.update sets none
# How long after the microphone click the app's first audio frame may take to go over leg A: a real app's
# worklet may buffer 4096 samples (256 ms at 16 kHz) before its first frame, and start late on a busy machine.
FIRST_FRAME_S = 5


def spoken_turn(app, recording, spoken, **params):
    """Open the app, connect, speak the WAV, wait for the agent's reply; (reply outcome, time the mic started).
    The reply wait begins once the app's first audio frame went over leg A (nothing shown before it can answer
    the utterance) and never takes the assistant text the app sent in its Settings (its greeting, its context) for
    the reply."""
    app.open(**params)
    if not app.has_microphone():
        not_exercised("microphone", f"the app has no microphone control ({app.s.microphone!r} not on the page)")
    if params.get("micEarly") == "true":
        before, since = app.text(app.s.agent_response), app.history_length()
        started = app.speak()   # before the connection is ready: the app streams as soon as the socket opens
        connect(app, recording)
    else:
        connect(app, recording)
        before, since = app.text(app.s.agent_response), app.history_length()
        started = app.speak()
    if app.recorded and recording.first(units(FIRST_FRAME_S), route=CLIENT_TO_PROXY, kind="binary",
                                        after=started) is None:
        return ReplyOutcome(gave_up=f"the app sent no microphone audio within {units(FIRST_FRAME_S):g} s of the "
                                    f"microphone click"), started
    outcome = app.wait_for_reply(CANARY.within_s + spoken.duration_s, before=before, since=since,
                                 ignore=not_replies(app, recording))
    return outcome, started


def sent_audio(timeline) -> bytes:
    """What the app sent the proxy as microphone audio (leg A binary frames)."""
    return b"".join(f.data for f in timeline.select(route=CLIENT_TO_PROXY, kind="binary"))


def rates(timeline) -> tuple[int | None, int]:
    """(the input rate the app declared in its Settings on leg A, the session's input rate): the audio sent is
    read at the first, the audio appended upstream at the second (the proxy's session.update may set it in
    session.audio.input.format.rate; else it is the service's default, 24 kHz PCM16)."""
    settings = app_settings.sent(timeline)
    update = timeline.first(route=PROXY_TO_UPSTREAM, type="session.update")
    rate = update.message if update is not None else None
    for key in ("session", "audio", "input", "format", "rate"):
        rate = rate.get(key) if isinstance(rate, dict) else None
    session_rate = rate if isinstance(rate, int) and not isinstance(rate, bool) and rate > 0 else SESSION_RATE
    return (settings.input_rate if settings else None), session_rate


def durations(timeline) -> tuple[float, float]:
    """Seconds of audio the app sent (at its declared rate) and the proxy appended (at the session's)."""
    declared, session_rate = rates(timeline)
    return (len(sent_audio(timeline)) / 2 / (declared or SESSION_RATE),
            len(appended_audio(timeline.frames)) / 2 / session_rate)


def settled(timeline) -> bool:
    """What the app sent has gone upstream: the proxy appended after the app's last audio frame, and as many
    seconds (a proxy that converts the rate appends another number of bytes; one that batches, later)."""
    frames = timeline.select(route=CLIENT_TO_PROXY, kind="binary")
    after_last = frames and timeline.first(route=PROXY_TO_UPSTREAM, type="input_audio_buffer.append", after=frames[-1])
    sent_s, appended_s = durations(timeline)
    return bool(after_last) and appended_s >= sent_s * (1 - TOLERANCE)


def stop_and_settle(app, recording) -> tuple[bytes, bytes]:
    """Stop the microphone, then wait (a few seconds at most) until what the app sent has gone upstream."""
    app.stop_speaking()
    timeline = wait_until_through(recording, settled, timeout=units(3))
    return sent_audio(timeline), appended_audio(timeline.frames)


@pytest.mark.req("CANARY-2")
@pytest.mark.scenario("voice")
def test_agent_replies_to_the_first_spoken_utterance_within_15_s(voice_app, recording, spoken):
    judge_spoken_canary(voice_app, recording, spoken)


@pytest.mark.req("CANARY-2")
@pytest.mark.scenario("voice")
def test_a_greeting_is_never_taken_for_the_reply_to_the_spoken_utterance(voice_app, recording, spoken):
    """The app asks for a greeting, which the proxy shows around the time the microphone starts: only a reply
    after the app's first audio frame, other than that greeting, counts (else a proxy that never hears the
    microphone would pass on its greeting)."""
    judge_spoken_canary(voice_app, recording, spoken, greeting="Welcome! Say something.")
    settings = app_settings.sent(recording.timeline())
    if settings is None or settings.greeting is None:
        not_exercised("greeting", "the app sent no greeting in its Settings", recording.timeline())


def judge_spoken_canary(voice_app, recording, spoken, **params) -> None:
    outcome, started = spoken_turn(voice_app, recording, spoken, **params)
    timeline = recording.timeline()
    frames = timeline.select(route=CLIENT_TO_PROXY, kind="binary")
    if not frames:
        for_want_of("the app sent no microphone audio, so there was no spoken utterance to answer",
                    timeline)
    # An audio reply is what the proxy sent the app on leg A (the app's own counters are optional).
    audio_reply = timeline.select(route=PROXY_TO_CLIENT, kind="binary", after=frames[0])
    if outcome.reply is None and not audio_reply:
        appended = timeline.select(route=PROXY_TO_UPSTREAM, type="input_audio_buffer.append")
        stopped = timeline.first(route=UPSTREAM_TO_PROXY, type="input_audio_buffer.speech_stopped")
        fail(f"no agent reply (text or audio) within {CANARY.within_s:g} s of the spoken utterance: "
             f"the app sent {len(frames)} audio frames, the proxy appended {len(appended)} upstream"
             + ("" if stopped is None else ", and the upstream heard the utterance end"),
             timeline, frames[0], stopped)


@pytest.mark.req("WIRE-2")
@pytest.mark.scenario("voice")
def test_the_spoken_audio_goes_upstream_at_the_declared_rate_with_its_duration_and_speech(voice_app, recording,
                                                                                            spoken):
    spoken_turn(voice_app, recording, spoken)
    sent, appended = stop_and_settle(voice_app, recording)
    timeline = recording.timeline()
    if not sent:
        for_want_of("the app sent no microphone audio", timeline)
    binary = timeline.first(route=PROXY_TO_UPSTREAM, kind="binary")
    if binary is not None:
        fail(f"the proxy sent a binary frame upstream ({binary.label()}): the microphone audio goes as "
             f"input_audio_buffer.append text events", timeline, binary)
    # Judged at the rate the app declared in the Settings it sent (leg A), not the one the harness configured.
    rate, session_rate = rates(timeline)
    if rate is None:
        not_exercised("input rate", "the app declared no input sample rate (Settings.audio.input)",
                      timeline, timeline.first(route=CLIENT_TO_PROXY, type="Settings"))
    sent_s, appended_s = len(sent) / 2 / rate, len(appended) / 2 / session_rate
    if abs(appended_s - sent_s) > TOLERANCE * sent_s:
        fail(f"the app sent {sent_s:.2f} s of audio declared at {rate} Hz; the proxy appended "
             f"{len(appended)} bytes upstream, {appended_s:.2f} s at the session's {session_rate} Hz "
             f"(as if read at {rate * sent_s / appended_s:.0f} Hz)" if appended_s else
             f"the app sent {sent_s:.2f} s of audio declared at {rate} Hz; the proxy appended none upstream",
             timeline, timeline.first(route=CLIENT_TO_PROXY, kind="binary"),
             timeline.first(route=PROXY_TO_UPSTREAM, type="input_audio_buffer.append"))
    # The speech the proxy is held to is the speech the app sent (its capture may have lost some of the WAV),
    # read at the rate the app declared; what was appended is read at the session's rate.
    heard, said = vad.speech_seconds(appended, session_rate), vad.speech_seconds(sent, rate)
    if not said:
        for_want_of(f"the app sent {sent_s:.2f} s of microphone audio with no speech in it (read at its "
                    f"declared {rate} Hz), so the speech it carried could not be followed upstream", timeline)
    if heard < said * (1 - TOLERANCE) - SPEECH_SLACK_S:
        fail(f"the app sent {said:.2f} s of speech (at its declared {rate} Hz); the audio appended "
             f"upstream has {heard:.2f} s above the speech threshold (at the session's {session_rate} Hz)",
             timeline)


@pytest.mark.req("ORD-2")
@pytest.mark.scenario("voice", delays=[{"event": "session.updated", "ms": 1500}])
def test_speech_streamed_before_the_session_is_configured_waits_for_session_updated(voice_app, recording, spoken):
    spoken_turn(voice_app, recording, spoken, micEarly="true")
    timeline = recording.timeline()
    updated = timeline.first(route=UPSTREAM_TO_PROXY, type="session.updated")
    early = timeline.first(route=CLIENT_TO_PROXY, kind="binary")
    applied = timeline.first(route=PROXY_TO_CLIENT, type="SettingsApplied")
    if early is None or (applied is not None and early.t >= applied.t):
        # The app streams only once it is ready (no micEarly): ORD-2 is still judged by the wire client's test
        # (suites/test_audio.py).
        not_exercised("micEarly", "the app sent no microphone audio before SettingsApplied", timeline,
                      early, applied)
    if updated is None or early.t >= updated.t:
        for_want_of("microphone audio from the app before the upstream's session.updated", timeline)
    appended = timeline.first(route=PROXY_TO_UPSTREAM, type="input_audio_buffer.append")
    if appended is not None and appended.t < updated.t:
        fail("the proxy appended microphone audio before the upstream confirmed the session "
             "(session.updated)", timeline, early, appended, updated)


@pytest.mark.req("MAP-9")
@pytest.mark.scenario("voice")
def test_the_app_shows_that_the_user_spoke_and_what_was_heard(voice_app, recording, spoken, harness_config):
    outcome, _ = spoken_turn(voice_app, recording, spoken)
    timeline = recording.timeline()
    started = timeline.first(route=UPSTREAM_TO_PROXY, type="input_audio_buffer.speech_started")
    heard = timeline.first(route=UPSTREAM_TO_PROXY, type="conversation.item.input_audio_transcription.completed")
    if started is None or heard is None:
        for_want_of("the upstream hearing the speech (speech_started, a transcription)", timeline)
    transcript = heard.message.get("transcript", "")
    # What the proxy sent the app on leg A (the app's own log and history are its business).
    shown = {"UserStartedSpeaking": timeline.first(route=PROXY_TO_CLIENT, type="UserStartedSpeaking"),
             "UtteranceEnd": timeline.first(route=PROXY_TO_CLIENT, type="UtteranceEnd")}
    missing = [name for name, frame in shown.items() if frame is None]
    told = [str(f.message.get("content")).strip()
            for f in timeline.select(route=PROXY_TO_CLIENT, type=("Transcript", "ConversationText"))
            if f.type == "Transcript" or f.role == "user"]
    if transcript and transcript.strip() not in told:
        missing.append(f"the transcript {transcript!r}")
    if missing:
        fail("the upstream heard the user speak, but the proxy did not send the app " + ", ".join(missing),
             timeline, started, heard)
    judge_interim_transcripts(timeline)


@pytest.mark.req("WIRE-1")
@pytest.mark.scenario("voice")
def test_every_reply_audio_chunk_is_played_in_the_browser(voice_app, recording, spoken):
    outcome, _ = spoken_turn(voice_app, recording, spoken)
    timeline = recording.timeline()
    if not voice_app.has_played_counter():
        not_exercised("played-audio counter", f"the app shows no "
                      f"{voice_app.s.audio_played or 'played-audio'} counter, so playback could not be seen", timeline)
    deltas = timeline.select(route=UPSTREAM_TO_PROXY, type="response.output_audio.delta")
    if not deltas:
        for_want_of("reply audio from the upstream", timeline)
    done = voice_app.wait_until(
        "([received, played]) => { const n = (id) => Number(document.querySelector(`[data-testid=\"${id}\"]`)"
        "?.textContent ?? 0); return n(received) > 0 && n(played) === n(received); }",
        [voice_app.s.audio_chunks, voice_app.s.audio_played], units(5))
    received, played = voice_app.audio_counts()
    if done is None:
        fail(f"the upstream sent {len(deltas)} audio deltas; the app received {received} binary chunks "
             f"and finished playing {played} of them", timeline, deltas[0])
