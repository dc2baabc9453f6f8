"""Turns: every user turn is answered (TURN-1) and turn detection has one owner (AUD-1), provoked through the core
features: typed turns and spoken ones (audio the wire client sends, or the microphone in the browser), audio and
text replies, later turns after an audio reply, an utterance that ends while a reply streams, a message typed
during a function call.

Who owns the spoken turns is the proxy's choice, read from its session.update (judging/turn_detection.py): with the
service's server VAD on, the service commits and answers them; with it off, the proxy commits and asks. Both are
judged the same way: each committed spoken turn and each typed message (not sent during a response: ORD-7's) must
get a response whose output reaches the client (judging/turns.py), and an utterance the client sent must be
committed (by whoever owns turn detection)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from voice_harness.judging import turn_detection, turns
from voice_harness.judging.component_protocol import function_calls
from voice_harness.judging.checks import fail_on, fail, for_want_of, provoked
from voice_harness.judging.sessions import responses
from voice_harness.judging.timeline import CLIENT_TO_PROXY, PROXY_TO_UPSTREAM, UPSTREAM_TO_PROXY
from voice_harness.timeouts import units
from voice_harness.wire.validation import client_event_problems

from .flows import (appends, fail_for_want_of, function_call_request, open_and_connect, send_and_wait_for_reply,
                    utterance)
from .test_function_calls import FUNCTIONS, RESULT, call_response_done
from .test_voice import spoken_turn

# Every reply in audio (4 deltas and a transcript; no response.output_text.done, as the service's audio replies).
AUDIO_REPLIES = pytest.mark.scenario("audio-reply")
# The third reply long enough (30 audio deltas 40 ms apart: over a second) that an utterance sent once its first delta
# reached the proxy ends (its 600 ms of silence all sent at once) while that reply still streams; the others short
# (the scenario's 4 deltas), as no stimulus waits on them.
THIRD_REPLY_LONG = pytest.mark.scenario("audio-reply", delta_interval_ms=40,
                                        script=[{"audio_chunks": 4}, {"audio_chunks": 4}, {"audio_chunks": 30}])
REPLY_DELTAS = ("response.output_audio.delta", "response.output_audio_transcript.delta",
                "response.output_text.delta")


# ----------------------------------------------------------------------------------- stimuli and waits

@dataclass
class Utterance:
    """An utterance the wire client sent: from `sent` on, `frames` binary frames."""

    sent: float
    frames: int

    def on_leg_a(self, timeline):
        """Its frames as the client tap recorded them."""
        return timeline.select(route=CLIENT_TO_PROXY, kind="binary", after=self.sent)[:self.frames]


def speak(client, recording) -> Utterance:
    """Send one utterance (speech, then silence: flows.utterance) and wait until the client tap recorded it all."""
    frames = utterance()
    said = Utterance(time.monotonic(), len(frames))
    for frame in frames:
        client.send_raw(frame)
    recording.wait_for(lambda tl: len(said.on_leg_a(tl)) >= said.frames, units(10))
    return said


def typed(client, text: str) -> float:
    sent = time.monotonic()
    client.send({"type": "InjectUserMessage", "content": text})
    return sent


def answered(timeline) -> list[turns.Turn]:
    """The user turns answered so far whose answering response is over (the next turn then meets no active
    response)."""
    return [t for t in turns.user_turns(timeline) if t.ok and t.answer.done is not None]


def wait_answered(recording, count: int, within_s: float | None = None) -> bool:
    """Wait until `count` user turns were answered and their responses are done (bounded, or the session ended)."""
    return bool(recording.wait_for(lambda tl: len(answered(tl)) >= count, within_s or units(10), while_live=True))


def configured(client, recording, **agent) -> None:
    if client.configure(**agent) is None:
        fail_for_want_of("no SettingsApplied", recording.timeline())


# ----------------------------------------------------------------------------------------- judging TURN-1

def never_committed(timeline, said: Utterance, until: float) -> str | None:
    """Why this utterance counts as lost before it could be a turn: its audio went upstream but nothing committed
    it (no input_audio_buffer.committed after its first frame and before `until`); None when it was committed."""
    frames = said.on_leg_a(timeline)
    if not frames:
        return None
    committed = [f for f in timeline.select(route=UPSTREAM_TO_PROXY, type="input_audio_buffer.committed",
                                            after=frames[0]) if f.t < until]
    if committed:
        return None
    if not appends(timeline, after=frames[0]):
        fail_for_want_of(f"the utterance the client sent at {timeline.offset(frames[0]):.3f} s never "
                         f"went upstream as appends (WIRE-2's to judge)", timeline, frames[0])
    refused = next((f for f in appends(timeline, after=frames[0]) if f.t < until and client_event_problems(f.message)),
                   None)
    if refused is not None:
        # The service refuses an invalid event whole: the audio never reached its buffer, so nobody could commit it.
        fail_for_want_of(f"the proxy's appends of the utterance the client sent at "
                         f"{timeline.offset(frames[0]):.3f} s are not valid client events, so the service "
                         f"refused them (WIRE-3's to judge)", timeline, refused)
    active = next((r for r in responses(timeline.frames) if r.active_at(frames[-1].t)), None)
    during = f", while response {active.id} was active" if active is not None else ""
    return (f"the utterance the client sent at {timeline.offset(frames[0]):.3f} s (its end of speech reached the "
            f"proxy at {timeline.offset(frames[-1]):.3f} s{during}) was never committed: no "
            f"input_audio_buffer.committed upstream after it, so it could never be answered")


def judge_turn_1(recording, utterances: list[Utterance], needs: int) -> list[turns.Turn]:
    """TURN-1 on the recording: every utterance committed, every user turn answered (turns.user_turns), and at
    least `needs` turns judged (else the conversation did not happen: inconclusive). The facts."""
    timeline = recording.timeline()
    bounds = [u.sent for u in utterances[1:]] + [float("inf")]
    for said, until in zip(utterances, bounds):
        lost = never_committed(timeline, said, until)
        if lost is not None:
            fail(lost, timeline, *said.on_leg_a(timeline)[-1:])
    facts = turns.user_turns(timeline)
    for turn in facts:
        if turn.ok is False:
            fail(turn.reason, timeline, turn.sent, turn.confirmed, *turn.creates[:1])
    judged = [t for t in facts if t.ok]
    if len(judged) < needs:
        skipped = "; ".join(t.reason for t in facts if t.ok is None)
        for_want_of(f"{len(judged)} user turns judged of the {needs} this conversation needs"
                    + (f" ({skipped})" if skipped else ""), timeline)
    return facts


def owner_at(timeline, t: float) -> turn_detection.TurnDetection:
    """The session's turn detection at time t, as the proxy's session.update frames before it set it."""
    detection = turn_detection.SERVICE_DEFAULT
    for frame in timeline.select(route=PROXY_TO_UPSTREAM, type="session.update"):
        if frame.t < t:
            detection = turn_detection.set_by(frame, detection)
    return detection


def ended_during_a_reply(timeline, said: Utterance) -> bool:
    """The utterance came while a reply streamed: its first frame reached the proxy while a response was active;
    and when the proxy owns turn detection (server VAD off), the proxy had appended all of it (its end of speech)
    before that response was done. With server VAD on, the service decides what the speech does to the reply
    (interrupt_response cancels it): the turn is then left to server VAD."""
    frames = said.on_leg_a(timeline)
    if len(frames) < said.frames:
        return False
    active = next((r for r in responses(timeline.frames) if r.active_at(frames[0].t)), None)
    if active is None:
        return False
    if owner_at(timeline, frames[0].t).on:
        return True
    last_append = next(iter(appends(timeline, after=frames[-1])), None)
    return last_append is not None and active.done is not None and last_append.t < active.done.t


# ---------------------------------------------------------------------------------------------- TURN-1

@pytest.mark.req("TURN-1")
@AUDIO_REPLIES
def test_a_typed_turn_after_an_audio_reply_is_answered(make_wire_client, recording):
    """An audio reply has no response.output_text.done: a proxy that waits for one before the next response.create
    never answers the second message. The second is typed once the first response is done (never during it)."""
    client = make_wire_client()
    configured(client, recording)
    typed(client, "Say something.")
    if not wait_answered(recording, 1):
        judge_turn_1(recording, [], 1)
    typed(client, "And something else.")
    wait_answered(recording, 2)
    facts = judge_turn_1(recording, [], 2)
    timeline = recording.timeline()
    provoked(turns_with_audio(facts[:1]), "a first reply in audio", timeline, facts[0].reply)


def turns_with_audio(facts: list[turns.Turn]) -> bool:
    return all(t.reply is not None and t.reply.kind == "binary" for t in facts)


@pytest.mark.req("TURN-1")
@AUDIO_REPLIES
def test_a_second_message_typed_in_the_app_after_an_audio_reply_is_answered(app, recording):
    open_and_connect(app, recording)
    send_and_wait_for_reply(app, "Say something.", units(10), recording)
    if not wait_answered(recording, 1):
        judge_turn_1(recording, [], 1)
    send_and_wait_for_reply(app, "And something else.", units(10), recording)
    wait_answered(recording, 2)
    facts = judge_turn_1(recording, [], 2)
    provoked(turns_with_audio(facts[:1]), "a first reply in audio", recording.timeline(),
             facts[0].reply)


@pytest.mark.req("TURN-1")
@THIRD_REPLY_LONG
def test_typed_and_spoken_turns_with_audio_replies_and_an_utterance_ending_during_a_reply(make_wire_client,
                                                                                        recording):
    """Four turns: typed, spoken, typed, and an utterance sent once the third reply's first delta reached the proxy
    (speech then silence at once, so its end comes while that reply streams): the service (server VAD on) or the
    proxy (off) commits it, and it is answered after that reply. Each step waits for the one before to be answered
    and over, so no turn but the last meets an active response."""
    client = make_wire_client()
    configured(client, recording)
    typed(client, "Say something.")
    if not wait_answered(recording, 1):
        judge_turn_1(recording, [], 1)
    first = speak(client, recording)
    if not wait_answered(recording, 2):
        judge_turn_1(recording, [first], 2)
    sent = typed(client, "Tell me a long story.")
    if recording.first(units(10), while_live=True, route=UPSTREAM_TO_PROXY, type=REPLY_DELTAS, after=sent) is None:
        judge_turn_1(recording, [first], 3)
    during = speak(client, recording)
    wait_answered(recording, 4)
    judge_turn_1(recording, [first, during], 4)
    timeline = recording.timeline()
    provoked(ended_during_a_reply(timeline, during), "an utterance that ended while a reply streamed",
             timeline, *during.on_leg_a(timeline)[-1:])


@pytest.mark.req("TURN-1")
@pytest.mark.scenario("function-call")
def test_a_message_typed_during_a_function_call_and_a_spoken_turn_after_it_are_answered(make_wire_client,
                                                                                       recording):
    """Text replies: a typed question answered by a function call; while the host has not answered the call yet
    (the call's response done), another typed message; then the host's result; then a spoken turn. The function
    result's follow-up is FN-1's: the spoken turn comes after its reply is done (waited for up to FN-1's bound plus
    the horizon of a lost turn; none by then is FN-1's, and this test is then inconclusive)."""
    client = make_wire_client()
    configured(client, recording, think={"functions": FUNCTIONS})
    typed(client, "What is the weather in Paris?")
    request, why_not = function_call_request(client, recording, units(10))
    if request is None:
        fail_for_want_of(why_not or "no FunctionCallRequest reached the client (MAP-4's to judge)",
                         recording.timeline())
    if recording.wait_for(call_response_done, units(10), while_live=True) is None:
        fail_for_want_of("the upstream never finished the response that made the call",
                         recording.timeline())
    typed(client, "Meanwhile, what time is it?")
    if not wait_answered(recording, 2):
        judge_turn_1(recording, [], 2)
    calls = function_calls(request)
    if not calls:
        fail_for_want_of("the FunctionCallRequest carries no call a host could answer (MAP-4's to judge)",
                         recording.timeline())
    call = calls[0]
    result = time.monotonic()
    client.send({"type": "FunctionCallResponse", "id": call.get("id"), "name": call.get("name"), "content": RESULT})
    # The spoken turn comes once the follow-up's reply is done, however late the follow-up (a late one is FN-1's):
    # a race between the two would judge the proxy on which came first.
    followed = recording.wait_for(lambda tl: any(r.done is not None for r in responses(tl.frames)
                                                 if r.created.t > result),
                                  turns.follow_up_within_s() + turns.lost_after_s(), while_live=True)
    if followed is None:
        fail_for_want_of("the function result was never followed up by a reply (FN-1's to judge)",
                         recording.timeline())
    spoken = speak(client, recording)
    wait_answered(recording, 3)
    facts = judge_turn_1(recording, [spoken], 3)
    timeline = recording.timeline()
    call_done = call_response_done(timeline)
    provoked(call_done is not None and facts[1].kind == "typed" and facts[1].sent.t > call_done.t
             and facts[1].sent.t < result, "a message typed while a function call was pending", timeline,
             facts[1].sent)


# ----------------------------------------------------------------------------------------------- AUD-1

def judge_aud_1(timeline) -> None:
    fail_on(turn_detection.aud_1(timeline), timeline)


def then_a_typed_turn(send, recording, spoken_reply_done) -> None:
    """The later event a second owner's commit or response.create for the spoken turn comes before: once the spoken
    turn's reply is done, a typed turn and its reply (a proxy that queues its response.create while a response is
    active sends it at that response.done, before it takes the typed message)."""
    if spoken_reply_done is None:
        return
    send()
    recording.first(units(10), while_live=True, route=UPSTREAM_TO_PROXY, type="response.done",
                    after=spoken_reply_done)


def spoken_reply_done(recording):
    """Wait until a spoken turn was committed and a response started after it is done; that response.done."""
    def done(tl):
        committed = tl.first(route=UPSTREAM_TO_PROXY, type="input_audio_buffer.committed")
        return committed and next((r.done for r in responses(tl.frames)
                                   if r.created.t > committed.t and r.done is not None), None)
    return recording.wait_for(done, units(10), while_live=True)


def provoke_aud_1(timeline) -> None:
    provoked(timeline.first(route=UPSTREAM_TO_PROXY, type="input_audio_buffer.committed"),
             "a spoken turn the upstream committed (the client's speech appended upstream: WIRE-2's if not)",
             timeline)


@pytest.mark.req("AUD-1")
def test_a_spoken_turn_has_one_owner_of_turn_detection(make_wire_client, recording):
    """One utterance (speech then silence). With server VAD on (the service's default, or as the proxy set it) the
    proxy only appends; a proxy that commits or asks for the answer itself turned it off first."""
    client = make_wire_client()
    if client.configure() is None:
        fail_for_want_of("no SettingsApplied", recording.timeline())
    speak(client, recording)
    done = spoken_reply_done(recording)
    then_a_typed_turn(lambda: typed(client, "Thanks. And now?"), recording, done)
    timeline = recording.timeline()
    judge_aud_1(timeline)
    provoke_aud_1(timeline)


@pytest.mark.req("AUD-1")
@pytest.mark.scenario("voice")
def test_a_spoken_turn_in_the_app_has_one_owner_of_turn_detection(voice_app, recording, spoken):
    spoken_turn(voice_app, recording, spoken)
    voice_app.stop_speaking()
    done = spoken_reply_done(recording)
    then_a_typed_turn(lambda: voice_app.send("Thanks. And now?"), recording, done)
    timeline = recording.timeline()
    judge_aud_1(timeline)
    provoke_aud_1(timeline)
