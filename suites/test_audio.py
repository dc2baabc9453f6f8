"""Audio both ways: client microphone frames to input_audio_buffer.append (WIRE-2, ORD-2, ORD-5), reply audio
to binary frames (WIRE-1), and the upstream's voice-activity events to the client (MAP-9)."""

import base64

import pytest

from voice_harness.judging import invariants, turn_detection
from voice_harness.judging.transcripts import interim_transcripts
from voice_harness.judging.checks import assert_before, fail, provoked
from voice_harness.timeouts import units
from voice_harness.mock_upstream.engine import AUDIO_BYTES_PER_MS
from voice_harness.drivers.wire_client import settings
from voice_harness.suites.flows import (appends, browser_turn, fail_for_want_of, raw_binary_upstream,
                                        wait_until_through)
from voice_harness.judging.timeline import (CLIENT_TO_PROXY, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, UPSTREAM_LEG,
                                           UPSTREAM_TO_PROXY, appended_audio)

CHUNK_MS = 20


def chunk(index: int, ms: int = CHUNK_MS) -> bytes:
    return bytes((index * 13 + i) % 251 for i in range(ms * AUDIO_BYTES_PER_MS))


def sent_audio(recording, frames: int) -> list[bytes]:
    """The client's binary frames as the client tap recorded them (leg A), once all `frames` went through it."""
    recording.wait_for(lambda tl: len(tl.select(route=CLIENT_TO_PROXY, kind="binary")) >= frames, units(10))
    return [f.data for f in recording.timeline().select(route=CLIENT_TO_PROXY, kind="binary")]


@pytest.mark.req("WIRE-1")
@pytest.mark.scenario("audio-reply")
def test_binary_frames_to_the_client_are_exactly_the_reply_audio(app, recording):
    timeline = browser_turn(app, recording, "Say something.")
    sent = timeline.first(route=CLIENT_TO_PROXY, type="InjectUserMessage")
    upstream_audio = b"".join(base64.b64decode(f.message["delta"]) for f in
                              timeline.select(route=UPSTREAM_TO_PROXY, type="response.output_audio.delta", after=sent))
    binary = timeline.select(route=PROXY_TO_CLIENT, kind="binary", after=sent)
    if b"".join(f.data for f in binary) != upstream_audio:
        odd = next((f for f in binary if f.data.lstrip()[:1] in (b"{", b"[")), binary[0] if binary else None)
        fail(f"{len(binary)} binary frames to the client are not the {len(upstream_audio)} bytes of "
             f"decoded response.output_audio.delta audio", timeline, odd)
    not_json = [f for f in timeline.select(route=PROXY_TO_CLIENT, kind="text") if f.data is None]
    if not_json:
        fail("a text frame to the client is not JSON", timeline, not_json[0])


SESSION_RATE = 24000   # the Realtime session's input format here: PCM16 mono, 24 kHz


def settings_declaring(rate: int) -> dict:
    """Settings whose audio.input declares linear16 at this sample rate."""
    message = settings()
    message["audio"]["input"] = {"encoding": "linear16", "sample_rate": rate}
    return message


def duration_ms(byte_count: int, rate: int) -> float:
    return byte_count / 2 / rate * 1000


def judge_wire_2(timeline, sent: list[bytes], rate: int) -> None:
    """WIRE-2 on the audio a client sent at `rate`: JSON appends upstream, never binary; the same bytes when
    the rate is the session's; the same duration (within one frame) when the proxy converts."""
    binary = timeline.select(route=PROXY_TO_UPSTREAM, kind="binary")
    if binary:
        fail("the proxy sent a binary frame upstream", timeline, binary[0])
    got = appended_audio(appends(timeline))
    want = b"".join(sent)
    if not got:
        fail("none of the client's audio went upstream as input_audio_buffer.append", timeline)
    if rate == SESSION_RATE:
        if got != want:
            fail(f"the declared input format is the session's ({rate} Hz), yet the appended audio "
                 f"({len(got)} bytes) is not the {len(want)} bytes the client sent", timeline,
                 *appends(timeline)[:3])
        return
    sent_ms, got_ms = duration_ms(len(want), rate), duration_ms(len(got), SESSION_RATE)
    if abs(sent_ms - got_ms) > CHUNK_MS:
        fail(f"the client declared {rate} Hz and sent {sent_ms:.0f} ms of audio; upstream got "
             f"{got_ms:.0f} ms at {SESSION_RATE} Hz: not converted from the declared rate", timeline,
             *appends(timeline)[:3])


