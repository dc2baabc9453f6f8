"""MAP-6, MAP-7 and MAP-8 judged against the Settings the app sent (leg A), on hand-built timelines: red for the
defect, green for a proxy that did what the app asked, whatever the harness's URL parameters were; and the
skip that names the app when it sent nothing to judge."""

import json

import pytest

from voice_harness.judging import app_settings
from voice_harness.judging.checks import ConformanceFailure, Inconclusive, NotExercised, not_exercised
from voice_harness.judging.timeline import Timeline
from voice_harness.wire.recording import Frame
from suites.test_mapping import judge_map_6, judge_map_7, judge_map_8_prompt, judge_map_8_tools

# The app's own Settings: none of this came from the harness's URL parameters.
SETTINGS = {"type": "Settings", "agent": {
    "greeting": "Hi, I am Ava.",
    "context": {"messages": [{"role": "user", "content": "My name is Bo."},
                             {"role": "assistant", "content": "Hello Bo."}]},
    "think": {"prompt": "You are Ava.", "functions": [{"name": "get_weather"}, {"name": "book"}]}}}


def text(t, leg, arrow, data, conn=1):
    return Frame(t, leg, arrow, "text", data.get("type"), conn, len(json.dumps(data)), data)


def item(t, role, content, item_id):
    part = "input_text" if role == "user" else "output_text"
    return text(t, "B", "->", {"type": "conversation.item.create", "item": {
        "id": item_id, "type": "message", "role": role, "content": [{"type": part, "text": content}]}})


def timeline(*frames, settings=SETTINGS):
    frames = [text(0.01, "A", "->", settings), *frames]
    return Timeline(sorted(frames, key=lambda f: f.t), 0.0)


def judged(tl):
    return app_settings.sent(tl)


UPDATED = text(0.1, "B", "<-", {"type": "session.updated"})
APPLIED = text(0.11, "A", "<-", {"type": "SettingsApplied"})


def session_update(**session):
    return text(0.05, "B", "->", {"type": "session.update", "session": {"type": "realtime", **session}})


# ------------------------------------------------------------------------------------------------- MAP-6

def greeting_shown(t, content="Hi, I am Ava."):
    return text(t, "A", "<-", {"type": "ConversationText", "role": "assistant", "content": content})


def test_map_6_holds_for_the_greeting_the_app_sent_shown_after_settings_applied():
    tl = timeline(UPDATED, APPLIED, greeting_shown(0.12))
    judge_map_6(tl, judged(tl))


def test_map_6_is_red_when_the_greeting_the_app_sent_is_not_shown():
    tl = timeline(UPDATED, APPLIED, greeting_shown(0.12, "Welcome! Ask me anything."))   # the URL parameter's
    with pytest.raises(ConformanceFailure, match=r"\('Hi, I am Ava.'\) was not the first assistant"):
        judge_map_6(tl, judged(tl))


def test_map_6_is_red_when_the_greeting_goes_upstream_as_an_assistant_item():
    tl = timeline(UPDATED, APPLIED, greeting_shown(0.12), item(0.13, "assistant", "Hi, I am Ava.", "g1"))
    with pytest.raises(ConformanceFailure, match="sent upstream as an assistant item"):
        judge_map_6(tl, judged(tl))


def test_map_6_is_red_when_the_greeting_comes_before_settings_applied():
    tl = timeline(UPDATED, greeting_shown(0.105), APPLIED)
    with pytest.raises(ConformanceFailure, match="came before SettingsApplied"):
        judge_map_6(tl, judged(tl))


# ------------------------------------------------------------------------------------------------- MAP-7

def test_map_7_holds_for_the_context_the_app_sent_in_order_before_the_response():
    tl = timeline(UPDATED, item(0.12, "user", "My name is Bo.", "c1"), item(0.13, "assistant", "Hello Bo.", "c2"),
                  item(0.3, "user", "What is my name?", "u1"), text(0.4, "B", "->", {"type": "response.create"}))
    judge_map_7(tl, judged(tl))


def test_map_7_lets_other_items_come_between_context_items_and_parts_be_split():
    split = text(0.14, "B", "->", {"type": "conversation.item.create", "item": {
        "id": "c2", "type": "message", "role": "assistant",
        "content": [{"type": "output_text", "text": "Hello"}, {"type": "output_text", "text": " Bo. "}]}})
    tl = timeline(UPDATED, item(0.12, "user", "My name is Bo.", "c1"), item(0.13, "user", "What is my name?", "u1"),
                  split, text(0.4, "B", "->", {"type": "response.create"}))
    judge_map_7(tl, judged(tl))


