"""AUD-1: one owner of turn detection, and its excusals (ORD-5 for the commits, ORD-4 for the response.create)."""

from voice_harness.judging import invariants, turn_detection
from synthetic_sessions import created, proxy, settings, timeline, typed, upstream
from suites.test_audio import ord_5_violation


def turn_detection_set(t, value):
    return proxy(t, "session.update", session={"type": "realtime", "audio": {"input": {"turn_detection": value}}})


def spoken_turn(t, item_id="s1"):
    return [upstream(t, "input_audio_buffer.speech_stopped", item_id=item_id),
            upstream(t + 0.01, "input_audio_buffer.committed", item_id=item_id)]


def offences(tl):
    return [(o.frame.type, str(o.detection)) for o in turn_detection.second_owner(tl)]


def test_a_commit_while_server_vad_is_on_by_default_breaks_aud_1_and_turning_it_off_makes_it_the_proxys():
    commit = proxy(0.5, "input_audio_buffer.commit")
    assert offences(timeline(settings(), commit)) == [("input_audio_buffer.commit", "server VAD on (create_response true)")]
    assert "never set turn_detection" in turn_detection.aud_1(timeline(settings(), commit)).reason
    assert offences(timeline(turn_detection_set(0.0, None), commit)) == []
    # An update without the key leaves it as it was; an object turns it back on.
    assert offences(timeline(turn_detection_set(0.0, None), proxy(0.1, "session.update", session={}), commit)) == []
    assert offences(timeline(turn_detection_set(0.0, None), turn_detection_set(0.1, {"type": "server_vad"}),
                             commit))


def test_a_response_create_for_a_spoken_turn_breaks_aud_1_only_while_the_service_answers_it_itself():
    asked = proxy(0.5, "response.create")
    assert offences(timeline(settings(), spoken_turn(0.3), asked)) == [("response.create",
                                                                     "server VAD on (create_response true)")]
    vad_without_answers = turn_detection_set(0.0, {"type": "server_vad", "create_response": False})
    assert offences(timeline(vad_without_answers, spoken_turn(0.3), asked)) == []
    assert offences(timeline(turn_detection_set(0.0, None), spoken_turn(0.3), asked)) == []
    # The latest user turn was typed: the proxy must ask for its answer.
    assert offences(timeline(settings(), spoken_turn(0.1), typed(0.3, "hi", "u1"), asked)) == []


def test_an_aud_1_response_create_into_the_services_own_response_is_not_counted_again_under_ord_4():
    tl = timeline(settings(), spoken_turn(0.3), created(0.32, "r_vad"), proxy(0.4, "response.create"))
    assert [v.req for v in invariants.check(tl, ["ORD-4"])] == []
    typed_turn = timeline(turn_detection_set(0.0, None), created(0.32, "r1"), proxy(0.4, "response.create"))
    assert [v.req for v in invariants.check(typed_turn, ["ORD-4"])] == ["ORD-4"]


def test_a_short_commit_while_server_vad_is_on_is_aud_1s_not_ord_5s():
    short = [proxy(0.1, "input_audio_buffer.append", audio=""), proxy(0.2, "input_audio_buffer.commit")]
    assert ord_5_violation(timeline(settings(), short)) is None
    assert ord_5_violation(timeline(turn_detection_set(0.0, None), short)) is not None
