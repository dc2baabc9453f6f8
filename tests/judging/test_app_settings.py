"""The Settings the app sent, read from leg A: what the proxy is held to, whatever the harness asked for."""

import json

from voice_harness.judging import app_settings
from voice_harness.judging.timeline import Timeline
from voice_harness.wire.recording import Frame

FULL = {"type": "Settings",
        "audio": {"input": {"encoding": "linear16", "sample_rate": 16000},
                  "output": {"encoding": "linear16", "sample_rate": 24000}},
        "agent": {"greeting": "Hi, I am Ava.",
                  "context": {"messages": [{"role": "user", "content": "My name is Bo."},
                                           {"type": "History", "role": "assistant", "content": "Hello Bo."}]},
                  "think": {"prompt": "You are Ava.",
                            "functions": [{"name": "get_weather", "parameters": {}}]}}}


def frame(t, data, leg="A", arrow="->", conn=1):
    return Frame(t, leg, arrow, "text", data.get("type"), conn, len(json.dumps(data)), data)


def timeline(*frames):
    return Timeline(list(frames), 0.0)


def test_every_field_the_app_sent_is_read_from_its_settings_frame():
    settings = app_settings.sent(timeline(frame(0.1, FULL)))
    assert settings.prompt == "You are Ava."
    assert settings.greeting == "Hi, I am Ava."
    assert settings.context == (("user", "My name is Bo."), ("assistant", "Hello Bo."))
    assert settings.function_names == ["get_weather"]
    assert (settings.input_encoding, settings.input_rate) == ("linear16", 16000)
    assert settings.raw == FULL and settings.conn == 1


def test_what_the_app_did_not_send_reads_as_absent():
    settings = app_settings.sent(timeline(frame(0.1, {"type": "Settings", "agent": {"think": {}}})))
    assert (settings.prompt, settings.greeting, settings.context, settings.functions) == (None, None, (), ())
    assert (settings.input_encoding, settings.input_rate) == (None, None)


def test_malformed_fields_are_not_taken_for_a_stimulus():
    odd = {"type": "Settings", "audio": {"input": {"sample_rate": True}}, "agent": {
        "greeting": "", "context": {"messages": "My name is Bo."},
        "think": {"prompt": ["not", "text"], "functions": [{"description": "no name"}, "get_weather"]}}}
    settings = app_settings.sent(timeline(frame(0.1, odd)))
    assert (settings.prompt, settings.greeting, settings.context, settings.functions) == (None, None, (), ())
    assert settings.input_rate is None
    assert app_settings.sent(timeline(frame(0.1, {"type": "Settings", "agent": "x", "audio": 3}))).prompt is None


def test_the_first_settings_on_leg_a_counts_not_the_proxys_frames_nor_a_later_one():
    later = {**FULL, "agent": {"greeting": "Again."}}
    frames = timeline(frame(0.05, {"type": "Settings", "agent": {"greeting": "from the proxy?"}}, arrow="<-"),
                      frame(0.06, {"type": "session.update"}, leg="B"),
                      frame(0.1, FULL, conn=1), frame(0.2, later, conn=1), frame(0.3, later, conn=2))
    assert app_settings.sent(frames).greeting == "Hi, I am Ava."
    assert app_settings.sent(frames, conn=2).greeting == "Again."
    assert app_settings.sent(frames, conn=3) is None
    assert [s.greeting for s in app_settings.all_sent(frames)] == ["Hi, I am Ava.", "Again.", "Again."]
    assert app_settings.greetings(frames) == ("Hi, I am Ava.", "Again.")


def test_no_settings_means_none_and_no_greetings():
    empty = timeline(frame(0.1, {"type": "InjectUserMessage", "content": "hi"}))
    assert app_settings.sent(empty) is None
    assert app_settings.greetings(empty) == ()


def test_the_greetings_and_assistant_context_the_app_sent_are_never_replies():
    again = {"type": "Settings", "agent": {"greeting": "Again.", "context": {"messages": [
        {"role": "assistant", "content": "Hello Bo."}, {"role": "assistant", "content": "Welcome back."},
        {"role": "user", "content": "Still Bo."}]}}}
    frames = timeline(frame(0.1, FULL, conn=1), frame(0.3, again, conn=2),
                      frame(0.4, {"type": "ConversationText", "role": "assistant", "content": "Hi."}, arrow="<-"))
    assert app_settings.not_replies(frames) == ("Hi, I am Ava.", "Hello Bo.", "Again.", "Welcome back.")
    assert app_settings.not_replies(timeline(frame(0.1, {"type": "InjectUserMessage", "content": "hi"}))) == ()
