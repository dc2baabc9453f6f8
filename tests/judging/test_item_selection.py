"""Which items MAP-1 and MAP-3 judge, on hand-built timelines of an app that sends its own context: MAP-1 takes the
user item made for the app's InjectUserMessage (not a context item), MAP-3 the assistant items of responses (not
the context items the proxy made itself)."""

import json

from voice_harness.judging.timeline import Timeline
from voice_harness.wire.recording import Frame
from suites.test_mapping import response_items, user_item_for

SETTINGS = {"type": "Settings", "agent": {"context": {"messages": [
    {"role": "user", "content": "I booked room 12."}, {"role": "assistant", "content": "Noted: room 12."}]}}}


def text(t, leg, arrow, data):
    return Frame(t, leg, arrow, "text", data.get("type"), 1, len(json.dumps(data)), data)


def create(t, item_id, role, words):
    part = "input_text" if role == "user" else "output_text"
    return text(t, "B", "->", {"type": "conversation.item.create", "item": {
        "id": item_id, "type": "message", "role": role, "content": [{"type": part, "text": words}]}})


def item(item_id, words):
    return {"id": item_id, "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": words}]}


def done(t, item_id, words):
    return text(t, "B", "<-", {"type": "conversation.item.done", "item": item(item_id, words)})


INJECT = text(0.30, "A", "->", {"type": "InjectUserMessage", "content": "Hello there."})


def test_map_1_takes_the_item_made_for_the_message_not_a_context_item_sent_before_or_after_it():
    before = [text(0.10, "A", "->", SETTINGS), create(0.20, "c1", "user", "I booked room 12."), INJECT]
    truncated = create(0.31, "u1", "user", "Hello")
    timeline = Timeline(before + [truncated], 0.0)
    assert user_item_for(timeline, INJECT) is truncated     # a wrong text is still that message's item
    late_context = create(0.31, "c1", "user", "I booked room 12.")
    timeline = Timeline(before[:1] + [INJECT, late_context, truncated], 0.0)
    assert user_item_for(timeline, INJECT) is truncated
    assert user_item_for(Timeline(before, 0.0), INJECT) is None


def test_map_3_takes_the_assistant_items_of_responses_not_the_confirmed_context_items():
    timeline = Timeline([
        text(0.10, "A", "->", SETTINGS), create(0.20, "c2", "assistant", "Noted: room 12."),
        done(0.25, "c2", "Noted: room 12."),
        text(0.40, "B", "<-", {"type": "response.output_item.done", "item": item("r1", "One.")}),
        done(0.41, "r1", "One."),
        done(0.50, "r2", "Two."),
        text(0.51, "B", "<-", {"type": "response.done", "response": {"output": [item("r2", "Two.")]}}),
    ], 0.0)
    assert [i["id"] for i in response_items(timeline)] == ["r1", "r2"]
