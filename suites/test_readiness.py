"""READY-*: the proxy tells the client the session is ready only once the upstream configured it."""

import pytest

from harness.checks import assert_before, fail
from harness.timeouts import units

SLOW_UPDATE = [{"event": "session.updated", "ms": 800}]


@pytest.mark.req("READY-1")
@pytest.mark.parametrize("update_delay", [
    pytest.param(0, id="prompt-session-updated"),
    pytest.param(800, id="slow-session-updated", marks=pytest.mark.scenario(delays=SLOW_UPDATE)),
])
def test_settings_applied_is_sent_only_after_session_updated(app, recording, update_delay):
    app.open()
    app.connect(units(10))
    timeline = recording.timeline()
    applied = timeline.first(leg="A", arrow="<-", type="SettingsApplied")
    if applied is None:
        fail("READY-1", "the app never received SettingsApplied", timeline)
    updated = timeline.first(leg="B", arrow="<-", type="session.updated")
    assert_before(timeline, updated, applied, "READY-1", "upstream session.updated")
