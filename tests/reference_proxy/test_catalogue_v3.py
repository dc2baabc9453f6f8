"""The reference proxy's decisions for catalogue v3 (issue 20) and the defects that break them, without sockets:
turn ownership (AUD-1), the end of a response (TURN-1), the function-call follow-up (FN-1), the agent's
activity signals (AGENT-1, AGENT-2), interim transcripts (MAP-9), error codes (ERR-1, ERR-2, ERR-4), context
echo (MAP-11) and fields the GA session lacks (WIRE-3)."""

import base64
import itertools
import json

import pytest

from voice_harness.wire.validation import client_event_problems
from voice_harness.reference_proxy.defects import DEFECTS, session_class
from voice_harness.reference_proxy.session import Log, Session, StartTimer, ToClient, ToClientAudio, ToUpstream

SIGNALS = ("AgentStartedSpeaking", "AgentAudioDone")
SETTINGS = {"type": "Settings", "agent": {"think": {"prompt": "be brief"}}}


def event(type_, **fields):
    return json.dumps({"type": type_, **fields})


def upstream(actions):
    return [a.event for a in actions if isinstance(a, ToUpstream)]


def shape(actions):
    """What reached the client, in order: message types (ConversationText with its role) and 'audio'."""
    out = []
    for action in actions:
        if isinstance(action, ToClientAudio):
            out.append("audio")
        elif isinstance(action, ToClient):
            message = action.message
            out.append(f"{message['type']}:{message['role']}" if message["type"] == "ConversationText"
                       else message["type"])
    return out


def errors(actions):
    return [a.message for a in actions if isinstance(a, ToClient) and a.message["type"] == "Error"]


def ready(cls=Session, **agent):
    ids = itertools.count(1)
    session = cls(new_id=lambda: f"msg_{next(ids)}")
    settings = json.loads(json.dumps(SETTINGS))
    settings["agent"].update(agent)
    session.on_client_text(json.dumps(settings))
    session.on_upstream_text(event("session.updated", session={}))
    return session


def feed(session, *events):
    """Every action of a run of upstream events, in order."""
    return [a for e in events for a in session.on_upstream_text(e)]


def audio_delta(response_id="r1", part=0):
    return event("response.output_audio.delta", response_id=response_id, item_id="a1", content_index=part,
                 delta=base64.b64encode(b"\x01\x00" * 240).decode())


def assistant(item_id, text, kind="output_text"):
    key = "text" if kind == "output_text" else "transcript"
    return {"id": item_id, "type": "message", "role": "assistant", "content": [{"type": kind, key: text}]}


def audio_reply(response_id="r1", parts=1, text="Hi."):
    """The events of an audio reply as the service streams it: no response.output_text.done."""
    item = assistant("a_" + response_id, text, "output_audio")
    events = [event("response.created", response={"id": response_id})]
    for part in range(parts):
        events += [audio_delta(response_id, part), audio_delta(response_id, part),
                   event("response.output_audio.done", response_id=response_id, content_index=part),
                   event("response.output_audio_transcript.done", response_id=response_id, transcript=text)]
    return events + [event("conversation.item.done", item=item),
                     event("response.done", response={"id": response_id, "status": "completed", "output": [item]})]


def text_reply(response_id="r1", text="Hi."):
    item = assistant("a_" + response_id, text)
    return [event("response.created", response={"id": response_id}),
            event("response.output_text.delta", response_id=response_id, delta=text),
            event("response.output_text.done", response_id=response_id, text=text),
            event("conversation.item.done", item=item),
            event("response.done", response={"id": response_id, "status": "completed", "output": [item]})]


def function_call_reply(response_id="r1", call_id="call_1"):
    item = {"id": "fc_" + response_id, "type": "function_call", "call_id": call_id, "name": "get_weather",
            "arguments": "{}"}
    return [event("response.created", response={"id": response_id}),
            event("response.function_call_arguments.delta", response_id=response_id, delta="{}"),
            event("response.function_call_arguments.done", response_id=response_id, call_id=call_id,
                  name="get_weather", arguments="{}"),
            event("conversation.item.done", item=item),
            event("response.done", response={"id": response_id, "status": "completed", "output": [item]})]


