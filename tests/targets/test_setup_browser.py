"""Finding or getting a Chromium: the order of the steps (pure), the lines the user sees and the failure line,
with the installing commands faked (no test downloads or runs apt-get); plus the real machine once."""

import sys
import time
from pathlib import Path

import pytest

from voice_harness.errors import EnvironmentProblem
from voice_harness.targets import browser
from voice_harness.tools import setup_browser
from voice_harness.tools.setup_browser import Finished

MANAGED = "/home/u/.cache/ms-playwright/chromium-1/chrome-linux64/chrome"
SNAP_STUB = "/usr/bin/chromium-browser"
CHROME = "/usr/bin/google-chrome"
DEBIAN = "/usr/bin/chromium"
CANDIDATES = (DEBIAN, SNAP_STUB, CHROME)
NETWORK_DOWN = "Downloading Chrome\n\x1b[2mError: getaddrinfo ENOTFOUND cdn.playwright.dev\x1b[22m\n    at x (y.js:1)\n"


class FakeMachine:
    """Files that exist (some of them snap stubs) and the installing commands, which only add files."""

    def __init__(self, files=(), stubs=(), env=None, results=None, installs=None):
        self.files, self.stubs = set(files), set(stubs)
        self.env = env or {}
        self.results = results or {}      # command name -> Finished or an exception to raise
        self.installs = installs or {}    # command name -> file it creates when it succeeds
        self.commands = []

    def machine(self) -> browser.Machine:
        return browser.Machine(self.env, MANAGED, CANDIDATES, exists=self.files.__contains__,
                               is_browser=lambda path: path not in self.stubs)

    def run(self, command, timeout, env):
        name = "download" if "playwright" in command else " ".join(command[:2])
        self.commands.append((name, timeout, env))
        result = self.results.get(name, Finished(0, ""))
        if isinstance(result, Exception):
            raise result
        if result.code == 0 and name in self.installs:
            self.files.add(self.installs[name])
        return result


def ensure(fake: FakeMachine, blocked=None):
    return setup_browser.ensure(fake.machine(), fake.run, {"apt": "not root"} if blocked is None else blocked)


def lines(capsys) -> list[str]:
    return capsys.readouterr().out.splitlines()


# The order, pure.

def test_the_setup_plan_takes_the_steps_in_the_order_that_works_everywhere():
    assert browser.plan({}, install=True) == [("managed", ""), ("download", ""), ("system", ""), ("apt", "")]


def test_the_launch_lookup_follows_the_same_order_without_installing():
    assert browser.plan({}, install=False) == [("managed", ""), ("system", "")]


def test_chromium_path_when_set_is_the_only_step():
    assert browser.plan({"CHROMIUM_PATH": "/opt/c"}, install=True) == [("override", "")]


def test_no_download_skips_the_download_and_says_why_while_0_does_not():
    skipped = dict(browser.plan({"VOICE_HARNESS_NO_DOWNLOAD": "1"}, install=True))
    assert skipped["download"] == "VOICE_HARNESS_NO_DOWNLOAD=1"
    assert dict(browser.plan({"VOICE_HARNESS_NO_DOWNLOAD": "0"}, install=True))["download"] == ""


def test_a_blocked_installing_step_carries_its_reason():
    assert dict(browser.plan({}, install=True, blocked={"apt": "not root"}))["apt"] == "not root"


def test_system_candidates_are_the_fixed_paths_then_path_lookups_without_repeats():
    found = {"chromium": DEBIAN, "google-chrome": CHROME, "google-chrome-stable": "/opt/google/chrome/chrome"}
    assert browser.system_candidates(found.get) == [DEBIAN, SNAP_STUB, CHROME, "/opt/google/chrome/chrome"]


def test_a_snap_stub_script_is_not_a_browser_but_a_binary_or_another_script_is(tmp_path):
    stub = tmp_path / "stub"
    stub.write_bytes(b"#!/bin/sh\nif ! [ -x /snap/bin/chromium ]; then echo install the snap; fi\n")
    launcher = tmp_path / "launcher"
    launcher.write_bytes(b"#!/bin/sh\n# Chromium launcher\nexec /usr/lib/chromium/chromium \"$@\"\n")
    late = tmp_path / "late"
    late.write_bytes(b"#!/bin/sh\n" + b"#" * 5000 + b"\nsnap\n")
    binary = tmp_path / "binary"
    binary.write_bytes(b"\x7fELF" + b"snap" * 10)
    verdicts = {p.name: browser.is_real_browser(str(p)) for p in (stub, launcher, late, binary)}
    assert verdicts == {"stub": False, "launcher": True, "late": True, "binary": True}
    assert not browser.is_real_browser(str(tmp_path / "missing"))


def test_the_launch_takes_the_managed_browser_before_the_system_one():
    assert browser.choose(FakeMachine({MANAGED, DEBIAN}).machine()) == ("managed", MANAGED)


