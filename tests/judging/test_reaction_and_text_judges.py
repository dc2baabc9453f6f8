"""Two suite judges on hand-built timelines: CLI-2 takes only the proxy's own Error (never one relayed from the
upstream's error about a forwarded copy), and MAP-3 compares an item's text as the catalogue does (each part once,
whitespace and part joins the proxy's choice)."""

import json

import pytest

from voice_harness.judging.timeline import Timeline
from voice_harness.wire.recording import Frame
from suites.test_client_input import client_errors_after, own_error
from suites.test_mapping import item_text_pattern, shows_each_item_once


def text(t, leg, arrow, data, conn=1):
    return Frame(t, leg, arrow, "text", data.get("type"), conn, len(json.dumps(data)), data)


UNKNOWN = text(0.10, "A", "->", {"type": "NoSuchMessageType", "marker": "m"})


def client_error(t, code="disallowed_client_message_type", conn=1):
    return text(t, "A", "<-", {"type": "Error", "code": code, "description": "x"}, conn)


def upstream_error(t, code="invalid_frame"):
    return text(t, "B", "<-", {"type": "error", "error": {"type": "invalid_request_error", "code": code}})


def test_the_proxys_own_error_is_taken():
    timeline = Timeline([UNKNOWN, client_error(0.11)], 0.0)
    assert own_error(timeline, UNKNOWN) is timeline.frames[1]


def test_an_error_relayed_from_the_upstreams_error_is_not_the_proxys_own_whatever_its_code():
    forwarded = Frame(0.11, "B", "->", "binary", None, 1, 10, b'{"type": "NoSuchMessageType", "marker": "m"}')
    for relayed_code in ("invalid_frame", "disallowed_client_message_type"):
        timeline = Timeline([UNKNOWN, forwarded, upstream_error(0.12), client_error(0.13, relayed_code)], 0.0)
        assert own_error(timeline, UNKNOWN) is None
        assert client_errors_after(timeline, UNKNOWN) == [(timeline.frames[3], timeline.frames[2])]


def test_an_error_of_its_own_after_a_relay_is_taken_and_one_before_the_upstreams_error_too():
    after = Timeline([UNKNOWN, upstream_error(0.12), client_error(0.13, "invalid_frame"), client_error(0.14)], 0.0)
    assert own_error(after, UNKNOWN) is after.frames[3]
    before = Timeline([UNKNOWN, client_error(0.11), upstream_error(0.12)], 0.0)
    assert own_error(before, UNKNOWN) is before.frames[1]


def test_errors_of_another_connection_or_before_the_message_do_not_count():
    timeline = Timeline([client_error(0.05), UNKNOWN, upstream_error(0.12), client_error(0.13, conn=2)], 0.0)
    assert own_error(timeline, UNKNOWN) is None and client_errors_after(timeline, UNKNOWN) == []


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
