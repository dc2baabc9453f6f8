"""ERR-4 (an invariant): every Error to the client answers something before it on its connection."""

from voice_harness.judging import errors, invariants
from synthetic_sessions import binary, close, created, from_client, settings, timeline, to_client, typed, upstream


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
    # Settings and InjectUserMessage were acted on (session.update, the user item went up): no credit left.
    assert len(found) == 4
    assert "answered nothing" in found[0].reason and "response.created at 0.200 s" in found[0].reason
    assert "rate_limits.updated" in found[1].reason


def test_an_upstream_error_an_upstream_close_or_a_rejectable_client_message_explains_one_error_each():
    tl = timeline(settings(), upstream(0.2, "error", error={"code": "server_error"}), error(0.21),
                  close(0.5, "B", "<-", 1011), error(0.51))
    assert errors.invented_errors(tl) == []     # two credits (Settings was acted on), two Errors
    assert len(errors.invented_errors(timeline(tl.frames, error(0.52), error(0.53)))) == 2
    odd = timeline(settings(), binary(0.1, "A", "->", b"\x01\x02\x03"), error(0.11), error(0.12), error(0.13))
    assert len(errors.invented_errors(odd)) == 2
    even = timeline(settings(), binary(0.1, "A", "->", b"\x01\x02"), error(0.11), error(0.12), error(0.13))
    assert len(errors.invented_errors(even)) == 3   # PCM16 audio is nothing to reject


def test_an_error_while_the_proxy_never_reached_its_upstream_is_explained_by_that_absence():
    tl = timeline(error(0.1, "upstream unreachable"), error(0.2))
    assert errors.invented_errors(tl) == []


def test_err_4_is_judged_per_client_connection():
    first = [settings(conn=1), upstream(0.2, "error", conn=1, error={"code": "x"})]
    second = [settings(1.0, conn=2), created(1.1, "r1", conn=2)]
    tl = timeline(first, second, error(1.2, conn=2), error(1.21, conn=2))
    assert len(errors.invented_errors(tl)) == 2   # the first connection's credit does not explain the second's


def test_one_error_per_response_created_in_a_typed_conversation_is_invented():
    """The messages were accepted (their upstream events went out): they explain no Error that comes after."""
    tl = timeline(settings(), typed(0.1, "one", "u1"), created(0.2, "r1"), error(0.21),
                  typed(1.0, "two", "u2"), created(1.1, "r2"), error(1.11))
    assert len(errors.invented_errors(tl)) == 2


def test_a_client_message_the_proxy_did_not_act_on_explains_its_rejection():
    unknown = timeline(settings(), from_client(0.1, "Unknown"), error(0.11))
    assert errors.invented_errors(unknown) == []
    rejected = timeline(settings(), from_client(0.1, "InjectUserMessage", content=5), error(0.11))
    assert errors.invented_errors(rejected) == []