def test_the_launch_passes_over_a_snap_stub_to_google_chrome():
    assert browser.choose(FakeMachine({SNAP_STUB, CHROME}, stubs={SNAP_STUB}).machine()) == ("system", CHROME)


def test_chromium_path_wins_over_an_installed_managed_browser():
    fake = FakeMachine({MANAGED, "/opt/c"}, env={"CHROMIUM_PATH": "/opt/c"})
    assert browser.choose(fake.machine()) == ("override", "/opt/c")


def test_a_missing_chromium_path_is_one_line_naming_the_variable_and_what_to_do():
    with pytest.raises(EnvironmentProblem) as caught:
        browser.choose(FakeMachine({MANAGED, DEBIAN}, env={"CHROMIUM_PATH": "/opt/c"}).machine())
    assert str(caught.value) == ("CHROMIUM_PATH=/opt/c is not a file: point CHROMIUM_PATH at a Chromium or Chrome "
                                 "binary, or unset it to let the harness find one")


def test_no_browser_at_launch_lists_what_was_looked_at_and_says_what_to_do():
    with pytest.raises(EnvironmentProblem) as caught:
        browser.choose(FakeMachine({SNAP_STUB}, stubs={SNAP_STUB}).machine())
    assert str(caught.value) == ("no Chromium found (tried: Playwright's Chromium: not installed; system "
                                 f"Chromium/Chrome: none found (ignored snap stub {SNAP_STUB})): {browser.HOW_TO_FIX}")
    assert "\n" not in str(caught.value)


def test_executable_answers_none_for_the_managed_browser_and_the_path_for_chromium_path(tmp_path, monkeypatch):
    managed = tmp_path / "chrome"
    managed.write_bytes(b"\x7fELF")
    monkeypatch.delenv("CHROMIUM_PATH", raising=False)
    assert browser.executable(str(managed)) is None
    monkeypatch.setenv("CHROMIUM_PATH", str(managed))
    assert browser.executable(str(tmp_path / "not-installed")) == str(managed)


# The set-up, with the installing commands faked.

def test_an_installed_managed_browser_ends_the_setup_without_installing(capsys):
    fake = FakeMachine({MANAGED, DEBIAN})
    assert ensure(fake) == MANAGED
    assert fake.commands == []
    assert lines(capsys) == [f"harness: Playwright's Chromium: found {MANAGED}"]


def test_the_download_comes_before_the_system_browser_where_it_works(capsys):
    fake = FakeMachine({DEBIAN}, installs={"download": MANAGED})
    assert ensure(fake) == MANAGED
    assert fake.commands == [("download", setup_browser.DOWNLOAD_TIMEOUT_S, None)]
    assert lines(capsys) == ["harness: Playwright's Chromium: not installed",
                             f"harness: python -m playwright install chromium: done, found {MANAGED}"]


def test_a_failed_download_is_said_in_one_line_and_the_system_browser_used(capsys):
    fake = FakeMachine({DEBIAN}, results={"download": Finished(1, NETWORK_DOWN)})
    assert ensure(fake) == DEBIAN
    assert lines(capsys) == [
        "harness: Playwright's Chromium: not installed",
        "harness: python -m playwright install chromium: failed (exit 1: Error: getaddrinfo ENOTFOUND "
        "cdn.playwright.dev)",
        f"harness: system Chromium/Chrome: found {DEBIAN}"]


@pytest.mark.parametrize("result, note", [(Finished(None, "Downloading"), "timed out after 300 s"),
                                          (FileNotFoundError(2, "No such file or directory"),
                                           "could not start (No such file or directory)"),
                                          (Finished(0, ""), "done, but Playwright's Chromium: not installed")])
def test_a_download_that_times_out_cannot_start_or_leaves_nothing_is_passed_over(capsys, result, note):
    fake = FakeMachine({CHROME}, results={"download": result})
    assert ensure(fake) == CHROME
    assert lines(capsys)[1] == f"harness: python -m playwright install chromium: {note}"


def test_no_download_skips_the_download_without_running_it(capsys):
    fake = FakeMachine({DEBIAN}, env={"VOICE_HARNESS_NO_DOWNLOAD": "1"}, installs={"download": MANAGED})
    assert ensure(fake) == DEBIAN
    assert fake.commands == []
    assert lines(capsys)[1] == "harness: python -m playwright install chromium: skipped (VOICE_HARNESS_NO_DOWNLOAD=1)"


def test_as_root_debians_package_is_installed_unattended_when_nothing_else_works(capsys):
    fake = FakeMachine({SNAP_STUB}, stubs={SNAP_STUB}, results={"download": Finished(1, NETWORK_DOWN)},
                       installs={"apt-get install": DEBIAN})
    assert ensure(fake, blocked={}) == DEBIAN
    assert [name for name, _, _ in fake.commands] == ["download", "apt-get update", "apt-get install"]
    assert all(env["DEBIAN_FRONTEND"] == "noninteractive" for _, _, env in fake.commands[1:])
    assert lines(capsys)[2:] == [f"harness: system Chromium/Chrome: none found (ignored snap stub {SNAP_STUB})",
                                 f"harness: apt-get install chromium: done, found {DEBIAN}"]


