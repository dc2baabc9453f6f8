"""ORD-*: the proxy orders its upstream events as the real service requires.

ORD-1 is provoked by each way a real session puts another item's confirmation inside a user item's
confirmation window, through the core features first (a message typed while a reply streams, two messages
before the first is confirmed, a spoken turn made by server VAD) and then through the optional ones (context,
greeting, a function output): a proxy that lacks an optional feature cannot hide the defect class. A test in
which no competing confirmation arrived inside the window is inconclusive, not a pass."""

import math
import time

import pytest

from voice_harness.judging import invariants, queued_turns, turns
from voice_harness.judging.component_protocol import function_calls
from voice_harness.judging.checks import fail_on, for_want_of, provoked
from voice_harness.timeouts import units
from .flows import (app_params, competing_confirmations, connect, fail_for_want_of, function_call_request,
                    send_until_response_create)
from .test_audio import chunk
from .test_function_calls import FUNCTIONS, RESULT
from voice_harness.judging.timeline import PROXY_TO_UPSTREAM, UPSTREAM_TO_PROXY

COMPETING = "another item's confirmation inside a user item's confirmation window (after it went upstream, " \
            "before the upstream confirmed it)"


def user_items(timeline):
    """The user items made from the client's messages (not context given as user items)."""
    texts = invariants.injected_texts(timeline)
    return [f for f in timeline.select(route=PROXY_TO_UPSTREAM, type="conversation.item.create", role="user")
            if texts is None or invariants.item_text(f) in texts]


def judge_ord_1(timeline, needs_competition: bool = False):
    """ORD-1 on this timeline: the proxy sent the user item and later a response.create, none of them while
    the user item was unconfirmed; with needs_competition, another item's confirmation must have arrived inside
    a user item's window (else the test is inconclusive)."""
    creates = user_items(timeline)
    if not creates:
        fail_for_want_of("the proxy never sent the user item upstream (MAP-1's to judge)", timeline)
    fail_on(invariants.ord_1(timeline), timeline)
    if timeline.first(route=PROXY_TO_UPSTREAM, type="response.create", after=creates[0]) is None:
        fail_for_want_of("the proxy never asked upstream for a response, so its timing could not be "
                         "judged", timeline, creates[0])
    if needs_competition:
        provoked(any(competing_confirmations(timeline, c) for c in creates), COMPETING, timeline,
                 *creates[:2])


def delayed(event, ms, role=None):
    return pytest.mark.scenario(delays=[{"event": event, "ms": ms, "role": role}])


# Confirmation delays swept on top of the mock's base latency.
SWEEP = [
    pytest.param(None, id="base-latency"),
    pytest.param(None, id="item-added-150ms", marks=delayed("conversation.item.added", 150)),
    pytest.param(None, id="item-added-600ms", marks=delayed("conversation.item.added", 600)),
    pytest.param(None, id="item-done-700ms", marks=delayed("conversation.item.done", 700)),
]


@pytest.mark.req("ORD-1")
@pytest.mark.parametrize("_", SWEEP)
def test_response_create_waits_for_the_user_item_confirmation(app, recording, _):
    judge_ord_1(send_until_response_create(app, recording, "What is two plus two?"))


def wait_for_responses(recording, count, timeout=None):
    """Wait until `count` response.create went upstream (or the session ended); the timeline."""
    recording.wait_for(lambda tl: len(tl.select(route=PROXY_TO_UPSTREAM, type="response.create")) >= count,
                       timeout or units(10), while_live=True)
    return recording.timeline()


def first_output(recording):
    """Wait until the first reply streams (its first delta reached the proxy); the frame, or None."""
    return recording.first(units(10), while_live=True, route=UPSTREAM_TO_PROXY,
                           type=("response.output_text.delta", "response.output_audio_transcript.delta"))


# A short reply (10 deltas, 20 ms apart) and a slow user-item confirmation (600 ms): a message typed as the
# reply starts streaming has the reply's assistant item confirmed (conversation.item.done) inside its window.
STREAMING_WHILE_SLOW_CONFIRMATION = pytest.mark.scenario(
    reply_chunks=10, delta_interval_ms=20,
    delays=[{"event": "conversation.item.added", "ms": 600, "role": "user"},
            {"event": "conversation.item.done", "ms": 600, "role": "user"}])


@pytest.mark.req("ORD-1")
@STREAMING_WHILE_SLOW_CONFIRMATION
def test_a_message_typed_while_a_reply_streams_waits_for_its_own_confirmation(make_wire_client, recording):
    client = make_wire_client()
    if client.configure() is None:
        fail_for_want_of("no SettingsApplied", recording.timeline())
    client.send({"type": "InjectUserMessage", "content": "Tell me a story."})
    if first_output(recording) is None:
        fail_for_want_of("the first reply never started streaming", recording.timeline())
    client.send({"type": "InjectUserMessage", "content": "And another one."})
    judge_ord_1(wait_for_responses(recording, 2), needs_competition=True)


