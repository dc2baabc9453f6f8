"""CLI-*: what the proxy does with client input a browser app does not normally send: the component-level
KeepAlive (never sent upstream), message types it does not know (Error, not forwarded), and malformed
frames (Error or a clean close, and the proxy process keeps serving new connections)."""

import json
import re
import uuid

import pytest
from websockets.exceptions import ConnectionClosed

from voice_harness.judging.checks import assert_never, fail
from voice_harness.timeouts import units
from voice_harness.drivers.wire_client import settings
from voice_harness.suites.flows import fail_for_want_of
from voice_harness.judging.timeline import CLIENT_TO_PROXY, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, UPSTREAM_TO_PROXY

KEEPALIVE = {"type": "KeepAlive"}
# "Codes are protocol codes, not prose" (PROTOCOL.md section 2).
PROTOCOL_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")
# A close frame the proxy did not send: the TCP connection was dropped (websockets reports 1006).
DROPPED = 1006
HUGE_BYTES = 2 * 1024 * 1024


def send(client, message) -> bool:
    """Send a message (dict) or a raw frame; False when the proxy had already closed the connection."""
    try:
        client.send(message) if isinstance(message, dict) else client.send_raw(message)
    except ConnectionClosed:
        return False
    return True


def closed_by_proxy(timeline, conn):
    return [f for f in timeline.select(route=PROXY_TO_CLIENT, kind="close") if f.conn == conn]


def followed_up(recording, conn, timeout):
    """Wait until the client's follow-up InjectUserMessage reached upstream as a user item, or the proxy closed
    leg A connection conn.

    Client messages are handled in order, so once the follow-up is upstream, anything the proxy was going
    to forward for an earlier message is upstream too: a negative check can be concluded then."""
    def seen(tl):
        inject = next((f for f in tl.select(route=CLIENT_TO_PROXY, type="InjectUserMessage") if f.conn == conn), None)
        upstream = inject and tl.first(route=PROXY_TO_UPSTREAM, type="conversation.item.create", role="user",
                                       after=inject)
        return upstream or closed_by_proxy(tl, conn)
    return recording.wait_for(seen, timeout)


def sent_frame(timeline, predicate):
    """The first client frame on leg A (as the tap saw it) matching predicate."""
    return next((f for f in timeline.select(route=CLIENT_TO_PROXY) if predicate(f)), None)


def mentions(frame, marker) -> bool:
    """The frame's JSON message (in a text frame, or in a binary one sent upstream) contains the marker."""
    return frame.message is not None and marker in json.dumps(frame.message)


# ------------------------------------------------------------------ CLI-1


@pytest.mark.req("CLI-1")
@pytest.mark.parametrize("when", ["after-settings-applied", "before-settings"])
def test_keepalive_is_never_sent_upstream(make_wire_client, recording, when):
    client = make_wire_client()
    if when == "before-settings":
        # A proxy that queues early messages until session.updated must not flush KeepAlive upstream either.
        client.send(KEEPALIVE)
        client.send(settings())
        client.send(KEEPALIVE)
        ready = client.expect("SettingsApplied")
    else:
        ready = client.configure()
        for _ in range(3):
            client.send(KEEPALIVE)
    if ready is None:
        fail_for_want_of("no SettingsApplied, so KeepAlive handling could not be checked", recording.timeline())
    send(client, {"type": "InjectUserMessage", "content": "After the keep-alives."})
    keepalive = recording.first(units(5), route=CLIENT_TO_PROXY, type="KeepAlive")
    if keepalive is None:
        fail("the client tap never saw the KeepAlive", recording.timeline())
    arrived = followed_up(recording, keepalive.conn, units(10))
    timeline = recording.timeline()
    # In a text frame or a binary one: the timeline reads the JSON of a binary frame upstream as its message.
    forwarded = [f for f in timeline.select(route=PROXY_TO_UPSTREAM) if f.type == "KeepAlive"]
    assert_never(timeline, forwarded, "the proxy sent the client's KeepAlive upstream"
                 + (" as a binary frame" if forwarded and forwarded[0].kind == "binary" else ""))
    if not arrived:
        fail("the message sent after KeepAlive never reached upstream, so a forwarded KeepAlive "
             "could still be on its way", timeline,
             sent_frame(timeline, lambda f: f.type == "InjectUserMessage"))


