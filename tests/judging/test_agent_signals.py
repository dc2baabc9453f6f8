"""AGENT-1 (an invariant) and AGENT-2 on hand-built timelines: each rule red for its defect, silent where the
recording does not cover what it needs."""

from voice_harness.judging import agent_signals, invariants
from synthetic_sessions import (assistant_text, audio, created, done, from_client, settings, timeline,
                                to_client, upstream)


def started(t, conn=1):
    return to_client(t, "AgentStartedSpeaking", conn)


def audio_done(t, conn=1):
    return to_client(t, "AgentAudioDone", conn)


def reasons(tl):
    return [v.reason for v in agent_signals.agent_1_violations(tl)]


def two_part_reply(signals):
    """A reply in two audio parts (0.12 .. 0.22 and 0.4 .. 0.5), response.done at 0.6, the recording to 2.0 s."""
    return timeline(settings(), created(0.1, "r1"), audio(0.12, "r1", b"\x01\x02"), audio(0.22, "r1", b"\x03\x04"),
                    upstream(0.3, "response.output_audio.done", response_id="r1"),
                    audio(0.4, "r1", b"\x05\x06"), audio(0.5, "r1", b"\x07\x08"), done(0.6, "r1"),
                    from_client(2.0, "KeepAlive"), signals)


def test_signals_around_a_whole_audio_reply_hold_agent_1_and_it_is_an_invariant():
    tl = two_part_reply([started(0.11), audio_done(0.601)])
    assert reasons(tl) == []
    assert "AGENT-1" not in [v.req for v in invariants.check(tl)]


def test_audio_with_no_agent_started_speaking_before_it_breaks_agent_1():
    tl = two_part_reply([started(0.13), audio_done(0.601)])   # only after the first audio frame
    assert [v.req for v in invariants.check(tl)] == ["AGENT-1"]
    assert "no AgentStartedSpeaking before it" in reasons(tl)[0]


def test_agent_audio_done_at_a_parts_end_while_audio_still_streams_breaks_agent_1():
    tl = two_part_reply([started(0.11), audio_done(0.301), audio_done(0.601)])
    assert len(reasons(tl)) == 1 and "still arriving" in reasons(tl)[0]


def test_a_missing_agent_audio_done_breaks_agent_1_only_where_the_recording_covers_a_second_past_the_end():
    assert "none came" in reasons(two_part_reply([started(0.11)]))[0]
    short = timeline(settings(), started(0.11), created(0.1, "r1"), audio(0.12, "r1", b"\x01\x02"), done(0.6, "r1"),
                     from_client(1.2, "KeepAlive"))
    assert reasons(short) == []


def test_a_late_agent_audio_done_or_an_agent_done_does_not_meet_agent_1():
    assert "came" in reasons(two_part_reply([started(0.11), audio_done(1.9)]))[0]
    assert reasons(two_part_reply([started(0.11), to_client(0.601, "AgentDone")]))


def test_the_previous_turns_signals_do_not_stand_for_this_responses():
    greeting_only = timeline(settings(greeting="Hello!"), started(0.01), assistant_text(0.02, "Hello!"),
                             audio_done(0.03), created(0.1, "r1"), audio(0.12, "r1", b"\x01\x02"),
                             done(0.2, "r1"), audio_done(0.21), from_client(2.0, "KeepAlive"))
    assert "no AgentStartedSpeaking" in reasons(greeting_only)[0]
    second = timeline(settings(), started(0.05), created(0.1, "r1"), audio(0.12, "r1", b"\x01\x02"), done(0.2, "r1"),
                      audio_done(0.21), created(0.5, "r2"), audio(0.52, "r2", b"\x03\x04"), done(0.6, "r2"),
                      audio_done(0.61), from_client(2.0, "KeepAlive"))
    assert len(reasons(second)) == 1 and "response r2" in reasons(second)[0]


def test_agent_1_is_judged_per_client_connection():
    first = [settings(conn=1), started(0.11, conn=1), created(0.1, "r1", conn=1),
             audio(0.12, "r1", b"\x01\x02", conn=1), done(0.2, "r1", conn=1), audio_done(0.21, conn=1)]
    second = [settings(1.0, conn=2), created(1.1, "r2", conn=2), audio(1.12, "r2", b"\x01\x02", conn=2),
              done(1.2, "r2", conn=2), audio_done(1.21, conn=2), from_client(3.0, "KeepAlive", conn=2)]
    found = reasons(timeline(first, second, started(1.15, conn=1)))   # a signal on the wrong connection
    assert len(found) == 1 and "response r2" in found[0]


def findings(tl, settle_s=1.0):
    return [(f.what, f.ok) for f in agent_signals.agent_2_findings(tl, settle_s)]


def text_reply(t, rid, signals=True, closing="AgentAudioDone"):
    frames = [created(t, rid), assistant_text(t + 0.05), done(t + 0.1, rid)]
    if signals:
        frames += [started(t + 0.01), to_client(t + 0.101, closing)]
    return frames


def test_agent_2_holds_for_a_signalled_text_reply_and_greeting_and_accepts_agent_done():
    tl = timeline(settings(greeting="Hi"), started(0.01), assistant_text(0.02, "Hi"), audio_done(0.03),
                  text_reply(0.1, "r1"), text_reply(0.5, "r2", closing="AgentDone"), from_client(3.0, "KeepAlive"))
    assert findings(tl) == [("the greeting", True), ("response r1 (text)", True), ("response r2 (text)", True)]
    assert agent_signals.agent_2(tl) is None


def test_agent_2_is_red_for_a_text_reply_or_greeting_without_signals():
    tl = timeline(settings(greeting="Hi"), assistant_text(0.02, "Hi"), text_reply(0.1, "r1", signals=False),
                  from_client(3.0, "KeepAlive"))
    assert findings(tl) == [("the greeting", False), ("response r1 (text)", False)]
    assert "no AgentStartedSpeaking" in agent_signals.agent_2(tl).reason


def test_agent_2_names_a_function_call_and_waits_for_the_closing_signal_until_the_recording_covers_it():
    call = [created(0.1, "r1"), started(0.11), to_client(0.12, "FunctionCallRequest", functions=[]), done(0.2, "r1")]
    assert findings(timeline(settings(), call, from_client(0.5, "KeepAlive"))) == [
        ("response r1 (a function call)", None)]
    assert findings(timeline(settings(), call, from_client(2.0, "KeepAlive"))) == [
        ("response r1 (a function call)", False)]


def test_agent_2_leaves_audio_replies_to_agent_1():
    tl = timeline(settings(), created(0.1, "r1"), audio(0.12, "r1", b"\x01\x02"), assistant_text(0.15),
                  done(0.2, "r1"), from_client(3.0, "KeepAlive"))
    assert findings(tl) == []
