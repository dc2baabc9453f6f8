"""What ends a wait early (diagnosis.ended_by): the mock's final refusal to reply, or a close of this test's
own connections; never a late close of an earlier test's connection, nor a refusal the proxy made good."""

from voice_harness.judging.diagnosis import ended_by, own_closes, refusal
from voice_harness.judging.timeline import Timeline
from voice_harness.timeouts import units
from voice_harness.wire.recording import Frame

ITEM = {"id": "msg_1", "type": "message", "role": "user", "content": []}


def text(t, leg, arrow, type_, conn=1, note=None, **data):
    return Frame(t, leg, arrow, "text", type_, conn, data={"type": type_, **data}, note=note or {})


def close(t, leg, arrow, conn, code=1000):
    return Frame(t, leg, arrow, "close", None, conn, data={"code": code, "reason": ""})


def field_defect(*later):
    """The proxy asks for a response before the user item is confirmed; the mock ignores it."""
    return Timeline([
        text(0.10, "B", "->", "conversation.item.create", item=ITEM),
        text(0.11, "B", "->", "response.create", note={"premature": True, "unconfirmed_item": "msg_1"}),
        text(0.15, "B", "<-", "conversation.item.added", item=ITEM),
        *later], origin=0.0)


def test_a_refusal_is_final_only_after_the_retry_grace_since_the_confirmation():
    timeline = field_defect()
    assert refusal(timeline, now=0.15 + units(0.5) / 2) is None
    assert refusal(timeline, now=0.15 + units(0.5)) is timeline.frames[1]
    reason, anchor = ended_by(timeline, now=0.15 + units(0.5))
    assert "ignored B-> response.create at 0.11 s" in reason and anchor is timeline.frames[1]


def test_a_refusal_the_proxy_made_good_by_asking_again_does_not_end_the_wait():
    timeline = field_defect(text(0.16, "B", "->", "response.create"))
    assert refusal(timeline, now=10.0) is None
    assert ended_by(timeline, now=10.0) == ("", None)


def test_a_late_close_of_an_earlier_tests_connection_is_not_this_tests_end():
    leftover = close(0.01, "B", "<-", conn=7)
    timeline = Timeline([leftover, text(0.02, "B", "<-", "session.created", conn=8)], origin=0.0)
    assert own_closes(timeline) == [] and ended_by(timeline, now=1.0) == ("", None)
    mine = close(2.0, "B", "<-", conn=8)
    timeline = Timeline([*timeline.frames, mine], origin=0.0)
    assert own_closes(timeline) == [mine]
    assert ended_by(timeline, now=2.0) == ("; upstream closed 1000 at 2.00 s", mine)