def test_nothing_found_is_one_line_listing_every_step_and_what_to_do(capsys):
    fake = FakeMachine(results={"download": Finished(1, NETWORK_DOWN)})
    with pytest.raises(EnvironmentProblem) as caught:
        ensure(fake)
    assert [name for name, _, _ in fake.commands] == ["download"]   # apt-get: not root
    assert lines(capsys)[-1] == "harness: apt-get install chromium: skipped (not root)"
    assert str(caught.value) == (
        "no Chromium found (tried: Playwright's Chromium: not installed; python -m playwright install chromium: "
        "failed (exit 1: Error: getaddrinfo ENOTFOUND cdn.playwright.dev); system Chromium/Chrome: none found; "
        f"apt-get install chromium: skipped (not root)): {setup_browser.HOW_TO_FIX}")


def test_a_failing_apt_get_names_the_command_and_its_error():
    fake = FakeMachine(env={"VOICE_HARNESS_NO_DOWNLOAD": "1"},
                       results={"apt-get update": Finished(100, "E: Could not get lock /var/lib/apt/lists/lock\n")})
    with pytest.raises(EnvironmentProblem, match=r"apt-get install chromium: `apt-get update -qq` failed \(exit 100: "
                                                 r"E: Could not get lock /var/lib/apt/lists/lock\)\)"):
        ensure(fake, blocked={})
    assert [name for name, _, _ in fake.commands] == ["apt-get update"]


def test_a_missing_chromium_path_stops_the_setup_before_anything_is_installed(capsys):
    fake = FakeMachine({MANAGED, DEBIAN}, env={"CHROMIUM_PATH": "/opt/c"})
    with pytest.raises(EnvironmentProblem, match=r"^CHROMIUM_PATH=/opt/c is not a file: point CHROMIUM_PATH at"):
        ensure(fake, blocked={})
    assert fake.commands == []
    assert lines(capsys) == ["harness: CHROMIUM_PATH: /opt/c is not a file"]


def test_main_turns_no_browser_into_exit_2_and_one_line_on_stderr(monkeypatch, capsys):
    def no_browser():
        raise EnvironmentProblem("no Chromium found (tried: x): do y")

    monkeypatch.setattr(setup_browser, "ensure", no_browser)
    assert setup_browser.main() == 2
    assert capsys.readouterr().err == "harness: no Chromium found (tried: x): do y\n"
    monkeypatch.setattr(setup_browser, "ensure", lambda: DEBIAN)
    assert setup_browser.main() == 0


def test_the_reason_of_a_failure_is_its_first_error_line_without_colours_and_short():
    assert setup_browser.reason(NETWORK_DOWN) == "Error: getaddrinfo ENOTFOUND cdn.playwright.dev"
    assert setup_browser.reason("one\nlast words\n\n") == "last words"
    long = setup_browser.reason("x" * 500)
    assert len(long) == setup_browser.REASON_CHARS and long.endswith("...")


# The real runner: quiet, stdin closed, the whole process group gone at the timeout.

def test_the_runner_closes_stdin_and_captures_the_output():
    done = setup_browser.run_bounded([sys.executable, "-c", "import sys; print(repr(sys.stdin.read()))"], 30, None)
    assert done == Finished(0, "''\n")


def test_the_runner_stops_the_command_and_its_children_at_the_timeout():
    started = time.monotonic()
    done = setup_browser.run_bounded(["sh", "-c", "sleep 30 & sleep 30"], 0.5, None)
    assert done.code is None
    assert time.monotonic() - started < 10   # a child left alive would hold the output pipe open for 30 s


# The real machine.

def test_on_this_machine_without_downloads_the_setup_finds_debians_chromium(monkeypatch, capsys):
    if not Path(DEBIAN).is_file():
        pytest.skip(f"{DEBIAN} is not installed here")
    if Path(browser.managed_path()).is_file():
        pytest.skip("Playwright's managed Chromium is installed here and comes first")
    monkeypatch.delenv("CHROMIUM_PATH", raising=False)
    monkeypatch.setenv("VOICE_HARNESS_NO_DOWNLOAD", "1")
    assert setup_browser.ensure() == DEBIAN
    assert lines(capsys)[-1] == f"harness: system Chromium/Chrome: found {DEBIAN}"
    assert browser.executable(browser.managed_path()) == DEBIAN   # the launch gets the same browser


def test_the_managed_path_is_found_where_an_event_loop_runs():
    # In a pytest run whose suites drove a page, Playwright's sync loop keeps running in the main thread, and the
    # sync API refuses to start there (`voice-harness sensitivity` failed so when called in-process after them).
    from support import run_async

    async def inside_a_running_loop():
        return browser.managed_path()

    path = run_async(inside_a_running_loop())
    assert isinstance(path, str) and "chrom" in path.lower()
