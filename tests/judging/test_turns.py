"""TURN-1 and FN-1 facts on hand-built timelines: which turn was lost and why, and the function result's
follow-up (one response.create, in time, answered)."""

from voice_harness.judging import turns
from synthetic_sessions import (assistant_text, audio, created, done, from_client, proxy, settings, text, timeline,
                                to_client, typed, upstream)


def answered(t, rid, ask=True, reply_audio=False):
    """The proxy's response.create (unless the service answers by itself), the response and its reply."""
    out = [proxy(t, "response.create")] if ask else []
    out += [created(t + 0.01, rid), done(t + 0.2, rid)]
    out += audio(t + 0.05, rid, b"\x01\x02") if reply_audio else [assistant_text(t + 0.1)]
    return out


def spoken_turn(t, item_id):
    return [upstream(t, "input_audio_buffer.committed", item_id=item_id),
            upstream(t + 0.01, "conversation.item.added", item={"id": item_id, "type": "message", "role": "user"})]


def facts(tl):
    return [(turn.name, turn.ok) for turn in turns.user_turns(tl)]


def test_every_typed_and_spoken_turn_answered_holds_turn_1():
    tl = timeline(settings(), typed(0.1, "one", "u1"), answered(0.2, "r1", reply_audio=True),
                  spoken_turn(1.0, "s1"), answered(1.02, "r2", ask=False, reply_audio=True),
                  typed(2.0, "three", "u3"), answered(2.1, "r3"))
    assert facts(tl) == [("turn 1 (typed 'one')", True), ("turn 2 (spoken)", True), ("turn 3 (typed 'three')", True)]


def test_a_typed_turn_after_an_audio_reply_never_asked_for_is_lost_and_the_reason_says_why():
    tl = timeline(settings(), typed(0.1, "one", "u1"), answered(0.2, "r1", reply_audio=True),
                  typed(1.0, "two", "u2"))
    lost = turns.user_turns(tl)[1]
    assert lost.ok is False
    assert "turn 2 (typed 'two') was never answered: the proxy sent no response.create after its item was " \
           "confirmed at 1.011 s; the previous response ended (response.done) at 0.400 s" == lost.reason


def test_an_utterance_committed_during_a_reply_must_be_answered_after_it():
    during = [created(0.1, "r1"), assistant_text(0.15), spoken_turn(0.2, "s1"), done(0.5, "r1")]
    assert facts(timeline(settings(), during)) == [("turn 1 (spoken)", False)]
    assert facts(timeline(settings(), during, answered(0.6, "r2", ask=False))) == [("turn 1 (spoken)", True)]
    started_only = timeline(settings(), during, created(0.6, "r2"), done(0.7, "r2"))
    assert "none of its output reached the client" in turns.user_turns(started_only)[0].reason


def test_a_message_typed_during_a_response_is_left_to_ord_7():
    tl = timeline(settings(), created(0.05, "r0"), typed(0.1, "one", "u1"), done(0.3, "r0"))
    turn = turns.user_turns(tl)[0]
    assert turn.ok is None and "ORD-7" in turn.reason


def call(t_done, call_id="c1"):
    """A response that asks for a function call and ends at t_done."""
    return [created(0.1, "r1"), upstream(0.15, "response.function_call_arguments.done", response_id="r1",
                                         call_id=call_id, name="f", arguments="{}"),
            to_client(0.16, "FunctionCallRequest", functions=[{"id": call_id, "name": "f"}]), done(t_done, "r1")]


def result(t, call_id="c1", confirmed_after=0.01):
    return [from_client(t, "FunctionCallResponse", id=call_id, content="42"),
            proxy(t + 0.001, "conversation.item.create", item={"id": "o1", "type": "function_call_output",
                                                                "call_id": call_id, "output": "42"}),
            upstream(t + 0.001 + confirmed_after, "conversation.item.added",
                     item={"id": "o1", "type": "function_call_output", "call_id": call_id})]


def follow_up(tl):
    (one,) = turns.follow_ups(tl)
    return one


def test_one_timely_answered_follow_up_holds_fn_1_whichever_came_last():
    assert follow_up(timeline(settings(), call(0.3), result(1.0), answered(1.02, "r2"))).ok is True
    # The response ended after the result went upstream: the bound counts from its response.done.
    assert follow_up(timeline(settings(), call(3.0), result(1.0), answered(4.5, "r2"))).ok is True


def test_a_late_missing_repeated_or_unanswered_follow_up_breaks_fn_1():
    late = follow_up(timeline(settings(), call(0.3), result(1.0), answered(4.0, "r2")))
    assert late.ok is False and "2.99 s after" in late.reason
    never = follow_up(timeline(settings(), call(0.3), result(1.0), from_client(5.0, "KeepAlive")))
    assert never.ok is False and "never" in never.reason
    twice = follow_up(timeline(settings(), call(0.3), result(1.0), proxy(1.02, "response.create"), answered(1.03, "r2")))
    assert twice.ok is False and "2 response.create" in twice.reason
    silent = timeline(settings(), call(0.3), result(1.0), proxy(1.02, "response.create"), created(1.03, "r2"),
                      done(1.2, "r2"))
    # Its output may still be on its way to leg A just after its response.done: judged once 1 s passed.
    assert follow_up(silent).ok is None
    (one,) = turns.follow_ups(silent, until=2.3)
    assert one.ok is False and "sent nothing to the client" in one.reason


def test_a_create_that_broke_ord_3_or_was_rejected_is_not_counted_again_under_fn_1():
    # The result came before the calling response ended: a create at once is ORD-3's (and rejected, ORD-4's); the
    # one after response.done is the follow-up, on time.
    early = text(1.02, "B", "->", {"type": "response.create"}, note={"rejected": "conversation_already_has_active_response"})
    one = follow_up(timeline(settings(), call(3.0), result(1.0), early, answered(3.1, "r2")))
    assert one.ok is True and len(one.creates) == 1


def test_fn_1_is_undecided_before_its_bound_and_inconclusive_without_its_situation():
    assert follow_up(timeline(settings(), call(0.3), result(1.0), from_client(1.5, "KeepAlive"))).ok is None
    no_output = follow_up(timeline(settings(), call(0.3), from_client(1.0, "FunctionCallResponse", id="c1",
                                                                      content="42")))
    assert no_output.ok is None and "MAP-5" in no_output.reason
    assert turns.follow_ups(timeline(settings(), call(0.3))) == []


def test_a_silent_proxy_is_judged_at_the_bound_when_the_suite_says_how_long_it_waited():
    tl = timeline(settings(), call(0.3), result(1.0))
    assert turns.follow_ups(tl, until=2.5)[0].ok is None     # the bound (2 s after 1.011 s) not yet past
    silent = turns.follow_ups(tl, until=3.2)[0]
    assert silent.ok is False and "never" in silent.reason


def test_a_message_typed_during_the_call_may_have_its_own_response_create():
    tl = timeline(settings(), call(0.3), typed(0.2, "meanwhile", "u1"), proxy(0.5, "response.create"),
                  result(1.0), proxy(1.01, "response.create"), created(1.03, "r2"), assistant_text(1.1))
    assert follow_up(tl).ok is True


def test_an_item_with_a_text_part_that_is_no_string_crashes_no_judge():
    from voice_harness.judging import invariants, sessions
    bad = proxy(0.2, "conversation.item.create", item={"type": "message", "role": "user",
                                                      "content": [{"type": "input_text", "text": 5}]})
    assert sessions.item_text(bad) == ""
    invariants.check(timeline(settings(), bad, proxy(0.3, "response.create")))   # no exception
