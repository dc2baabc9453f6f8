"""The suites through a third-party-style app (tests/fixtures/third_party_app/): it sends its own Settings (its
own prompt, greeting and context) and ignores the harness's URL parameters, its 16 kHz worklet microphone sends
its first frame about 256 ms after the click, and it has no disconnect control and no played-audio counter
(issue 19). Against the reference proxy no test is the proxy's failure and the run is no error: what the app
cannot do is skipped (or inconclusive) naming the app; with a defect, the canaries still turn red."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from voice_harness.targets.static_server import StaticServer

from support import harness_run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PROFILE = str(FIXTURES / "third_party_app.toml")

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("third-party-app")]  # each test runs the harness end to end


@pytest.fixture(scope="module")
def app_url():
    server = StaticServer(FIXTURES / "third_party_app")
    yield server.url
    server.stop()


def not_judged(junit: Path) -> dict[str, str]:
    """Each skipped (or inconclusive) test of the run, with its reason."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        skipped = case.find("skipped")
        if skipped is not None:
            out[case.get("name")] = skipped.get("message") or ""
    return out


def test_no_proxy_failure_and_no_run_error_through_an_app_with_its_own_settings(tmp_path, app_url):
    done, record = harness_run(tmp_path, "--profile", PROFILE, "--app-url", app_url)
    output = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode != 2, output
    assert "app capabilities (from the profile, not probed)" in done.stdout
    red = {rid: f"{r['verdict']}: {r.get('reason', '')}" for rid, r in record.items()
           if r["verdict"] in ("fail", "error")}
    assert red == {}, output
    unnamed = {test: why for test, why in not_judged(tmp_path / "junit.xml").items() if "app" not in why}
    assert unnamed == {}, "a test not judged must name the app (or its missing capability) as the reason"


@pytest.mark.parametrize("defect, canary", [("premature-response-create", "CANARY-1"),
                                            ("ignore-client-audio", "CANARY-2")])
def test_the_canaries_turn_red_through_the_same_app(tmp_path, app_url, defect, canary):
    done, record = harness_run(tmp_path, "--profile", PROFILE, "--app-url", app_url, "--defect", defect,
                               "--", "--req", canary)
    assert record[canary]["verdict"] == "fail", done.stdout[-4000:]
    assert done.returncode == 1


def test_an_app_without_a_disconnect_hook_or_context_is_no_run_error_for_life_2_and_life_3(tmp_path):
    # tests/fixtures/other_app has no window.voiceAgentApp and sends no context: the page is closed to disconnect
    # (LIFE-2 judged that way, LIFE-3's reconnect on a new page) and the context test is skipped naming the app.
    server = StaticServer(FIXTURES / "other_app")
    try:
        done, record = harness_run(tmp_path, "--profile", str(FIXTURES / "other_app.toml"), "--app-url", server.url,
                                   "--", "--req", "LIFE-2,LIFE-3", "-rs")
    finally:
        server.stop()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
    assert (record["LIFE-2"]["verdict"], record["LIFE-3"]["verdict"]) == ("pass", "pass")
    assert "the app sent no context on reconnect (app capability: context)" in done.stdout
