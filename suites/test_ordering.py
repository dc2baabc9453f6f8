"""ORD-*: the proxy orders its upstream events as the real service requires."""

import pytest

from harness.checks import assert_before, fail
from harness.timeouts import units
from suites.flows import app_params, fail_for_want_of, send_until_response_create


def assert_response_create_waits_for_user_item_confirmation(timeline):
    creates = timeline.select(leg="B", arrow="->", type="conversation.item.create", role="user")
    if not creates:
        fail("ORD-1", "the proxy never sent the user item upstream", timeline)
    for create in creates:
        response = timeline.first(leg="B", arrow="->", type="response.create", after=create)
        confirmation = timeline.first(leg="B", arrow="<-", type=("conversation.item.added", "conversation.item.done"),
                                      item_id=create.item_id)
        assert_before(timeline, confirmation, response, "ORD-1",
                      f"the upstream's confirmation of user item {create.item_id}")


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
    assert_response_create_waits_for_user_item_confirmation(send_until_response_create(app, recording, "What is two plus two?"))


@pytest.mark.req("ORD-1")
@delayed("conversation.item.added", 900, role="user")
def test_user_item_confirmations_slower_than_others_are_still_awaited_on_every_turn(app, recording):
    app.open()
    app.connect(units(10))
    for turn, text in enumerate(["First question?", "Second question?"], start=1):
        before = app.text(app.s.agent_response)
        app.send(text)
        recording.wait_for(lambda tl: len(tl.select(leg="B", arrow="->", type="response.create")) >= turn,
                           units(10))
        assert_response_create_waits_for_user_item_confirmation(recording.timeline())
        if turn == 1 and app.wait_for_reply(units(10), before=before).reply is None:
            fail("ORD-1", "no reply to the first turn, so the second turn cannot be checked", recording.timeline())


@pytest.mark.req("ORD-1")
@pytest.mark.scenario(delays=[{"event": "conversation.item.added", "ms": 500, "role": "assistant"},
                              {"event": "conversation.item.added", "ms": 1000, "role": "user"}])
def test_response_create_waits_for_the_user_item_not_for_earlier_context_items(app, recording):
    # The message is typed before SettingsApplied, so the app sends it at once with the context items
    # still unconfirmed: their confirmations arrive first and must not release the response.
    app.open(**app_params(context=[{"role": "assistant", "content": "Earlier, I said hello."}]))
    app.send("And what now?")
    recording.first(units(10), leg="B", arrow="->", type="response.create")
    assert_response_create_waits_for_user_item_confirmation(recording.timeline())


def assert_one_active_response_at_a_time(timeline):
    rejected = [f for f in timeline.select(leg="B", arrow="<-", type="error")
                if (f.data.get("error") or {}).get("code") == "conversation_already_has_active_response"]
    if rejected:
        fail("ORD-4", "the upstream rejected a response.create: conversation_already_has_active_response",
             timeline, rejected[0])
    active = None
    for frame in timeline.select(leg="B"):
        if frame.arrow == "<-" and frame.type == "response.created":
            active = frame
        elif frame.arrow == "<-" and frame.type == "response.done":
            active = None
        elif frame.arrow == "->" and frame.type == "response.create" and active is not None:
            fail("ORD-4", f"{frame.label()} while response {active.response_id} was still active",
                 timeline, active, frame)


@pytest.mark.req("ORD-4")
@pytest.mark.scenario(reply_latency_ms=1500)
def test_a_second_turn_waits_until_the_first_response_is_done(app, recording):
    app.open()
    app.send("First question?")
    # The second message goes out while the first response is active (1.5 s until it even starts).
    recording.first(units(10), leg="B", arrow="->", type="response.create")
    app.send("Second question?")
    finished = recording.wait_for(
        lambda tl: len(tl.select(leg="B", arrow="<-", type="response.done")) >= 2
        or tl.first(leg="B", arrow="<-", type="error"), units(10), while_live=True)
    if not finished:
        fail_for_want_of("ORD-4", "two turns did not complete", recording.timeline())
    assert_one_active_response_at_a_time(recording.timeline())