def typed_turn(session, text="hello"):
    """Send a typed turn; the response.create its confirmation released (or [])."""
    sent = upstream(session.on_client_text(event("InjectUserMessage", content=text)))
    item_id = sent[0]["item"]["id"]
    return upstream(session.on_upstream_text(event("conversation.item.added", item={"id": item_id, "role": "user"})))


RESPONSE_CREATE = [{"type": "response.create"}]


# ------------------------------------------------------------------ AUD-1, WIRE-3: the session.update

def test_the_session_update_leaves_spoken_turns_to_server_vad_and_carries_no_temperature():
    session = Session()
    settings = dict(SETTINGS, agent={"think": {"prompt": "p", "provider": {"model": "m", "temperature": 0.6}}})
    update = upstream(session.on_client_text(json.dumps(settings)))[0]
    assert update["session"]["audio"]["input"]["turn_detection"] == {
        "type": "server_vad", "create_response": True, "interrupt_response": True}
    assert "temperature" not in update["session"]
    assert client_event_problems(update) == []


def test_defect_temperature_in_session_copies_it_into_a_field_the_service_rejects():
    session = DEFECTS["temperature-in-session"].session_class()
    settings = dict(SETTINGS, agent={"think": {"prompt": "p", "provider": {"temperature": 0.6}}})
    update = upstream(session.on_client_text(json.dumps(settings)))[0]
    assert update["session"]["temperature"] == 0.6
    assert client_event_problems(update) == ["session.temperature: unknown field"]
    plain = upstream(DEFECTS["temperature-in-session"].session_class().on_client_text(json.dumps(SETTINGS)))[0]
    assert "temperature" not in plain["session"]


def test_the_reference_never_commits_or_asks_for_a_response_for_a_spoken_turn():
    session = ready()
    actions = session.on_client_binary(b"\x10\x27" * 4800)
    actions += feed(session, event("input_audio_buffer.speech_started", item_id="item_vad"),
                    event("input_audio_buffer.speech_stopped", item_id="item_vad"),
                    event("input_audio_buffer.committed", item_id="item_vad"),
                    event("conversation.item.added", item={"id": "item_vad", "role": "user"}),
                    event("conversation.item.done", item={"id": "item_vad", "role": "user"}))
    assert [e["type"] for e in upstream(actions)] == ["input_audio_buffer.append"]
    assert not any(isinstance(a, StartTimer) for a in actions)


# ------------------------------------------------------------------ TURN-1: a response ends at response.done

@pytest.mark.parametrize("first_reply", [audio_reply, text_reply, function_call_reply])
def test_a_typed_turn_after_any_reply_gets_its_response_create(first_reply):
    session = ready()
    assert typed_turn(session, "one") == RESPONSE_CREATE
    feed(session, *first_reply())
    assert typed_turn(session, "two") == RESPONSE_CREATE


def test_a_typed_turn_confirmed_during_an_audio_reply_is_answered_at_its_response_done_not_before():
    session = ready()
    typed_turn(session, "one")
    reply = audio_reply()
    feed(session, *reply[:3])                      # created, two audio deltas: still streaming
    assert typed_turn(session, "two") == []
    assert upstream(feed(session, *reply[3:-1])) == []   # the part's audio done: not the response's end
    assert upstream(feed(session, reply[-1])) == RESPONSE_CREATE


def test_defect_active_until_text_done_never_answers_a_typed_turn_after_an_audio_reply():
    cls = session_class("active-until-text-done")
    session = ready(cls)
    typed_turn(session, "one")
    feed(session, *audio_reply())
    assert typed_turn(session, "two") == []
    assert upstream(feed(session, *audio_reply("r2"))) == []   # a later audio reply (server VAD's) neither


@pytest.mark.parametrize("first_reply", [text_reply, function_call_reply])
def test_defect_active_until_text_done_still_answers_after_a_text_reply_or_a_function_call(first_reply):
    session = ready(session_class("active-until-text-done"))
    typed_turn(session, "one")
    feed(session, *first_reply())
    assert typed_turn(session, "two") == RESPONSE_CREATE


