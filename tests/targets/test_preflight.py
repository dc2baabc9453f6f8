"""Pre-flight checks: each problem is one line naming what to fix."""

import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from voice_harness.targets import preflight
from voice_harness.errors import EnvironmentProblem
from voice_harness.targets.proxy_process import free_port


def test_a_proxy_url_nobody_listens_on_is_unreachable():
    url = f"ws://127.0.0.1:{free_port()}/openai"
    with pytest.raises(EnvironmentProblem, match=rf"the proxy at {url} is unreachable .*--proxy-url"):
        preflight.proxy_answers(url, timeout_s=2)


def test_a_listener_that_is_no_websocket_server_refuses_the_handshake():
    with http_server(404) as url:
        with pytest.raises(EnvironmentProblem, match="refused the WebSocket handshake"):
            preflight.proxy_answers(url.replace("http", "ws"), timeout_s=2)


def test_an_app_url_that_does_not_answer_or_is_refused_by_chromium_or_404s_is_named():
    with pytest.raises(EnvironmentProblem, match="Chromium refuses to load .*ERR_UNSAFE_PORT"):
        preflight.app_serves("http://127.0.0.1:1/")
    with pytest.raises(EnvironmentProblem, match="is unreachable"):
        preflight.app_serves(f"http://127.0.0.1:{free_port()}/", timeout_s=2)
    with http_server(404) as url:
        with pytest.raises(EnvironmentProblem, match="answers HTTP 404"):
            preflight.app_serves(url)
    with http_server(200) as url:
        preflight.app_serves(url)


def test_a_taken_port_and_a_missing_proxy_command_are_named():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(EnvironmentProblem, match=f"port {port} for the mock upstream is taken"):
            preflight.port_free(port, "the mock upstream")
    with pytest.raises(EnvironmentProblem, match="'no-such-proxy-binary' was not found"):
        preflight.proxy_command_exists(("no-such-proxy-binary", "--port", "{port}"))
    preflight.proxy_command_exists(("{python}", "-m", "voice_harness.reference_proxy"))


class http_server:
    """A loopback HTTP server answering every GET with one status."""

    def __init__(self, status: int):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"page")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def __enter__(self) -> str:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_a_relative_proxy_program_is_looked_for_in_the_proxys_cwd(tmp_path):
    program = tmp_path / "run"
    program.write_text("#!/bin/sh\n")
    with pytest.raises(EnvironmentProblem, match="is not executable: chmod"):
        preflight.proxy_command_exists(("./run",), tmp_path)
    program.chmod(0o755)
    preflight.proxy_command_exists(("./run",), tmp_path)
    with pytest.raises(EnvironmentProblem, match=r"'./missing' was not found in .*relative paths start from proxy.cwd"):
        preflight.proxy_command_exists(("./missing",), tmp_path)


def test_a_program_not_on_path_names_the_launcher_and_the_environment_forms():
    with pytest.raises(EnvironmentProblem, match=r"npx tsx server.ts.*PORT=\{port\} node server.js"):
        preflight.proxy_command_exists(("tsx-not-installed-here", "run.ts"))


def test_a_browser_checked_by_the_calling_command_is_not_checked_again_for_the_same_app(monkeypatch, tmp_path):
    """sensitivity checks the browser once and its defect runs inherit the fact; a run for another app page, or
    one no command checked for, still starts a browser."""
    from voice_harness.targets import run_config

    monkeypatch.setattr(preflight, "_passed", set())
    unset(monkeypatch)
    checked: list = []
    preflight.check_browser_for_runs(checked.append)
    assert checked == [None]
    config = run_config.build(run_config.Options(reports_dir=tmp_path))
    preflight.run(config, checked.append)
    assert checked == [None], "the run checked the browser again"
    monkeypatch.setenv(preflight.BROWSER_CHECKED, "http://127.0.0.1:9/app.html")
    monkeypatch.setattr(preflight, "_passed", set())
    preflight.run(config, checked.append)
    assert checked == [None, None], "a check for another app page stood for this run's"


def test_a_check_without_an_app_page_does_not_stand_for_a_run_with_one(monkeypatch):
    unset(monkeypatch)
    preflight.check_browser_for_runs(lambda app_url: None)
    assert preflight.browser_checked_by_caller(None)
    assert not preflight.browser_checked_by_caller("http://127.0.0.1:8080/app.html")


def test_a_browser_that_does_not_start_is_not_taken_for_checked(monkeypatch):
    unset(monkeypatch)

    def broken(app_url):
        raise EnvironmentProblem("pre-flight: the browser did not start: no display")

    with pytest.raises(EnvironmentProblem, match="did not start"):
        preflight.check_browser_for_runs(broken)
    assert preflight.BROWSER_CHECKED not in os.environ


def unset(monkeypatch) -> None:
    """The variable absent, and absent again after the test, whatever the code under test set in os.environ
    (delenv of a missing variable records nothing to restore)."""
    monkeypatch.setenv(preflight.BROWSER_CHECKED, "set by the test")
    monkeypatch.delenv(preflight.BROWSER_CHECKED)
