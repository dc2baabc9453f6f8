"""The proxy subprocess's log: every start of a run is kept, each under a header, with no secret in it."""

import secrets
import sys

import pytest

from harness.errors import EnvironmentProblem
from harness.proxy_process import ProxyProcess, free_port

# Made at run time: no key-like string is committed, and redaction cannot rely on a fixed value.
SECRET = "sk-" + secrets.token_hex(12)


def make_proxy(tmp_path, script: str, ready_timeout_s: float = 10) -> ProxyProcess:
    argv = [sys.executable, "-c", script, "--api-key", SECRET]
    return ProxyProcess(argv, {}, tmp_path / "logs" / "proxy.log", free_port(), "ready", ready_timeout_s)


def test_a_restart_appends_to_the_log_under_a_header_of_its_own(tmp_path):
    proxy = make_proxy(tmp_path, "print('first life; ready', flush=True); import time; time.sleep(60)")
    proxy.start()
    proxy.stop()
    proxy.argv[2] = "print('second life; ready', flush=True); import time; time.sleep(60)"
    proxy.start()
    proxy.stop()
    lines = proxy.log_path.read_text().splitlines()
    headers = [line for line in lines if line.startswith("--- proxy start ")]
    assert [h.split(" at ")[0] for h in headers] == ["--- proxy start 1", "--- proxy start 2"]
    assert lines.index(headers[0]) < lines.index("first life; ready") < lines.index(headers[1]) < \
        lines.index("second life; ready")
    assert SECRET not in proxy.log_path.read_text() and "sk-[redacted]" in headers[0]


def test_readiness_after_a_restart_is_judged_on_the_new_start_only(tmp_path):
    proxy = make_proxy(tmp_path, "print('ready', flush=True); import time; time.sleep(60)")
    proxy.start()
    proxy.stop()
    proxy.argv[2] = "import time; time.sleep(60)"  # never says it is ready
    proxy.ready_timeout_s = 0.5
    with pytest.raises(EnvironmentProblem, match="not ready"):
        proxy.start()
    assert proxy.log_path.read_text().count("--- proxy start ") == 2


def test_a_new_run_starts_a_fresh_log(tmp_path):
    proxy = make_proxy(tmp_path, "print('ready', flush=True); import time; time.sleep(60)")
    proxy.log_path.parent.mkdir(parents=True)
    proxy.log_path.write_text("old run\n")
    proxy.start()
    proxy.stop()
    assert "old run" not in proxy.log_path.read_text()
