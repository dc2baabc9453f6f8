"""The agent's activity signals: `AgentStartedSpeaking` before a response's first output to the client and
`AgentAudioDone` after its last, for a response with audio (AGENT-1, also an invariant: judging/agent_signals.py)
and for a text reply, a function call and the greeting (AGENT-2).

Apps of this family run an idle timer on what the proxy sends (PROTOCOL.md section 6): a proxy that never says the
agent is speaking, or says it stopped while its audio still streams, loses its socket in a pause of a reply. The
verdicts are judged from the wire with the same pure functions as the invariant, so the two never disagree and a
defect lands once, under AGENT-1; the browser test adds what the app did about it (its idle close) to the reason.
"""

from __future__ import annotations

import pytest

from voice_harness.drivers.app_driver import idle_timer
from voice_harness.judging import agent_signals, app_settings
from voice_harness.judging.agent_signals import AUDIO_DONE, DONE, STARTED
from voice_harness.judging.checks import fail_on, fail, for_want_of, not_exercised, provoked
from voice_harness.judging.sessions import at, frames_of, upstream_connections
from voice_harness.judging.timeline import CLIENT_LEG, CLIENT_TO_PROXY, PROXY_TO_CLIENT, UPSTREAM_TO_PROXY
from voice_harness.timeouts import units

from .flows import browser_turn, fail_for_want_of, open_and_connect, send_and_wait_for_reply, unless_called
from .test_function_calls import FUNCTIONS, RESULT

IDLE_MS = 1000      # the app's idle timer in the browser test: short, so the test stays short
PAUSE_MS = 1600     # the service's pause inside the reply, between its audio parts: longer than the app's timer
# A reply in two audio parts (two content parts of one item, two audio deltas each) whose second part comes after
# a pause: the end of each part (response.content_part.done, after its output_audio.done) is held PAUSE_MS, so the
# first audio reaches the app at once and the rest only after a gap longer than its idle timer. Only response.done
# ends the response; a part's output_audio.done before the pause does not.
PAUSED_AUDIO_REPLY = dict(reply_parts=2, reply_chunks=1, reply_audio_chunks=4,
                          delays=[{"event": "response.content_part.done", "ms": PAUSE_MS}])


def signals(timeline, after=None):
    return timeline.select(route=PROXY_TO_CLIENT, type=(STARTED, AUDIO_DONE, DONE), after=after)


def fail_agent_1(timeline, consequence: str = "") -> None:
    """AGENT-1 as the invariant judges it (the first violation), with what the app did about it, if anything."""
    fail_on(agent_signals.agent_1(timeline), timeline, consequence)


def audio_done_long_before_the_end(timeline):
    """An AgentAudioDone sent while a response with audio was still active, with no response.done in the more than
    AGENT-1's bound that its client connection stayed open after it: it cannot be within the bound of a response.done
    that had not come (the app's idle timer, released by it, may be what closed the connection). (the AgentAudioDone,
    the response's response.created) or None."""
    within = agent_signals.audio_done_within_s()
    for conn in upstream_connections(timeline):
        frames = frames_of(timeline, conn)
        close = next((f for f in frames if f.leg == CLIENT_LEG and f.kind == "close"), None)
        if close is None:
            continue
        for one in agent_signals.spoken(frames):
            if not one.audio or one.response.done is not None:
                continue
            early = next((f for f in frames if f.route == PROXY_TO_CLIENT and f.type == AUDIO_DONE
                          and one.audio[0].t < f.t and close.t - f.t > within), None)
            if early is not None:
                return early, one.response.created
    return None


def covered_past_the_reply(recording, done, nudge) -> None:
    """Wait until AGENT-1 can be judged for the response that ended at `done`: an AgentAudioDone after it, or AGENT-1's
    bound past it (then `nudge()` puts one more client frame on the recording, so that the judge sees the recording
    covers the bound and a missing AgentAudioDone counts as missing)."""
    within = agent_signals.audio_done_within_s()
    if recording.wait_for(lambda tl: tl.first(route=PROXY_TO_CLIENT, type=AUDIO_DONE, after=done),
                          units(within) + within) is None:
        nudge()


# ------------------------------------------------------------------------------------------------ AGENT-1


