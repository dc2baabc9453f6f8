"""Who is to blame when a test ends other than by passing: a pure mapping from what ended it to an outcome.

A `fail` is a claim about the proxy, so only a check's own verdict (ConformanceFailure) or the proxy process
dying makes one. Everything else that stops a test is an `error`, with the party whose fault it is and what
to do: the environment (a URL that does not answer, a port taken, no browser), the harness (the mock
upstream, a tap or the browser driver broke, or a bug in a check), the app (its page would not load, its
selectors do not match) or the scenario (a malformed rule).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from voice_harness.mock_upstream.scenario import ScenarioError

from voice_harness.errors import EnvironmentProblem, HarnessFault, UsageProblem
from voice_harness.judging.timeline import CLIENT_LEG

ENVIRONMENT, HARNESS, APP, SCENARIO, PROXY = "environment", "harness", "app", "scenario", "proxy"
PARTIES = (PROXY, ENVIRONMENT, HARNESS, APP, SCENARIO)
# What the Playwright driver says when the browser, its context or the driver process itself went away.
_DRIVER_GONE = ("Target page, context or browser has been closed", "Browser has been closed",
                "Connection closed", "connection closed", "Target closed", "Browser closed",
                "Playwright connection", "browser has disconnected")


@dataclass(frozen=True)
class Blame:
    party: str
    reason: str
    stops_run: bool = False   # every later test would end the same way (the machine, a dead browser driver)

    @property
    def outcome(self) -> str:
        return "failed" if self.party == PROXY else "error"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def classify(exc: BaseException) -> Blame:
    """The party to blame for an exception that ended a test (not a check's own verdict), and what to do."""
    if isinstance(exc, ScenarioError):
        return Blame(SCENARIO, f"the scenario is malformed: {first_line(exc)}")
    if isinstance(exc, (EnvironmentProblem, UsageProblem)):
        return Blame(ENVIRONMENT, first_line(exc), stops_run=True)
    if isinstance(exc, HarnessFault):
        return Blame(exc.party, first_line(exc))
    playwright = _playwright_blame(exc)
    if playwright is not None:
        return playwright
    return Blame(HARNESS, f"{type(exc).__name__} in the harness or the check: {first_line(exc)} "
                          f"(not a verdict on the proxy; please report it with the test's output)")


def _playwright_blame(exc: BaseException) -> Blame | None:
    try:
        from playwright.sync_api import Error as PlaywrightError, TimeoutError as PlaywrightTimeout
    except ImportError:  # pragma: no cover - the harness always has Playwright
        return None
    if not isinstance(exc, PlaywrightError):
        return None
    message = first_line(exc)
    if "net::ERR_" in message:
        code = message[message.index("net::ERR_"):].split()[0]
        return Blame(ENVIRONMENT, f"the browser could not load the app page: {code} (check --app-url or the "
                                  f"profile's app.url, and that the app server is up)", stops_run=True)
    if type(exc).__name__ == "TargetClosedError" or any(marker in message for marker in _DRIVER_GONE):
        return Blame(HARNESS, f"the browser driver went away during the test ({message}); rerun, and if it "
                              f"repeats check the machine's memory and the Chromium install", stops_run=True)
    if isinstance(exc, PlaywrightTimeout):
        return Blame(APP, f"the app did not do what the driver waited for ({message}); check the profile's "
                          f"app selectors against the app's DOM (PROTOCOL.md section 6)")
    return Blame(HARNESS, f"the browser driver failed: {message}")


def proxy_died(description: str, log_tail: str) -> Blame:
    """The proxy process exited during the test: the proxy's failure, with its exit and its last words."""
    tail = f"; its log ends: {log_tail}" if log_tail.strip() else ""
    return Blame(PROXY, f"{description}{tail}")


# ------------------------------------------------------------------------------- a proxy started through a launcher
#
# The harness starts the proxy's command (the launcher: the server itself, or npx, tsx, `bash -c`, env ...) in a
# process group of its own. The server may be a grandchild whose exit status the harness cannot read (its parent,
# the launcher, reaps it), and the launcher may outlive it. So the server counts as dead when no process of its
# group runs any more, or when its port refuses connections; and the test charged is the one during which that
# happened: the first connection the client tap could not make to the proxy is the moment it is seen.

# The client tap's close reason for a connection it could not make to the proxy (voice_harness.wire.relay).
_TAP_COULD_NOT_REACH = "relay could not reach "
# Nothing listened on the port any more (not a timeout: a hung server).
_REFUSED = "ConnectionRefusedError"
# The connection was reset: a dying server does that, and so may a healthy one that rejects an upgrade.
_RESET = "ConnectionResetError"


@dataclass(frozen=True)
class ServerSighting:
    """One look at a proxy the harness started: its launcher (the process it started), its process group, its
    port. Times are seconds after the start."""

    port: int
    launcher_pid: int
    launcher_name: str          # the launcher's command name (npx, bash, env, ...), or "" where unknown
    launcher_code: int | None   # the launcher's exit status (negative: the signal); None while it runs
    launcher_exited_at: float | None
    group_alive: bool           # a process of the group still runs (zombies do not count)
    accepting: bool | None      # a TCP connect to the port (the proxy was ready, so it listened): True accepted,
                                # False refused, None not tried (nothing suggested a death, or no process is
                                # left) or undecided (a timeout, a busy server; or a reset)
    outlived_launcher: bool = False   # the port accepted a connection after the launcher had exited (a launcher
                                      # that puts its server in the background): its status is not the server's

    @property
    def down(self) -> bool:
        """The server no longer serves: nothing of its group runs, or its port refuses connections."""
        return not self.group_alive or self.accepting is False


@dataclass(frozen=True)
class Unreached:
    """The connections the client tap could not make to the proxy during a test, in seconds into the test."""

    refused_at: float | None = None   # the first one refused: nothing listened on the port
    reset_at: float | None = None     # the first one reset: no death on its own (a healthy server may reset a
                                      # connection it rejects), only with the server then seen down


def first_unreached(frames, origin: float) -> Unreached | None:
    """The first connections of the test the client tap could not make to the proxy, refused and reset, from the
    test's leg-A frames; None if there was none (a timeout is a busy server, not a dead one)."""
    refused = reset = None
    for frame in frames:
        if frame.leg == CLIENT_LEG and frame.kind == "close" and isinstance(frame.data, dict):
            reason = str(frame.data.get("reason") or "")
            if not reason.startswith(_TAP_COULD_NOT_REACH):
                continue
            if reason.endswith(_REFUSED) and refused is None:
                refused = frame.t - origin
            elif reason.endswith(_RESET) and reset is None:
                reset = frame.t - origin
    return None if refused is None and reset is None else Unreached(refused, reset)


def server_death(sighting: ServerSighting, unreached: Unreached | None = None) -> str | None:
    """How the proxy's server died, in one line, if this sighting and the test's connections the client tap could
    not make (unreached) say it did; None while it serves and no connection was refused.

    A refused connection dates the death; a reset one dates it only when the server is down now (a reset alone is
    no death). The launcher's exit status is the best known status of the server (npx and tsx exit with their
    child's); a launcher that still runs is named instead, so a reader knows why there is no status."""
    refused = unreached.refused_at if unreached is not None else None
    reset = unreached.reset_at if unreached is not None and sighting.down else None
    first = (f" (first refused connection {refused:.1f} s into the test)" if refused is not None
             else f" (first reset connection {reset:.1f} s into the test)" if reset is not None else "")
    launcher = f"pid {sighting.launcher_pid}" + (f", {sighting.launcher_name}" if sighting.launcher_name else "")
    code = sighting.launcher_code
    if sighting.down and code is not None and not sighting.outlived_launcher:
        return f"{exit_phrase(code, sighting.launcher_exited_at)}{first}"
    if sighting.down:
        how = (f"stopped accepting connections on port {sighting.port}" if sighting.group_alive
               else "is gone: no process of its group is left")
        launcher_state = ("is still running" if code is None
                          else f"had exited (code {code}) while the server went on serving")
        return (f"the proxy's server {how}{first}; its launcher ({launcher}) {launcher_state}, so the server's "
                f"exit status is not known")
    if refused is not None:
        # Refused during the test, yet not down now: a supervisor in the group started the server again, or the
        # port does not answer now (busy).
        now = "it accepts connections again now" if sighting.accepting else "its port does not answer now"
        return (f"the proxy's server refused a connection on port {sighting.port} {refused:.1f} s into the "
                f"test ({now}; launcher {launcher})")
    return None


def exit_phrase(code: int, at: float | None) -> str:
    """'the proxy process exited with code 3 at 1.2 s after its start' (or 'was killed by signal ...')."""
    how = f"exited with code {code}" if code >= 0 else f"was killed by {signal_name(-code)}"
    return f"the proxy process {how}" + (f" at {at:.1f} s after its start" if at is not None else "")


def signal_name(number: int) -> str:
    try:
        return f"signal {signal.Signals(number).name} ({number})"
    except ValueError:
        return f"signal {number}"
