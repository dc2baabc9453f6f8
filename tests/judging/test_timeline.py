"""Timeline queries are typed: routes name where frames went, and an unknown value is an error, never an
empty match that would make `assert_never` pass."""

import pytest

from voice_harness.judging.timeline import CLIENT_TO_PROXY, PROXY_TO_UPSTREAM, Timeline
from voice_harness.wire.recording import Frame


def frame(t, leg, arrow, type_, conn=1):
    return Frame(t, leg, arrow, "text", type_, conn, 2, {"type": type_})


TIMELINE = Timeline([frame(0.1, "A", "->", "Settings"), frame(0.2, "B", "->", "session.update"),
                     frame(0.3, "B", "->", "session.update", conn=2)], origin=0.0)


def test_a_route_selects_its_leg_and_direction_and_conn_picks_one_connection():
    assert [f.type for f in TIMELINE.select(route=CLIENT_TO_PROXY)] == ["Settings"]
    assert len(TIMELINE.select(route=PROXY_TO_UPSTREAM)) == 2
    assert [f.t for f in TIMELINE.select(route=PROXY_TO_UPSTREAM, conn=2)] == [0.3]


@pytest.mark.parametrize("criteria, named", [({"leg": "C"}, "leg 'C'"), ({"arrow": "=>"}, "arrow '=>'"),
                                             ({"kind": "json"}, "kind 'json'")])
def test_an_unknown_leg_arrow_or_kind_is_an_error_not_an_empty_match(criteria, named):
    with pytest.raises(ValueError, match=named):
        TIMELINE.select(**criteria)


def test_a_route_and_a_leg_together_are_refused():
    with pytest.raises(ValueError, match="a route or a leg and an arrow"):
        TIMELINE.first(route=CLIENT_TO_PROXY, leg="B")


def test_appended_audio_is_the_decoded_audio_of_the_proxys_appends_in_order():
    import base64

    from voice_harness.judging.timeline import appended_audio
    from voice_harness.wire.recording import Frame

    def append(leg, arrow, audio):
        return Frame(0.0, leg, arrow, "text", "input_audio_buffer.append", 1,
                     data={"type": "input_audio_buffer.append", "audio": audio})
    frames = [append("B", "->", base64.b64encode(b"\x01\x02").decode()), append("B", "->", "not base64!"),
              append("A", "->", base64.b64encode(b"\x09\x09").decode()),
              append("B", "->", base64.b64encode(b"\x03\x04").decode())]
    assert appended_audio(frames) == b"\x01\x02\x03\x04"
