"""The reference proxy's session logic, without sockets."""

import base64
import itertools
import json
import os
from array import array

import pytest

from voice_harness.reference_proxy.audio import AudioInput
from voice_harness.reference_proxy.defects import DEFECTS, session_class
from voice_harness.reference_proxy.minimal import MinimalSession
from voice_harness.reference_proxy.session import CloseClient, CloseUpstream, Log, Session, ToClient, ToUpstream

SETTINGS = json.dumps({"type": "Settings", "agent": {"think": {"prompt": "be brief"}, "greeting": "Hi there"}})


def make_session(cls=Session):
    ids = itertools.count(1)
    return cls(new_id=lambda: f"msg_{next(ids)}")


def upstream(actions):
    return [a.event for a in actions if isinstance(a, ToUpstream)]


SIGNALS = ("AgentStartedSpeaking", "AgentAudioDone")


def to_client(actions):
    """Every JSON message to the client, the agent's activity signals (AGENT-1/2) included."""
    return [a.message for a in actions if isinstance(a, ToClient)]


def client(actions):
    """The JSON messages to the client, without the activity signals (their own tests look at those)."""
    return [m for m in to_client(actions) if m["type"] not in SIGNALS]


def event(type_, **fields):
    return json.dumps({"type": type_, **fields})


def ready_session(cls=Session):
    session = make_session(cls)
    session.on_client_text(SETTINGS)
    session.on_upstream_text(event("session.updated", session={}))
    return session


# AUD-1: the reference says who owns turn detection: the service's server VAD, which commits and answers.
SERVER_VAD_AUDIO = {"input": {"turn_detection": {"type": "server_vad", "create_response": True,
                                                 "interrupt_response": True}}}


def test_settings_becomes_one_session_update_with_the_prompt_as_instructions():
    actions = make_session().on_client_text(SETTINGS)
    assert upstream(actions) == [{"type": "session.update", "session": {
        "type": "realtime", "instructions": "be brief", "audio": SERVER_VAD_AUDIO}}]
    assert client(actions) == []


def test_settings_applied_waits_for_session_updated_not_session_created():
    session = make_session()
    session.on_client_text(SETTINGS)
    assert client(session.on_upstream_text(event("session.created", session={}))) == []
    assert client(session.on_upstream_text(event("session.updated", session={})))[0] == {"type": "SettingsApplied"}


def test_greeting_is_shown_after_settings_applied_and_not_sent_upstream():
    session = make_session()
    session.on_client_text(SETTINGS)
    actions = session.on_upstream_text(event("session.updated", session={}))
    assert to_client(actions) == [{"type": "SettingsApplied"}, {"type": "AgentStartedSpeaking"},
                                  {"type": "ConversationText", "role": "assistant", "content": "Hi there"},
                                  {"type": "AgentAudioDone"}]
    assert upstream(actions) == []


def test_repeated_settings_is_acknowledged_without_a_second_session_update():
    session = ready_session()
    actions = session.on_client_text(SETTINGS)
    assert upstream(actions) == [] and client(actions) == [{"type": "SettingsApplied"}]