# ------------------------------------------------------------------ CLI-2

UNKNOWN_TYPES = [
    pytest.param("NoSuchMessageType", "after-settings-applied", id="made-up-type"),
    # A leg B event name sent on leg A: passing it through would let a client drive the upstream directly.
    pytest.param("response.create", "after-settings-applied", id="upstream-event-name"),
    pytest.param("NoSuchMessageType", "before-settings", id="made-up-type-before-settings"),
]


def forwarded_copies(timeline, sent, marker) -> list:
    """The copies of the client's unknown message `sent` that the proxy sent upstream: events of its type carrying
    its marker, in a text frame or a binary one (the timeline reads the JSON of a binary frame upstream as its
    message)."""
    return [f for f in timeline.select(route=PROXY_TO_UPSTREAM, after=sent)
            if f.type == sent.type and mentions(f, marker)]


def proxys_error(timeline, sent):
    """The proxy's Error for the unknown message `sent`: the first Error on its connection after it that is not
    a relay of an upstream `error` (one carrying the code of an upstream error that came before it), or None.

    Judged once no copy of the message went upstream (forwarded_copies, CLI-2's fail by itself): the upstream
    then never saw the message, so no upstream `error` can be about it, and an Error that only passes one on
    (ERR-1's relay, about something else) is no answer to it."""
    upstream = timeline.select(route=UPSTREAM_TO_PROXY, type="error", after=sent)
    for error in timeline.select(route=PROXY_TO_CLIENT, type="Error", conn=sent.conn, after=sent):
        relayed = {(u.message.get("error") or {}).get("code") for u in upstream if u.t <= error.t}
        if error.message.get("code") not in relayed:
            return error
    return None


@pytest.mark.req("CLI-2")
@pytest.mark.parametrize("message_type, when", UNKNOWN_TYPES)
def test_an_unknown_message_type_gets_an_error_and_is_not_forwarded(make_wire_client, recording,
                                                                    message_type, when):
    client = make_wire_client()
    marker = f"cli2-{uuid.uuid4().hex[:12]}"
    unknown = {"type": message_type, "marker": marker}
    if when == "before-settings":
        client.send(unknown)
    if client.configure() is None:
        fail_for_want_of("no SettingsApplied, so the unknown message could not be checked", recording.timeline())
    if when != "before-settings":
        client.send(unknown)
    send(client, {"type": "InjectUserMessage", "content": "After the unknown message."})
    sent = recording.first(units(5), route=CLIENT_TO_PROXY, type=message_type)
    if sent is None:
        fail("the client tap never saw the unknown message", recording.timeline())
    arrived = followed_up(recording, sent.conn, units(10))
    timeline = recording.timeline()
    forwarded = forwarded_copies(timeline, sent, marker)
    assert_never(timeline, forwarded, f"the proxy forwarded the unknown {message_type!r} message upstream"
                 + (" as a binary frame" if forwarded and forwarded[0].kind == "binary" else ""))
    # The proxy answers the message it refuses in its own time: bounded.
    error = recording.wait_for(lambda tl: proxys_error(tl, sent), units(5))
    timeline = recording.timeline()
    if error is None:
        fail(f"the unknown {message_type!r} message got no Error", timeline, sent)
    code = error.message.get("code")
    if not isinstance(code, str) or not PROTOCOL_CODE.match(code):
        fail(f"the Error for the unknown {message_type!r} message has code {code!r}, "
             f"not a protocol code such as 'disallowed_client_message_type'", timeline, sent, error)
    if not arrived:
        fail("the message sent after the unknown one never reached upstream and the connection stayed "
             "open, so a forwarded copy could still be on its way", timeline, sent, error)


# ------------------------------------------------------------------ CLI-3

MALFORMED = [
    pytest.param("this is not JSON {", True, id="not-json"),
    pytest.param('{"type": "InjectUserMessage", "content": "cut off', True, id="truncated-json"),
    pytest.param("[1, 2]", True, id="json-array"),
    pytest.param('"x"', True, id="json-string"),
    pytest.param("null", True, id="json-null"),
    pytest.param("42", True, id="json-number"),
    pytest.param("this is not JSON either", False, id="not-json-before-settings"),
    pytest.param(json.dumps({"type": "InjectUserMessage", "content": "a" * HUGE_BYTES}), True, id="huge-frame"),
]


