"""The probes of `voice-harness app-check`: a small pytest session (run by harness/tools/app_check.py with the
harness's plugin, so the app is driven by the same fixtures as in a run: the reference proxy, the mock upstream,
the client tap, the browser with its microphone). Each probe opens the app once, records what the app sent on
leg A, and adds it to the observations file (APP_CHECK_OUT); app_capabilities.decide judges them. The probes
run in this file's order (the parameter probe needs the first one's Settings)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from voice_harness.drivers import app_capabilities
from voice_harness.drivers.app_driver import PAGE_CLOSE, idle_timer
from voice_harness.errors import HarnessFault
from voice_harness.judging.timeline import CLIENT_TO_PROXY, PROXY_TO_CLIENT
from voice_harness.timeouts import units

OUT_ENV = "APP_CHECK_OUT"
IDLE_ENV = "APP_CHECK_IDLE_S"      # how long the idle probe waits for the app to close a silent connection
MIC_AUDIO_WAIT_S = 5.0             # a late microphone (a 4096-sample worklet at 16 kHz) starts within 0.3 s


def _out() -> Path:
    return Path(os.environ[OUT_ENV])


def observed() -> dict:
    path = _out()
    return json.loads(path.read_text()) if path.is_file() else {}


def observe(**found) -> None:
    _out().write_text(json.dumps({**observed(), **found}, indent=2))


def connected_settings(app, recording, what: str) -> dict:
    """Connect the opened app; the Settings it sent on this connection. An app that does not connect against
    the reference stack cannot be probed: that ends app-check (exit 2), naming the app."""
    state = app.connect(units(10))
    timeline = recording.timeline()
    settings = timeline.select(route=CLIENT_TO_PROXY, type="Settings")
    if state != "ready" or not settings:
        why = (f"{what}: the app did not connect to the reference proxy ({state}; "
               f"{'it sent Settings' if settings else 'it sent no Settings'}): check --app-url and the profile's "
               f"selectors and endpoint_param")
        observe(error=why)
        raise HarnessFault(why, party="app")
    return settings[-1].data


def test_the_app_without_parameters(app, recording):
    app.open()
    observe(baseline=connected_settings(app, recording, "opened without parameters"),
            played=app.has_played_counter())
    means = app.disconnect()
    closed = recording.first(units(5), route=CLIENT_TO_PROXY, kind="close")
    observe(disconnect=means if closed is not None or means == PAGE_CLOSE else PAGE_CLOSE)


def test_the_app_with_every_url_parameter(app, recording):
    asked = app_capabilities.probe_params(observed().get("baseline"))
    app.open(**asked)
    observe(asked=asked, probed=connected_settings(app, recording, "opened with the probe's URL parameters"))


@pytest.mark.scenario("voice", delays=[{"event": "session.updated", "ms": 1500}])
def test_the_microphone(voice_app, recording):
    # micEarly=true and session.updated held back 1.5 s: an app that honours it streams before SettingsApplied.
    voice_app.open(micEarly="true")
    if not voice_app.has_microphone():
        observe(microphone={"control": False})
        return
    voice_app.speak()
    connected_settings(voice_app, recording, "with its microphone on")
    recording.first(units(MIC_AUDIO_WAIT_S), route=CLIENT_TO_PROXY, kind="binary")
    voice_app.stop_speaking()
    timeline = recording.timeline()
    frames = timeline.select(route=CLIENT_TO_PROXY, kind="binary")
    applied = timeline.first(route=PROXY_TO_CLIENT, type="SettingsApplied")
    early = [f for f in frames if applied is None or f.t < applied.t]
    observe(microphone={"control": True, "frames": len(frames)},
            mic_early={"early_frames": len(early)} if frames else None)


def test_the_idle_timer(app, recording):
    # The driver opens apps with the idle timer off; the probe asks for one of half its wait (an app with a
    # fixed timer of its own closes all the same). A close the app sent first (leg A, client to proxy) is the
    # app's: the relay records the side that closed first.
    wait_s = float(os.environ.get(IDLE_ENV, "0"))
    if wait_s <= 0:
        pytest.skip("the idle probe is off")
    asked_ms = app_capabilities.idle_probe_ms(wait_s)
    app.open(**idle_timer(asked_ms))
    connected_settings(app, recording, "left idle")
    ready = recording.timeline().first(route=PROXY_TO_CLIENT, type="SettingsApplied")
    close = recording.first(units(wait_s), route=CLIENT_TO_PROXY, kind="close")
    observe(idle={"closed_after_s": close.t - ready.t if close is not None and ready is not None else None,
                  "waited_s": units(wait_s), "asked_ms": asked_ms})
