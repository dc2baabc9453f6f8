"""The mock as the service's turn detection (PROTOCOL.md section 3): server VAD on by default and governed by
session.update, the service's own commits and replies, client commits, interruption, transcription deltas."""

import base64

import pytest

from voice_harness.mock_upstream import session_config
from voice_harness.mock_upstream.engine import Engine, Retract, Send
from voice_harness.mock_upstream.scenario import Scenario, Turn
from voice_harness.wire.validation import server_event_problems

SPEECH = (3000).to_bytes(2, "little", signed=True) * 480 + (-3000).to_bytes(2, "little", signed=True) * 480  # 40 ms
SILENCE = bytes(960 * 2)                                                                                      # 40 ms
USER_ITEM = {"type": "conversation.item.create", "item": {
    "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}}


def append(pcm: bytes) -> dict:
    return {"type": "input_audio_buffer.append", "audio": base64.b64encode(pcm).decode()}


def sends(outcome):
    return [a for a in outcome.actions if isinstance(a, Send)]


def types(outcome):
    return [a.event["type"] for a in sends(outcome)]


def engine_with(turn_detection=..., scenario=Scenario(), **fields):
    """A configured engine; turn_detection: the session.update's value (left out when ...); fields: more of
    the session."""
    engine = Engine(scenario)
    engine.connect(0.0)
    session = {"type": "realtime", **fields}
    if turn_detection is not ...:
        session["audio"] = {"input": {"turn_detection": turn_detection}}
    engine.receive(0.0, {"type": "session.update", "session": session})
    return engine


def speak(engine, now, speech_windows=5, silence_windows=13):
    """An utterance: speech_windows x 40 ms of speech, then silence_windows x 40 ms of silence (520 ms: the end
    of speech by the default vad_silence_ms of 500), one append each; every outcome, in order."""
    outcomes = []
    for index in range(speech_windows):
        outcomes.append(engine.receive(now + index * 0.04, append(SPEECH)))
    for index in range(silence_windows):
        outcomes.append(engine.receive(now + (speech_windows + index) * 0.04, append(SILENCE)))
    return outcomes


def all_sends(outcomes):
    return [s for outcome in outcomes for s in sends(outcome)]


def all_types(outcomes):
    return [s.event["type"] for s in all_sends(outcomes)]


# ----------------------------------------------------------------------------------- the session's state

def test_a_new_session_has_server_vad_on_with_the_services_defaults():
    created = sends(Engine(Scenario()).connect(0.0))[0].event
    assert created["session"]["audio"]["input"]["turn_detection"] == {
        "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500,
        "create_response": True, "interrupt_response": True}
    assert server_event_problems(created) == []


def test_session_update_governs_turn_detection():
    engine = Engine(Scenario())
    engine.connect(0.0)

    def update(session):
        out = engine.receive(0.0, {"type": "session.update", "session": {"type": "realtime", **session}})
        event = sends(out)[0].event
        assert event["type"] == "session.updated" and server_event_problems(event) == []
        return event["session"]["audio"]["input"]["turn_detection"]

    assert update({"instructions": "x"})["type"] == "server_vad"                       # no key: unchanged
    assert update({"audio": {"input": {"turn_detection": None}}}) is None              # null: off
    assert update({"audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}}}) is None   # unchanged
    chosen = update({"audio": {"input": {"turn_detection": {"type": "server_vad", "create_response": False}}}})
    assert chosen["create_response"] is False and chosen["interrupt_response"] is True   # missing: default true


def test_updated_never_changes_the_session_it_was_given():
    before = session_config.initial()
    after = session_config.updated(before, {"audio": {"input": {"turn_detection": None}}})
    assert session_config.turn_detection(before) is not None and session_config.turn_detection(after) is None
    assert session_config.creates_response(before) and not session_config.creates_response(after)
    semantic = session_config.updated(before, {"audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}})
    assert session_config.interrupts_response(semantic) and session_config.creates_response(semantic)


# ----------------------------------------------------------------------------- the service's own turns

def test_by_default_the_service_hears_an_utterance_by_energy_commits_it_and_answers():
    engine = engine_with()   # no turn_detection in the update: server VAD stays on
    outcomes = speak(engine, 1.0)
    kinds = all_types(outcomes)
    assert kinds[0] == "input_audio_buffer.speech_started"
    stopped = kinds.index("input_audio_buffer.speech_stopped")
    assert kinds[stopped:stopped + 4] == ["input_audio_buffer.speech_stopped", "input_audio_buffer.committed",
                                          "conversation.item.added", "conversation.item.done"]
    assert kinds.count("conversation.item.input_audio_transcription.delta") == 3
    assert kinds.index("conversation.item.input_audio_transcription.completed") < kinds.index("response.created")
    assert kinds[-2:] == ["response.done", "rate_limits.updated"]
    events = [s.event for s in all_sends(outcomes)]
    user = [e for e in events if e["type"] == "conversation.item.added"][0]["item"]
    assert user["role"] == "user" and user["content"][0] == {"type": "input_audio", "transcript": "transcribed speech"}
    ids = {e["item_id"] for e in events if e["type"].startswith("input_audio_buffer.")}
    assert ids == {user["id"]}
    for event in events:
        assert server_event_problems(event) == [], event


def test_the_transcription_streams_in_three_deltas_that_join_to_the_transcript():
    outcomes = speak(engine_with(scenario=Scenario(transcript="turn on the lights")), 1.0)
    deltas = [s.event for s in all_sends(outcomes) if s.event["type"].endswith("transcription.delta")]
    assert len(deltas) == 3 and "".join(d["delta"] for d in deltas) == "turn on the lights"
    completed = [s for s in all_sends(outcomes) if s.event["type"].endswith("transcription.completed")][0]
    assert all(s.at <= completed.at for s in all_sends(outcomes) if s.event["type"].endswith("transcription.delta"))


def test_without_create_response_the_service_commits_but_does_not_answer():
    engine = engine_with({"type": "server_vad", "create_response": False})
    kinds = all_types(speak(engine, 1.0))
    assert "input_audio_buffer.committed" in kinds and "response.created" not in kinds


def test_with_turn_detection_off_the_service_hears_nothing():
    engine = engine_with(None)
    assert all_types(speak(engine, 1.0)) == []


def test_a_second_utterance_gets_a_new_item():
    engine = engine_with({"type": "server_vad", "create_response": False})
    first = all_sends(speak(engine, 1.0))
    second = all_sends(speak(engine, 3.0))
    committed = [s.event["item_id"] for s in first + second if s.event["type"] == "input_audio_buffer.committed"]
    assert len(committed) == 2 and committed[0] != committed[1]


def test_a_very_long_silence_setting_is_a_service_that_never_hears_the_end_of_speech():
    kinds = all_types(speak(engine_with(scenario=Scenario(vad_silence_ms=60_000)), 1.0))
    assert kinds == ["input_audio_buffer.speech_started"]


def test_a_client_commit_after_the_service_committed_finds_the_buffer_empty():
    engine = engine_with()
    speak(engine, 1.0)
    out = engine.receive(2.0, {"type": "input_audio_buffer.commit"})
    error = sends(out)[0].event["error"]
    assert error["code"] == "input_audio_buffer_commit_empty"
    assert error["message"] == ("Error committing input audio buffer: buffer too small. Expected at least 100ms of "
                                "audio, but buffer only has 0.00ms of audio.")


def test_a_client_response_create_collides_with_the_services_own_response():
    engine = engine_with()
    outcomes = speak(engine, 1.0)
    created = [s.at for s in all_sends(outcomes) if s.event["type"] == "response.created"][0]
    out = engine.receive(created + 0.001, {"type": "response.create"})
    assert out.note["rejected"] == "conversation_already_has_active_response"


# ---------------------------------------------------------------------------------- interruption

def test_speech_during_a_response_cancels_it_first_with_interrupt_response():
    engine = engine_with(scenario=Scenario(reply_chunks=20, delta_interval_ms=50))
    engine.receive(1.0, USER_ITEM)
    reply = engine.receive(1.1, {"type": "response.create"})
    response_id = reply.note["response_id"]
    out = engine.receive(1.3, append(SPEECH))
    assert types(out) == ["input_audio_buffer.speech_started", "response.done", "rate_limits.updated"]
    done = sends(out)[1]
    assert done.at == pytest.approx(1.3)
    assert done.event["response"]["status"] == "cancelled" and done.event["response"]["id"] == response_id
    assert Retract(pytest.approx(1.3), f"response:{response_id}") in out.actions
    assert out.note["cancelled_response"] == response_id
    # No longer active: the client may ask for the next one.
    engine.receive(1.31, USER_ITEM)
    assert "response_id" in engine.receive(1.5, {"type": "response.create"}).note


def test_without_interrupt_response_speech_leaves_the_response_alone():
    engine = engine_with({"type": "server_vad", "interrupt_response": False},
                         scenario=Scenario(reply_chunks=20, delta_interval_ms=50))
    engine.receive(1.0, USER_ITEM)
    engine.receive(1.1, {"type": "response.create"})
    assert types(engine.receive(1.3, append(SPEECH))) == ["input_audio_buffer.speech_started"]


def test_an_utterance_that_ends_during_an_uninterrupted_response_is_committed_but_not_answered():
    engine = engine_with({"type": "server_vad", "interrupt_response": False},
                         scenario=Scenario(reply_chunks=40, delta_interval_ms=50))
    engine.receive(0.5, USER_ITEM)
    engine.receive(0.6, {"type": "response.create"})
    outcomes = speak(engine, 0.7)
    kinds = all_types(outcomes)
    assert "input_audio_buffer.committed" in kinds and "response.created" not in kinds
    assert any("not_answered" in o.note for o in outcomes)


# ---------------------------------------------------------------------------------- client commits

@pytest.mark.parametrize("turn_detection", [None, ...], ids=["vad-off", "vad-on"])
def test_a_client_commit_of_100_ms_makes_a_transcribed_user_item_and_no_reply(turn_detection):
    # Silence, so that the VAD (when on) hears no speech and the buffer is the client's to commit.
    engine = engine_with(turn_detection)
    for index in range(3):
        engine.receive(1.0 + index * 0.04, append(SILENCE))
    out = engine.receive(1.2, {"type": "input_audio_buffer.commit"})
    kinds = types(out)
    assert kinds[:3] == ["input_audio_buffer.committed", "conversation.item.added", "conversation.item.done"]
    assert kinds[3:] == ["conversation.item.input_audio_transcription.delta"] * 3 + [
        "conversation.item.input_audio_transcription.completed"]
    item = sends(out)[1].event["item"]
    assert item["role"] == "user" and item["content"][0]["type"] == "input_audio"
    assert sends(out)[0].event["item_id"] == item["id"]
    assert sends(out)[-1].event["usage"]["seconds"] == pytest.approx(0.12)
    # The client asks for the reply at once (commit, then response.create: client-side turn detection's documented
    # flow): answered, even before the item's confirmation went out; the field behaviour is a typed message's.
    asked = engine.receive(1.21, {"type": "response.create"}).note
    assert "premature" not in asked and "response_id" in asked


# ------------------------------------------------------------------------------------ what replies carry

def test_audio_replies_have_no_output_text_done_and_function_calls_no_text_at_all():
    engine = engine_with(scenario=Scenario(reply_audio_chunks=2, script=(Turn("function_call", "f", "{}"), Turn())),
                         tools=[{"type": "function", "name": "f", "parameters": {"type": "object"}}])
    engine.receive(1.0, USER_ITEM)
    call = types(engine.receive(1.1, {"type": "response.create"}))
    assert not [k for k in call if "text" in k or "transcript" in k]
    engine.receive(2.0, USER_ITEM)
    audio = types(engine.receive(2.1, {"type": "response.create"}))
    assert "response.output_audio.delta" in audio and "response.output_audio_transcript.done" in audio
    assert "response.output_text.done" not in audio and "response.output_text.delta" not in audio


def test_unknown_event_types_come_right_after_response_created_and_pass_the_self_check():
    unknown = ["response.future_feature", "conversation.new_kind"]
    engine = engine_with(scenario=Scenario(unknown_events=unknown))
    engine.receive(1.0, USER_ITEM)
    out = engine.receive(1.1, {"type": "response.create"})
    assert types(out)[:3] == ["response.created", *unknown]
    for send in sends(out):
        assert server_event_problems(send.event, unknown_types=unknown) == []
    assert server_event_problems(sends(out)[1].event) != []   # exactly these pass: unknown to the SDK
