"""The reference proxy's session logic, without sockets."""

import itertools
import json

import pytest

from reference_proxy.defects import DEFECTS, session_class
from reference_proxy.session import CloseClient, CloseUpstream, Session, ToClient, ToUpstream

SETTINGS = json.dumps({"type": "Settings", "agent": {"think": {"prompt": "be brief"}, "greeting": "Hi there"}})


def make_session(cls=Session):
    ids = itertools.count(1)
    return cls(new_id=lambda: f"msg_{next(ids)}")


def upstream(actions):
    return [a.event for a in actions if isinstance(a, ToUpstream)]


def client(actions):
    return [a.message for a in actions if isinstance(a, ToClient)]


def event(type_, **fields):
    return json.dumps({"type": type_, **fields})


def ready_session(cls=Session):
    session = make_session(cls)
    session.on_client_text(SETTINGS)
    session.on_upstream_text(event("session.updated", session={}))
    return session


def test_settings_becomes_one_session_update_with_the_prompt_as_instructions():
    actions = make_session().on_client_text(SETTINGS)
    assert upstream(actions) == [{"type": "session.update", "session": {"type": "realtime", "instructions": "be brief"}}]
    assert client(actions) == []


def test_settings_applied_waits_for_session_updated_not_session_created():
    session = make_session()
    session.on_client_text(SETTINGS)
    assert client(session.on_upstream_text(event("session.created", session={}))) == []
    assert client(session.on_upstream_text(event("session.updated", session={})))[0] == {"type": "SettingsApplied"}


def test_greeting_is_shown_after_settings_applied_and_not_sent_upstream():
    session = make_session()
    session.on_client_text(SETTINGS)
    actions = session.on_upstream_text(event("session.updated", session={}))
    assert client(actions) == [{"type": "SettingsApplied"},
                               {"type": "ConversationText", "role": "assistant", "content": "Hi there"}]
    assert upstream(actions) == []


def test_repeated_settings_is_acknowledged_without_a_second_session_update():
    session = ready_session()
    actions = session.on_client_text(SETTINGS)
    assert upstream(actions) == [] and client(actions) == [{"type": "SettingsApplied"}]


def test_inject_becomes_a_user_item_and_a_user_echo_but_no_response_yet():
    actions = ready_session().on_client_text(event("InjectUserMessage", content="hello"))
    assert upstream(actions) == [{"type": "conversation.item.create", "item": {
        "id": "msg_1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}}]
    assert client(actions) == [{"type": "ConversationText", "role": "user", "content": "hello"}]


def test_response_create_follows_the_confirmation_of_that_user_item_only():
    session = ready_session()
    session.on_client_text(event("InjectUserMessage", content="hello"))
    assert upstream(session.on_upstream_text(event("conversation.item.added", item={"id": "other"}))) == []
    assert upstream(session.on_upstream_text(event("conversation.item.added", item={"id": "msg_1"}))) == [
        {"type": "response.create"}]
    assert upstream(session.on_upstream_text(event("conversation.item.done", item={"id": "msg_1"}))) == []


def test_inject_before_session_updated_is_queued_and_sent_in_order_after_it():
    session = make_session()
    session.on_client_text(SETTINGS)
    assert session.on_client_text(event("InjectUserMessage", content="one")) == []
    session.on_client_text(event("InjectUserMessage", content="two"))
    actions = session.on_upstream_text(event("session.updated", session={}))
    texts = [e["item"]["content"][0]["text"] for e in upstream(actions)]
    assert texts == ["one", "two"]


def test_two_messages_in_flight_get_one_response_once_both_are_confirmed():
    session = ready_session()
    session.on_client_text(event("InjectUserMessage", content="one"))
    session.on_client_text(event("InjectUserMessage", content="two"))
    assert upstream(session.on_upstream_text(event("conversation.item.added", item={"id": "msg_1"}))) == []
    assert upstream(session.on_upstream_text(event("conversation.item.added", item={"id": "msg_2"}))) == [
        {"type": "response.create"}]


def test_a_confirmation_during_an_active_response_waits_for_response_done():
    session = ready_session()
    session.on_client_text(event("InjectUserMessage", content="one"))
    assert upstream(session.on_upstream_text(event("conversation.item.added", item={"id": "msg_1"}))) != []
    session.on_client_text(event("InjectUserMessage", content="two"))
    assert upstream(session.on_upstream_text(event("conversation.item.added", item={"id": "msg_2"}))) == []
    done = session.on_upstream_text(event("response.done", response={"output": []}))
    assert upstream(done) == [{"type": "response.create"}]


def test_assistant_text_is_shown_once_per_item():
    session = ready_session()
    item = {"id": "a1", "role": "assistant", "content": [{"type": "output_text", "text": "Hi!"}]}
    first = session.on_upstream_text(event("conversation.item.done", item=item))
    again = session.on_upstream_text(event("response.done", response={"output": [item]}))
    assert client(first) == [{"type": "ConversationText", "role": "assistant", "content": "Hi!"}]
    assert client(again) == []


def test_upstream_error_reaches_the_client_with_its_code():
    actions = ready_session().on_upstream_text(event("error", error={"type": "invalid_request_error",
                                                                     "code": "idle_timeout", "message": "idle"}))
    assert client(actions) == [{"type": "Error", "code": "idle_timeout", "description": "idle"}]


def test_upstream_close_closes_the_client_and_client_close_closes_upstream():
    assert [a for a in ready_session().on_upstream_closed(1000, "") if isinstance(a, CloseClient)] == [
        CloseClient(1000, "upstream closed (1000)")]
    assert ready_session().on_client_closed() == [CloseUpstream(1000, "client closed")]


def test_keepalive_is_not_forwarded_and_unknown_types_get_an_error():
    session = ready_session()
    assert session.on_client_text(event("KeepAlive")) == []
    assert client(session.on_client_text(event("Bogus")))[0]["code"] == "disallowed_client_message_type"


def test_defect_premature_response_create_sends_it_with_the_item():
    actions = ready_session(session_class("premature-response-create")).on_client_text(
        event("InjectUserMessage", content="hello"))
    assert [e["type"] for e in upstream(actions)] == ["conversation.item.create", "response.create"]


@pytest.mark.parametrize("created_first", [True, False])
def test_defect_settings_applied_on_created_acknowledges_early(created_first):
    session = make_session(session_class("settings-applied-on-created"))
    if created_first:
        session.on_upstream_text(event("session.created", session={}))
        actions = session.on_client_text(SETTINGS)
    else:
        session.on_client_text(SETTINGS)
        actions = session.on_upstream_text(event("session.created", session={}))
    assert {"type": "SettingsApplied"} in client(actions)


