"""ORD-7's one judge (judging/queued_turns.py), used by suites/test_ordering.py and by explore, on hand-built
timelines: a message sent during a reply is answered after it, or lost once the recording covers the horizon of a
lost turn past the moment the proxy could ask; what is another id's failure is not judged here."""

import json

from voice_harness.judging import queued_turns, turns
from voice_harness.judging.queued_turns import ord_7, queued, recorded_until
from voice_harness.judging.timeline import Timeline
from voice_harness.tools import explore_model
from voice_harness.wire.recording import Frame
from synthetic_sessions import (assistant_text as shown, confirmed, create, created, first_reply_streaming, inject,
                                reply_done as done, text, user_item)

H = turns.lost_after_s()        # the horizon of a lost turn (10 s: the catalogue's idle close)


def closed(t):
    return Frame(t, "A", "->", "close", None, 1, 0, {"code": 1000, "reason": ""})


ANSWERED = [create(0.402), created(0.403, "r2"), done(0.5, "r2", "reply two"), shown(0.501, "reply two")]


def timeline(frames):
    return Timeline(sorted(frames, key=lambda f: f.t), 0.0)


def judged(frames):
    """As explore judges a session: on the recording up to its last frame."""
    tl = timeline(frames)
    return ord_7(tl, recorded_until(tl))


def test_a_message_during_a_reply_with_no_response_create_is_lost_once_the_recording_covers_the_horizon():
    violation = judged(first_reply_streaming() + [closed(0.4 + H + 0.1)])
    assert violation is not None and violation.req == "ORD-7" and "lost" in violation.reason
    assert [f.type for f in violation.anchors] == ["InjectUserMessage", "response.created", "response.done"]
    # Before the horizon the proxy may still answer: not judged (a loaded machine delays it, never the verdict).
    assert judged(first_reply_streaming() + [closed(0.4 + H - 0.1)]) is None


def test_a_suite_that_waited_judges_the_whole_recording():
    """The default `until` takes the recording as complete; a suite passes the time it stopped waiting."""
    tl = timeline(first_reply_streaming())
    assert "lost" in ord_7(tl).reason
    assert ord_7(tl, until=0.4 + H + 0.1) is not None and ord_7(tl, until=0.5) is None
    [one] = queued(tl, until=0.5)
    assert one.ok is None and one.due == 0.4 and "no response.create yet" in one.reason


def test_a_response_create_that_comes_only_after_the_horizon_does_not_answer_the_lost_message():
    late = 0.4 + H + 1.0
    later = [inject(late, "three"), user_item(late + 0.001, "u3", "three"), confirmed(late + 0.05, "u3"),
             create(late + 0.05), created(late + 0.051, "r2"), done(late + 0.2, "r2", "reply three"),
             shown(late + 0.201, "reply three"), closed(late + 0.4)]
    violation = judged(first_reply_streaming() + later)
    assert violation is not None and "lost" in violation.reason
    on_the_prefix = judged(first_reply_streaming() + [closed(late)])
    assert (violation.req, violation.reason) == (on_the_prefix.req, on_the_prefix.reason)


def test_a_message_during_a_reply_answered_after_the_reply_holds_ord_7():
    frames = first_reply_streaming() + ANSWERED + [closed(1.2)]
    assert judged(frames) is None
    [one] = queued(timeline(frames))
    assert one.ok is True and one.answer.type == "response.create" and one.reply.type == "ConversationText"
    assert explore_model.judge(timeline(frames)) == []


def test_an_answer_within_the_horizon_holds_however_late():
    """The requirement bounds no answer in time: a slow proxy answering before the horizon is not red."""
    slow = [create(0.4 + H - 1), created(0.4 + H - 0.99, "r2"), done(0.4 + H - 0.9, "r2", "reply two"),
            shown(0.4 + H - 0.89, "reply two"), closed(0.4 + H + 1)]
    assert judged(first_reply_streaming() + slow) is None


