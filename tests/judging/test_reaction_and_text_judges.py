"""Two suite judges on hand-built timelines: CLI-2 pairs an Error with its cause (an upstream error can answer the
unknown message only if a copy of it went upstream, which fails CLI-2 by itself; with none, the proxy's Error is its
own), and MAP-3 compares an item's text as the catalogue does (each part once, whitespace and part joins the
proxy's choice)."""

import json

import pytest

from voice_harness.judging.timeline import Timeline
from voice_harness.wire.recording import Frame
from suites.test_client_input import forwarded_copies, proxys_error
from suites.test_mapping import item_text_pattern, shows_each_item_once


def text(t, leg, arrow, data, conn=1):
    return Frame(t, leg, arrow, "text", data.get("type"), conn, len(json.dumps(data)), data)


UNKNOWN = text(0.10, "A", "->", {"type": "NoSuchMessageType", "marker": "cli2-m1"})
FOLLOW_UP = text(0.105, "A", "->", {"type": "InjectUserMessage", "content": "After it."})
USER_ITEM = text(0.11, "B", "->", {"type": "conversation.item.create", "item": {
    "type": "message", "role": "user", "content": [{"type": "input_text", "text": "After it."}]}})


def client_error(t, code="disallowed_client_message_type", conn=1):
    return text(t, "A", "<-", {"type": "Error", "code": code, "description": "x"}, conn)


def upstream_error(t, code="invalid_frame"):
    return text(t, "B", "<-", {"type": "error", "error": {"type": "invalid_request_error", "code": code}})


def test_a_copy_of_the_unknown_message_upstream_is_found_in_a_text_frame_or_a_binary_one():
    as_text = text(0.11, "B", "->", {"type": "NoSuchMessageType", "marker": "cli2-m1"})
    as_bytes = Frame(0.11, "B", "->", "binary", None, 1, 10, b'{"type": "NoSuchMessageType", "marker": "cli2-m1"}')
    for copy in (as_text, as_bytes):
        timeline = Timeline([UNKNOWN, FOLLOW_UP, copy, USER_ITEM, upstream_error(0.12), client_error(0.13)], 0.0)
        assert forwarded_copies(timeline, UNKNOWN, "cli2-m1") == [timeline.frames[2]]


def test_no_copy_is_found_when_only_the_proxys_own_events_went_upstream():
    other_marker = text(0.11, "B", "->", {"type": "NoSuchMessageType", "marker": "cli2-other"})
    timeline = Timeline([UNKNOWN, FOLLOW_UP, other_marker, USER_ITEM], 0.0)
    assert forwarded_copies(timeline, UNKNOWN, "cli2-m1") == []


def test_with_no_copy_upstream_the_proxys_error_counts_whatever_the_upstream_said_meanwhile():
    # Not forwarded: an upstream error, before or after, cannot be about the unknown message.
    for frames in ([UNKNOWN, client_error(0.11)], [UNKNOWN, upstream_error(0.11), client_error(0.12)],
                   [UNKNOWN, client_error(0.11), upstream_error(0.12), client_error(0.13, "invalid_frame")]):
        timeline = Timeline(frames, 0.0)
        assert forwarded_copies(timeline, UNKNOWN, "cli2-m1") == []
        assert proxys_error(timeline, UNKNOWN) is next(f for f in timeline.frames if f.type == "Error")


def test_an_error_that_relays_an_upstream_errors_code_is_no_answer_to_the_unknown_message():
    relay_only = Timeline([UNKNOWN, upstream_error(0.11, "server_error"), client_error(0.12, "server_error")], 0.0)
    assert proxys_error(relay_only, UNKNOWN) is None
    then_own = Timeline([UNKNOWN, upstream_error(0.11, "server_error"), client_error(0.12, "server_error"),
                         client_error(0.13)], 0.0)
    assert proxys_error(then_own, UNKNOWN) is then_own.frames[3]


def test_errors_of_another_connection_or_before_the_message_do_not_count():
    timeline = Timeline([client_error(0.05), UNKNOWN, upstream_error(0.12), client_error(0.13, conn=2)], 0.0)
    assert proxys_error(timeline, UNKNOWN) is None


PARTS = ["Mock reply to: ", "First question?"]


@pytest.mark.parametrize("shown", [
    "Mock reply to: First question?",            # the exact join
    "Mock reply to:\nFirst question?",           # trimmed, joined with a newline
    "  Mock reply  to:  First question? \n",     # whitespace runs and ends the proxy's
])
def test_map_3_accepts_the_items_text_whatever_the_whitespace_and_part_joins(shown):
    assert shows_each_item_once([shown], [PARTS])


@pytest.mark.parametrize("shown", [
    "Mock reply to: First question? Mock reply to: First question?",   # the reply twice in one message
    "Mock reply to:",                                                   # a part missing
    "Mock reply to:First question?",                                    # a word break of the parts lost
    "Mock reply to: First question!",                                   # other text
])
def test_map_3_refuses_a_missing_or_repeated_part_or_other_text(shown):
    assert not shows_each_item_once([shown], [PARTS])


def test_map_3_wants_one_message_per_item_and_lets_parts_split_inside_a_word_join_with_nothing():
    assert shows_each_item_once(["Mock rep\nly"], [["Mock rep", "ly"]])
    assert item_text_pattern(["Mock rep", "ly"]).fullmatch("Mock reply")
    assert not shows_each_item_once(["a", "a"], [["a"]])
    assert not shows_each_item_once(["a"], [["a"], ["b"]])