def proxy_answer(timeline, sent):
    """The proxy's first Error or close frame on the connection of `sent`, after it."""
    answers = [f for f in timeline.select(route=PROXY_TO_CLIENT, after=sent)
               if f.conn == sent.conn and (f.type == "Error" or f.kind == "close")]
    return answers[0] if answers else None


def next_connection_problem(make_wire_client, proxy) -> str | None:
    """Why a new connection is not served (no SettingsApplied, or the proxy process is gone), or None."""
    client = make_wire_client()
    try:
        applied = client.configure()
    except ConnectionClosed:
        applied = None
    if applied is None:
        state = "is still running" if proxy.running else "has exited"
        return f"the next connection got no SettingsApplied (the proxy process {state})"
    if not proxy.running:
        return "the proxy process has exited"
    return None


@pytest.mark.req("CLI-3")
@pytest.mark.parametrize("frame, configured", MALFORMED)
def test_a_malformed_frame_gets_an_error_or_a_clean_close_and_the_proxy_keeps_serving(
        make_wire_client, recording, live_proxy, frame, configured):
    client = make_wire_client()
    if configured and client.configure() is None:
        fail_for_want_of("no SettingsApplied, so the malformed frame could not be checked", recording.timeline())
    size = len(frame.encode())
    what = f"a {size:,}-byte frame" if size > 64 else f"the frame {frame!r}"
    send(client, frame)
    sent = recording.wait_for(
        lambda tl: sent_frame(tl, lambda f: f.kind == "text" and f.size == size and f.type != "Settings"), units(5))
    if sent is None:
        fail(f"the client tap never saw {what}", recording.timeline())
    answer = recording.wait_for(lambda tl: proxy_answer(tl, sent), units(5))
    problems = []
    if answer is None:
        problems.append(f"{what} got neither an Error nor a close")
    elif answer.kind == "close" and answer.data.get("code") == DROPPED:
        problems.append(f"{what} made the proxy drop the connection without a close frame (1006)")
    next_problem = next_connection_problem(make_wire_client, live_proxy)
    if next_problem:
        problems.append(f"after {what}, {next_problem}")
    if problems:
        fail("; ".join(problems), recording.timeline(), sent, answer)


@pytest.mark.req("CLI-3")
@pytest.mark.parametrize("frame", [
    pytest.param(b"\x01\x02\x03", id="odd-length-audio-frame"),
    pytest.param(b"\x00" * 961, id="odd-length-20-ms-frame"),
])
def test_an_odd_length_audio_frame_does_not_bring_the_proxy_down(make_wire_client, recording, live_proxy, frame):
    # Not malformed for the component protocol (audio is a byte stream), but a frame a naive converter
    # chokes on: the connection may answer with an Error or a clean close, never a crash.
    client = make_wire_client()
    if client.configure() is None:
        fail_for_want_of("no SettingsApplied", recording.timeline())
    send(client, frame)
    sent = recording.wait_for(lambda tl: sent_frame(tl, lambda f: f.kind == "binary" and f.size == len(frame)),
                              units(5))
    if sent is None:
        fail_for_want_of("the client tap never saw the binary frame", recording.timeline())
    # Something after it that the proxy must still handle: a message, which should reach upstream.
    send(client, {"type": "InjectUserMessage", "content": "Still there after the odd frame?"})
    recording.wait_for(lambda tl: proxy_answer(tl, sent) or any(
        "odd frame" in str(f.message) for f in tl.select(route=PROXY_TO_UPSTREAM, type="conversation.item.create")),
        units(5))
    answer = proxy_answer(recording.timeline(), sent)
    problems = []
    if answer is not None and answer.kind == "close" and answer.data.get("code") == DROPPED:
        problems.append(f"a {len(frame)}-byte binary frame made the proxy drop the connection without a close "
                        f"frame (1006)")
    next_problem = next_connection_problem(make_wire_client, live_proxy)
    if next_problem:
        problems.append(f"after a {len(frame)}-byte binary frame, {next_problem}")
    if problems:
        fail("; ".join(problems), recording.timeline(), sent, answer)
