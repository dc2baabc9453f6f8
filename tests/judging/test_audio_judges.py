"""The audio suite's pure judges on hand-built timelines: ORD-5 counts the audio appended since the last commit,
whoever made it (the proxy's commit or the service's own, server VAD's), and the proxy's deferred commit is
judged like any other."""

import base64
import json

from voice_harness.judging.timeline import Timeline
from voice_harness.mock_upstream.engine import AUDIO_BYTES_PER_MS
from voice_harness.wire.recording import Frame
from suites.test_audio import ord_5_violation, service_commits


def text(t, arrow, data):
    return Frame(t, "B", arrow, "text", data.get("type"), 1, len(json.dumps(data)), data)


def append(t, ms):
    audio = base64.b64encode(bytes(ms * AUDIO_BYTES_PER_MS)).decode()
    return text(t, "->", {"type": "input_audio_buffer.append", "audio": audio})


def commit(t):
    return text(t, "->", {"type": "input_audio_buffer.commit"})


def committed(t, item_id):
    return text(t, "<-", {"type": "input_audio_buffer.committed", "item_id": item_id})


def speech_stopped(t, item_id):
    return text(t, "<-", {"type": "input_audio_buffer.speech_stopped", "item_id": item_id, "audio_end_ms": 100})


def timeline(*frames):
    return Timeline(list(frames), 0.0)


def vad_off(t=0.0):
    """The proxy owns turn detection (turn_detection null): its commits are ORD-5's to judge, not AUD-1's."""
    return text(t, "->", {"type": "session.update", "session": {"type": "realtime",
                                                              "audio": {"input": {"turn_detection": None}}}})


def test_a_commit_of_100_ms_or_more_holds():
    assert ord_5_violation(timeline(*(append(0.01 * i, 20) for i in range(5)), commit(0.2),
                                    committed(0.21, "item_a"))) is None


def test_a_late_commit_of_80_ms_is_red():
    late = commit(0.4)    # 200 ms after the last chunk: an end-of-speech timer
    found = ord_5_violation(timeline(vad_off(), *(append(0.01 * i, 20) for i in range(4)), late))
    assert found == (late, 80)
    # The same commit while server VAD is on (the service's default) is AUD-1's, not counted again here.
    assert ord_5_violation(timeline(*(append(0.01 * i, 20) for i in range(4)), late)) is None


def test_the_answer_to_the_proxys_commit_does_not_restart_the_count():
    # The proxy commits 100 ms; 60 ms follow before the service's answer arrives, 40 ms after it: 100 ms in all.
    frames = [*(append(0.01 * i, 20) for i in range(5)), commit(0.05), append(0.06, 20), append(0.07, 20),
              append(0.08, 20), committed(0.09, "item_a"), append(0.10, 20), append(0.11, 20), commit(0.12)]
    assert ord_5_violation(timeline(*frames)) is None
    assert service_commits(timeline(*frames)) == []


def test_audio_counted_from_the_services_own_commit():
    # Server VAD commits the first 100 ms; the proxy then commits its whole 120 ms: only 20 ms since the last one.
    vad = committed(0.05, "item_vad")
    short = commit(0.3)
    frames = [vad_off(), *(append(0.01 * i, 20) for i in range(5)), speech_stopped(0.049, "item_vad"), vad,
              append(0.06, 20), short]
    assert service_commits(timeline(*frames)) == [vad]
    assert ord_5_violation(timeline(*frames)) == (short, 20)
