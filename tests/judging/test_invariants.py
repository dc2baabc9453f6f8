"""The invariants, judged on hand-built timelines: pure, no sockets."""

import base64
import json

from voice_harness.judging import catalogue, invariants
from voice_harness.judging.timeline import Timeline
from voice_harness.wire.recording import Frame


def text(t, leg, arrow, data, conn=1, note=None):
    return Frame(t, leg, arrow, "text", data.get("type"), conn, len(json.dumps(data)), data, dict(note or {}))


def user_item(t, item_id, content="hi", conn=1):
    return text(t, "B", "->", {"type": "conversation.item.create", "item": {
        "id": item_id, "type": "message", "role": "user", "content": [{"type": "input_text", "text": content}]}},
        conn)


def confirmed(t, item_id, role="user", event="conversation.item.added", conn=1):
    return text(t, "B", "<-", {"type": event, "item": {"id": item_id, "type": "message", "role": role}}, conn)


def create(t, conn=1, note=None):
    return text(t, "B", "->", {"type": "response.create"}, conn, note)


def update(t=0.0, conn=1):
    return text(t, "B", "->", {"type": "session.update", "session": {}}, conn)


def ids(frames):
    return [v.req for v in invariants.check(Timeline(frames, 0.0))]


def test_every_invariant_id_of_the_catalogue_has_a_check():
    assert set(invariants.CHECKS) == set(catalogue.invariants())


def test_a_response_create_after_the_user_items_confirmation_holds_ord_1():
    assert ids([update(), user_item(0.1, "u1"),
                confirmed(0.2, "u1"), create(0.3)]) == []


def test_a_response_create_released_by_another_items_confirmation_breaks_ord_1_and_names_it():
    frames = [update(), user_item(0.1, "u1"),
              confirmed(0.15, "a1", role="assistant"), create(0.16), confirmed(0.6, "u1")]
    found = invariants.check(Timeline(frames, 0.0))
    assert [v.req for v in found] == ["ORD-1"]
    assert "u1" in found[0].reason and "another item" in found[0].reason


def test_two_messages_need_both_confirmations_before_the_response():
    frames = [update(), user_item(0.1, "u1", "one"), user_item(0.12, "u2", "two"), confirmed(0.2, "u1"), create(0.21),
              confirmed(0.4, "u2")]
    assert ids(frames) == ["ORD-1"]


def test_ord_1_counts_only_the_items_made_from_the_clients_messages_when_leg_a_is_recorded():
    inject = text(0.05, "A", "->", {"type": "InjectUserMessage", "content": "question"})
    context = user_item(0.1, "c1", "an earlier user turn given as context")
    frames = [inject, update(), context, user_item(0.11, "u1", "question"), confirmed(0.2, "u1"), create(0.21)]
    assert ids(frames) == []


def test_a_response_create_while_a_response_is_active_breaks_ord_4():
    frames = [update(), text(0.1, "B", "<-", {"type": "response.created", "response": {"id": "r1"}}), create(0.2)]
    assert ids(frames) == ["ORD-4"]
    rejected = [update(), create(0.2, note={"rejected": "conversation_already_has_active_response"})]
    assert ids(rejected) == ["ORD-4"]
    done = [update(), text(0.1, "B", "<-", {"type": "response.created", "response": {"id": "r1"}}),
            text(0.15, "B", "<-", {"type": "response.done", "response": {"id": "r1"}}), create(0.2)]
    assert ids(done) == []


def test_an_injected_active_response_error_alone_is_not_the_proxys_ord_4():
    error = {"type": "error", "error": {"code": "conversation_already_has_active_response"}}
    assert ids([text(0.1, "B", "<-", error)]) == []


def test_ready_3_is_judged_per_upstream_connection():
    frames = [text(0.0, "B", "->", {"type": "session.update", "session": {}}, conn=1),
              user_item(0.1, "u1", conn=2)]
    assert ids(frames) == ["READY-3"]


def test_a_json_message_sent_as_a_binary_frame_breaks_wire_1_and_upstream_audio_does_not():
    audio = bytes(range(200))
    delta = text(0.1, "B", "<-", {"type": "response.output_audio.delta",
                                  "delta": base64.b64encode(audio).decode()})
    assert ids([delta, Frame(0.2, "A", "<-", "binary", None, 1, 100, audio[50:150])]) == []
    as_binary = json.dumps({"type": "SettingsApplied"}).encode()
    assert ids([Frame(0.2, "A", "<-", "binary", None, 1, len(as_binary), as_binary)]) == ["WIRE-1"]
    assert ids([delta, Frame(0.2, "A", "<-", "binary", None, 1, 3, b"\x01\x02\xff")]) == ["WIRE-1"]