# ------------------------------------------------------------------ FN-1: the function-call follow-up

def answer_call(session, call_id="call_1"):
    actions = session.on_client_text(event("FunctionCallResponse", id=call_id, name="get_weather", content="21"))
    item = upstream(actions)[0]["item"]
    timer = [a for a in actions if isinstance(a, StartTimer)][0]
    return item["id"], timer


@pytest.mark.parametrize("done_first", [True, False], ids=["response-done-first", "output-confirmed-first"])
def test_the_follow_up_goes_once_both_the_call_response_is_done_and_its_output_is_confirmed(done_first):
    session = ready()
    typed_turn(session)
    call = function_call_reply()
    feed(session, *call[:-1])
    if done_first:
        assert upstream(feed(session, call[-1])) == []
    output_id, _ = answer_call(session)
    confirmed = feed(session, event("conversation.item.added", item={"id": output_id}),
                     event("conversation.item.done", item={"id": output_id, "type": "function_call_output"}))
    if done_first:
        assert upstream(confirmed) == RESPONSE_CREATE
    else:
        assert upstream(confirmed) == []   # the call's response is still active (ORD-4)
        assert upstream(feed(session, call[-1])) == RESPONSE_CREATE


def test_defect_follow_up_waits_for_text_done_sends_it_only_from_the_3_s_recovery():
    session = ready(session_class("follow-up-waits-for-text-done"))
    typed_turn(session)
    feed(session, *function_call_reply())
    output_id, timer = answer_call(session)
    assert upstream(feed(session, event("conversation.item.done", item={"id": output_id}))) == []
    assert timer.seconds == 3.0
    assert upstream(session.on_timer(timer.key)) == RESPONSE_CREATE


def test_defect_follow_up_after_20s_ignores_completions_and_sends_it_from_a_20_s_timer():
    session = ready(session_class("follow-up-after-20s"))
    typed_turn(session)
    call = function_call_reply()
    feed(session, *call[:-1])
    output_id, timer = answer_call(session)
    assert upstream(feed(session, event("conversation.item.done", item={"id": output_id}), call[-1])) == []
    assert timer.seconds == 20.0
    assert upstream(session.on_timer(timer.key)) == RESPONSE_CREATE


def test_the_reference_recovers_within_3_s_when_no_completion_comes():
    session = ready()
    _, timer = answer_call(session)
    assert timer.seconds == 3.0
    actions = session.on_timer(timer.key)
    assert upstream(actions) == RESPONSE_CREATE and any(isinstance(a, Log) for a in actions)


# ------------------------------------------------------------------ AGENT-1, AGENT-2: activity signals

def test_an_audio_reply_of_several_parts_is_framed_once_with_audio_done_at_response_done():
    session = ready()
    typed_turn(session)
    reply = audio_reply(parts=2)
    assert shape(feed(session, *reply[:-1])) == ["AgentStartedSpeaking"] + ["audio"] * 4 + \
        ["ConversationText:assistant"]
    assert shape(feed(session, reply[-1])) == ["AgentAudioDone"]


@pytest.mark.parametrize("reply, output", [(text_reply, "ConversationText:assistant"),
                                           (function_call_reply, "FunctionCallRequest")])
def test_a_reply_without_audio_is_framed_by_the_signals_too(reply, output):
    session = ready()
    typed_turn(session)
    assert shape(feed(session, *reply())) == ["AgentStartedSpeaking", output, "AgentAudioDone"]


def test_each_response_gets_its_own_signals_and_a_response_with_no_output_none():
    session = ready()
    assert shape(feed(session, *audio_reply("r1"), *text_reply("r2"))) == [
        "AgentStartedSpeaking", "audio", "audio", "ConversationText:assistant", "AgentAudioDone",
        "AgentStartedSpeaking", "ConversationText:assistant", "AgentAudioDone"]
    assert shape(feed(session, event("response.created", response={"id": "r3"}),
                      event("response.done", response={"id": "r3", "status": "cancelled", "output": []}))) == []


