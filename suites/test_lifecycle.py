"""LIFE-*: connection lifecycle. When one side of the proxy closes, the other side is closed too and in
bounded time (an upstream close reaches the client, a client close frees the upstream session); a closed
connection does not keep the next one from working; an unreachable upstream ends in an Error or a close,
not a hang."""

import time

import pytest
from websockets.exceptions import ConnectionClosed

from voice_harness.errors import HarnessFault

from voice_harness.drivers.app_driver import PAGE_CLOSE
from voice_harness.judging import app_settings
from voice_harness.judging.checks import assert_never, assert_within, fail
from voice_harness.timeouts import units
from voice_harness.drivers.wire_client import settings
from voice_harness.suites.flows import (app_params, connect, fail_for_want_of, open_and_connect,
                                        send_and_wait_for_reply)
from voice_harness.judging.timeline import (CLIENT_LEG, CLIENT_TO_PROXY, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM,
                                            UPSTREAM_LEG, UPSTREAM_TO_PROXY)

# Bounds written in the requirements themselves (not scaled): LIFE-1 and LIFE-2 5 s, LIFE-4 10 s.
CLOSE_PROPAGATION_S = 5.0
UNREACHABLE_ANSWER_S = 10.0
# Slack for the recorder to see a frame that happened right at a bound (scaled: harness machinery).
RECORDING_SLACK_S = 0.25


def wait_until_bound(recording, predicate, start: float, bound_s: float):
    """Wait for predicate(timeline) until `bound_s` after monotonic time `start` (plus recording slack)."""
    return recording.wait_for(predicate, max(0.0, start + bound_s - time.monotonic()) + units(RECORDING_SLACK_S))


def upstream_connection(timeline, settings_frame=None):
    """The leg B connection that carried a client's session: the one whose session.update followed its Settings."""
    update = timeline.first(route=PROXY_TO_UPSTREAM, type="session.update",
                            **({"after": settings_frame} if settings_frame is not None else {}))
    return update.conn if update is not None else None


def close_on(timeline, leg, conn, arrow=None):
    found = [f for f in timeline.select(leg=leg, kind="close", arrow=arrow) if f.conn == conn]
    return found[0] if found else None


def wait_for_app_status(app, status: str, timeout_s: float) -> bool:
    return app.wait_for_text(app.s.status, status, timeout_s)


def item_text(frame) -> str:
    parts = (frame.message.get("item") or {}).get("content") or []
    return "".join(p.get("text") or p.get("transcript") or "" for p in parts if isinstance(p, dict))


# ------------------------------------------------------------------ LIFE-1


def assert_upstream_close_reaches_the_client(app, recording, timeline_anchor=None):
    """The upstream closed: leg A is closed by the proxy within 5 s, the app shows `closed`, no reply invented."""
    upstream_close = recording.first(units(10), route=UPSTREAM_TO_PROXY, kind="close")
    if upstream_close is None:
        fail("the scenario's upstream close never happened", recording.timeline(), timeline_anchor)
    wait_until_bound(recording, lambda tl: tl.first(route=PROXY_TO_CLIENT, kind="close"),
                     upstream_close.t, CLOSE_PROPAGATION_S)
    timeline = recording.timeline()
    client_close = timeline.first(route=PROXY_TO_CLIENT, kind="close")
    if client_close is None and timeline.first(route=CLIENT_TO_PROXY, kind="close"):
        fail("the proxy never closed the client connection; the app closed it itself",
             timeline, upstream_close, timeline.first(route=CLIENT_TO_PROXY, kind="close"))
    assert_within(timeline, upstream_close, client_close, CLOSE_PROPAGATION_S,
                  f"upstream closed {upstream_close.data.get('code')}: the proxy closed the client connection")
    if not wait_for_app_status(app, "closed", units(5)):
        fail(f"the proxy closed the client connection but the app shows "
             f"{app.text(app.s.status)!r}, not 'closed'", timeline, client_close)
    # The app's own greeting and context, shown or echoed back, are not replies (MAP-6's and MAP-11's matter).
    own = {text.strip() for text in app_settings.not_replies(timeline)}
    invented = [f for f in timeline.select(route=PROXY_TO_CLIENT, type="ConversationText", role="assistant",
                                           after=timeline_anchor)
                if str(f.message.get("content", "")).strip() not in own]
    assert_never(timeline, invented, "an agent reply the upstream never sent reached the client")


