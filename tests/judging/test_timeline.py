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