@pytest.mark.req("ORD-1")
@delayed("conversation.item.added", 300, role="user")
def test_two_messages_sent_before_the_first_is_confirmed_wait_for_both_confirmations(make_wire_client, recording):
    client = make_wire_client()
    if client.configure() is None:
        fail_for_want_of("no SettingsApplied", recording.timeline())
    client.send({"type": "InjectUserMessage", "content": "First question?"})
    client.send({"type": "InjectUserMessage", "content": "Second question?"})
    judge_ord_1(wait_for_responses(recording, 1), needs_competition=True)


# The service holds the typed item's confirmations back until the reply to the spoken turn starts streaming
# (response.output_item.added), which it starts 300 ms after it confirmed the spoken item (response.created
# then): a proxy released by the spoken item's confirmation has 300 ms to show it before the typed item is
# confirmed, and the typed item is confirmed while the spoken reply is active.
TYPED_CONFIRMED_AS_THE_SPOKEN_REPLY_STREAMS = pytest.mark.scenario("server-vad", reply_latency_ms=300, reorders=[
    {"event": "conversation.item.added", "after": "response.output_item.added"},
    {"event": "conversation.item.done", "after": "response.output_item.added"}])


@pytest.mark.req("ORD-1")
@TYPED_CONFIRMED_AS_THE_SPOKEN_REPLY_STREAMS
def test_a_message_typed_while_a_spoken_turn_is_confirmed_waits_for_its_own_confirmation(make_wire_client,
                                                                                         recording):
    """The message is typed while the user speaks: it goes upstream after 80 ms of the utterance, and only then
    does the last 20 ms end it (server VAD at 100 ms). The service confirms the spoken item, and confirms the
    typed one only once the spoken reply streams, so the spoken item's confirmation always falls inside the typed
    item's window, and the typed item is always confirmed while the spoken reply is active: both orders are
    fixed by conditions (what the harness waits for, the scenario's reorder and schedule), not by the machine's
    speed."""
    client = make_wire_client()
    if client.configure() is None:
        fail_for_want_of("no SettingsApplied", recording.timeline())
    for index in range(4):
        client.send_raw(chunk(index))
    client.send({"type": "InjectUserMessage", "content": "Also, what time is it?"})
    if recording.first(units(10), while_live=True, route=PROXY_TO_UPSTREAM, type="conversation.item.create",
                       role="user") is None:
        fail_for_want_of("the proxy never sent the typed message upstream (MAP-1's to judge)",
                         recording.timeline())
    client.send_raw(chunk(4))
    if recording.first(units(10), while_live=True, route=UPSTREAM_TO_PROXY, type="input_audio_buffer.committed") is None:
        fail_for_want_of("the upstream never committed the spoken turn (the proxy's audio did not reach "
                         "it: WIRE-2's to judge)", recording.timeline())
    judge_ord_1(wait_for_responses(recording, 1), needs_competition=True)


@pytest.mark.req("ORD-1")
@pytest.mark.scenario("function-call", delays=[{"event": "conversation.item.added", "ms": 500, "role": "user"},
                                               {"event": "conversation.item.done", "ms": 500, "role": "user"}])
def test_a_message_typed_right_after_a_function_output_waits_for_its_own_confirmation(make_wire_client,
                                                                                      recording):
    client = make_wire_client()
    if client.configure(think={"functions": FUNCTIONS}) is None:
        fail_for_want_of("no SettingsApplied", recording.timeline())
    client.send({"type": "InjectUserMessage", "content": "What is the weather in Paris?"})
    request, why_not = function_call_request(client, recording, units(10))
    if request is None:
        for_want_of(why_not or "no FunctionCallRequest reached the client (the proxy may not support functions; "
                    "MAP-4's to judge)", recording.timeline())
    calls = function_calls(request)
    if not calls:
        for_want_of("the FunctionCallRequest carries no call a host could answer (MAP-4's to judge)",
                    recording.timeline())
    client.send({"type": "FunctionCallResponse", "id": calls[0].get("id"), "name": calls[0].get("name"),
                 "content": RESULT})
    client.send({"type": "InjectUserMessage", "content": "And in Rome?"})
    judge_ord_1(wait_for_responses(recording, 2), needs_competition=True)


@pytest.mark.req("ORD-1")
@pytest.mark.scenario(delays=[{"event": "conversation.item.added", "ms": 500, "role": "assistant"},
                              {"event": "conversation.item.added", "ms": 1000, "role": "user"}])
def test_response_create_waits_for_the_user_item_not_for_earlier_context_items(app, recording):
    # The message is typed before SettingsApplied, so the app sends it at once with the context items
    # still unconfirmed: their confirmations arrive first and must not release the response.
    app.open(**app_params(context=[{"role": "assistant", "content": "Earlier, I said hello."}]))
    app.send("And what now?")
    recording.first(units(10), route=PROXY_TO_UPSTREAM, type="response.create", while_live=True)
    judge_ord_1(recording.timeline(), needs_competition=True)