@pytest.mark.req("LIFE-1")
@pytest.mark.scenario(replies=False, closes=[{"trigger": "first_user_item", "after_ms": 300, "code": 1000}])
def test_an_upstream_close_after_the_first_message_closes_the_client_within_5_s(app, recording):
    # The field defect's shape: the service answers nothing and closes the socket with 1000.
    open_and_connect(app, recording)
    app.send("Are you still there?")
    # The close follows the first user item upstream: an app that sends user context makes that item itself,
    # and its own message may then come after the close, or never (its connection is closed by then). Either
    # way the upstream closed, which is what LIFE-1 judges; no reply may follow that first user item.
    first_item = recording.wait_for(lambda tl: tl.first(route=PROXY_TO_UPSTREAM, type="conversation.item.create",
                                                        role="user"), units(5))
    if first_item is None:
        sent = recording.timeline().first(route=CLIENT_TO_PROXY, type="InjectUserMessage")
        if sent is None:
            fail_for_want_of("the app sent no InjectUserMessage and no user context, so no user item "
                             "could start the scenario's close (the app's matter)", recording.timeline())
        fail_for_want_of("the app's message never went upstream as a user item (MAP-1's to judge), so "
                         "the scenario's close never came", recording.timeline(), sent)
    assert_upstream_close_reaches_the_client(app, recording, first_item)


@pytest.mark.req("LIFE-1")
@pytest.mark.scenario(closes=[{"trigger": "session_update", "after_ms": 0, "code": 1011,
                               "reason": "server error"}])
def test_an_upstream_close_while_the_session_is_configured_closes_the_client_within_5_s(app, recording):
    app.open()
    app.by(app.s.text_input).focus()  # opens the connection; the upstream closes it during configuration
    assert_upstream_close_reaches_the_client(app, recording)


# ------------------------------------------------------------------ LIFE-2


def assert_upstream_closed_after_client(recording, settings_frame):
    """The client closed: the proxy closes the upstream connection of this client's session within 5 s."""
    client_close = recording.first(units(5), route=CLIENT_TO_PROXY, kind="close")
    if client_close is None:
        fail("the client tap never saw the client's close", recording.timeline())
    conn = upstream_connection(recording.timeline(), settings_frame)
    if conn is None:
        fail("no session.update went upstream, so this client's upstream connection is unknown",
             recording.timeline(), client_close)
    wait_until_bound(recording, lambda tl: close_on(tl, UPSTREAM_LEG, conn), client_close.t, CLOSE_PROPAGATION_S)
    timeline = recording.timeline()
    upstream_close = close_on(timeline, UPSTREAM_LEG, conn)
    if upstream_close is not None and upstream_close.route != PROXY_TO_UPSTREAM:
        fail("the upstream closed the session's connection, not the proxy", timeline,
             client_close, upstream_close)
    assert_within(timeline, client_close, upstream_close, CLOSE_PROPAGATION_S,
                  f"the client closed: the proxy closed upstream connection {conn}")


@pytest.mark.req("LIFE-2")
def test_the_upstream_socket_is_closed_within_5_s_after_the_app_disconnects(app, recording):
    open_and_connect(app, recording)
    app.send("Hello, one short answer please.")
    if recording.first(units(10), route=PROXY_TO_UPSTREAM, type="conversation.item.create", role="user") is None:
        fail("the user's message never went upstream, so the session was not in use",
             recording.timeline())
    app.disconnect()   # the app's own control if it has one, else the page is closed: a client close either way
    assert_upstream_closed_after_client(recording, recording.timeline().first(route=CLIENT_TO_PROXY, type="Settings"))


@pytest.mark.req("LIFE-2")
@pytest.mark.scenario(replies=False)
def test_the_upstream_socket_is_closed_within_5_s_when_the_client_leaves_during_a_response(
        make_wire_client, recording):
    client = make_wire_client()
    if client.configure() is None:
        fail_for_want_of("no SettingsApplied", recording.timeline())
    client.send({"type": "InjectUserMessage", "content": "A question that never gets its answer."})
    if recording.first(units(10), route=PROXY_TO_UPSTREAM, type="response.create") is None:
        fail("no response.create went upstream, so no response was in progress", recording.timeline())
    client.close()
    assert_upstream_closed_after_client(recording, recording.timeline().first(route=CLIENT_TO_PROXY, type="Settings"))


@pytest.mark.req("LIFE-2")
@pytest.mark.scenario(delays=[{"event": "session.updated", "ms": 2000}])
def test_the_upstream_socket_is_closed_within_5_s_when_the_client_leaves_before_the_session_is_ready(
        make_wire_client, recording):
    client = make_wire_client()
    client.send(settings())
    if recording.first(units(10), route=PROXY_TO_UPSTREAM, type="session.update") is None:
        fail("no session.update went upstream", recording.timeline())
    client.close()
    assert_upstream_closed_after_client(recording, recording.timeline().first(route=CLIENT_TO_PROXY, type="Settings"))