def test_map_7_is_red_when_the_context_is_dropped():
    tl = timeline(UPDATED, item(0.3, "user", "What is my name?", "u1"),
                  text(0.4, "B", "->", {"type": "response.create"}))
    with pytest.raises(ConformanceFailure, match="expected one per context message the app sent"):
        judge_map_7(tl, judged(tl))


def test_map_7_is_red_when_the_context_is_out_of_order_or_repeated():
    swapped = timeline(UPDATED, item(0.12, "assistant", "Hello Bo.", "c2"), item(0.13, "user", "My name is Bo.", "c1"))
    with pytest.raises(ConformanceFailure, match="in order"):
        judge_map_7(swapped, judged(swapped))
    twice = timeline(UPDATED, item(0.12, "user", "My name is Bo.", "c1"), item(0.13, "assistant", "Hello Bo.", "c2"),
                     item(0.14, "user", "My name is Bo.", "c3"))
    with pytest.raises(ConformanceFailure, match="one per context message"):
        judge_map_7(twice, judged(twice))


def test_map_7_is_red_when_a_context_item_follows_the_response_create_or_precedes_session_updated():
    late = timeline(UPDATED, item(0.12, "user", "My name is Bo.", "c1"),
                    text(0.2, "B", "->", {"type": "response.create"}), item(0.25, "assistant", "Hello Bo.", "c2"))
    with pytest.raises(ConformanceFailure, match="came before context item c2"):
        judge_map_7(late, judged(late))
    early = timeline(item(0.05, "user", "My name is Bo.", "c1"), UPDATED, item(0.13, "assistant", "Hello Bo.", "c2"))
    with pytest.raises(ConformanceFailure, match="came before upstream session.updated"):
        judge_map_7(early, judged(early))


# ------------------------------------------------------------------------------------------------- MAP-8

def test_map_8_holds_for_the_prompt_and_functions_the_app_sent():
    tl = timeline(session_update(instructions="Be brief.\nYou are Ava.", tools=[
        {"type": "function", "name": "get_weather"}, {"type": "function", "name": "book"}]))
    judge_map_8_prompt(tl, judged(tl))
    judge_map_8_tools(tl, judged(tl))


def test_map_8_is_red_for_a_prompt_or_tools_the_app_did_not_send():
    tl = timeline(session_update(instructions="You are the harness's test agent.",
                                 tools=[{"type": "function", "name": "get_weather"}]))
    with pytest.raises(ConformanceFailure, match="does not contain the prompt the app sent 'You are Ava.'"):
        judge_map_8_prompt(tl, judged(tl))
    with pytest.raises(ConformanceFailure, match=r"expected the functions the app sent \['get_weather', 'book'\]"):
        judge_map_8_tools(tl, judged(tl))


def test_map_8_without_a_session_update_is_not_judged():
    tl = timeline(UPDATED)
    with pytest.raises(Inconclusive, match="no session.update"):
        judge_map_8_prompt(tl, judged(tl))


# ------------------------------------------------------------------------------------------------- the skip

def test_not_exercised_names_the_app_the_id_and_the_capability_and_is_no_failure_of_the_proxy():
    with pytest.raises(NotExercised) as caught:
        not_exercised("context", "the app sent no context", timeline(), req="MAP-7")
    assert caught.value.reason == "the app sent no context: MAP-7 not exercised (app capability: context)"
    assert caught.value.capability == "context" and caught.value.req == "MAP-7"
    # Never a pass: were the plugin not to map it to a skip, it would still be inconclusive.
    assert isinstance(caught.value, Inconclusive)


def test_a_skip_without_an_id_names_the_tests_id_once_the_judge_gives_it():
    with pytest.raises(NotExercised) as caught:
        not_exercised("context", "the app sent no context", timeline())
    assert caught.value.req is None and "None" not in str(caught.value)
    assert caught.value.reason == "the app sent no context: not exercised (app capability: context)"
    named = caught.value.named("MAP-7")
    assert (type(named), named.req, named.capability) == (NotExercised, "MAP-7", "context")
    assert named.reason == "the app sent no context: MAP-7 not exercised (app capability: context)"
    assert str(named).startswith("MAP-7: the app sent no context: MAP-7 not exercised")
    assert caught.value.req is None   # the check's own exception is left as it was