def judge_ord_4(timeline):
    fail_on(invariants.ord_4(timeline, excused=invariants.counted_elsewhere(timeline)), timeline)


# A long reply (20 deltas, 50 ms apart: about 1 s) and prompt confirmations: a message typed while it streams
# is confirmed while the response is still active.
LONG_REPLY = pytest.mark.scenario(reply_chunks=20, delta_interval_ms=50)


def message_during_a_reply(client, recording):
    """Send a message, and a second one as soon as the reply to the first streams."""
    if client.configure() is None:
        fail_for_want_of("no SettingsApplied", recording.timeline())
    client.send({"type": "InjectUserMessage", "content": "Tell me a long story."})
    if first_output(recording) is None:
        fail_for_want_of("the first reply never started streaming", recording.timeline())
    client.send({"type": "InjectUserMessage", "content": "Wait, one more thing."})


def sent_during_responses(timeline):
    """(user item, the response) for each user item that went upstream while a response was active on its
    connection."""
    windows = invariants.responses(timeline.frames)
    during = []
    for create in user_items(timeline):
        active = next((w for w in windows if w.created.conn == create.conn and w.created.t <= create.t
                       and (w.done is None or create.t < w.done.t)), None)
        if active is not None:
            during.append((create, active))
    return during


@pytest.mark.req("ORD-4")
@LONG_REPLY
def test_a_message_typed_during_a_reply_gets_no_response_create_until_the_reply_is_done(make_wire_client,
                                                                                        recording):
    client = make_wire_client()
    message_during_a_reply(client, recording)
    timeline = wait_for_responses(recording, 2)
    judge_ord_4(timeline)
    creates = timeline.select(route=PROXY_TO_UPSTREAM, type="response.create")
    if len(creates) < 2:
        fail_for_want_of("the second message never got a response.create (ORD-7's to judge)", timeline)
    provoked(sent_during_responses(timeline), "a user message that went upstream while a response was "
                                               "active", timeline)


@pytest.mark.req("ORD-4")
@pytest.mark.scenario(reply_latency_ms=1500)
def test_a_second_turn_waits_until_the_first_response_is_done(app, recording):
    app.open()
    app.send("First question?")
    # The second message goes out while the first response is active (1.5 s until its first output).
    recording.first(units(10), route=PROXY_TO_UPSTREAM, type="response.create")
    app.send("Second question?")
    finished = recording.wait_for(
        lambda tl: len(tl.select(route=UPSTREAM_TO_PROXY, type="response.done")) >= 2
        or tl.first(route=UPSTREAM_TO_PROXY, type="error"), units(10), while_live=True)
    timeline = recording.timeline()
    judge_ord_4(timeline)
    if not finished:
        fail_for_want_of("two turns did not complete (ORD-7's to judge)", timeline)


def ord_7_decided(timeline) -> bool:
    """ORD-7's judge decided every message sent during an active response on the recording so far (answered, lost,
    or another id's), and at least one was."""
    facts = queued_turns.queued(timeline, until=time.monotonic())
    return bool(facts) and all(one.ok is not None for one in facts)


def wait_and_judge_ord_7(recording) -> None:
    """Wait until ORD-7's judge decided every message sent while a response was active, then judge: a proxy that
    never answers one is red once the recording covers the horizon of a lost turn (the catalogue's idle close,
    10 s) past the moment it could have asked, so only a red run waits that out."""
    recording.wait_for(ord_7_decided, turns.lost_after_s() + units(5), while_live=True)
    judge_ord_7(recording.timeline(), until=time.monotonic())


def judge_ord_7(timeline, until: float = math.inf) -> None:
    """ORD-7 by its one judge (judging/queued_turns.py, which explore uses too) on a recording that covers `until`:
    red for a lost turn; inconclusive when no message was sent during an active response, or one was not decided
    (the reason says whose it is)."""
    facts = queued_turns.queued(timeline, until)
    provoked(facts, "a user message sent while a response was active", timeline)
    fail_on(queued_turns.ord_7(timeline, until), timeline)
    undecided = next((one for one in facts if one.ok is None), None)
    if undecided is not None:
        fail_for_want_of(undecided.reason, timeline, *undecided.anchors)


@pytest.mark.req("ORD-7")
@LONG_REPLY
def test_a_message_typed_during_a_reply_is_answered_after_it(make_wire_client, recording):
    client = make_wire_client()
    message_during_a_reply(client, recording)
    wait_and_judge_ord_7(recording)


@pytest.mark.req("ORD-7")
@pytest.mark.scenario(reply_latency_ms=800, reply_chunks=10, delta_interval_ms=50)
def test_a_message_typed_in_the_app_during_a_reply_is_answered(app, recording):
    app.open()
    connect(app, recording)
    app.send("First question?")
    recording.first(units(10), while_live=True, route=UPSTREAM_TO_PROXY, type="response.created")
    app.send("Second question?")
    wait_and_judge_ord_7(recording)