# ------------------------------------------------------------------ LIFE-3


def disconnect_and_wait(app, recording) -> str:
    """Close the app's connection (its disconnect control, else its page: AppDriver.disconnect) and wait until
    the client tap saw the close; how it was closed. No close on leg A after the app was told to close is the
    app's fault (its control did nothing), not a verdict on the proxy."""
    means = app.disconnect()
    if recording.first(units(5), route=CLIENT_TO_PROXY, kind="close") is None:
        raise HarnessFault(f"the app was disconnected ({means}) but the client tap saw no close from it: check "
                           f"its disconnect control", party="app")
    if means != PAGE_CLOSE and not wait_for_app_status(app, "closed", units(5)):
        fail("the app did not show 'closed' after it disconnected", recording.timeline())
    return means


def second_connection(timeline):
    """The Settings frame that opened the second leg A connection, or None."""
    sent = timeline.select(route=CLIENT_TO_PROXY, type="Settings")
    return sent[1] if len(sent) > 1 else None


def assert_second_connection_works(recording, settings_frame, question):
    """On the second connection: SettingsApplied, the question upstream, and an agent reply to the client."""
    conn = settings_frame.conn

    def replied(tl):
        asked = next((f for f in tl.select(route=CLIENT_TO_PROXY, type="InjectUserMessage", after=settings_frame)
                      if f.conn == conn and f.message.get("content") == question), None)
        if asked is None:
            return None
        return next((f for f in tl.select(route=PROXY_TO_CLIENT, type="ConversationText", role="assistant",
                                          after=asked) if f.conn == conn), None)

    reply = recording.wait_for(replied, units(10))
    timeline = recording.timeline()
    applied = next((f for f in timeline.select(route=PROXY_TO_CLIENT, type="SettingsApplied", after=settings_frame)
                    if f.conn == conn), None)
    if applied is None:
        fail("the second connection got no SettingsApplied", timeline, settings_frame)
    if reply is None:
        fail("the second connection got no agent reply to its message", timeline, settings_frame, applied)
    return timeline


def first_conversation(app, recording, text, opened: bool = False):
    """Open the app (unless it is open), connect and have one exchange on the first connection."""
    if not opened:
        app.open()
    connect(app, recording)
    # Its reply is a precondition (CANARY-1 checks it), not part of LIFE-3.
    if send_and_wait_for_reply(app, text, units(10), recording=recording).reply is None:
        fail_for_want_of("the first connection got no agent reply (CANARY-1's to judge), so "
                         "reconnecting was not checked", recording.timeline())


@pytest.mark.req("LIFE-3")
def test_the_app_reconnects_after_closing_and_the_new_connection_works(app, recording):
    # On the same page where the app has a disconnect control; else its page is closed and the app comes back
    # on a new page of the same browser context (a returning user): a second connection after a closed one
    # either way, which is what LIFE-3 asks.
    first_conversation(app, recording, "First connection, first question.")
    if disconnect_and_wait(app, recording) == PAGE_CLOSE:
        app.reopen()
    replies_before = sum(1 for role, _ in app.history() if role == "assistant")
    question = "Second connection, second question."
    app.send(question)  # sending opens a new connection; the app holds the text until SettingsApplied
    settings_frame = recording.wait_for(second_connection, units(10))
    if settings_frame is None:
        fail("the app never opened a second connection", recording.timeline())
    assert_second_connection_works(recording, settings_frame, question)
    shown = app.wait_until(
        "([id, n]) => document.querySelectorAll(`[data-testid=\"${id}\"] [data-role=\"assistant\"]`).length > n",
        [app.s.history, replies_before], units(5))
    if shown is None:
        fail(f"the app does not show the second connection's reply (history: {app.history()})",
             recording.timeline())


@pytest.mark.req("LIFE-3")
def test_context_sent_on_reconnect_reaches_upstream_as_items_or_in_the_instructions(app, recording):
    # First connection: a short conversation; the app then closes and reconnects, asked (by URL parameter) to
    # send it back as context. The proxy is held to the context the app actually sent on the second connection
    # (an app may send its own, or none), read from leg A: never to the history shown at some moment, which
    # changes with when the proxy's context items get confirmed.
    first_conversation(app, recording, "My favourite colour is teal.")
    context = [{"role": role, "content": text} for role, text in app.history()]
    disconnect_and_wait(app, recording)
    app.reopen(**app_params(context=context))
    connect(app, recording, judge=fail)
    question = "What is my favourite colour?"
    app.send(question)
    settings_frame = second_connection(recording.timeline())
    if settings_frame is None:
        fail("the client tap saw no second Settings", recording.timeline())
    timeline = assert_second_connection_works(recording, settings_frame, question)
    want = list(app_settings.parse(settings_frame).context)
    if not want:
        pytest.skip("the app sent no context on reconnect (app capability: context): LIFE-3's context on "
                    "reconnect not exercised")
    assert_context_reached_upstream(timeline, settings_frame, want)