def test_the_greeting_is_framed_by_the_signals():
    session = Session()
    session.on_client_text(json.dumps(dict(SETTINGS, agent={"think": {"prompt": "p"}, "greeting": "Hello!"})))
    assert shape(session.on_upstream_text(event("session.updated", session={}))) == [
        "SettingsApplied", "AgentStartedSpeaking", "ConversationText:assistant", "AgentAudioDone"]


def test_defect_no_agent_signals_sends_none_anywhere():
    session = ready(session_class("no-agent-signals"), greeting="Hello!")
    shown = feed(session, *audio_reply("r1"), *text_reply("r2"), *function_call_reply("r3"))
    assert not set(shape(shown)) & set(SIGNALS)


def test_defect_audio_done_before_audio_ends_sends_it_while_the_next_part_still_streams():
    session = ready(session_class("audio-done-before-audio-ends"))
    shown = shape(feed(session, *audio_reply(parts=2)))
    assert shown == ["AgentStartedSpeaking", "audio", "audio", "AgentAudioDone", "audio", "audio",
                     "ConversationText:assistant"]


def test_defect_audio_done_before_audio_ends_is_right_for_one_part_and_for_text():
    session = ready(session_class("audio-done-before-audio-ends"))
    assert shape(feed(session, *audio_reply("r1"), *text_reply("r2"))) == [
        "AgentStartedSpeaking", "audio", "audio", "AgentAudioDone", "ConversationText:assistant",
        "AgentStartedSpeaking", "ConversationText:assistant", "AgentAudioDone"]


def test_defect_agent_signals_text_only_missing_signals_audio_replies_only():
    cls = session_class("agent-signals-text-only-missing")
    session = cls()
    session.on_client_text(json.dumps(dict(SETTINGS, agent={"think": {"prompt": "p"}, "greeting": "Hello!"})))
    assert shape(session.on_upstream_text(event("session.updated", session={}))) == [
        "SettingsApplied", "ConversationText:assistant"]
    assert shape(feed(session, *text_reply("r1"), *function_call_reply("r2"))) == [
        "ConversationText:assistant", "FunctionCallRequest"]
    assert shape(feed(session, *audio_reply("r3"))) == [
        "AgentStartedSpeaking", "audio", "audio", "ConversationText:assistant", "AgentAudioDone"]


def test_defect_json_as_binary_sends_every_speaking_signal_as_a_binary_frame():
    session = ready(session_class("json-as-binary"))
    shown = feed(session, *audio_reply())
    binary = [json.loads(a.data) for a in shown if isinstance(a, ToClientAudio) and a.data.startswith(b"{")]
    assert binary == [{"type": "AgentStartedSpeaking"}, {"type": "AgentAudioDone"}]
    assert not set(shape(shown)) & set(SIGNALS)


# ------------------------------------------------------------------ MAP-9: interim transcripts

def transcription(item_id, *deltas):
    return [event("conversation.item.input_audio_transcription.delta", item_id=item_id, content_index=0, delta=d)
            for d in deltas] + [event("conversation.item.input_audio_transcription.completed", item_id=item_id,
                                      content_index=0, transcript="".join(deltas))]


def transcripts(actions):
    return [(a.message["content"], a.message["is_final"]) for a in actions
            if isinstance(a, ToClient) and a.message["type"] == "Transcript"]


def test_an_interim_transcript_carries_the_items_transcription_so_far():
    session = ready()
    actions = feed(session, *transcription("i1", "Turn ", "on the ", "lights"))
    assert transcripts(actions) == [("Turn ", False), ("Turn on the ", False), ("Turn on the lights", False),
                                    ("Turn on the lights", True)]
    assert shape(actions)[-1] == "ConversationText:user"
    assert transcripts(feed(session, *transcription("i2", "Two", "!"))) == [
        ("Two", False), ("Two!", False), ("Two!", True)]


def test_defect_interim_transcript_last_delta_only():
    session = ready(session_class("interim-transcript-last-delta-only"))
    assert transcripts(feed(session, *transcription("i1", "Turn ", "on"))) == [
        ("Turn ", False), ("on", False), ("Turn on", True)]


def test_defect_no_vad_events_drops_the_interim_transcripts_too():
    session = ready(session_class("no-vad-events"))
    assert transcripts(feed(session, *transcription("i1", "Turn ", "on"))) == []


