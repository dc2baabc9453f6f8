"""`voice-harness app-check`: bad input is exit 2 with one line before anything starts; against the reference
stack it finds the bundled app's capabilities (those the run-start line claims for it) and a third-party-style
app's (its own Settings, a late 16 kHz microphone, no disconnect control, no played-audio counter)."""

import subprocess
import sys
from pathlib import Path

import pytest

from voice_harness.drivers import app_capabilities
from voice_harness.targets.proxy_process import free_port
from voice_harness.targets.static_server import StaticServer
from voice_harness.tools import cli

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.mark.parametrize("argv, says", [
    (["--app-url", "http://127.0.0.1:{port}/"], "is unreachable"),
    (["--profile", "no-such-profile"], "unknown profile 'no-such-profile'"),
    (["--idle-wait", "-1"], "--idle-wait takes a number of seconds"),
    (["--app-url", "ftp://example/"], "must be an http(s):// URL"),
])
def test_bad_input_is_exit_2_with_one_line(argv, says, capsys):
    port = str(free_port())
    assert cli.main(["app-check", *[a.replace("{port}", port) for a in argv]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("harness: app-check: ") and says in err and "\n" not in err, err


def app_check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", "app-check", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


def table(stdout: str) -> dict[str, str]:
    """The printed table as {capability label: yes|no|not probed}."""
    labels = [c.label for c in app_capabilities.table()]
    found = {}
    for line in stdout.splitlines():
        for label in labels:
            if line.startswith(label + " "):
                found[label] = line[len(label):].strip().split("  ")[0].strip()
    return found


@pytest.mark.e2e
def test_the_bundled_app_has_what_the_run_start_line_says(tmp_path):
    done = app_check("--idle-wait", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    lacks = {app_capabilities.by_name()[name].label for name in app_capabilities.BUNDLED_APP_LACKS}
    assert table(done.stdout) == {c.label: "no" if c.label in lacks else "yes" for c in app_capabilities.table()}
    assert "the app contract: " in done.stdout and done.stdout.strip().endswith("app-contract.md")


@pytest.mark.e2e
def test_a_third_party_app_that_sends_its_own_settings_honours_no_url_parameter(tmp_path):
    server = StaticServer(FIXTURES / "third_party_app")
    try:
        done = app_check("--app-url", server.url, "--profile", str(FIXTURES / "third_party_app.toml"),
                         "--idle-wait", "2")
    finally:
        server.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    found = table(done.stdout)
    assert found == {c.label: "yes" if c.name == "microphone" else "no" for c in app_capabilities.table()}, \
        done.stdout
    assert "LIFE-3 (URL parameter context, disconnect control)" in done.stdout
