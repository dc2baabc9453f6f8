"""Audio both ways: client microphone frames to input_audio_buffer.append (WIRE-2, ORD-2, ORD-5), reply audio
to binary frames (WIRE-1), and the upstream's voice-activity events to the client (MAP-9)."""

import base64

import pytest

from voice_harness.judging.checks import assert_before, fail, provoked
from voice_harness.timeouts import units
from voice_harness.mock_upstream.engine import AUDIO_BYTES_PER_MS
from voice_harness.drivers.wire_client import settings
from voice_harness.suites.flows import browser_turn, fail_for_want_of
from voice_harness.judging.timeline import CLIENT_TO_PROXY, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, UPSTREAM_TO_PROXY

CHUNK_MS = 20


def chunk(index: int, ms: int = CHUNK_MS) -> bytes:
    return bytes((index * 13 + i) % 251 for i in range(ms * AUDIO_BYTES_PER_MS))


def appends(timeline):
    return timeline.select(route=PROXY_TO_UPSTREAM, type="input_audio_buffer.append")


def appended_bytes(frames) -> bytes:
    return b"".join(base64.b64decode(f.data.get("audio", "")) for f in frames)


def wait_for_appends(recording, count):
    """Wait until `count` appends (or any binary frame upstream) were recorded; the timeline."""
    recording.wait_for(lambda tl: len(appends(tl)) >= count or tl.first(route=PROXY_TO_UPSTREAM, kind="binary"),
                       units(10))
    return recording.timeline()


@pytest.mark.req("WIRE-1")
@pytest.mark.scenario("audio-reply")
def test_binary_frames_to_the_client_are_exactly_the_reply_audio(app, recording):
    timeline = browser_turn(app, recording, "Say something.", "WIRE-1")
    sent = timeline.first(route=CLIENT_TO_PROXY, type="InjectUserMessage")
    upstream_audio = b"".join(base64.b64decode(f.data["delta"]) for f in
                              timeline.select(route=UPSTREAM_TO_PROXY, type="response.output_audio.delta", after=sent))
    binary = timeline.select(route=PROXY_TO_CLIENT, kind="binary", after=sent)
    if b"".join(f.data for f in binary) != upstream_audio:
        odd = next((f for f in binary if f.data.lstrip()[:1] in (b"{", b"[")), binary[0] if binary else None)
        fail("WIRE-1", f"{len(binary)} binary frames to the client are not the {len(upstream_audio)} bytes of "
                       f"decoded response.output_audio.delta audio", timeline, odd)
    not_json = [f for f in timeline.select(route=PROXY_TO_CLIENT, kind="text") if f.data is None]
    if not_json:
        fail("WIRE-1", "a text frame to the client is not JSON", timeline, not_json[0])


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
        fail("WIRE-2", "the proxy sent a binary frame upstream", timeline, binary[0])
    got = appended_bytes(appends(timeline))
    want = b"".join(sent)
    if not got:
        fail("WIRE-2", "none of the client's audio went upstream as input_audio_buffer.append", timeline)
    if rate == SESSION_RATE:
        if got != want:
            fail("WIRE-2", f"the declared input format is the session's ({rate} Hz), yet the appended audio "
                           f"({len(got)} bytes) is not the {len(want)} bytes the client sent", timeline,
                 *appends(timeline)[:3])
        return
    sent_ms, got_ms = duration_ms(len(want), rate), duration_ms(len(got), SESSION_RATE)
    if abs(sent_ms - got_ms) > CHUNK_MS:
        fail("WIRE-2", f"the client declared {rate} Hz and sent {sent_ms:.0f} ms of audio; upstream got "
                       f"{got_ms:.0f} ms at {SESSION_RATE} Hz: not converted from the declared rate", timeline,
             *appends(timeline)[:3])


@pytest.mark.req("WIRE-2")
def test_client_audio_becomes_base64_appends_of_the_same_bytes(make_wire_client, recording):
    client = make_wire_client()
    client.send(settings_declaring(SESSION_RATE))
    if client.expect("SettingsApplied") is None:
        fail_for_want_of("WIRE-2", "no SettingsApplied", recording.timeline())
    sent = [chunk(i) for i in range(3)]
    for data in sent:
        client.send_raw(data)
    judge_wire_2(wait_for_bytes(recording, len(b"".join(sent))), sent, SESSION_RATE)


