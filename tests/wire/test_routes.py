"""A frame's route is its leg and direction as one typed value: each recorded frame has exactly one of the four
routes, and the route is not part of what a recording serialises."""

from dataclasses import asdict

from voice_harness.judging import timeline
from voice_harness.wire.recording import (CLIENT_TO_PROXY, DOWN, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, UP,
                                          UPSTREAM_TO_PROXY, Frame, Route)

ROUTES = (CLIENT_TO_PROXY, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, UPSTREAM_TO_PROXY)


def test_every_frame_is_on_exactly_one_route():
    for leg in ("A", "B"):
        for arrow in (UP, DOWN):
            frame = Frame(0.0, leg, arrow, "text")
            assert [r for r in ROUTES if frame.route == r] == [Route(leg, arrow)]
    assert Frame(0.0, "B", UP, "text").route == PROXY_TO_UPSTREAM != Frame(0.0, "A", UP, "text").route


def test_the_route_is_not_serialised_and_the_judges_name_the_same_routes():
    assert "route" not in asdict(Frame(0.0, "A", DOWN, "close", data={"code": 1000}))
    assert (timeline.CLIENT_TO_PROXY, timeline.UPSTREAM_TO_PROXY) == (CLIENT_TO_PROXY, UPSTREAM_TO_PROXY)
    assert set(timeline.LEGS) == {r.leg for r in ROUTES} and set(timeline.ARROWS) == {r.arrow for r in ROUTES}