# ------------------------------------------------------------------ ERR-1, ERR-2, ERR-4

SERVER_ERROR = ("The server had an error while processing your request. Sorry about that! You can retry your "
                "request, or contact us through our help center at help.openai.com if the error persists.")


def upstream_error(type_, code, message):
    return event("error", error={"type": type_, "code": code, "message": message, "param": None})


@pytest.mark.parametrize("type_, code, message, expected", [
    ("server_error", "server_error", SERVER_ERROR, "server_error"),
    ("invalid_request_error", "session_expired", "Your session hit the maximum duration of 60 minutes.",
     "session_max_duration"),
    ("invalid_request_error", "idle_timeout", "Your session timed out.", "idle_timeout"),
    ("invalid_request_error", "unknown_parameter", "Unknown parameter: 'session.temperature'.", "unknown_parameter"),
])
def test_upstream_error_codes_reach_the_client_as_they_are_except_the_60_minute_limit(type_, code, message, expected):
    assert [e["code"] for e in errors(ready().on_upstream_text(upstream_error(type_, code, message)))] == [expected]


def test_defect_server_error_as_idle_timeout_relabels_only_server_error():
    session = ready(session_class("server-error-as-idle-timeout"))
    assert errors(session.on_upstream_text(upstream_error("server_error", "server_error", SERVER_ERROR)))[0][
        "code"] == "idle_timeout"
    assert errors(session.on_upstream_text(upstream_error("invalid_request_error", "invalid_value", "x")))[0][
        "code"] == "invalid_value"


UNMAPPED = [event("response.created", response={"id": "r1"}),
            event("response.output_text.delta", response_id="r1", delta="Hi"),
            event("response.output_audio_transcript.delta", response_id="r1", delta="Hi"),
            event("response.function_call_arguments.delta", response_id="r1", delta="{"),
            event("rate_limits.updated", rate_limits=[]),
            event("conversation.created", conversation={"id": "c1"}),
            event("response.future_feature", detail={"x": 1})]


@pytest.mark.parametrize("unmapped", UNMAPPED, ids=lambda e: json.loads(e)["type"])
def test_an_event_the_proxy_does_not_map_is_dropped_without_an_error(unmapped):
    assert shape(ready().on_upstream_text(unmapped)) == []


@pytest.mark.parametrize("unmapped", UNMAPPED, ids=lambda e: json.loads(e)["type"])
def test_defect_error_for_unmapped_events_answers_each_with_an_error(unmapped):
    session = ready(session_class("error-for-unmapped-events"))
    kind = json.loads(unmapped)["type"]
    assert [e["description"] for e in errors(session.on_upstream_text(unmapped))] == [
        f"unmapped upstream event {kind}"]


def test_defect_error_for_unmapped_events_is_quiet_on_the_events_it_maps():
    session = DEFECTS["error-for-unmapped-events"].session_class()
    session.on_client_text(json.dumps(SETTINGS))
    mapped = [event("session.created", session={}), event("session.updated", session={}),
              *[e for e in text_reply() if json.loads(e)["type"] not in ("response.created",
                                                                          "response.output_text.delta")]]
    assert errors(feed(session, *mapped)) == []


# ------------------------------------------------------------------ MAP-11: context items are not echoed

CONTEXT = {"messages": [{"role": "user", "content": "earlier question"},
                        {"role": "assistant", "content": "earlier answer"}]}


@pytest.mark.parametrize("name, echoed", [(None, []), ("echo-context-items", ["earlier answer"])])
def test_context_items_confirmed_by_the_service(name, echoed):
    session = session_class(name)()
    session.on_client_text(json.dumps(dict(SETTINGS, agent={"think": {"prompt": "p"}, "context": CONTEXT})))
    made = [e["item"] for e in upstream(session.on_upstream_text(event("session.updated", session={})))]
    shown = feed(session, *[event(kind, item=item) for item in made
                            for kind in ("conversation.item.added", "conversation.item.done")])
    assert [a.message["content"] for a in shown
            if isinstance(a, ToClient) and a.message["type"] == "ConversationText"] == echoed
