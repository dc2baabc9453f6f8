"""Who is to blame when a test ends other than by passing: a pure mapping from what ended it to an outcome.

A `fail` is a claim about the proxy, so only a check's own verdict (ConformanceFailure) or the proxy process
dying makes one. Everything else that stops a test is an `error`, with the party whose fault it is and what
to do: the environment (a URL that does not answer, a port taken, no browser), the harness (the mock
upstream, a tap or the browser driver broke, or a bug in a check), the app (its page would not load, its
selectors do not match) or the scenario (a malformed rule).
"""

from __future__ import annotations

from dataclasses import dataclass

from voice_harness.mock_upstream.scenario import ScenarioError

from voice_harness.errors import EnvironmentProblem, HarnessFault, UsageProblem

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
