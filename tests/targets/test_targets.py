"""The targets of DESIGN.md, on loopback: a proxy by command, a proxy already running at a URL, the real-API
path through the recording tap (against a local stand-in for OpenAI), and an app served elsewhere."""

import json
import secrets
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from voice_harness.targets.proxy_process import free_port
from voice_harness.targets.static_server import StaticServer

from support import harness_run, verdicts

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

pytestmark = pytest.mark.e2e  # each test runs the harness end to end


def test_a_proxy_started_from_a_command_template(tmp_path):
    command = f"{sys.executable} -m reference_proxy --port {{port}} --upstream-url {{upstream_url}}"
    done, record = harness_run(tmp_path, "--proxy-cmd", command, "--", "--req", "CANARY-1,ORD-1")
    assert verdicts(record, "CANARY-1", "ORD-1") == {"CANARY-1": "pass", "ORD-1": "pass"}
    assert done.returncode == 0


def test_a_proxy_already_running_at_a_url_with_the_mock_on_a_fixed_port(tmp_path, background):
    mock_port, proxy_port = free_port(), free_port()
    background([sys.executable, "-m", "reference_proxy", "--port", str(proxy_port), "--upstream-url",
                f"ws://127.0.0.1:{mock_port}/v1/realtime?model=gpt-realtime"], "listening on")
    profile = tmp_path / "running.toml"
    profile.write_text(f'[proxy]\nurl = "ws://127.0.0.1:{proxy_port}/openai"\n\n[upstream]\nport = {mock_port}\n')
    done, record = harness_run(tmp_path / "reports", "--profile", str(profile), "--", "--req", "CANARY-1,ORD-1")
    assert verdicts(record, "CANARY-1", "ORD-1") == {"CANARY-1": "pass", "ORD-1": "pass"}
    assert done.returncode == 0


def test_real_mode_through_the_tap_keeps_the_key_out_of_every_report(tmp_path, background):
    key = "sk-test-" + secrets.token_hex(16)
    standin_port = free_port()
    background([sys.executable, "-m", "mock_upstream", "serve", "--port", str(standin_port), "--require-key"],
               "listening on")
    profile = tmp_path / "real-standin.toml"
    profile.write_text(
        '[proxy]\ncommand = ["{python}", "-m", "reference_proxy", "--port", "{port}", "--upstream-url", '
        '"{upstream_url}", "--log-level", "DEBUG"]\n\n'
        f'[upstream]\nmode = "real"\nreal_url = "ws://127.0.0.1:{standin_port}/v1/realtime?model=gpt-realtime"\n')
    reports = tmp_path / "reports"
    done, record = harness_run(reports, "--profile", str(profile), "--", "-rs", "--req",
                               "CANARY-1,ORD-1,READY-1,WIRE-3,LIFE-1", env={"OPENAI_API_KEY": key})
    assert verdicts(record, "CANARY-1", "ORD-1", "LIFE-1") == {"CANARY-1": "pass", "ORD-1": "pass", "LIFE-1": "pass"}, \
        done.stdout[-3000:]
    assert done.returncode == 0
    # Delay and close rules are played by the tap on top of the real service; the rest is skipped, with why.
    ran = {case.get("name") for case in ET.parse(reports / "junit.xml").iter("testcase")
           if case.find("skipped") is None}
    assert any("item-added-600ms" in name for name in ran), sorted(ran)
    assert "which needs the mock; the upstream is real: sets replies" in done.stdout
    leaked = [str(p) for p in reports.rglob("*") if p.is_file() and key in p.read_text(errors="replace")]
    assert leaked == []
    assert key not in done.stdout + done.stderr


def test_an_app_served_elsewhere_with_other_selectors_and_parameter_names(tmp_path):
    server = StaticServer(FIXTURES / "other_app")
    try:
        done, record = harness_run(tmp_path, "--profile", str(FIXTURES / "other_app.toml"),
                                   "--app-url", server.url, "--", "--req", "CANARY-1")
    finally:
        server.stop()
    assert verdicts(record, "CANARY-1") == {"CANARY-1": "pass"}, done.stdout[-3000:]
    assert done.returncode == 0


def test_a_keepalive_passed_through_is_cli_1s_failure_in_another_tests_session_and_not_wire_3s(tmp_path):
    # The WIRE-3 test's client sends KeepAlive; the defect passes it upstream. One defect, one id: CLI-1 fails
    # as an invariant, naming that test, and WIRE-3 (what was a valid Realtime event) still passes.
    done = subprocess.run([sys.executable, "-m", "harness", "run", "--defect", "forward-keepalive", "--workers", "1",
                           "--reports-dir", str(tmp_path), "--", "-k", "whatever_the_client_sends"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    record = json.loads((tmp_path / "conformance.json").read_text())["requirements"]
    assert done.returncode == 1, done.stdout[-2000:]
    assert record["WIRE-3"]["verdict"] == "pass"
    assert record["CLI-1"]["verdict"] == "fail" and "KeepAlive" in record["CLI-1"]["reason"]
    assert record["CLI-1"]["exposed_by"] == [
        "suites/test_wire_format.py::test_upstream_events_validate_whatever_the_client_sends"]