@pytest.mark.req("AGENT-1")
@pytest.mark.scenario("multi-part-reply", reply_audio_chunks=6)
def test_an_audio_reply_in_several_parts_is_framed_by_agent_started_speaking_and_agent_audio_done(
        make_wire_client, recording):
    """One typed turn whose reply is audio in three parts (three output_audio.done before its response.done): one
    AgentStartedSpeaking before its first audio frame, one AgentAudioDone after its last, within AGENT-1's bound
    of its response.done, never at a part's end while audio still streams."""
    client = make_wire_client()
    if client.configure() is None:
        fail_for_want_of("no SettingsApplied (READY-1's to judge)", recording.timeline())
    client.send({"type": "InjectUserMessage", "content": "Tell me about the weather."})
    done = recording.first(units(10), route=UPSTREAM_TO_PROXY, type="response.done", while_live=True)
    if done is None:
        fail_for_want_of("no response to the message ended upstream (no reply to judge)",
                         recording.timeline())

    def nudge():
        client.send({"type": "KeepAlive"})
        recording.first(units(5), route=CLIENT_TO_PROXY, type="KeepAlive", after=done)

    covered_past_the_reply(recording, done, nudge)
    timeline = recording.timeline()
    parts = timeline.select(route=UPSTREAM_TO_PROXY, type="response.output_audio.done")
    audio = timeline.select(route=PROXY_TO_CLIENT, kind="binary")
    provoked(audio and len(parts) > 1, "a response whose audio came in more than one part, reaching the "
             "client as audio", timeline, done)
    fail_agent_1(timeline)


@pytest.mark.req("AGENT-1")
@pytest.mark.scenario(**PAUSED_AUDIO_REPLY)
def test_the_app_keeps_its_socket_through_a_pause_in_an_audio_reply(app, recording):
    """The consequence in the browser: the app's idle timer (IDLE_MS) is shorter than a pause inside the reply's
    audio. With AgentStartedSpeaking before the audio and AgentAudioDone only at the response's end the app holds
    its timer through the pause; without them it closes the socket itself ('Closed by client') mid-reply. The
    verdict is AGENT-1's, judged from the wire; the app's close is named in the reason as the consequence. After
    the reply the app's idle close is awaited (IDLE_MS) to show its timer was on: an app without one is skipped."""
    open_and_connect(app, recording, **idle_timer(IDLE_MS))
    app.send("Tell me a story.")

    def ended(tl):
        return tl.first(route=UPSTREAM_TO_PROXY, type="response.done") or tl.first(leg=CLIENT_LEG, kind="close")

    if recording.wait_for(ended, units(10) + PAUSE_MS * 2 / 1000) is None:
        fail_for_want_of("no response ended upstream and the connection stayed open (no reply to "
                         "judge)", recording.timeline())
    # After the reply: the app's own idle close (its timer restarts at AgentAudioDone), or the proxy's close.
    recording.wait_for(lambda tl: tl.first(leg=CLIENT_LEG, kind="close"), units(2) + IDLE_MS / 1000 * 2)
    timeline = recording.timeline()
    close = timeline.first(leg=CLIENT_LEG, kind="close")
    done = timeline.first(route=UPSTREAM_TO_PROXY, type="response.done")
    if close is None:
        # The app never closed: a proxy that never sent AgentAudioDone holds its timer for good; end the connection
        # so the recording covers AGENT-1's bound past the response.done, then judge.
        app.disconnect()
        recording.first(units(5), leg=CLIENT_LEG, kind="close")
        timeline = recording.timeline()
        fail_agent_1(timeline)
        not_exercised("idle timer", f"the app did not close the connection in {IDLE_MS * 2} ms without "
                      f"agent activity after the reply (asked idleTimeout={IDLE_MS})", timeline, done)
    by_app = close.route == CLIENT_TO_PROXY
    mid_reply = done is None or close.t < done.t
    consequence = ""
    if by_app and mid_reply:
        said = " (its idle timer)" if app.closed_by_idle_timer() else ""
        code, reason = close.data.get("code"), close.data.get("reason") or ""
        consequence = (f"; the consequence: the app closed the socket itself{said} with {code} {reason!r} at "
                       f"{timeline.offset(close):.3f} s, while the reply was still going on")
    fail_agent_1(timeline, consequence)
    early = audio_done_long_before_the_end(timeline) if mid_reply else None
    if early is not None:
        fail(f"{at(timeline, early[0])} while the response was still active: no response.done came in the "
             f"{close.t - early[0].t:.2f} s the connection stayed open after it (AGENT-1: within "
             f"{agent_signals.audio_done_within_s():g} s of its response.done){consequence}",
             timeline, early[1], early[0], close)
    if mid_reply:
        why = "the app closed the connection itself" if by_app else "the proxy closed the connection"
        for_want_of(f"{why} before the reply ended ({timeline.offset(close):.3f} s), although the "
                    f"signals it got held AGENT-1 as far as they went", timeline, close)
    audio = timeline.select(route=PROXY_TO_CLIENT, kind="binary")
    gaps = [b.t - a.t for a, b in zip(audio, audio[1:])]
    provoked(gaps and max(gaps) * 1000 > IDLE_MS, f"a pause longer than the app's idle timer ({IDLE_MS} "
             f"ms) between two audio frames of the reply", timeline, *audio[:2])


