"""A proxy configured only by environment variables, started from a sub-folder (issue 22): {port} in the
profile's env alone, the profile's cwd, and --proxy-cmd with leading NAME=value words as a shell takes them. The
stand-in (tests/fixtures/env_proxy/proxy/stand-in) reads PORT and UPSTREAM and runs the reference proxy."""

import sys
from pathlib import Path

import pytest

from support import harness_run

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "env_proxy"

pytestmark = pytest.mark.e2e  # each test runs the harness end to end


def test_a_profile_with_port_only_in_env_and_a_cwd_passes_the_canary(tmp_path):
    done, record = harness_run(tmp_path, "--profile", str(FIXTURE / "env-proxy.toml"), "--", "--req", "CANARY-1")
    assert (done.returncode, record["CANARY-1"]["verdict"]) == (0, "pass"), done.stdout[-3000:] + done.stderr[-1500:]


def test_proxy_cmd_with_leading_assignments_passes_the_canary(tmp_path):
    done, record = harness_run(tmp_path, "--proxy-cmd", "PORT={port} UPSTREAM={upstream_url} ./stand-in",
                               "--", "--req", "CANARY-1", env={"PYTHON": sys.executable}, cwd=FIXTURE / "proxy")
    assert (done.returncode, record["CANARY-1"]["verdict"]) == (0, "pass"), done.stdout[-3000:] + done.stderr[-1500:]