def send_audio_and_wait(client, recording, frames: list[bytes], upstream_bytes: int) -> tuple:
    """Send these binary frames, and wait until they went through: the client tap recorded every one and the
    proxy made at least one append per frame holding `upstream_bytes` in all (the whole of it in the session's
    format), or it stopped making progress (wait_until_through: a proxy that batches frames or holds some back);
    (the frames as leg A recorded them, the timeline). Not on the byte count alone: a proxy that converts to
    too many bytes would reach it before its last frames went through."""
    for data in frames:
        client.send_raw(data)
    sent = sent_audio(recording, len(frames))
    timeline = wait_until_through(recording, lambda tl: raw_binary_upstream(tl) or (
        len(appends(tl)) >= len(frames) and len(appended_audio(appends(tl))) >= upstream_bytes))
    return sent, timeline


@pytest.mark.req("WIRE-2")
def test_client_audio_becomes_base64_appends_of_the_same_bytes(make_wire_client, recording):
    client = make_wire_client()
    client.send(settings_declaring(SESSION_RATE))
    if client.expect("SettingsApplied") is None:
        fail_for_want_of("no SettingsApplied", recording.timeline())
    frames = [chunk(i) for i in range(3)]
    sent, timeline = send_audio_and_wait(client, recording, frames, len(b"".join(frames)))
    judge_wire_2(timeline, sent, SESSION_RATE)


