"""Translation between the two protocols: user turns (MAP-1, MAP-2), assistant text (MAP-3), greeting (MAP-6),
context (MAP-7), prompt and functions (MAP-8), and no echo of the items the proxy made itself (MAP-11)."""

import re

import pytest

from voice_harness.judging import app_settings, echoes
from voice_harness.judging.checks import fail_on, assert_before, fail, not_exercised, provoked
from voice_harness.timeouts import units
from .flows import (app_params, browser_turn, connect, fail_for_want_of, open_and_connect, send_and_wait_for_reply,
                    send_until_response_create, user_creates)
from .test_function_calls import FUNCTIONS
from voice_harness.judging.timeline import CLIENT_TO_PROXY, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, UPSTREAM_TO_PROXY

LONG_MESSAGE = "Please tell me, in one short sentence, what the weather will be like tomorrow morning."


@pytest.mark.req("MAP-1")
def test_a_user_message_becomes_one_input_text_part_with_the_same_text(app, recording):
    timeline = send_until_response_create(app, recording, LONG_MESSAGE)
    sent = timeline.first(route=CLIENT_TO_PROXY, type="InjectUserMessage")
    if sent is None:
        fail_for_want_of("the app sent no InjectUserMessage (the app's matter)", timeline)
    create = user_item_for(timeline, sent)
    if create is None:
        fail("no user item went upstream after the app's InjectUserMessage", timeline, sent)
    item = create.message["item"]
    # The text the app sent on leg A, not the one the harness typed.
    want = [{"type": "input_text", "text": sent.message.get("content")}]
    if item.get("type") != "message" or item.get("content") != want:
        fail(f"user item is {item.get('type')} with content {item.get('content')}, expected {want}",
             timeline, sent, create)


def user_item_for(timeline, inject):
    """The user item the proxy made upstream for this InjectUserMessage: the first user conversation.item.create
    after it that is not one of the user context messages the app sent (those items are MAP-7's, whenever the
    proxy sends them); None if there is none."""
    text = inject.message.get("content") if isinstance(inject.message, dict) else None
    own = ("user", _normalised(text)) if isinstance(text, str) else None
    context = {("user", _normalised(content)) for settings in app_settings.all_sent(timeline)
               for role, content in settings.context if role == "user"}
    return next((f for f in user_creates(timeline) if f.t > inject.t
                 and (_item_message(f) == own or _item_message(f) not in context)), None)


@pytest.mark.req("MAP-2")
def test_the_user_turn_is_echoed_as_conversation_text(app, recording):
    send_until_response_create(app, recording, LONG_MESSAGE)
    # The echo needs no reply: wait for it, or for the reply that would follow it.
    recording.wait_for(lambda tl: tl.first(route=PROXY_TO_CLIENT, type="ConversationText"), units(10))
    timeline = recording.timeline()
    sent = timeline.first(route=CLIENT_TO_PROXY, type="InjectUserMessage")
    echo = timeline.first(route=PROXY_TO_CLIENT, type="ConversationText", role="user", after=sent)
    if echo is None or echo.message.get("content") != LONG_MESSAGE:
        fail(f"no ConversationText user echo with the same text (got {echo.message if echo else 'none'})",
             timeline, sent, echo)


@pytest.mark.req("MAP-3")
@pytest.mark.scenario(reply_parts=2)
def test_assistant_text_reaches_the_client_once_per_assistant_item(app, recording):
    browser_turn(app, recording, "First question?")
    send_and_wait_for_reply(app, "Second question?", units(10), recording)
    # Two complete turns: whatever the proxy made of the first one has been relayed by now.
    timeline = recording.timeline()
    sent = timeline.first(route=CLIENT_TO_PROXY, type="InjectUserMessage")
    # The assistant items of responses (not the context items the proxy made itself: echoing those is MAP-11's).
    items = response_items(timeline)
    # One ConversationText per item, holding the text of all its parts (the mock sends two parts per item).
    expected = [[part.get("text") or part.get("transcript") or "" for part in item["content"]] for item in items]
    # The app's own greeting and context shown or echoed back are not replies (MAP-6's and MAP-11's matter).
    own = {_normalised(text) for text in app_settings.not_replies(timeline)}
    shown = [f.message.get("content") for f in timeline.select(route=PROXY_TO_CLIENT, type="ConversationText",
                                                            role="assistant", after=sent)
             if not (isinstance(f.message.get("content"), str) and _normalised(f.message["content"]) in own)]
    if not shows_each_item_once(shown, expected):
        fail(f"assistant ConversationText {shown}, expected one per assistant item, with the text of its "
             f"parts {expected}", timeline,
             *timeline.select(route=PROXY_TO_CLIENT, type="ConversationText", role="assistant")[:3])


