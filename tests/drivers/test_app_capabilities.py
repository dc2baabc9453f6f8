"""The capability table and the pure decisions of app_capabilities: a URL parameter is honoured only when the
Settings the app sent carry the value it was given and its own Settings did not already; each other capability
from what the probe saw. No browser: the observations are written here as app-check's probe writes them."""

import json
from types import SimpleNamespace

import pytest

from voice_harness.drivers import app_capabilities as caps
from voice_harness.drivers.app_driver import Selectors
from voice_harness.judging import catalogue

OWN = {"type": "Settings", "audio": {"input": {"encoding": "linear16", "sample_rate": 16000}},
       "agent": {"think": {"prompt": "I am the app's own prompt."}, "greeting": "Hi from the app",
                 "context": {"messages": [{"role": "user", "content": "an old message"}]}}}


def honouring(asked: dict) -> dict:
    """The Settings of an app that takes every parameter it is given (and adds its own prompt text)."""
    return {"type": "Settings", "audio": {"input": {"encoding": "linear16", "sample_rate": int(asked["inputRate"])}},
            "agent": {"think": {"prompt": "Preamble. " + asked["prompt"], "functions": json.loads(asked["functions"])},
                      "greeting": asked["greeting"],
                      "context": {"messages": [{"role": "system", "content": "x"}, *json.loads(asked["context"])]}}}


def test_every_id_of_the_table_is_a_catalogue_id_and_every_optional_capability_of_the_contract_is_there():
    table = caps.table()
    known = catalogue.load()
    assert {rid for c in table for rid in c.ids} <= set(known)
    assert [c.param for c in table if c.param] == ["greeting", "prompt", "context", "functions", "inputRate",
                                                     "micEarly"]
    assert {"microphone", "disconnect", "played", "idle"} <= {c.name for c in table}
    assert set(caps.BUNDLED_APP_LACKS) <= {c.name for c in table}


def test_the_probe_asks_for_an_input_rate_the_app_does_not_declare_of_its_own():
    assert caps.probe_params(OWN)["inputRate"] == "24000"
    assert caps.probe_params({"audio": {"input": {"sample_rate": 24000}}})["inputRate"] == "16000"
    assert caps.probe_params(None)["inputRate"] == "16000"


def test_an_app_that_sends_what_it_is_given_honours_every_parameter():
    asked = caps.probe_params(OWN)
    found = caps.url_parameters(OWN, honouring(asked), asked)
    assert {name: has for name, (has, _) in found.items()} == dict.fromkeys(asked, caps.YES)


def test_an_app_that_sends_its_own_settings_honours_none():
    asked = caps.probe_params(OWN)
    found = caps.url_parameters(OWN, OWN, asked)
    assert {name: has for name, (has, _) in found.items()} == dict.fromkeys(asked, caps.NO)
    assert "Hi from the app" in found["greeting"][1]   # what it sent instead is said


def test_a_value_the_app_sends_anyway_proves_nothing():
    # The app's own rate is the one asked for (a probe that did not know it): not honoured, not a yes.
    asked = {"inputRate": "16000"}
    assert caps.url_parameters(OWN, OWN, asked)["inputRate"][0] == caps.NO


def test_no_settings_with_the_parameters_leaves_them_unknown():
    asked = caps.probe_params(OWN)
    assert {has for has, _ in caps.url_parameters(OWN, None, asked).values()} == {caps.UNKNOWN}


def test_the_other_capabilities_from_what_the_probe_saw():
    observed = {"baseline": OWN, "probed": OWN, "asked": caps.probe_params(OWN),
                "microphone": {"control": True, "frames": 3}, "mic_early": {"early_frames": 0},
                "disconnect": "page", "played": False, "idle": {"closed_after_s": None, "waited_s": 12}}
    found = {f.capability.name: f.has for f in caps.decide(observed)}
    assert found == {"greeting": caps.NO, "prompt": caps.NO, "context": caps.NO, "functions": caps.NO,
                     "inputRate": caps.NO, "micEarly": caps.NO, "microphone": caps.YES, "disconnect": caps.NO,
                     "played": caps.NO, "idle": caps.NO}
    observed.update(microphone={"control": True, "frames": 0}, mic_early=None, disconnect="hook", played=True,
                    idle={"closed_after_s": 10.1, "waited_s": 12})
    found = {f.capability.name: f.has for f in caps.decide(observed)}
    assert (found["microphone"], found["micEarly"], found["disconnect"], found["played"], found["idle"]) == \
        (caps.NO, caps.UNKNOWN, caps.YES, caps.YES, caps.YES)
    assert caps.decide({**observed, "microphone": {"control": False}})[6].why == "no microphone control on the page"


def test_the_table_and_the_ids_a_missing_capability_keeps_from_being_exercised():
    observed = {"baseline": OWN, "probed": OWN, "asked": caps.probe_params(OWN), "disconnect": "page"}
    findings = caps.decide(observed)
    lines = caps.rows(findings)
    assert lines[0].split() == ["capability", "has", "ids", "it", "unlocks"]
    assert len(lines) == len(caps.table()) + 1
    assert any(line.startswith("URL parameter prompt") and " no " in line and "MAP-8" in line for line in lines)
    missing = caps.not_exercised(findings)
    assert "MAP-8 (URL parameter prompt, URL parameter functions)" in missing
    assert "LIFE-3 (URL parameter context, disconnect control)" in missing
    assert not any(m.startswith("CANARY-2") for m in missing)   # the microphone was not probed: not a "no"


@pytest.mark.parametrize("url, microphone, disconnect, says", [
    (None, "microphone-button", "", "the bundled test app has every optional one but: URL parameter inputRate"),
    ("http://127.0.0.1:5173/", "", "", "microphone none (voice tests skipped); disconnect none named"),
    ("http://127.0.0.1:5173/", "talk", "hang-up", "microphone control 'talk'; disconnect control 'hang-up'"),
])
def test_the_line_a_run_prints_from_the_profile(url, microphone, disconnect, says):
    app = SimpleNamespace(url=url, selectors=Selectors(microphone=microphone, disconnect=disconnect))
    assert says in caps.profile_line(app)


def test_the_idle_probe_asks_for_half_its_wait_and_says_what_it_asked():
    assert caps.idle_probe_ms(12) == 6000 and caps.idle_probe_ms(2) == 1000
    yes = caps._idle({"closed_after_s": 1.04, "waited_s": 2, "asked_ms": 1000})
    assert yes == (caps.YES, "the app closed the idle connection after 1.0 s (asked idleTimeout=1000 ms)")
    no = caps._idle({"closed_after_s": None, "waited_s": 12, "asked_ms": 6000})
    assert no == (caps.NO, "no close from the app in 12 s of silence (asked idleTimeout=6000 ms)")
    assert caps.by_name()["idle"].ids == ("AGENT-1",)