def test_inject_becomes_a_user_item_and_a_user_echo_but_no_response_yet():
    actions = ready_session().on_client_text(event("InjectUserMessage", content="hello"))
    assert upstream(actions) == [{"type": "conversation.item.create", "item": {
        "id": "msg_1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}}]
    assert client(actions) == [{"type": "ConversationText", "role": "user", "content": "hello"}]


def test_response_create_follows_the_confirmation_of_that_user_item_only():
    session = ready_session()
    session.on_client_text(event("InjectUserMessage", content="hello"))
    assert upstream(session.on_upstream_text(event("conversation.item.added", item={"id": "other"}))) == []
    assert upstream(session.on_upstream_text(event("conversation.item.added", item={"id": "msg_1"}))) == [
        {"type": "response.create"}]
    assert upstream(session.on_upstream_text(event("conversation.item.done", item={"id": "msg_1"}))) == []


def test_inject_before_session_updated_is_queued_and_sent_in_order_after_it():
    session = make_session()
    session.on_client_text(SETTINGS)
    assert session.on_client_text(event("InjectUserMessage", content="one")) == []
    session.on_client_text(event("InjectUserMessage", content="two"))
    actions = session.on_upstream_text(event("session.updated", session={}))
    texts = [e["item"]["content"][0]["text"] for e in upstream(actions)]
    assert texts == ["one", "two"]


def test_two_messages_in_flight_get_one_response_once_both_are_confirmed():
    session = ready_session()
    session.on_client_text(event("InjectUserMessage", content="one"))
    session.on_client_text(event("InjectUserMessage", content="two"))
    assert upstream(session.on_upstream_text(event("conversation.item.added", item={"id": "msg_1"}))) == []
    assert upstream(session.on_upstream_text(event("conversation.item.added", item={"id": "msg_2"}))) == [
        {"type": "response.create"}]


def test_a_confirmation_during_an_active_response_waits_for_response_done():
    session = ready_session()
    session.on_client_text(event("InjectUserMessage", content="one"))
    assert upstream(session.on_upstream_text(event("conversation.item.added", item={"id": "msg_1"}))) != []
    session.on_client_text(event("InjectUserMessage", content="two"))
    assert upstream(session.on_upstream_text(event("conversation.item.added", item={"id": "msg_2"}))) == []
    done = session.on_upstream_text(event("response.done", response={"output": []}))
    assert upstream(done) == [{"type": "response.create"}]


def test_assistant_text_is_shown_once_per_item():
    session = ready_session()
    item = {"id": "a1", "role": "assistant", "content": [{"type": "output_text", "text": "Hi!"}]}
    first = session.on_upstream_text(event("conversation.item.done", item=item))
    again = session.on_upstream_text(event("response.done", response={"output": [item]}))
    assert client(first) == [{"type": "ConversationText", "role": "assistant", "content": "Hi!"}]
    assert client(again) == []


def test_upstream_error_reaches_the_client_with_its_code():
    actions = ready_session().on_upstream_text(event("error", error={"type": "invalid_request_error",
                                                                     "code": "idle_timeout", "message": "idle"}))
    assert client(actions) == [{"type": "Error", "code": "idle_timeout", "description": "idle"}]


def test_upstream_close_closes_the_client_and_client_close_closes_upstream():
    assert [a for a in ready_session().on_upstream_closed(1000, "") if isinstance(a, CloseClient)] == [
        CloseClient(1000, "upstream closed (1000)")]
    assert ready_session().on_client_closed() == [CloseUpstream(1000, "client closed")]


def test_keepalive_is_not_forwarded_and_unknown_types_get_an_error():
    session = ready_session()
    assert session.on_client_text(event("KeepAlive")) == []
    assert client(session.on_client_text(event("Bogus")))[0]["code"] == "disallowed_client_message_type"


def test_defect_premature_response_create_sends_it_with_the_item():
    actions = ready_session(session_class("premature-response-create")).on_client_text(
        event("InjectUserMessage", content="hello"))
    assert [e["type"] for e in upstream(actions)] == ["conversation.item.create", "response.create"]


@pytest.mark.parametrize("created_first", [True, False])
def test_defect_settings_applied_on_created_acknowledges_early(created_first):
    session = make_session(session_class("settings-applied-on-created"))
    if created_first:
        session.on_upstream_text(event("session.created", session={}))
        actions = session.on_client_text(SETTINGS)
    else:
        session.on_client_text(SETTINGS)
        actions = session.on_upstream_text(event("session.created", session={}))
    assert {"type": "SettingsApplied"} in client(actions)


# ------------------------------------------------------------ helpers for the tests below

def confirm(session, item_id, type_="conversation.item.added", **item):
    return session.on_upstream_text(event(type_, item={"id": item_id, **item}))


def assistant_item(item_id, text):
    return {"id": item_id, "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]}


def appended(actions) -> bytes:
    return b"".join(base64.b64decode(e["audio"]) for e in upstream(actions) if e["type"] == "input_audio_buffer.append")


def settings(**agent_and_audio):
    audio = agent_and_audio.pop("audio", None)
    message = {"type": "Settings", "agent": {"think": {"prompt": "be brief"}, **agent_and_audio}}
    if audio is not None:
        message["audio"] = audio
    return json.dumps(message)


def ready_with(cls, message):
    session = make_session(cls)
    session.on_client_text(message)
    session.on_upstream_text(event("session.updated", session={}))
    return session


def pcm(samples) -> bytes:
    return array("h", samples).tobytes()


FUNCTIONS = [{"name": "get_weather", "description": "weather", "parameters": {"type": "object", "properties": {}}}]
FULL_SETTINGS = json.dumps({"type": "Settings", "agent": {
    "think": {"prompt": "be brief", "functions": FUNCTIONS}, "greeting": "Hi there",
    "context": {"messages": [{"role": "user", "content": "earlier question"},
                             {"role": "assistant", "content": "earlier answer"}]}}})
MINIMAL = session_class(None, minimal=True)


# ------------------------------------------------------------ the feature-minimal variant

def test_the_reference_maps_greeting_context_and_functions_that_the_minimal_variant_ignores():
    session = make_session()
    update = upstream(session.on_client_text(FULL_SETTINGS))
    assert [t["name"] for t in update[0]["session"]["tools"]] == ["get_weather"]
    ready = session.on_upstream_text(event("session.updated", session={}))
    assert len(client(ready)) == 2 and len(upstream(ready)) == 2


def test_context_items_the_proxy_made_are_not_echoed_back_when_the_service_confirms_them():
    # MAP-11: the context is the client's own history; only assistant items of responses are replies.
    session = make_session()
    session.on_client_text(FULL_SETTINGS)
    made = upstream(session.on_upstream_text(event("session.updated", session={})))
    assert [e["item"]["role"] for e in made] == ["user", "assistant"]
    for item in (e["item"] for e in made):
        assert client(confirm(session, item["id"], **item)) == []
        assert client(confirm(session, item["id"], "conversation.item.done", **item)) == []
    reply = assistant_item("a1", "earlier answer")
    assert client(session.on_upstream_text(event("response.done", response={"output": [reply]}))) == [
        {"type": "ConversationText", "role": "assistant", "content": "earlier answer"}]


def test_the_minimal_variant_sends_no_tools_no_context_and_shows_no_greeting():
    session = make_session(MINIMAL)
    assert upstream(session.on_client_text(FULL_SETTINGS)) == [
        {"type": "session.update", "session": {"type": "realtime", "instructions": "be brief",
                                               "audio": SERVER_VAD_AUDIO}}]
    ready = session.on_upstream_text(event("session.updated", session={}))
    assert client(ready) == [{"type": "SettingsApplied"}]
    assert upstream(ready) == []


def test_the_minimal_variant_drops_function_calls_both_ways_without_an_error():
    session = ready_with(MINIMAL, FULL_SETTINGS)
    call = session.on_upstream_text(event("response.function_call_arguments.done", call_id="call_1",
                                          name="get_weather", arguments="{}"))
    assert client(call) == [] and any(isinstance(a, Log) for a in call)
    answer = session.on_client_text(event("FunctionCallResponse", id="call_1", name="get_weather", content="21"))
    assert upstream(answer) == [] and client(answer) == []
    assert any(isinstance(a, Log) for a in answer)


def test_the_minimal_variant_answers_a_text_turn_only_after_its_item_is_confirmed():
    session = ready_with(MINIMAL, FULL_SETTINGS)
    sent = session.on_client_text(event("InjectUserMessage", content="hello"))
    assert [e["type"] for e in upstream(sent)] == ["conversation.item.create"]
    assert client(sent) == [{"type": "ConversationText", "role": "user", "content": "hello"}]
    assert upstream(confirm(session, "other")) == []
    assert upstream(confirm(session, "msg_1")) == [{"type": "response.create"}]
    shown = confirm(session, "a1", "conversation.item.done", **assistant_item("a1", "Hi!"))
    assert client(shown) == [{"type": "ConversationText", "role": "assistant", "content": "Hi!"}]


def test_the_minimal_variant_answers_a_message_sent_during_a_reply_after_that_reply_is_done():
    session = ready_with(MINIMAL, FULL_SETTINGS)
    session.on_client_text(event("InjectUserMessage", content="one"))
    assert upstream(confirm(session, "msg_1")) == [{"type": "response.create"}]
    session.on_client_text(event("InjectUserMessage", content="two"))
    assert upstream(confirm(session, "msg_2")) == []
    assert upstream(session.on_upstream_text(event("response.done", response={"output": []}))) == [
        {"type": "response.create"}]
    reply = confirm(session, "a2", "conversation.item.done", **assistant_item("a2", "Two."))
    assert client(reply) == [{"type": "ConversationText", "role": "assistant", "content": "Two."}]


def test_the_minimal_variant_queues_audio_until_session_updated():
    session = make_session(MINIMAL)
    session.on_client_text(SETTINGS)
    assert session.on_client_binary(pcm([1, 2])) == []
    assert appended(session.on_upstream_text(event("session.updated", session={}))) == pcm([1, 2])


# ------------------------------------------------------------ defects on the minimal variant

def test_a_defect_on_the_minimal_variant_is_one_cached_class_with_the_defect_first():
    composed = session_class("ack-any-item", minimal=True)
    assert composed.__mro__[1:4] == (DEFECTS["ack-any-item"].session_class, MinimalSession, Session)
    assert session_class("ack-any-item", minimal=True) is composed
    assert session_class("ack-any-item") is DEFECTS["ack-any-item"].session_class
    assert session_class(None) is Session and MINIMAL is MinimalSession


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_every_defect_composes_with_the_minimal_variant(name):
    session = ready_with(session_class(name, minimal=True), FULL_SETTINGS)
    assert isinstance(session, MinimalSession)


@pytest.mark.parametrize("cls, released", [(MINIMAL, False), (session_class("ack-any-item", minimal=True), True)])
def test_ack_any_item_on_the_minimal_variant_releases_on_an_assistant_items_confirmation(cls, released):
    # An assistant item the upstream streams on its own (server VAD) is confirmed while the user item is not.
    session = ready_with(cls, SETTINGS)
    session.on_client_text(event("InjectUserMessage", content="hello"))
    actions = confirm(session, "a1", role="assistant", type="message", content=[])
    assert (upstream(actions) == [{"type": "response.create"}]) is released


@pytest.mark.parametrize("cls, released", [(MINIMAL, False), (session_class("ack-any-item", minimal=True), True)])
def test_ack_any_item_on_the_minimal_variant_releases_on_the_streaming_reply_of_an_earlier_turn(cls, released):
    session = ready_with(cls, SETTINGS)
    session.on_client_text(event("InjectUserMessage", content="one"))
    confirm(session, "msg_1")
    session.on_client_text(event("InjectUserMessage", content="two"))
    confirm(session, "a1", "conversation.item.done", **assistant_item("a1", "One."))
    done = session.on_upstream_text(event("response.done", response={"output": []}))
    # msg_2 is still unconfirmed: only the defect sends response.create now.
    assert (upstream(done) == [{"type": "response.create"}]) is released


# ------------------------------------------------------------ new and changed defects

def during_a_reply(cls):
    """A session whose first turn's response is active and whose second message was just confirmed."""
    session = ready_session(cls)
    session.on_client_text(event("InjectUserMessage", content="one"))
    confirm(session, "msg_1")
    session.on_client_text(event("InjectUserMessage", content="two"))
    return session, confirm(session, "msg_2")


REJECTION = event("error", error={"type": "invalid_request_error", "code": "conversation_already_has_active_response",
                                  "message": "active response"})


def test_defect_turn_lost_during_reply_sends_at_once_and_never_answers_the_turn():
    session, confirmed = during_a_reply(session_class("turn-lost-during-reply"))
    assert upstream(confirmed) == [{"type": "response.create"}]
    assert client(session.on_upstream_text(REJECTION)) == []
    assert upstream(session.on_upstream_text(event("response.done", response={"output": []}))) == []


def test_defect_no_active_response_guard_sends_at_once_but_retries_the_rejected_turn():
    session, confirmed = during_a_reply(session_class("no-active-response-guard"))
    assert upstream(confirmed) == [{"type": "response.create"}]
    assert client(session.on_upstream_text(REJECTION)) == []
    assert upstream(session.on_upstream_text(event("response.done", response={"output": []}))) == [
        {"type": "response.create"}]


def test_the_reference_holds_the_second_turn_until_the_reply_is_done():
    session, confirmed = during_a_reply(Session)
    assert upstream(confirmed) == []
    assert upstream(session.on_upstream_text(event("response.done", response={"output": []}))) == [
        {"type": "response.create"}]


AUDIO_24K = {"input": {"encoding": "linear16", "sample_rate": 24000}}
AUDIO_16K = {"input": {"encoding": "linear16", "sample_rate": 16000}}


@pytest.mark.parametrize("cls, factor", [(Session, 1), (session_class("resample-from-fixed-rate"), 1.5)])
def test_defect_resample_from_fixed_rate_gives_a_declared_24_khz_stream_one_and_a_half_times_the_samples(
        cls, factor):
    session = ready_with(cls, settings(audio=AUDIO_24K))
    frame = pcm(range(480))
    assert len(appended(session.on_client_binary(frame))) == len(frame) * factor


class Exited(Exception):
    pass


@pytest.fixture
def no_exit(monkeypatch):
    """os._exit raises instead of ending the test process."""
    def fake_exit(code):
        raise Exited(code)
    monkeypatch.setattr(os, "_exit", fake_exit)


def feed(session, frame):
    return session.on_client_binary(frame) if isinstance(frame, bytes) else session.on_client_text(frame)


@pytest.mark.parametrize("frame", [b"\x01\x02\x03", "not JSON!"], ids=["odd-binary", "odd-non-json-text"])
def test_defect_crash_on_odd_length_frame_exits_the_process(no_exit, frame):
    with pytest.raises(Exited):
        feed(ready_session(session_class("crash-on-odd-length-frame")), frame)


def test_the_reference_carries_an_odd_byte_over_and_answers_non_json_with_an_error(no_exit):
    assert appended(feed(ready_session(), b"\x01\x02\x03")) == b"\x01\x02"
    assert client(feed(ready_session(), "not JSON!"))[0]["code"] == "malformed_frame"


def test_defect_crash_on_odd_length_frame_survives_even_frames_and_json(no_exit):
    session = ready_session(session_class("crash-on-odd-length-frame"))
    assert appended(session.on_client_binary(pcm([1, 2]))) == pcm([1, 2])
    assert client(session.on_client_text("[1, 2]"))[0]["code"] == "malformed_frame"


def test_defect_close_code_dropped_closes_with_1000_and_no_error():
    actions = ready_session(session_class("close-code-dropped")).on_upstream_closed(1011, "server error")
    assert client(actions) == []
    assert [a.code for a in actions if isinstance(a, CloseClient)] == [1000]


# ------------------------------------------------------------ LIFE-5: the upstream's close code reaches the client

@pytest.mark.parametrize("code, reason", [(1011, "server error"), (1008, "policy"), (4000, "custom"), (1001, "")])
def test_an_upstream_close_other_than_1000_closes_the_client_with_the_same_code_and_reason(code, reason):
    actions = ready_session().on_upstream_closed(code, reason)
    assert client(actions) == []
    assert [a for a in actions if isinstance(a, CloseClient)] == [CloseClient(code, reason)]


@pytest.mark.parametrize("code", [1005, 1006, 1015, None])
def test_an_unsendable_upstream_close_code_reaches_the_client_as_an_error_then_close_1011(code):
    actions = ready_session().on_upstream_closed(code, "")
    relevant = [a for a in actions if isinstance(a, (ToClient, CloseClient))]
    assert len(relevant) == 2 and isinstance(relevant[1], CloseClient) and relevant[1].code == 1011
    assert relevant[0].message["type"] == "Error" and relevant[0].message["code"] == "upstream_closed"
    assert str(code) in relevant[0].message["description"]


def test_an_upstream_close_with_1000_stays_a_plain_close_without_an_error():
    actions = ready_session().on_upstream_closed(1000, "done")
    assert client(actions) == [] and [a.code for a in actions if isinstance(a, CloseClient)] == [1000]


# ------------------------------------------------------------ WIRE-2: audio from the declared format

@pytest.mark.parametrize("message", [settings(audio=AUDIO_24K), SETTINGS], ids=["declared-24k", "undeclared"])
def test_audio_at_the_session_rate_passes_through_byte_for_byte(message):
    session = ready_with(Session, message)
    frames = [bytes(range(i, i + 200)) for i in range(3)]
    assert b"".join(appended(session.on_client_binary(f)) for f in frames) == b"".join(frames)


def test_16_khz_audio_becomes_one_and_a_half_times_the_samples_over_the_same_duration():
    session = ready_with(Session, settings(audio=AUDIO_16K))
    frames = [pcm(range(n * 320, (n + 1) * 320)) for n in range(3)]  # three 20 ms frames
    out = [appended(session.on_client_binary(f)) for f in frames]
    assert [len(o) // 2 for o in out] == [480, 480, 480]  # 20 ms at 24 kHz each
    samples = array("h")
    samples.frombytes(b"".join(out))
    # A ramp stays a ramp: output sample k sits at input position k * 2/3, across frame boundaries too.
    assert list(samples[:7]) == [0, 0, 1, 2, 2, 3, 4]
    assert samples[480] == 320 and samples[-3] == 958


def test_48_khz_audio_becomes_half_the_samples():
    converter = AudioInput(48000)
    assert len(converter.convert(pcm(range(960)))) // 2 == 480


def test_an_odd_trailing_byte_waits_for_the_next_frame():
    session = ready_with(Session, settings(audio=AUDIO_24K))
    assert session.on_client_binary(b"\x01") == []
    assert appended(session.on_client_binary(b"\x02\x03")) == b"\x01\x02"
    assert appended(session.on_client_binary(b"\x04")) == b"\x03\x04"


def test_an_odd_trailing_byte_waits_for_the_next_frame_when_resampling():
    converter = AudioInput(16000)
    whole = pcm(range(320))
    assert len(converter.convert(whole[:101])) + len(converter.convert(whole[101:])) == 960


def test_a_function_outputs_completion_does_not_release_a_response_while_a_user_item_is_unconfirmed():
    session = ready_session()
    session.on_client_text(json.dumps({"type": "FunctionCallResponse", "id": "call_1", "name": "f", "content": "{}"}))
    session.on_client_text(json.dumps({"type": "InjectUserMessage", "content": "and now?"}))
    # msg_1 is the function output, msg_2 the user item; the output completes first.
    done = session.on_upstream_text(event("conversation.item.done", item={"id": "msg_1", "type": "function_call_output"}))
    assert upstream(done) == []
    confirmed = session.on_upstream_text(event("conversation.item.added", item={"id": "msg_2", "role": "user"}))
    assert upstream(confirmed) == [{"type": "response.create"}]


def test_a_response_the_service_started_itself_is_active_until_done():
    session = ready_session()
    session.on_upstream_text(event("response.created", response={"id": "resp_vad"}))
    session.on_client_text(json.dumps({"type": "InjectUserMessage", "content": "typed meanwhile"}))
    assert upstream(session.on_upstream_text(event("conversation.item.added", item={"id": "msg_1", "role": "user"}))) == []
    assert upstream(session.on_upstream_text(event("response.done", response={"id": "resp_vad", "output": []}))) == \
        [{"type": "response.create"}]


def test_append_with_format_field_sends_appends_the_realtime_models_reject():
    from voice_harness.wire.validation import client_event_problems

    session = ready_session(session_class("append-with-format-field"))
    appends = upstream(session.on_client_binary(b"\x00\x01" * 480))
    assert appends and client_event_problems(appends[0]) == ["input_audio_format: unknown field"]
    assert client_event_problems(upstream(ready_session().on_client_binary(b"\x00\x01" * 480))[0]) == []


def test_a_queued_response_waits_for_a_user_item_still_unconfirmed_when_the_active_response_ends():
    # Found by harness explore: message 2 confirmed during reply 1 queues a response; message 3, typed late in
    # reply 1, is unconfirmed when reply 1 ends. The queued response.create must wait for that confirmation.
    session = ready_session()
    session.on_client_text(json.dumps({"type": "InjectUserMessage", "content": "one"}))
    assert upstream(session.on_upstream_text(event("conversation.item.added", item={"id": "msg_1", "role": "user"}))) \
        == [{"type": "response.create"}]
    session.on_upstream_text(event("response.created", response={"id": "r1"}))
    session.on_client_text(json.dumps({"type": "InjectUserMessage", "content": "two"}))
    assert upstream(session.on_upstream_text(event("conversation.item.added", item={"id": "msg_2", "role": "user"}))) == []
    session.on_client_text(json.dumps({"type": "InjectUserMessage", "content": "three"}))
    assert upstream(session.on_upstream_text(event("response.done", response={"id": "r1", "output": []}))) == []
    assert upstream(session.on_upstream_text(event("conversation.item.added", item={"id": "msg_3", "role": "user"}))) \
        == [{"type": "response.create"}]
    session.on_upstream_text(event("response.created", response={"id": "r2"}))
    assert upstream(session.on_upstream_text(event("response.done", response={"id": "r2", "output": []}))) == []


# ------------------------------------------------------------ issue 19's blind spots, shown by the reference

def test_defects_that_forward_a_client_message_as_a_binary_frame_of_its_json():
    from voice_harness.reference_proxy.session import ToUpstreamBinary

    keepalive = ready_session(session_class("keepalive-as-binary-upstream")).on_client_text(event("KeepAlive"))
    assert [json.loads(a.data) for a in keepalive if isinstance(a, ToUpstreamBinary)] == [{"type": "KeepAlive"}]
    unknown = ready_session(session_class("forward-unknown-as-binary"))
    actions = unknown.on_client_text(event("Bogus", marker="m"))
    assert [json.loads(a.data) for a in actions if isinstance(a, ToUpstreamBinary)] == [{"type": "Bogus", "marker": "m"}]
    assert client(actions) == []   # no Error of its own: only the upstream's, relayed, will come
    assert upstream(unknown.on_client_text(event("InjectUserMessage", content="hi")))[0]["type"] == \
        "conversation.item.create"


def test_all_events_as_binary_upstream_sends_each_event_the_reference_makes_as_bytes_of_its_json():
    from voice_harness.reference_proxy.session import ToUpstreamBinary

    def as_bytes(actions):
        assert upstream(actions) == []   # no text frame upstream at all
        return [json.loads(a.data) for a in actions if isinstance(a, ToUpstreamBinary)]

    for variant in (session_class("all-events-as-binary-upstream"),
                    session_class("all-events-as-binary-upstream", minimal=True)):
        session = make_session(variant)
        assert [e["type"] for e in as_bytes(session.on_client_text(SETTINGS))] == ["session.update"]
        session.on_upstream_text(event("session.updated", session={}))
        sent = as_bytes(session.on_client_text(event("InjectUserMessage", content="hi")))
        assert [(e["type"], e["item"]["role"]) for e in sent] == [("conversation.item.create", "user")]
        assert [e["type"] for e in as_bytes(session.on_client_binary(bytes(960)))] == ["input_audio_buffer.append"]


def test_the_trim_and_newline_join_variant_shows_each_items_parts_trimmed_on_lines_once():
    session = ready_session(session_class("trim-and-newline-join-parts"))
    item = {"id": "a1", "type": "message", "role": "assistant",
            "content": [{"type": "output_text", "text": "Mock reply to: "}, {"type": "output_text", "text": " Hi?"}]}
    shown = client(session.on_upstream_text(event("conversation.item.done", item=item)))
    assert shown == [{"type": "ConversationText", "role": "assistant", "content": "Mock reply to:\nHi?"}]
    assert client(session.on_upstream_text(event("response.done", response={"output": [item]}))) == []