def test_an_invalid_upstream_event_breaks_wire_3_but_a_forwarded_keepalive_is_only_cli_1():
    invalid = text(0.1, "B", "->", {"type": "response.create", "bogus": 1}, note={"problems": ["bogus: extra"]})
    assert ids([update(), invalid]) == ["WIRE-3"]
    keepalive = [text(0.05, "A", "->", {"type": "KeepAlive"}), update(),
                 text(0.1, "B", "->", {"type": "KeepAlive"}, note={"problems": ["unknown type"]})]
    assert ids(keepalive) == ["CLI-1"]


def test_a_raw_upstream_event_forwarded_to_the_client_breaks_map_10():
    assert ids([text(0.1, "A", "<-", {"type": "response.output_text.delta", "delta": "x"})]) == ["MAP-10"]
    assert ids([text(0.1, "A", "<-", {"type": "ConversationText", "role": "assistant", "content": "x"})]) == []


def test_a_premature_response_create_that_also_meets_an_active_response_counts_once_under_ord_1():
    frames = [update(), text(0.1, "B", "<-", {"type": "response.created", "response": {"id": "r_vad"}}),
              user_item(0.12, "u1"), confirmed(0.15, "vad1"),
              create(0.16, note={"rejected": "conversation_already_has_active_response"}), confirmed(0.5, "u1")]
    assert ids(frames) == ["ORD-1"]


def test_a_keepalive_passed_through_before_settings_is_cli_1s_not_ready_3s():
    frames = [text(0.0, "A", "->", {"type": "KeepAlive"}), text(0.01, "B", "->", {"type": "KeepAlive"}), update(0.02)]
    assert ids(frames) == ["CLI-1"]


def test_a_response_create_before_a_function_outputs_completion_is_ord_3s_not_ord_4s():
    output = text(0.1, "B", "->", {"type": "conversation.item.create", "item": {
        "id": "o1", "type": "function_call_output", "call_id": "c1", "output": "{}"}})
    frames = [update(), text(0.05, "B", "<-", {"type": "response.created", "response": {"id": "r1"}}), output,
              create(0.11, note={"rejected": "conversation_already_has_active_response"})]
    assert ids(frames) == []
    completed = [update(), output, text(0.2, "B", "<-", {"type": "response.created", "response": {"id": "r2"}}),
                 text(0.3, "B", "<-", {"type": "conversation.item.done", "item": {"id": "o1"}}), create(0.31)]
    assert ids(completed) == ["ORD-4"]


def binary(t, data, conn=1):
    payload = json.dumps(data).encode()
    return Frame(t, "B", "->", "binary", None, conn, len(payload), payload)


def test_a_keepalive_sent_upstream_as_a_binary_frame_is_cli_1s_and_not_ready_3s():
    found = invariants.check(Timeline([text(0.0, "A", "->", {"type": "KeepAlive"}), binary(0.01, {"type": "KeepAlive"}),
                                       update(0.02)], 0.0))
    assert [v.req for v in found] == ["CLI-1"]
    assert "as a binary frame" in found[0].reason


def test_an_unknown_client_message_forwarded_as_a_binary_frame_is_not_ready_3s():
    frames = [text(0.0, "A", "->", {"type": "NoSuchMessageType"}), binary(0.01, {"type": "NoSuchMessageType"}),
              update(0.02)]
    assert ids(frames) == []


def test_a_user_item_sent_as_a_binary_frame_still_counts_for_ord_1():
    item = {"type": "conversation.item.create", "item": {
        "id": "u1", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}}
    frames = [text(0.0, "A", "->", {"type": "InjectUserMessage", "content": "hi"}), update(0.01),
              binary(0.1, item), create(0.2), confirmed(0.3, "u1")]
    assert ids(frames) == ["ORD-1"]


def test_events_sent_as_binary_frames_are_judged_by_ready_3_and_wire_3_as_any_event():
    # The framing is WIRE-2's: a valid session.update first, in a binary frame, breaks neither.
    assert ids([binary(0.0, {"type": "session.update", "session": {"type": "realtime"}}),
                binary(0.1, {"type": "response.create"})]) == []
    # What the JSON says is still judged: another event first (READY-3), an invalid event (WIRE-3).
    invalid = {"type": "session.update", "session": {"type": "realtime", "bogus": 1}}
    found = invariants.check(Timeline([binary(0.0, {"type": "response.create"}), binary(0.1, invalid)], 0.0))
    assert [v.req for v in found] == ["READY-3", "WIRE-3"]
    assert "bogus" in found[1].reason and "[binary frame]" in found[1].reason
    # Raw bytes are no event: WIRE-2's alone.
    raw = Frame(0.0, "B", "->", "binary", None, 1, 4, b"\x00\x01\x02\x03")
    assert ids([raw, update(0.1)]) == []