# ------------------------------------------------------------------------------------------------ AGENT-2


def judge_agent_2(timeline, kinds: tuple[str, ...]) -> None:
    """AGENT-2 on the findings about `kinds` of output ("text", "a function call", "the greeting"). A session in
    which the proxy sent no activity signal at all is AGENT-1's failure (its audio replies; judged there, on every
    session), not counted again here: a miss is AGENT-2's only where the proxy shows it sends the signals."""
    findings = [f for f in agent_signals.agent_2_findings(timeline) if any(k in f.what for k in kinds)]
    provoked(any(f.ok is not None for f in findings), f"{' or '.join(kinds)} reaching the client, "
             f"followed by more of the session", timeline)
    if not signals(timeline):
        for_want_of("the proxy sent no agent activity signal at all in this session: a proxy without "
                    "them fails AGENT-1 on its audio replies (an invariant), not counted again under "
                    "AGENT-2; a miss for output without audio alone is judged where the proxy signals "
                    "its audio", timeline, *(f.first for f in findings[:1]))
    miss = next((f for f in findings if f.ok is False), None)
    if miss is not None:
        fail(miss.reason, timeline, miss.first)


@pytest.mark.req("AGENT-2")
@pytest.mark.scenario(script=[{"audio_chunks": 2}, {"audio_chunks": 0}, {"audio_chunks": 0}])
def test_a_text_reply_is_framed_by_the_activity_signals(app, recording):
    """Three typed turns: an audio reply (so a proxy that signals its audio shows it sends the signals at all: one
    that sends none is AGENT-1's), then two text replies; the first text reply's signals are judged once the third
    turn went on. Through the core features only: no function, no greeting."""
    browser_turn(app, recording, "First question?")
    for text in ("Second question?", "Third question?"):
        outcome = send_and_wait_for_reply(app, text, units(10), recording)
        if outcome.reply is None:
            fail_for_want_of(f"no reply to {text!r} (CANARY-1's and TURN-1's)", recording.timeline())
    judge_agent_2(recording.timeline(), ("(text)",))


@pytest.mark.req("AGENT-2")
@pytest.mark.scenario("function-call", reply_audio_chunks=2)
def test_a_function_call_is_framed_by_the_activity_signals(app, recording):
    """A function call (no audio) and its follow-up reply (audio, whose signals show that the proxy sends them)."""
    open_and_connect(app, recording, functions=FUNCTIONS, functionResult=RESULT)
    outcome = send_and_wait_for_reply(app, "What is the weather in Paris?", units(10), recording)
    if outcome.reply is None:
        fail_for_want_of("no reply after the function call (FN-1's)", recording.timeline())
    timeline = recording.timeline()
    if app_settings.sent(timeline) is None or not app_settings.sent(timeline).functions:
        not_exercised("functions", "the app sent no functions", timeline)
    unless_called(timeline)
    judge_agent_2(timeline, ("(a function call)",))


@pytest.mark.req("AGENT-2")
@pytest.mark.scenario(reply_audio_chunks=2)
def test_the_greeting_is_framed_by_the_activity_signals(app, recording):
    """The greeting, then a typed turn with an audio reply (whose signals show that the proxy sends them)."""
    timeline = browser_turn(app, recording, "Hello.", greeting="Welcome! Ask me anything.")
    settings = app_settings.sent(timeline)
    if settings is None or settings.greeting is None:
        not_exercised("greeting", "the app sent no greeting in its Settings", timeline,
                      settings.frame if settings else None)
    judge_agent_2(timeline, ("the greeting",))
