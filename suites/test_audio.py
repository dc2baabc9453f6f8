"""Audio both ways: client microphone frames to input_audio_buffer.append (WIRE-2, ORD-2, ORD-5), reply audio
to binary frames (WIRE-1), and the upstream's voice-activity events to the client (MAP-9)."""

import base64

import pytest

from harness.checks import assert_before, fail
from harness.timeouts import units
from mock_upstream.engine import AUDIO_BYTES_PER_MS
from suites.flows import browser_turn

CHUNK_MS = 20


def chunk(index: int, ms: int = CHUNK_MS) -> bytes:
    return bytes((index * 13 + i) % 251 for i in range(ms * AUDIO_BYTES_PER_MS))


def appends(timeline):
    return timeline.select(leg="B", arrow="->", type="input_audio_buffer.append")


def appended_bytes(frames) -> bytes:
    return b"".join(base64.b64decode(f.data.get("audio", "")) for f in frames)


def wait_for_appends(recording, count):
    """Wait until `count` appends (or any binary frame upstream) were recorded; the timeline."""
    recording.wait_for(lambda tl: len(appends(tl)) >= count or tl.first(leg="B", arrow="->", kind="binary"),
                       units(10))
    return recording.timeline()


@pytest.mark.req("WIRE-1")
@pytest.mark.scenario("audio-reply")
def test_binary_frames_to_the_client_are_exactly_the_reply_audio(app, recording):
    timeline = browser_turn(app, recording, "Say something.", "WIRE-1")
    sent = timeline.first(leg="A", arrow="->", type="InjectUserMessage")
    upstream_audio = b"".join(base64.b64decode(f.data["delta"]) for f in
                              timeline.select(leg="B", arrow="<-", type="response.output_audio.delta", after=sent))
    binary = timeline.select(leg="A", arrow="<-", kind="binary", after=sent)
    if b"".join(f.data for f in binary) != upstream_audio:
        odd = next((f for f in binary if f.data.lstrip()[:1] in (b"{", b"[")), binary[0] if binary else None)
        fail("WIRE-1", f"{len(binary)} binary frames to the client are not the {len(upstream_audio)} bytes of "
                       f"decoded response.output_audio.delta audio", timeline, odd)
    not_json = [f for f in timeline.select(leg="A", arrow="<-", kind="text") if f.data is None]
    if not_json:
        fail("WIRE-1", "a text frame to the client is not JSON", timeline, not_json[0])


@pytest.mark.req("WIRE-2")
def test_client_audio_becomes_base64_appends_of_the_same_bytes(make_wire_client, recording):
    client = make_wire_client()
    client.configure()
    sent = [chunk(i) for i in range(3)]
    for data in sent:
        client.send_raw(data)
    timeline = wait_for_appends(recording, len(sent))
    binary = timeline.select(leg="B", arrow="->", kind="binary")
    if binary:
        fail("WIRE-2", "the proxy sent a binary frame upstream", timeline, binary[0])
    if appended_bytes(appends(timeline)) != b"".join(sent):
        fail("WIRE-2", "the appended audio is not the bytes the client sent", timeline, *appends(timeline)[:3])


@pytest.mark.req("ORD-2")
@pytest.mark.scenario(delays=[{"event": "session.updated", "ms": 600}])
def test_audio_before_session_updated_is_queued_and_flushed_in_order(make_wire_client, recording):
    client = make_wire_client()
    client.send({"type": "Settings", "agent": {"think": {"prompt": "test"}}})
    sent = [chunk(i) for i in range(3)]
    for data in sent:
        client.send_raw(data)
    timeline = wait_for_appends(recording, len(sent))
    updated = timeline.first(leg="B", arrow="<-", type="session.updated")
    for append in appends(timeline):
        assert_before(timeline, updated, append, "ORD-2", "upstream session.updated")
    if appended_bytes(appends(timeline)) != b"".join(sent):
        fail("ORD-2", "the queued audio was not flushed whole and in order", timeline, updated)


@pytest.mark.req("ORD-5")
def test_audio_is_committed_only_with_at_least_100_ms_appended(make_wire_client, recording):
    client = make_wire_client()
    client.configure()
    for index in range(4):  # 4 x 20 ms: never enough for a commit
        client.send_raw(chunk(index))
    timeline = wait_for_appends(recording, 4)
    buffered = 0
    for frame in timeline.select(leg="B", arrow="->"):
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
    recording.first(units(10), leg="A", arrow="<-", type="ConversationText", role="assistant")
    timeline = recording.timeline()
    pairs = [("input_audio_buffer.speech_started", "UserStartedSpeaking"),
             ("input_audio_buffer.speech_stopped", "UtteranceEnd"),
             ("conversation.item.input_audio_transcription.completed", "Transcript")]
    for upstream_type, client_type in pairs:
        upstream = timeline.first(leg="B", arrow="<-", type=upstream_type)
        mapped = timeline.first(leg="A", arrow="<-", type=client_type, after=upstream) if upstream else None
        if upstream is None or mapped is None:
            fail("MAP-9", f"upstream {upstream_type} did not become {client_type}", timeline, upstream)
    transcript = timeline.first(leg="A", arrow="<-", type="Transcript")
    if "turn on the lights" not in str(transcript.data):
        fail("MAP-9", f"Transcript does not carry the transcription: {transcript.data}", timeline, transcript)