def response_items(timeline) -> list[dict]:
    """The assistant items the upstream's responses produced (named by response.output_item.* or in a
    response.done's output), as the upstream completed them (conversation.item.done), in order."""
    ids = {f.message["item"].get("id") for f in timeline.select(
        route=UPSTREAM_TO_PROXY, type=("response.output_item.added", "response.output_item.done"))
        if isinstance(f.message.get("item"), dict)}
    for done in timeline.select(route=UPSTREAM_TO_PROXY, type="response.done"):
        output = (done.message.get("response") or {}).get("output")
        ids |= {item.get("id") for item in (output if isinstance(output, list) else []) if isinstance(item, dict)}
    return [f.message["item"] for f in timeline.select(route=UPSTREAM_TO_PROXY, type="conversation.item.done",
                                                   role="assistant") if f.message["item"].get("id") in ids - {None}]


_JOIN = object()


def item_text_pattern(parts: list[str]) -> re.Pattern:
    """What a ConversationText for an item of these content parts may be (MAP-3 as the catalogue reads: the text
    taken from the item, once): every part's words in order, each once. Whitespace is the proxy's choice: any run
    of it where the parts have one, any or none where two parts meet (trimmed, joined with a space or a newline),
    none required at either end. A word break inside the parts stays a break; a part missing or repeated fails."""
    tokens: list = []
    for index, part in enumerate(parts):
        if index:
            tokens.append(_JOIN)
        tokens += re.findall(r"\s+|\S+", part)
    while tokens and (tokens[0] is _JOIN or tokens[0].isspace()):
        tokens.pop(0)
    while tokens and (tokens[-1] is _JOIN or tokens[-1].isspace()):
        tokens.pop()
    body = "".join(r"\s*" if t is _JOIN else r"\s+" if t.isspace() else re.escape(t) for t in tokens)
    return re.compile(r"\s*" + body + r"\s*")


def shows_each_item_once(shown: list, items_parts: list[list[str]]) -> bool:
    """One ConversationText per assistant item, in order, each the text of that item's parts."""
    return len(shown) == len(items_parts) and all(
        isinstance(text, str) and item_text_pattern(parts).fullmatch(text) is not None
        for text, parts in zip(shown, items_parts))


def settings_sent(timeline):
    """The Settings the app sent on leg A: what the proxy is held to (not the URL parameters the harness gave)."""
    settings = app_settings.sent(timeline)
    if settings is None:
        fail_for_want_of("the app sent no Settings", timeline)
    return settings


@pytest.mark.req("MAP-6")
def test_the_greeting_is_shown_after_settings_applied_and_never_sent_upstream(app, recording):
    timeline = browser_turn(app, recording, "Hello.", greeting="Welcome! Ask me anything.")
    settings = settings_sent(timeline)
    if settings.greeting is None:
        not_exercised("greeting", "the app sent no greeting in its Settings", timeline, settings.frame)
    judge_map_6(timeline, settings)


