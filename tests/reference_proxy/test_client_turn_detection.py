"""The client-turn-detection variant (the proxy owns turn detection) and the defects built on it, without
sockets: end of speech by energy or by a timer, the 100 ms rule (ORD-5), server VAD off (AUD-1), the committed
turn answered after its confirmation and never during a reply (ORD-1, TURN-1)."""

import json
from array import array

import pytest

from voice_harness.mock_upstream import vad
from voice_harness.wire.validation import client_event_problems
from voice_harness.reference_proxy import speech
from voice_harness.reference_proxy.client_turns import ClientTurnDetection
from voice_harness.reference_proxy.defects import DEFECTS, session_class
from voice_harness.reference_proxy.session import Log, StartTimer, ToUpstream

SETTINGS = json.dumps({"type": "Settings", "agent": {"think": {"prompt": "be brief"}}})
WINDOW = speech.WINDOW_BYTES          # 20 ms at 24 kHz


def loud(ms: int) -> bytes:
    return array("h", [3000, -3000] * (ms * 12)).tobytes()


def quiet(ms: int) -> bytes:
    return bytes(ms * 48)


def event(type_, **fields):
    return json.dumps({"type": type_, **fields})


def upstream_types(actions):
    return [a.event["type"] for a in actions if isinstance(a, ToUpstream)]


def commits(actions):
    return upstream_types(actions).count("input_audio_buffer.commit")


def ready(cls=ClientTurnDetection):
    session = cls()
    session.on_client_text(SETTINGS)
    session.on_upstream_text(event("session.updated", session={}))
    return session


def stream(session, pcm: bytes, frame_ms: int = 20):
    """The client's audio in frames of frame_ms: every action, in order."""
    size = frame_ms * 48
    return [a for i in range(0, len(pcm), size) for a in session.on_client_binary(pcm[i:i + size])]


def last_timer(actions):
    return [a for a in actions if isinstance(a, StartTimer)][-1]


def confirm_commit(session, item_id="item_1"):
    """The service's answer to a commit: committed, then the user item; the actions of the confirmation."""
    session.on_upstream_text(event("input_audio_buffer.committed", item_id=item_id))
    return session.on_upstream_text(event("conversation.item.added", item={
        "id": item_id, "type": "message", "role": "user", "content": [{"type": "input_audio"}]}))


# ------------------------------------------------------------------ the end-of-speech detector

def test_the_detector_uses_the_mocks_measure_and_threshold():
    assert speech.THRESHOLD == vad.THRESHOLD and speech.WINDOW_MS == vad.WINDOW_MS
    assert speech.rms(loud(20)) == pytest.approx(vad.rms(loud(20)))


def test_speech_then_500_ms_of_silence_ends_an_utterance_in_frames_of_any_length():
    detector = speech.EndOfSpeech()
    audio = loud(300) + quiet(480)
    cut = [0, 7, 1001, 5000, len(audio)]      # frames that split windows and samples
    assert not any(detector.feed(audio[a:b]) for a, b in zip(cut, cut[1:]))
    assert detector.heard
    assert detector.feed(quiet(20))
    detector.reset()
    assert not detector.heard and not detector.feed(quiet(1000))


def test_silence_alone_and_speech_with_short_pauses_end_nothing():
    detector = speech.EndOfSpeech()
    assert not detector.feed(quiet(2000)) and not detector.heard
    assert not detector.feed(loud(200) + quiet(400) + loud(200) + quiet(400))


# ------------------------------------------------------------------ the variant

def test_the_variant_turns_server_vad_off_in_a_valid_session_update():
    update = ClientTurnDetection().on_client_text(SETTINGS)[0].event
    assert update["session"]["audio"]["input"]["turn_detection"] is None
    assert client_event_problems(update) == []


def test_an_utterance_is_committed_when_500_ms_of_silence_follow_it_and_answered_after_its_confirmation():
    session = ready()
    assert commits(stream(session, loud(400) + quiet(480))) == 0
    assert commits(stream(session, quiet(20))) == 1
    assert commits(stream(session, quiet(600))) == 0            # the same silence is no second turn
    assert upstream_types(session.on_upstream_text(event("input_audio_buffer.committed", item_id="item_1"))) == []
    assert upstream_types(session.on_upstream_text(event("conversation.item.added", item={"id": "other"}))) == []
    assert upstream_types(confirm_commit(session)) == ["response.create"]


