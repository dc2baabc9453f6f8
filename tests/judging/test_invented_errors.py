"""ERR-4 (an invariant): every Error to the client answers something before it on its connection."""

from voice_harness.judging import errors, invariants
from synthetic_sessions import binary, close, created, settings, timeline, to_client, typed, upstream


def error(t, description="x", conn=1):
    return to_client(t, "Error", conn, code="c", description=description)


def ids(tl):
    return [v.req for v in invariants.check(tl)]


def test_errors_for_upstream_events_the_proxy_does_not_map_break_err_4_and_name_them():
    tl = timeline(settings(), typed(0.1, "hi", "u1"), created(0.2, "r1"), error(0.21, "unmapped upstream event "
                  "response.created"), upstream(0.3, "rate_limits.updated"), error(0.31, "unmapped upstream event "
                  "rate_limits.updated"), error(0.32), error(0.33))
    assert ids(tl) == ["ERR-4"]
    found = errors.invented_errors(tl)
    # Settings and InjectUserMessage may each be rejected: two credits, the third Error on is invented.
    assert len(found) == 2
    assert "answered nothing" in found[0].reason and "rate_limits.updated" in found[0].reason


def test_an_upstream_error_an_upstream_close_or_a_rejectable_client_message_explains_one_error_each():
    tl = timeline(settings(), upstream(0.2, "error", error={"code": "server_error"}), error(0.21),
                  close(0.5, "B", "<-", 1011), error(0.51))
    assert errors.invented_errors(tl) == []     # three credits (Settings too), three Errors
    assert len(errors.invented_errors(timeline(tl.frames, error(0.52), error(0.53)))) == 1
    odd = timeline(settings(), binary(0.1, "A", "->", b"\x01\x02\x03"), error(0.11), error(0.12), error(0.13))
    assert len(errors.invented_errors(odd)) == 1
    even = timeline(settings(), binary(0.1, "A", "->", b"\x01\x02"), error(0.11), error(0.12), error(0.13))
    assert len(errors.invented_errors(even)) == 2   # PCM16 audio is nothing to reject


def test_an_error_while_the_proxy_never_reached_its_upstream_is_explained_by_that_absence():
    tl = timeline(error(0.1, "upstream unreachable"), error(0.2))
    assert errors.invented_errors(tl) == []


def test_err_4_is_judged_per_client_connection():
    first = [settings(conn=1), upstream(0.2, "error", conn=1, error={"code": "x"})]
    second = [settings(1.0, conn=2), created(1.1, "r1", conn=2)]
    tl = timeline(first, second, error(1.2, conn=2), error(1.21, conn=2))
    assert len(errors.invented_errors(tl)) == 1   # the first connection's credit does not explain the second's
