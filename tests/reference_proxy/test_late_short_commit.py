"""The late-short-commit defect without sockets: its end-of-speech timer commits once, after the last frame,
however little audio the buffer holds (ORD-5's blind spot before the check waited for deferred commits)."""

import json

from voice_harness.reference_proxy.defects import DEFECTS
from voice_harness.reference_proxy.session import Session, StartTimer, ToUpstream

SETTINGS = json.dumps({"type": "Settings", "agent": {"think": {"prompt": "be brief"}}})


def ready(cls):
    session = cls()
    session.on_client_text(SETTINGS)
    session.on_upstream_text(json.dumps({"type": "session.updated", "session": {}}))
    return session


def timers(actions):
    return [a for a in actions if isinstance(a, StartTimer)]


def test_only_the_last_frames_timer_commits_and_only_once():
    session = ready(DEFECTS["late-short-commit"].session_class)
    started = [timers(session.on_client_binary(bytes(960))) for _ in range(4)]   # 4 x 20 ms: 80 ms
    keys = [t[0].key for t in started]
    assert [t[0].seconds for t in started] == [0.2] * 4
    assert [session.on_timer(key) for key in keys[:-1]] == [[], [], []]
    assert session.on_timer(keys[-1]) == [ToUpstream({"type": "input_audio_buffer.commit"})]


def test_the_reference_never_commits_on_its_own():
    session = ready(Session)
    actions = [a for _ in range(4) for a in session.on_client_binary(bytes(960))]
    assert not timers(actions)
    assert all(a.event["type"] == "input_audio_buffer.append" for a in actions)
