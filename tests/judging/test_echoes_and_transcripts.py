"""MAP-11 (the proxy's own items not echoed back; a greeting shown once) and MAP-9's interim transcripts."""

from voice_harness.judging import echoes, sessions, transcripts
from synthetic_sessions import (assistant_text, from_client, item, proxy, settings, timeline, to_client, typed,
                                upstream)

CONTEXT = (("user", "My name is Ada."), ("assistant", "Nice to meet you, Ada."))


def context_items(t, confirmed=True):
    out = []
    for n, (role, content) in enumerate(CONTEXT):
        kind = "input_text" if role == "user" else "output_text"
        out.append(proxy(t + n * 0.01, "conversation.item.create", item=item(role, f"c{n}", content, kind)))
        if confirmed:
            out.append(upstream(t + n * 0.01 + 0.005, "conversation.item.added",
                                item={"id": f"c{n}", "type": "message", "role": role}))
    return out


def test_context_echoed_back_when_the_service_confirms_it_breaks_map_11():
    tl = timeline(settings(context=CONTEXT), context_items(0.1),
                  to_client(0.106, "ConversationText", role="user", content="My name is Ada."))
    found = echoes.echoes(tl)
    assert found.provoked
    assert "echoed the context item" in found.violation(tl).reason


def test_context_not_echoed_holds_map_11_and_unconfirmed_context_is_not_its_situation():
    quiet = timeline(settings(context=CONTEXT), context_items(0.1), typed(0.5, "hi", "u1"), assistant_text(0.7))
    assert echoes.echoes(quiet).provoked and echoes.echoes(quiet).violation(quiet) is None
    assert not echoes.echoes(timeline(settings(context=CONTEXT), context_items(0.1, confirmed=False))).provoked


def test_the_greeting_sent_back_as_context_and_shown_once_is_no_echo():
    """Apps send their history back on reconnect, the greeting in it: showing the greeting (MAP-6) is no echo."""
    greeting_context = (("assistant", "Hello!"),)
    tl = timeline(settings(greeting="Hello!", context=greeting_context),
                  proxy(0.1, "conversation.item.create", item=item("assistant", "c0", "Hello!", "output_text")),
                  upstream(0.105, "conversation.item.added", item={"id": "c0", "type": "message", "role": "assistant"}),
                  assistant_text(0.11, "Hello!"))
    assert echoes.echoes(tl).violation(tl) is None


def test_a_greeting_shown_twice_on_one_connection_breaks_map_11_and_once_per_connection_does_not():
    twice = timeline(settings(greeting="Hello!"), assistant_text(0.1, "Hello!"), assistant_text(0.2, "Hello!"))
    assert "greeting was shown again" in echoes.echoes(twice).violation(twice).reason
    reconnect = timeline(settings(greeting="Hello!"), assistant_text(0.1, "Hello!"),
                         settings(1.0, conn=2, greeting="Hello!"), to_client(1.1, "ConversationText", conn=2,
                                                                             role="assistant", content="Hello!"))
    assert echoes.echoes(reconnect).violation(reconnect) is None


def transcription(t, pieces, item_id="s1"):
    out = [upstream(t + n * 0.1, transcripts.DELTA, item_id=item_id, delta=p) for n, p in enumerate(pieces)]
    out.append(upstream(t + len(pieces) * 0.1, transcripts.COMPLETED, item_id=item_id, transcript="".join(pieces)))
    return out


def interim(t, content):
    return to_client(t, "Transcript", content=content, is_final=False)


def verdicts(tl):
    return [i.ok for i in transcripts.interim_transcripts(tl)]


def test_interim_transcripts_carrying_the_transcription_so_far_hold_map_9():
    tl = timeline(settings(), transcription(1.0, ["Hel", "lo ", "world"]), interim(1.01, "Hel"),
                  interim(1.11, "Hello "), interim(1.21, "Hello world"))
    assert verdicts(tl) == [True, True, True]
    # A delta behind the recording (the next delta reached the proxy meanwhile) still holds.
    assert verdicts(timeline(settings(), transcription(1.0, ["Hel", "lo "]), interim(1.12, "Hel"))) == [True]


def test_an_interim_transcript_of_the_latest_delta_only_breaks_map_9():
    tl = timeline(settings(), transcription(1.0, ["Hel", "lo ", "world"]), interim(1.01, "Hel"),
                  interim(1.11, "lo "))
    found = transcripts.interim_transcripts(tl)
    assert [i.ok for i in found] == [True, False]
    assert "only the latest delta" in found[1].reason and "'Hello '" in found[1].reason


def test_upstream_connections_are_paired_with_the_client_connection_they_served():
    # The upstream greets (session.created) before the client's Settings: still the first client's.
    tl = timeline(upstream(0.0, "session.created", conn=1), settings(0.01, conn=1),
                  from_client(1.0, "Settings", conn=2), upstream(1.005, "session.created", conn=2),
                  proxy(1.01, "session.update", conn=2, session={}), from_client(2.0, "Settings", conn=3))
    assert sessions.upstream_connections(tl) == {1: [1], 2: [2], 3: []}