def test_two_messages_sent_before_the_first_was_confirmed_may_share_one_response():
    frames = [text(0.0, "B", "->", {"type": "session.update", "session": {}}),
              inject(0.05, "zero"), user_item(0.051, "u0", "zero"), confirmed(0.06, "u0"), create(0.06),
              created(0.061, "r0"),
              inject(0.1, "one"), user_item(0.101, "u1", "one"), inject(0.102, "two"), user_item(0.103, "u2", "two"),
              done(0.2, "r0", "reply zero"), shown(0.201, "reply zero"), confirmed(0.25, "u1"),
              confirmed(0.26, "u2"), create(0.261), created(0.262, "r1"), done(0.4, "r1", "reply to both"),
              shown(0.401, "reply to both"), closed(H + 1)]
    assert judged(frames) is None
    assert [one.ok for one in queued(timeline(frames))] == [True, True]


def test_a_reply_done_upstream_that_never_reaches_the_client_breaks_ord_7():
    unshown = ANSWERED[:3]
    violation = judged(first_reply_streaming() + unshown + [closed(0.5 + turns.RELAY_S + 0.1)])
    assert violation is not None and "never reached the client" in violation.reason
    assert judged(first_reply_streaming() + unshown + [closed(0.5 + turns.RELAY_S - 0.1)]) is None   # on its way


def test_a_reply_the_user_spoke_over_is_not_the_proxys():
    cancelled = [create(0.402), created(0.403, "r2"), done(0.5, "r2", "reply two", status="cancelled")]
    assert judged(first_reply_streaming() + cancelled + [closed(3.0)]) is None


def test_an_unconfirmed_message_is_not_judged_the_proxy_must_wait_for_it():
    assert judged(first_reply_streaming(second_confirmed_at=None) + [closed(H + 2)]) is None


def test_after_a_premature_response_create_ord_7_is_left_to_ord_1():
    frames = first_reply_streaming() + [create(0.3, note={"premature": True}), closed(H + 2)]
    assert judged(frames) is None
    assert "ORD-1's" in queued(timeline(frames))[0].reason


def test_an_answer_the_upstream_rejected_is_left_to_ord_4():
    frames = first_reply_streaming() + [create(0.402, note={"rejected": "conversation_already_has_active_response"}),
                                        closed(H + 2)]
    assert judged(frames) is None
    assert "ORD-4's" in queued(timeline(frames))[0].reason


def test_a_message_sent_with_no_response_active_is_not_ord_7s():
    frames = [inject(0.1, "one"), user_item(0.101, "u1", "one"), confirmed(0.15, "u1"), closed(H + 2)]
    assert queued(timeline(frames)) == [] and judged(frames) is None


def test_a_response_the_service_started_for_a_spoken_turn_moves_the_moment_the_proxy_may_ask_for_one():
    """The message was sent during r1; before its item was confirmed the service answered a spoken turn by itself
    (r2): the proxy may not ask while r2 is active, so the moment is r2's end."""
    spoken = [text(0.3, "B", "<-", {"type": "input_audio_buffer.committed", "item_id": "s1"}), created(0.3, "r2"),
              done(1.0, "r2", "reply to speech"), shown(1.001, "reply to speech")]
    frames = first_reply_streaming(second_confirmed_at=0.35) + spoken
    assert judged(frames + [closed(1.0 + H - 0.1)]) is None
    assert "lost" in judged(frames + [closed(1.0 + H + 0.1)]).reason
    assert judged(frames + [create(1.01), created(1.02, "r3"), done(1.1, "r3", "reply two"),
                            shown(1.101, "reply two"), closed(H + 2)]) is None


def test_a_response_the_service_started_after_the_message_was_confirmed_answers_it():
    served = [created(0.45, "r2"), done(0.6, "r2", "reply to both"), shown(0.601, "reply to both")]
    assert judged(first_reply_streaming() + served + [closed(H + 2)]) is None
    assert queued(timeline(first_reply_streaming() + served))[0].served is not None
    assert "never reached the client" in judged(first_reply_streaming() + served[:2] + [closed(H + 2)]).reason


def test_explore_judges_ord_7_with_this_judge():
    assert explore_model.JUDGES["ORD-7"] is queued_turns.ord_7
    assert explore_model.JUDGES["TURN-1"] is turns.turn_1 and explore_model.JUDGES["FN-1"] is turns.fn_1
