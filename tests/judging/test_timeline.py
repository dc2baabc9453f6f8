"""Timeline queries are typed: routes name where frames went, and an unknown value is an error, never an
empty match that would make `assert_never` pass."""

import pytest

from voice_harness.judging.timeline import CLIENT_TO_PROXY, PROXY_TO_UPSTREAM, Timeline
from voice_harness.wire.recording import Frame


def frame(t, leg, arrow, type_, conn=1):
    return Frame(t, leg, arrow, "text", type_, conn, 2, {"type": type_})


TIMELINE = Timeline([frame(0.1, "A", "->", "Settings"), frame(0.2, "B", "->", "session.update"),
                     frame(0.3, "B", "->", "session.update", conn=2)], origin=0.0)


def test_a_route_selects_its_leg_and_direction_and_conn_picks_one_connection():
    assert [f.type for f in TIMELINE.select(route=CLIENT_TO_PROXY)] == ["Settings"]
    assert len(TIMELINE.select(route=PROXY_TO_UPSTREAM)) == 2
    assert [f.t for f in TIMELINE.select(route=PROXY_TO_UPSTREAM, conn=2)] == [0.3]


@pytest.mark.parametrize("criteria, named", [({"leg": "C"}, "leg 'C'"), ({"arrow": "=>"}, "arrow '=>'"),
                                             ({"kind": "json"}, "kind 'json'")])
def test_an_unknown_leg_arrow_or_kind_is_an_error_not_an_empty_match(criteria, named):
    with pytest.raises(ValueError, match=named):
        TIMELINE.select(**criteria)


def test_a_route_and_a_leg_together_are_refused():
    with pytest.raises(ValueError, match="a route or a leg and an arrow"):
        TIMELINE.first(route=CLIENT_TO_PROXY, leg="B")


def test_appended_audio_is_the_decoded_audio_of_the_proxys_appends_in_order():
    import base64

    from voice_harness.judging.timeline import appended_audio
    from voice_harness.wire.recording import Frame

    def append(leg, arrow, audio):
        return Frame(0.0, leg, arrow, "text", "input_audio_buffer.append", 1,
                     data={"type": "input_audio_buffer.append", "audio": audio})
    frames = [append("B", "->", base64.b64encode(b"\x01\x02").decode()), append("B", "->", "not base64!"),
              append("A", "->", base64.b64encode(b"\x09\x09").decode()),
              append("B", "->", base64.b64encode(b"\x03\x04").decode())]
    assert appended_audio(frames) == b"\x01\x02\x03\x04"


def binary(t, payload: bytes, leg="B", arrow="->", conn=1):
    return Frame(t, leg, arrow, "binary", None, conn, len(payload), payload)


def test_json_in_a_binary_frame_upstream_is_that_message_and_still_a_binary_frame():
    import json

    from voice_harness.judging.timeline import BinaryMessage

    item = {"type": "conversation.item.create", "item": {"id": "u1", "type": "message", "role": "user"}}
    frames = [binary(0.1, json.dumps({"type": "KeepAlive"}).encode()), binary(0.2, json.dumps(item).encode()),
              binary(0.3, b"\x00\x01\x02\x03")]
    timeline = Timeline(frames, 0.0)
    keepalive = timeline.first(route=PROXY_TO_UPSTREAM, type="KeepAlive")
    assert isinstance(keepalive, BinaryMessage) and keepalive.kind == "binary"
    assert keepalive.data == frames[0].data   # the bytes that went over the wire, for reports and cassettes
    created = timeline.first(route=PROXY_TO_UPSTREAM, role="user")
    assert created.item_id == "u1" and created.message == item and "[binary frame]" in created.label()
    # WIRE-2's selection still names every binary frame, the JSON ones included; audio stays audio.
    assert [f.type for f in timeline.select(route=PROXY_TO_UPSTREAM, kind="binary")] == \
        ["KeepAlive", "conversation.item.create", None]
    assert timeline.select(route=PROXY_TO_UPSTREAM, kind="text") == []
    assert timeline.frames[2].message is None
    # A check reads every message's fields the same way, whatever frame carried it; `data` keeps the wire's bytes.
    text_create = Frame(0.4, "B", "->", "text", "conversation.item.create", 1, 0, item)
    assert text_create.message == created.message == item and isinstance(created.data, bytes)


def test_a_binary_frame_is_read_as_json_only_upstream_and_only_when_it_is_an_object():
    payload = b'{"type": "AgentAudioDone"}'
    timeline = Timeline([binary(0.1, payload, arrow="<-"), binary(0.2, payload, leg="A", arrow="<-"),
                         binary(0.3, b"[1, 2]"), binary(0.4, b'"KeepAlive"'), binary(0.5, b"\xff\xfe{")], 0.0)
    assert [f.type for f in timeline.frames] == [None] * 5


def test_every_timeline_of_a_test_holds_the_same_message_object_for_one_frame():
    recorded = [binary(0.1, b'{"type": "KeepAlive"}'), frame(0.2, "B", "->", "session.update")]
    first, later = Timeline(recorded, 0.0), Timeline(list(recorded), 0.0)
    assert first.frames[0] is later.frames[0] and later.frames[1] is recorded[1]
    assert later.select(after=first.frames[0]) == [recorded[1]]   # `after=` a frame of an earlier timeline


def test_appended_audio_counts_an_append_sent_as_a_binary_frame():
    import base64
    import json

    from voice_harness.judging.timeline import appended_audio

    event = {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\x05\x06").decode()}
    assert appended_audio([binary(0.1, json.dumps(event).encode())]) == b"\x05\x06"