def test_when_the_audio_stops_only_the_last_frames_timer_commits():
    session = ready()
    timers = [last_timer(session.on_client_binary(loud(40))) for _ in range(4)]   # 160 ms of speech, then nothing
    assert {t.seconds for t in timers} == {0.5}
    assert [commits(session.on_timer(t.key)) for t in timers] == [0, 0, 0, 1]
    assert commits(session.on_timer(timers[-1].key)) == 0


def test_less_than_100_ms_since_the_last_commit_is_never_committed():
    session = ready()
    timer = last_timer(stream(session, loud(80)))
    assert commits(session.on_timer(timer.key)) == 0
    timer = last_timer(stream(session, loud(20)))               # 100 ms now
    assert commits(session.on_timer(timer.key)) == 1


def test_the_services_own_commit_restarts_the_count():
    session = ready()
    stream(session, loud(200))
    session.on_upstream_text(event("input_audio_buffer.committed", item_id="item_vad"))
    timer = last_timer(stream(session, loud(60)))
    assert commits(session.on_timer(timer.key)) == 0


def test_silence_alone_is_never_committed():
    session = ready()
    timer = last_timer(stream(session, quiet(1000)))
    assert commits(session.on_timer(timer.key)) == 0


def test_an_utterance_that_ends_during_a_reply_is_committed_and_answered_after_the_reply():
    session = ready()
    session.on_upstream_text(event("response.created", response={"id": "r1"}))
    assert commits(stream(session, loud(300) + quiet(500))) == 1
    assert upstream_types(confirm_commit(session)) == []
    done = session.on_upstream_text(event("response.done", response={"id": "r1", "output": []}))
    assert upstream_types(done) == ["response.create"]


def test_spoken_turns_confirmed_while_a_response_is_queued_share_it():
    session = ready()
    session.on_upstream_text(event("response.created", response={"id": "r1"}))
    stream(session, loud(300) + quiet(500))
    confirm_commit(session, "item_1")
    stream(session, loud(300) + quiet(500))
    confirm_commit(session, "item_2")
    assert upstream_types(session.on_upstream_text(event("response.done", response={"id": "r1", "output": []}))) \
        == ["response.create"]
    session.on_upstream_text(event("response.created", response={"id": "r2"}))
    assert upstream_types(session.on_upstream_text(event("response.done", response={"id": "r2", "output": []}))) \
        == []


# ------------------------------------------------------------------ defects built on it

def test_defect_commit_timer_not_rearmed_drops_an_utterance_that_ends_during_a_reply():
    session = ready(session_class("commit-timer-not-rearmed"))
    session.on_upstream_text(event("response.created", response={"id": "r1"}))
    ended = stream(session, loud(300) + quiet(500))
    assert commits(ended) == 0 and any(isinstance(a, Log) for a in ended)
    session.on_upstream_text(event("response.done", response={"id": "r1", "output": []}))
    assert commits(session.on_timer(last_timer(ended).key)) == 0
    assert commits(stream(session, quiet(1000))) == 0


def test_defect_commit_timer_not_rearmed_commits_an_utterance_outside_a_reply():
    session = ready(session_class("commit-timer-not-rearmed"))
    assert commits(stream(session, loud(300) + quiet(500))) == 1


def test_defect_commits_with_server_vad_on_leaves_turn_detection_to_the_service_and_still_commits():
    session = session_class("commits-with-server-vad-on")()
    update = session.on_client_text(SETTINGS)[0].event
    assert "audio" not in update["session"]
    session.on_upstream_text(event("session.updated", session={}))
    assert commits(stream(session, loud(300) + quiet(500))) == 1
    assert upstream_types(confirm_commit(session)) == ["response.create"]


@pytest.mark.parametrize("name", ["commit-on-every-chunk", "late-short-commit", "client-turn-detection",
                                  "commit-timer-not-rearmed"])
def test_every_proxy_that_commits_turns_server_vad_off_except_the_aud_1_defect(name):
    for minimal in (False, True):
        update = session_class(name, minimal)().on_client_text(SETTINGS)[0].event
        assert update["session"]["audio"]["input"]["turn_detection"] is None


def test_defect_commit_on_every_chunk_commits_each_short_frame():
    session = ready(session_class("commit-on-every-chunk"))
    assert commits(stream(session, quiet(80))) == 4


def test_the_variant_is_registered_as_correct():
    entry = DEFECTS["client-turn-detection"]
    assert entry.breaks == () and set(entry.stays_green) == {"AUD-1", "TURN-1", "ORD-5"}
    assert entry.session_class is ClientTurnDetection