def judge_map_6(timeline, settings) -> None:
    """The greeting the app sent is the first assistant ConversationText of its connection, after
    SettingsApplied, and never goes upstream as an assistant item."""
    greeting = settings.greeting.strip()
    applied = timeline.first(route=PROXY_TO_CLIENT, type="SettingsApplied", conn=settings.conn)
    shown = timeline.first(route=PROXY_TO_CLIENT, type="ConversationText", role="assistant", conn=settings.conn)
    if shown is None or str(shown.message.get("content", "")).strip() != greeting:
        fail(f"the greeting the app sent ({greeting!r}) was not the first assistant ConversationText "
             f"(got {shown.message.get('content') if shown else None!r})", timeline, settings.frame, shown)
    assert_before(timeline, applied, shown, "SettingsApplied")
    upstream = [f for f in timeline.select(route=PROXY_TO_UPSTREAM, type="conversation.item.create", role="assistant")
                if greeting in str(f.message)]
    if upstream:
        fail("the greeting was sent upstream as an assistant item", timeline, upstream[0])


CONTEXT = [{"role": "user", "content": "My name is Ada."},
           {"role": "assistant", "content": "Nice to meet you, Ada."}]


@pytest.mark.req("MAP-7")
def test_context_messages_become_items_in_order_before_any_response(app, recording):
    open_and_connect(app, recording, context=CONTEXT)
    settings = settings_sent(recording.timeline())
    if not settings.context:
        not_exercised("context", "the app sent no context", recording.timeline(), settings.frame)
    # The message goes once the context items went upstream (or after a bound, for a proxy that sends them
    # with the first turn): so whether the user's item or its response.create could slip between context
    # items (on a proxy that waits for each context item's confirmation) is not left to a race.
    recording.wait_for(lambda tl: len(context_items(tl, settings.context)) >= len(settings.context), units(3))
    outcome = send_and_wait_for_reply(app, "What is my name?", units(10), recording)
    if outcome.reply is None:
        fail_for_want_of("no agent reply, so the requirement could not be checked"
                         + (f" ({outcome.gave_up})" if outcome.gave_up else ""), recording.timeline())
    judge_map_7(recording.timeline(), settings)


def _normalised(text: str) -> str:
    return " ".join(text.split())


def context_items(timeline, context) -> list:
    """The message items the proxy created upstream whose role and text are one of the context messages (the
    text of all the item's parts; whitespace and part joins are the proxy's choice)."""
    wanted = {(role, _normalised(content)) for role, content in context}
    return [f for f in timeline.select(route=PROXY_TO_UPSTREAM, type="conversation.item.create")
            if _item_message(f) in wanted]


def _item_message(frame) -> tuple:
    item = frame.message.get("item") if isinstance(frame.message, dict) else None
    if not isinstance(item, dict) or item.get("type", "message") != "message":
        return ()
    parts = item.get("content") if isinstance(item.get("content"), list) else []
    return item.get("role"), _normalised(" ".join(str(p.get("text", "")) for p in parts if isinstance(p, dict)))


def judge_map_7(timeline, settings) -> None:
    """The context messages the app sent became one conversation.item.create each, in order, after session.updated
    and before any response.create (other items between them are not MAP-7's matter)."""
    updated = timeline.first(route=UPSTREAM_TO_PROXY, type="session.updated")
    response = timeline.first(route=PROXY_TO_UPSTREAM, type="response.create")
    items = context_items(timeline, settings.context)
    got = [_item_message(f) for f in items]
    want = [(role, _normalised(content)) for role, content in settings.context]
    if got != want:
        fail(f"the context items upstream are {got}, expected one per context message the app sent, in "
             f"order: {want}", timeline, settings.frame, *items[:3])
    for item in items:
        assert_before(timeline, updated, item, "upstream session.updated")
        assert_before(timeline, item, response, f"context item {item.item_id}")


@pytest.mark.req("MAP-8")
def test_the_prompt_becomes_the_instructions(app, recording):
    open_and_connect(app, recording, prompt="You are the harness's test agent.")
    timeline = recording.timeline()
    settings = settings_sent(timeline)
    if settings.prompt is None:
        not_exercised("prompt", "the app sent no prompt (agent.think.prompt)", timeline, settings.frame)
    judge_map_8_prompt(timeline, settings)