@pytest.mark.req("WIRE-2")
def test_client_audio_declared_at_another_rate_keeps_its_duration_upstream(make_wire_client, recording):
    rate = 16000
    client = make_wire_client()
    client.send(settings_declaring(rate))
    if client.expect("SettingsApplied") is None:
        fail_for_want_of("WIRE-2", "no SettingsApplied", recording.timeline())
    frame_bytes = CHUNK_MS * rate // 1000 * 2
    sent = [bytes((index * 13 + i) % 251 for i in range(frame_bytes)) for index in range(5)]
    for data in sent:
        client.send_raw(data)
    # 100 ms at 16 kHz is 4800 bytes at 24 kHz once converted; a proxy may hold back a partial frame.
    judge_wire_2(wait_for_bytes(recording, len(b"".join(sent)) * SESSION_RATE // rate - frame_bytes * 2), sent,
                 rate)


def wait_for_bytes(recording, count: int):
    """Wait until `count` bytes of audio were appended upstream (or a binary frame went upstream); the timeline."""
    recording.wait_for(lambda tl: len(appended_bytes(appends(tl))) >= count
                       or tl.first(route=PROXY_TO_UPSTREAM, kind="binary"), units(5))
    return recording.timeline()


@pytest.mark.req("ORD-2")
@pytest.mark.scenario(delays=[{"event": "session.updated", "ms": 600}])
def test_audio_before_session_updated_is_queued_and_flushed_in_order(make_wire_client, recording):
    client = make_wire_client()
    client.send(settings_declaring(SESSION_RATE))
    sent = [chunk(i) for i in range(3)]
    for data in sent:
        client.send_raw(data)
    timeline = wait_for_appends(recording, len(sent))
    binary = timeline.first(route=PROXY_TO_UPSTREAM, kind="binary")
    if binary is not None:
        fail_for_want_of("ORD-2", "the proxy sent audio upstream as binary frames (WIRE-2's to judge)", timeline,
                         binary)
    updated = timeline.first(route=UPSTREAM_TO_PROXY, type="session.updated")
    early = [f for f in timeline.select(route=CLIENT_TO_PROXY, kind="binary")
             if updated is None or f.t < updated.t]
    provoked("ORD-2", early, "client audio that arrived before upstream session.updated", timeline, updated)
    for append in appends(timeline):
        assert_before(timeline, updated, append, "ORD-2", "upstream session.updated")
    got = appended_bytes(appends(timeline))
    want = b"".join(sent)
    if got == want:
        return
    if len(got) < len(want):
        fail("ORD-2", f"the queued audio was not flushed whole: {len(got)} of the {len(want)} bytes went upstream",
             timeline, updated)
    # The bytes were changed on the way (WIRE-2's to judge, at the declared format); their order cannot be
    # told apart from the change, and the rest of ORD-2 held.
@pytest.mark.req("ORD-5")
def test_audio_is_committed_only_with_at_least_100_ms_appended(make_wire_client, recording):
    client = make_wire_client()
    client.configure()
    for index in range(4):  # 4 x 20 ms: never enough for a commit
        client.send_raw(chunk(index))
    timeline = wait_for_appends(recording, 4)
    buffered = 0
    for frame in timeline.select(route=PROXY_TO_UPSTREAM):
        if frame.type == "input_audio_buffer.append":
            buffered += len(base64.b64decode(frame.data.get("audio", "")))
        elif frame.type == "input_audio_buffer.commit":
            if buffered < 100 * AUDIO_BYTES_PER_MS:
                fail("ORD-5", f"commit with {buffered / AUDIO_BYTES_PER_MS:.0f} ms of audio appended",
                     timeline, frame)
            buffered = 0


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
        fail_for_want_of("MAP-9", "the upstream never detected speech: the client's audio did not reach it as "
                                  "appends (WIRE-2's to judge)", timeline)
    for upstream_type, client_type in pairs:
        upstream = timeline.first(route=UPSTREAM_TO_PROXY, type=upstream_type)
        mapped = timeline.first(route=PROXY_TO_CLIENT, type=client_type, after=upstream) if upstream else None
        if upstream is None or mapped is None:
            fail("MAP-9", f"upstream {upstream_type} did not become {client_type}", timeline, upstream)
    transcript = timeline.first(route=PROXY_TO_CLIENT, type="Transcript")
    if "turn on the lights" not in str(transcript.data):
        fail("MAP-9", f"Transcript does not carry the transcription: {transcript.data}", timeline, transcript)
