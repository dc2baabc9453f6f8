"""Translation between the two protocols: user turns (MAP-1, MAP-2), assistant text (MAP-3), greeting (MAP-6),
context (MAP-7), prompt and functions (MAP-8)."""

import pytest

from voice_harness.judging.checks import assert_before, fail
from voice_harness.timeouts import units
from .flows import (app_params, browser_turn, connect, fail_for_want_of, send_and_wait_for_reply,
                    send_until_response_create, user_creates)
from .test_function_calls import FUNCTIONS
from voice_harness.judging.timeline import CLIENT_TO_PROXY, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, UPSTREAM_TO_PROXY

LONG_MESSAGE = "Please tell me, in one short sentence, what the weather will be like tomorrow morning."


@pytest.mark.req("MAP-1")
def test_a_user_message_becomes_one_input_text_part_with_the_same_text(app, recording):
    timeline = send_until_response_create(app, recording, LONG_MESSAGE, "MAP-1")
    creates = user_creates(timeline)
    if not creates:
        fail("MAP-1", "no user item went upstream", timeline)
    item = creates[0].data["item"]
    want = [{"type": "input_text", "text": LONG_MESSAGE}]
    if item.get("type") != "message" or item.get("content") != want:
        fail("MAP-1", f"user item is {item.get('type')} with content {item.get('content')}, expected {want}",
             timeline, creates[0])


@pytest.mark.req("MAP-2")
def test_the_user_turn_is_echoed_as_conversation_text(app, recording):
    send_until_response_create(app, recording, LONG_MESSAGE, "MAP-2")
    # The echo needs no reply: wait for it, or for the reply that would follow it.
    recording.wait_for(lambda tl: tl.first(route=PROXY_TO_CLIENT, type="ConversationText"), units(10))
    timeline = recording.timeline()
    sent = timeline.first(route=CLIENT_TO_PROXY, type="InjectUserMessage")
    echo = timeline.first(route=PROXY_TO_CLIENT, type="ConversationText", role="user", after=sent)
    if echo is None or echo.data.get("content") != LONG_MESSAGE:
        fail("MAP-2", f"no ConversationText user echo with the same text (got {echo.data if echo else None})",
             timeline, sent, echo)


@pytest.mark.req("MAP-3")
@pytest.mark.scenario(reply_parts=2)
def test_assistant_text_reaches_the_client_once_per_assistant_item(app, recording):
    browser_turn(app, recording, "First question?", "MAP-3")
    send_and_wait_for_reply(app, "Second question?", units(10))
    # Two complete turns: whatever the proxy made of the first one has been relayed by now.
    timeline = recording.timeline()
    sent = timeline.first(route=CLIENT_TO_PROXY, type="InjectUserMessage")
    items = [f.data["item"] for f in timeline.select(route=UPSTREAM_TO_PROXY, type="conversation.item.done",
                                                    role="assistant")]
    # One ConversationText per item, holding the text of all its parts (the mock sends two parts per item).
    expected = ["".join(part.get("text") or part.get("transcript") or "" for part in item["content"])
                for item in items]
    shown = [f.data.get("content") for f in timeline.select(route=PROXY_TO_CLIENT, type="ConversationText",
                                                            role="assistant", after=sent)]
    if shown != expected:
        fail("MAP-3", f"assistant ConversationText {shown}, expected one per assistant item {expected}", timeline,
             *timeline.select(route=PROXY_TO_CLIENT, type="ConversationText", role="assistant")[:3])


@pytest.mark.req("MAP-6")
def test_the_greeting_is_shown_after_settings_applied_and_never_sent_upstream(app, recording):
    greeting = "Welcome! Ask me anything."
    timeline = browser_turn(app, recording, "Hello.", "MAP-6", greeting=greeting)
    applied = timeline.first(route=PROXY_TO_CLIENT, type="SettingsApplied")
    shown = timeline.first(route=PROXY_TO_CLIENT, type="ConversationText", role="assistant")
    if shown is None or shown.data.get("content") != greeting:
        fail("MAP-6", "the greeting was not the first assistant ConversationText", timeline, shown)
    assert_before(timeline, applied, shown, "MAP-6", "SettingsApplied")
    upstream = [f for f in timeline.select(route=PROXY_TO_UPSTREAM, type="conversation.item.create", role="assistant")
                if greeting in str(f.data)]
    if upstream:
        fail("MAP-6", "the greeting was sent upstream as an assistant item", timeline, upstream[0])


CONTEXT = [{"role": "user", "content": "My name is Ada."},
           {"role": "assistant", "content": "Nice to meet you, Ada."}]


@pytest.mark.req("MAP-7")
def test_context_messages_become_items_in_order_before_any_response(app, recording):
    timeline = browser_turn(app, recording, "What is my name?", "MAP-7", context=CONTEXT)
    updated = timeline.first(route=UPSTREAM_TO_PROXY, type="session.updated")
    response = timeline.first(route=PROXY_TO_UPSTREAM, type="response.create")
    items = [f for f in timeline.select(route=PROXY_TO_UPSTREAM, type="conversation.item.create")
             if f.data["item"].get("type") == "message"][:len(CONTEXT)]
    got = [(f.data["item"].get("role"), " ".join(p.get("text", "") for p in f.data["item"].get("content", [])))
           for f in items]
    want = [(m["role"], m["content"]) for m in CONTEXT]
    if got != want:
        fail("MAP-7", f"the first items upstream are {got}, expected the context {want}", timeline, *items)
    for item in items:
        assert_before(timeline, updated, item, "MAP-7", "upstream session.updated")
        assert_before(timeline, item, response, "MAP-7", f"context item {item.item_id}")


@pytest.mark.req("MAP-8")
def test_the_prompt_becomes_instructions_and_functions_become_tools(app, recording):
    prompt = "You are the harness's test agent."
    app.open(**app_params(prompt=prompt, functions=FUNCTIONS))
    connect(app, recording, "MAP-8")
    timeline = recording.timeline()
    update = timeline.first(route=PROXY_TO_UPSTREAM, type="session.update")
    session = update.data.get("session", {}) if update else {}
    tools = [t.get("name") for t in session.get("tools") or []]
    if update is None:
        fail_for_want_of("MAP-8", "the proxy never sent session.update (READY-3's to judge)", timeline)
    instructions = session.get("instructions")
    if not isinstance(instructions, str) or prompt not in instructions:
        fail("MAP-8", f"session.instructions {instructions!r} does not contain the prompt {prompt!r}",
             timeline, update)
    if tools != [f["name"] for f in FUNCTIONS]:
        fail("MAP-8", f"session.tools are {tools}, expected the functions {[f['name'] for f in FUNCTIONS]}",
             timeline, update)