def judge_map_8_prompt(timeline, settings) -> None:
    """session.instructions contains the prompt the app sent, verbatim (the proxy may add to it)."""
    update = session_update(timeline)
    instructions = update.message["session"].get("instructions")
    if not isinstance(instructions, str) or settings.prompt not in instructions:
        fail(f"session.instructions {instructions!r} does not contain the prompt the app sent "
             f"{settings.prompt!r}", timeline, settings.frame, update)


@pytest.mark.req("MAP-8")
def test_the_functions_become_tools(app, recording):
    open_and_connect(app, recording, functions=FUNCTIONS)
    timeline = recording.timeline()
    settings = settings_sent(timeline)
    if not settings.functions:
        not_exercised("functions", "the app sent no functions (agent.think.functions)", timeline,
                      settings.frame)
    judge_map_8_tools(timeline, settings)


def judge_map_8_tools(timeline, settings) -> None:
    """session.tools are the functions the app sent, by name, in order."""
    update = session_update(timeline)
    tools = [t.get("name") for t in update.message["session"].get("tools") or [] if isinstance(t, dict)]
    if tools != settings.function_names:
        fail(f"session.tools are {tools}, expected the functions the app sent {settings.function_names}",
             timeline, settings.frame, update)


def session_update(timeline):
    update = timeline.first(route=PROXY_TO_UPSTREAM, type="session.update")
    if update is None or not isinstance(update.message.get("session"), dict):
        fail_for_want_of("the proxy sent no session.update with a session (READY-3's to judge)", timeline)
    return update


# ------------------------------------------------------------------------------------------------ MAP-11


def judge_map_11(timeline) -> None:
    """MAP-11 on the context the app sent (judging/echoes.py): provoked once the proxy made context items and the
    service confirmed them; no ConversationText echoing one, no greeting shown twice on a connection."""
    found = echoes.echoes(timeline)
    provoked(found.provoked, "context items the proxy made, confirmed by the service", timeline)
    fail_on(found.violation(timeline), timeline)


@pytest.mark.req("MAP-11")
def test_context_items_the_proxy_made_are_not_echoed_back(make_wire_client, recording):
    """Context of both roles; a typed turn afterwards, whose reply comes after the service confirmed the context
    items (so any echo of them has reached the client by then)."""
    client = make_wire_client()
    if client.configure(context={"messages": CONTEXT}) is None:
        fail_for_want_of("no SettingsApplied (READY-1's to judge)", recording.timeline())
    client.send({"type": "InjectUserMessage", "content": "What is my name?"})
    if recording.first(units(10), route=PROXY_TO_CLIENT, type="ConversationText", role="assistant",
                       while_live=True) is None:
        fail_for_want_of("no reply to the typed turn", recording.timeline())
    judge_map_11(recording.timeline())


@pytest.mark.req("MAP-11")
def test_the_history_sent_back_on_reconnect_is_not_shown_twice(app, recording):
    """A conversation, a disconnect, and a reconnect on which the app sends that conversation back as context (as
    real apps do from their storage): the proxy makes it items upstream and must not show it again. Judged on the
    context the app actually sent on the second connection, once that connection's typed turn was answered."""
    open_and_connect(app, recording)
    if send_and_wait_for_reply(app, "My favourite colour is teal.", units(10), recording).reply is None:
        fail_for_want_of("the first connection got no reply (CANARY-1's)", recording.timeline())
    context = [{"role": role, "content": text} for role, text in app.history()]
    app.disconnect()
    if recording.first(units(5), route=CLIENT_TO_PROXY, kind="close") is None:
        fail_for_want_of("the app did not close its first connection (the app's disconnect)",
                         recording.timeline())
    app.reopen(**app_params(context=context))
    connect(app, recording)
    timeline = recording.timeline()
    second = timeline.select(route=CLIENT_TO_PROXY, type="Settings")[-1]
    if not app_settings.parse(second).context:
        not_exercised("context", "the app sent no context on reconnect", timeline, second)
    outcome = send_and_wait_for_reply(app, "What is my favourite colour?", units(10), recording)
    if outcome.reply is None:
        fail_for_want_of("no reply on the second connection (LIFE-3's)", recording.timeline())
    judge_map_11(recording.timeline())