@pytest.mark.req("WIRE-2")
def test_client_audio_declared_at_another_rate_keeps_its_duration_upstream(make_wire_client, recording):
    """Five 20 ms frames at a declared 16 kHz are 100 ms: 4800 bytes once converted to 24 kHz. The check waits
    for all of them (a proxy that holds back a partial frame is waited for until it stops making progress) and
    then judges the duration within one frame."""
    rate = 16000
    client = make_wire_client()
    client.send(settings_declaring(rate))
    if client.expect("SettingsApplied") is None:
        fail_for_want_of("no SettingsApplied", recording.timeline())
    frame_bytes = CHUNK_MS * rate // 1000 * 2
    frames = [bytes((index * 13 + i) % 251 for i in range(frame_bytes)) for index in range(5)]
    sent, timeline = send_audio_and_wait(client, recording, frames,
                                         len(b"".join(frames)) * SESSION_RATE // rate)
    judge_wire_2(timeline, sent, rate)


@pytest.mark.req("ORD-2")
@pytest.mark.scenario(delays=[{"event": "session.updated", "ms": 600}])
def test_audio_before_session_updated_is_queued_and_flushed_in_order(make_wire_client, recording):
    client = make_wire_client()
    client.send(settings_declaring(SESSION_RATE))
    sent, timeline = send_audio_and_wait(client, recording, [chunk(i) for i in range(3)], 3 * len(chunk(0)))
    binary = raw_binary_upstream(timeline)
    if binary:
        fail_for_want_of("the proxy sent audio upstream as binary frames (WIRE-2's to judge)", timeline,
                         binary[0])
    updated = timeline.first(route=UPSTREAM_TO_PROXY, type="session.updated")
    early = [f for f in timeline.select(route=CLIENT_TO_PROXY, kind="binary")
             if updated is None or f.t < updated.t]
    provoked(early, "client audio that arrived before upstream session.updated", timeline, updated)
    for append in appends(timeline):
        assert_before(timeline, updated, append, "upstream session.updated")
    got = appended_audio(appends(timeline))
    want = b"".join(sent)
    if got == want:
        return
    if len(got) < len(want):
        fail(f"the queued audio was not flushed whole: {len(got)} of the {len(want)} bytes went upstream",
             timeline, updated)
    # The bytes were changed on the way (WIRE-2's to judge, at the declared format); their order cannot be
    # told apart from the change, and the rest of ORD-2 held.


# ORD-5: a proxy may commit on a timer (end of speech); its deferred commit gets this long (in timeout units)
# after its last append before the check judges.
COMMIT_WINDOW = 2
MIN_COMMIT_MS = 100


def buffer_story(frames):
    """The input audio buffer of one upstream connection, frame by frame: (frame, bytes appended since the last
    commit before this frame, whether the frame is a commit by the service itself). A commit is the proxy's
    input_audio_buffer.commit, or the service's own: server VAD's input_audio_buffer.committed, the one whose
    item_id a speech_stopped announced (the service's answer to the proxy's commit has none)."""
    stopped = {_item_of(f) for f in frames
               if f.route == UPSTREAM_TO_PROXY and f.type == "input_audio_buffer.speech_stopped"}
    buffered = 0
    for frame in frames:
        own = frame.route == UPSTREAM_TO_PROXY and frame.type == "input_audio_buffer.committed" \
            and _item_of(frame) in stopped
        if frame.route == PROXY_TO_UPSTREAM and frame.type == "input_audio_buffer.append":
            buffered += len(appended_audio([frame]))
        yield frame, buffered, own
        if own or (frame.route == PROXY_TO_UPSTREAM and frame.type == "input_audio_buffer.commit"):
            buffered = 0


def _item_of(frame) -> str | None:
    return frame.message.get("item_id") if isinstance(frame.message, dict) else None


def ord_5_violation(timeline):
    """The first input_audio_buffer.commit the proxy sent with less than MIN_COMMIT_MS of audio appended since the
    last commit, whoever made it (buffer_story); (the commit, the ms appended before it), or None. A commit sent
    while server VAD owned turn detection is AUD-1's (turn_detection.offenders), not counted again here."""
    excused = turn_detection.offenders(timeline)
    for frames in invariants.connections(timeline, UPSTREAM_LEG).values():
        for frame, buffered, _ in buffer_story(frames):
            if frame.type == "input_audio_buffer.commit" and id(frame) not in excused \
                    and buffered < MIN_COMMIT_MS * AUDIO_BYTES_PER_MS:
                return frame, buffered / AUDIO_BYTES_PER_MS
    return None


def service_commits(timeline):
    """The service's own commits (buffer_story), in time order."""
    return sorted((frame for frames in invariants.connections(timeline, UPSTREAM_LEG).values()
                   for frame, _, own in buffer_story(frames) if own), key=lambda f: f.t)


def judge_ord_5(recording):
    """Wait out the proxy's commit window (COMMIT_WINDOW units from now, its last append) unless a short commit
    comes first; then judge every commit on the timeline."""
    recording.wait_for(ord_5_violation, units(COMMIT_WINDOW))
    timeline = recording.timeline()
    violation = ord_5_violation(timeline)
    if violation is not None:
        commit, ms = violation
        last = timeline.select(route=UPSTREAM_TO_PROXY, type="input_audio_buffer.committed")
        fail(f"{commit.label()} at {timeline.offset(commit):.3f} s with {ms:.0f} ms of audio appended "
             f"since the last commit (at least {MIN_COMMIT_MS} ms needed)", timeline,
             *[f for f in last if f.t < commit.t][-1:], commit)
    return timeline


@pytest.mark.req("ORD-5")
def test_audio_is_committed_only_with_at_least_100_ms_appended(make_wire_client, recording):
    """80 ms of audio (4 frames of 20 ms), never enough for a commit. Judged once all of it was appended and
    the proxy had COMMIT_WINDOW (2) timeout units more for a deferred commit (an end-of-speech timer)."""
    client = make_wire_client()
    if client.configure() is None:
        fail_for_want_of("no SettingsApplied", recording.timeline())
    frames = [chunk(index) for index in range(4)]
    _, timeline = send_audio_and_wait(client, recording, frames, len(b"".join(frames)))
    provoked(appends(timeline), "client audio appended upstream (WIRE-2's to judge if none)", timeline)
    judge_ord_5(recording)


@pytest.mark.req("ORD-5")
@pytest.mark.scenario("server-vad")
def test_audio_after_the_service_committed_is_not_committed_before_100_ms(make_wire_client, recording):
    """Under server VAD the service commits 100 ms of audio (5 frames of 20 ms) by itself; once its
    input_audio_buffer.committed went out, 20 ms more follow, never enough for a commit. Judged once all of it
    was appended and the proxy had COMMIT_WINDOW (2) timeout units more for a deferred commit (an end-of-speech
    timer)."""
    client = make_wire_client()
    if client.configure() is None:
        fail_for_want_of("no SettingsApplied", recording.timeline())
    frames = [chunk(index) for index in range(5)]
    send_audio_and_wait(client, recording, frames, len(b"".join(frames)))
    if recording.first(units(10), while_live=True, route=UPSTREAM_TO_PROXY,
                       type="input_audio_buffer.committed") is None:
        fail_for_want_of("the service never committed the 100 ms (the proxy's audio did not reach it: "
                         "WIRE-2's to judge)", recording.timeline())
    client.send_raw(chunk(5))
    everything = len(b"".join(frames)) + len(chunk(5))
    timeline = wait_until_through(recording, lambda tl: len(appended_audio(appends(tl))) >= everything)
    own = service_commits(timeline)
    provoked(own and appends(timeline, after=own[0]), "audio appended after the service's own commit",
             timeline, *own[:1])
    judge_ord_5(recording)


@pytest.mark.req("MAP-9")
@pytest.mark.scenario("server-vad")
def test_voice_activity_and_transcription_reach_the_client(make_wire_client, recording):
    client = make_wire_client()
    client.configure()
    for index in range(5):
        client.send_raw(chunk(index))
    recording.first(units(10), route=PROXY_TO_CLIENT, type="ConversationText", role="assistant")
    timeline = recording.timeline()
    pairs = [("input_audio_buffer.speech_started", "UserStartedSpeaking"),
             ("input_audio_buffer.speech_stopped", "UtteranceEnd"),
             ("conversation.item.input_audio_transcription.completed", "Transcript")]
    if timeline.first(route=UPSTREAM_TO_PROXY, type=pairs[0][0]) is None:
        fail_for_want_of("the upstream never detected speech: the client's audio did not reach it as "
                         "appends (WIRE-2's to judge)", timeline)
    for upstream_type, client_type in pairs:
        upstream = timeline.first(route=UPSTREAM_TO_PROXY, type=upstream_type)
        mapped = timeline.first(route=PROXY_TO_CLIENT, type=client_type, after=upstream) if upstream else None
        if upstream is None or mapped is None:
            fail(f"upstream {upstream_type} did not become {client_type}", timeline, upstream)
    # Interim Transcripts (is_final false, from the transcription's deltas) carry part of it; the final one all.
    transcripts = timeline.select(route=PROXY_TO_CLIENT, type="Transcript")
    transcript = next((f for f in transcripts if isinstance(f.message, dict) and f.message.get("is_final")
                       is not False), transcripts[0])
    if "turn on the lights" not in str(transcript.message):
        fail(f"Transcript does not carry the transcription: {transcript.message}", timeline, transcript)
    judge_interim_transcripts(timeline)


def judge_interim_transcripts(timeline) -> None:
    """MAP-9's interim Transcripts (judging/transcripts.py), where the proxy sends them: each carries its item's
    transcription so far (the upstream deltas of that item joined), never only the latest delta."""
    wrong = next((f for f in interim_transcripts(timeline) if f.ok is False), None)
    if wrong is not None:
        fail(wrong.reason, timeline, wrong.frame)