def assert_context_reached_upstream(timeline, settings_frame, want: list[tuple[str, str]]) -> None:
    """Each (role, content) the app sent as context on this connection went upstream on its leg B connection:
    as items in order (MAP-7's way), or else in the session's instructions. Only what went out is read, whenever
    the upstream confirmed it."""
    conn = upstream_connection(timeline, settings_frame)
    creates = [f for f in timeline.select(route=PROXY_TO_UPSTREAM, type="conversation.item.create") if f.conn == conn]
    got = [(f.role, item_text(f)) for f in creates]
    remaining = iter(got)
    if all(message in remaining for message in want):  # each context message as an item, in order
        return
    update = next((f for f in timeline.select(route=PROXY_TO_UPSTREAM, type="session.update") if f.conn == conn), None)
    instructions = str(((update.message if update else {}).get("session") or {}).get("instructions") or "")
    missing = [content for _, content in want if content not in instructions]
    if missing:
        fail(f"upstream connection {conn} got the context the app sent neither as items (items: {got}) "
             f"nor in the instructions (missing there: {missing})", timeline, settings_frame, update,
             *creates[:2])


# ------------------------------------------------------------------ LIFE-4


@pytest.mark.req("LIFE-4")
@pytest.mark.parametrize("handshake", [
    pytest.param("reject", id="upstream-answers-503", marks=pytest.mark.scenario("upstream-unreachable")),
    pytest.param("stall", id="upstream-never-answers", marks=pytest.mark.scenario("upstream-stalled")),
])
def test_an_unreachable_upstream_gets_the_client_an_error_or_a_close_within_10_s(
        make_wire_client, recording, handshake):
    started = time.monotonic()
    client = make_wire_client()
    try:
        client.send(settings())
    except ConnectionClosed:
        pass  # closed already: the recording tells how

    def answered(tl):
        return tl.first(route=PROXY_TO_CLIENT, type="Error") or tl.first(route=PROXY_TO_CLIENT, kind="close")

    answer = wait_until_bound(recording, answered, started, UNREACHABLE_ANSWER_S)
    timeline = recording.timeline()
    if answer is None or answer.t - started > UNREACHABLE_ANSWER_S:
        took = f"{answer.t - started:.2f} s" if answer else f"nothing within {UNREACHABLE_ANSWER_S:g} s"
        fail(f"upstream handshake {handshake}: the client got no Error and no close within "
             f"{UNREACHABLE_ANSWER_S:g} s of connecting ({took})", timeline, answer)


# ------------------------------------------------------------------ LIFE-5


def closing_with(code, reason):
    return pytest.mark.scenario(
        replies=False, closes=[{"trigger": "first_user_item", "after_ms": 100, "code": code, "reason": reason}])


@pytest.mark.req("LIFE-5")
@pytest.mark.parametrize("code, reason", [
    pytest.param(4000, "protocol error", id="application-code-4000", marks=closing_with(4000, "protocol error")),
    pytest.param(1008, "policy violation", id="policy-violation-1008", marks=closing_with(1008, "policy violation")),
])
def test_an_upstream_close_with_another_code_than_1000_reaches_the_client(make_wire_client, recording, code, reason):
    client = make_wire_client()
    if client.configure() is None:
        fail_for_want_of("no SettingsApplied", recording.timeline())
    client.send({"type": "InjectUserMessage", "content": "Hello?"})
    upstream = recording.first(units(10), route=UPSTREAM_TO_PROXY, kind="close")
    if upstream is None or upstream.data.get("code") != code:
        fail_for_want_of(f"the scenario's upstream close {code} never happened", recording.timeline())
    client.wait_closed(units(10))
    timeline = recording.timeline()
    told = [f for f in timeline.select(route=PROXY_TO_CLIENT, type="Error", after=upstream)
            if str(code) in str(f.message)]
    closed = next((f for f in timeline.select(leg=CLIENT_LEG, kind="close", after=upstream)), None)
    same = closed is not None and closed.route == PROXY_TO_CLIENT and \
        (closed.data.get("code"), closed.data.get("reason")) == (code, reason)
    if not told and not same:
        got = f"a close {closed.data.get('code')} {closed.data.get('reason')!r}" if closed else "no close"
        fail(f"upstream closed {code} {reason!r}; the client got no Error naming {code} and {got}, not "
             f"the same code and reason", timeline, upstream, closed)
