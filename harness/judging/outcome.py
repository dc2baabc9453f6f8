"""One judge: a test phase's facts in, its outcome out (a pure function; the pytest hooks only collect the facts
and apply the outcome to the report).

A phase (setup, call, teardown) of a test with requirement ids ends with an outcome for its own ids: passed,
failed (only the proxy's: a check's ConformanceFailure or the proxy's exit), error (a party other than the proxy:
attribution.Blame), inconclusive, skipped, or expected (its scenario declared the verdict). Invariants its session
broke are findings of their own ids: they make a test that did not fail show as failed, its own outcome kept.
A test without ids (the project's own tests) keeps pytest's outcome; only invariants touch it.

The outcome also says how pytest's report shows it (failed, skipped, an xfail with its reason; the text), whether
the run must stop, and what the phase settled (the proxy's death reported, the failed test's trace kept): the
plugin applies exactly that, and carries the record (PhaseRecord) to the controller.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from websockets.exceptions import ConnectionClosed

from voice_harness.errors import EnvironmentProblem, HarnessFault
from voice_harness.judging import attribution
from voice_harness.judging.checks import ConformanceFailure, Inconclusive, NotExercised
from voice_harness.judging.sessions import Violation
from voice_harness.judging.verdicts import scenario_expectation
from voice_harness.mock_upstream.scenario import ScenarioError

SETUP, CALL, TEARDOWN = "setup", "call", "teardown"
# The test's own outcomes (CaseResult.outcome).
PASSED, FAILED, ERROR, SKIPPED, INCONCLUSIVE, EXPECTED = (
    "passed", "failed", "error", "skipped", "inconclusive", "expected")
# Exceptions that are no consequence of the proxy's exit: the harness's own faults, a scenario's, the machine's.
_NOT_THE_PROXYS = (HarnessFault, EnvironmentProblem, ScenarioError)


@dataclass(frozen=True)
class Expectation:
    """The verdicts the test's scenario declares (`expect`, by id) and the scenario's name."""

    scenario: str
    expect: Mapping[str, str]


@dataclass(frozen=True)
class PhaseFacts:
    """What the plugin saw of one phase of one test (nothing in here is a judgement)."""

    when: str                                    # setup | call | teardown
    ids: tuple[str, ...]                         # the test's req marker ids; () for a test that is no check
    outcome: str                                 # pytest's outcome for the phase: passed | failed | skipped
    exception: BaseException | None = None       # what the phase raised
    faults: tuple[tuple[str, str], ...] = ()     # faults of the harness's own parts seen so far: (party, what)
    violations: tuple[Violation, ...] = ()       # the invariants the test's session broke
    death: str | None = None                     # how the proxy's server died during the test, if it did
    death_log: str = ""                          # the last lines of the proxy's log
    death_reported: bool = False                 # a phase (or the next test's set-up) charged that death already
    stall: str | None = None                     # a replay held back what the proxy waited for: why
    expectation: Expectation | None = None       # the scenario's declared verdicts (None: no scenario known)


@dataclass(frozen=True)
class Outcome:
    """One phase judged: the test's own outcome and how the pytest report must show it."""

    own: str                                     # the test's outcome for its own ids
    reason: str = ""
    req: str = ""                                # the id a check's verdict is under (its own, or the test's
                                                 # when it named none); "" when no check decided the phase
    party: str = ""                              # for an error: whose (attribution.PARTIES)
    invariants: Mapping[str, str] = field(default_factory=dict)   # invariant id -> why this session broke it
    shows: str | None = None                     # the report's outcome: failed | skipped; None: pytest's stands
    longrepr: str | None = None                  # the report's text; None: pytest's stands
    skip_line: str | None = None                 # the text of a skip report line (pytest shows it with the test's
                                                 # location); wins over longrepr
    xfail: str | None = None                     # shown as an expected failure, for this reason
    stops_run: str | None = None                 # every later test would end the same way: stop the run, saying so
    death_reported: bool = False                 # this phase charged the proxy's death to the test
    keep_trace: bool = False                     # keep the test's trace although it did not fail


def judge(facts: PhaseFacts) -> Outcome:
    """The phase's outcome: its own ids judged (whose fault a bad one is: attribution), the scenario's declared
    verdict applied, the invariants its session broke added."""
    if not facts.ids:
        outcome = Outcome(own=facts.outcome)   # not a conformance check: pytest's outcome
    else:
        facts = dataclasses.replace(facts, exception=named_check(facts.exception, facts.ids))
        outcome = _own_ids(facts)
        if facts.when == CALL:
            outcome = _expected_by_scenario(facts, outcome)
    return _with_invariants(facts, outcome)


def named_check(exc: BaseException | None, ids: tuple[str, ...]) -> BaseException | None:
    """A check's verdict under its complete id, every later rule's premise: a check that named no id judges the
    test's one id. Where that cannot be (the marker lists several ids, or the check named one it does not list),
    the check or the marker is wrong: a harness fault, never the proxy's failure. Other exceptions pass as they
    are."""
    if not isinstance(exc, ConformanceFailure):
        return exc
    if exc.req is None:
        if len(ids) == 1:
            return exc.named(ids[0])
        return HarnessFault(f"a check without an id in a test marked with several ids ({', '.join(ids)}): name it "
                            f"with req= ({attribution.first_line(exc)})")
    if exc.req not in ids:
        # A verdict under an id the test does not declare would be counted nowhere, or under the wrong id.
        return HarnessFault(f"the check judged {exc.req}, which the test's req marker ({', '.join(ids)}) does "
                            f"not list: fix the check or the marker ({attribution.first_line(exc)})")
    return exc


def _own_ids(facts: PhaseFacts) -> Outcome:
    death = (None if facts.death is None or facts.death_reported
             else attribution.proxy_died(facts.death, facts.death_log))
    if facts.faults:
        # The mock or a tap broke during the test (or a replay's cassette did not cover what the proxy did):
        # whatever the test concluded rests on a broken part.
        return errored(attribution.Blame(facts.faults[0][0], "; ".join(what for _, what in facts.faults)))
    exc = facts.exception
    if exc is None or facts.outcome != FAILED:
        if death is not None and facts.outcome != SKIPPED:
            return proxy_failed(death, None)
        return Outcome(own=facts.outcome)
    if death is not None and not isinstance(exc, _NOT_THE_PROXYS):
        # Whatever the test saw next (a close, a timeout, nothing to judge) followed from the proxy's exit.
        return proxy_failed(death, exc)
    if isinstance(exc, ConnectionClosed):
        # A wire client's send or receive found its connection closed: a step the check needed could not
        # happen. The close itself is judged under the id it breaks (LIFE-*, the invariants), not here.
        close = exc.rcvd or exc.sent
        how = f"code {close.code} {close.reason}".rstrip() if close else "without a close frame"
        exc = Inconclusive(facts.ids[0], f"not judged: the connection closed ({how}) before the check could finish")
    if isinstance(exc, NotExercised):
        # The app did not send the stimulus (an optional capability it lacks): skipped, naming the app.
        return Outcome(own=SKIPPED, reason=exc.reason, req=exc.req, shows=SKIPPED,
                       skip_line=f"SKIPPED {exc.req}: {exc.reason}")
    if isinstance(exc, Inconclusive):
        caused = "; ".join(f"{v.req} failed in this session: {v.reason}" for v in facts.violations)
        reason = exc.reason + (f" ({caused})" if caused else "")
        # Its trace is kept: a scenario rule it never reached is no news.
        return Outcome(own=INCONCLUSIVE, reason=reason, req=exc.req, shows=SKIPPED,
                       skip_line=f"INCONCLUSIVE {exc.req}: {reason}", keep_trace=True)
    if isinstance(exc, ConformanceFailure):
        if facts.stall is not None:
            # A replay held back what the proxy waited for: the recording cannot judge this proxy here.
            return errored(attribution.Blame(attribution.SCENARIO, f"{facts.stall} ({exc.req}: {exc.reason})"))
        # The requirement, the reason and the timeline slice; no stack trace.
        return Outcome(own=FAILED, reason=exc.reason, req=exc.req, longrepr=str(exc))
    return errored(attribution.classify(exc))


def errored(blame: attribution.Blame) -> Outcome:
    """An error of blame's party (not the proxy's failure); the run stops if every later test would end so."""
    return Outcome(own=ERROR, reason=blame.reason, party=blame.party, shows=FAILED,
                   longrepr=f"harness: {blame.party} error (not the proxy's failure): {blame.reason}",
                   stops_run=f"{blame.party} error" if blame.stops_run else None)


def proxy_failed(death: attribution.Blame, exc: BaseException | None) -> Outcome:
    """The proxy's failure for its exit, keeping what the test saw after it."""
    seen = f"\nthe test then saw: {attribution.first_line(exc)}" if exc is not None else ""
    return Outcome(own=FAILED, reason=death.reason, shows=FAILED, longrepr=f"{death.reason}{seen}",
                   death_reported=True)


def _expected_by_scenario(facts: PhaseFacts, outcome: Outcome) -> Outcome:
    """The verdict the test's scenario declared (`expect`: it makes the upstream itself misbehave) is the
    scenario's, not the proxy's: the test shows as an expected failure (xfail) and its ids as expected by the
    scenario. A scenario that declared a verdict the test did not reach (the canary passed where it says it must
    fail) does not do what it says: a scenario error. The proxy's exit stays the proxy's."""
    if (facts.expectation is None or facts.death_reported or outcome.death_reported
            or outcome.own not in (PASSED, FAILED, INCONCLUSIVE)):
        return outcome
    exc = facts.exception
    found = scenario_expectation(facts.expectation.expect, facts.ids, outcome.own,
                                 exc.req if isinstance(exc, ConformanceFailure) else None)
    if found is None:
        return outcome
    rid, declared, met = found
    name = facts.expectation.scenario
    if not met:
        return errored(attribution.Blame(
            attribution.SCENARIO, f"the scenario {name!r} declares {rid} {declared} (expect), but the test ended "
                                  f"{outcome.own}: the upstream did not misbehave as the scenario says"))
    reason = outcome.reason or (attribution.first_line(exc) if exc is not None else outcome.own)
    why = f"expected by the scenario {name!r} ({rid} {declared}), not the proxy's: {reason}"
    # Its trace is kept: its scenario's rules may not all have fired.
    return dataclasses.replace(outcome, own=EXPECTED, reason=why, party="", shows=SKIPPED, xfail=why,
                               keep_trace=True)


def _with_invariants(facts: PhaseFacts, outcome: Outcome) -> Outcome:
    """The invariants the session broke, on the outcome; a test that did not fail shows as failed for them (its
    own ids keep their outcome). A broken tap or mock leaves a recording that cannot convict the proxy."""
    if not facts.violations or facts.faults:
        return outcome
    broken = {v.req: v.reason for v in facts.violations}
    if (outcome.shows or facts.outcome) == FAILED:
        return dataclasses.replace(outcome, invariants=broken)
    text = "\n".join(f"{v.req} (invariant, broken in this test's session): {v.reason}" for v in facts.violations)
    return dataclasses.replace(outcome, invariants=broken, shows=FAILED, longrepr=text, skip_line=None, xfail=None)


@dataclass(frozen=True)
class PhaseRecord:
    """What one phase's report carries from a worker to the controller (Conformance), under one user property
    as a JSON object (pytest-xdist sends user properties as they are; junit.xml shows them as text)."""

    reqs: tuple[str, ...] = ()
    own: str | None = None                       # the test's outcome for its own ids (None: the report's)
    reason: str = ""
    party: str = ""
    invariants: Mapping[str, str] = field(default_factory=dict)
    death_of: tuple[str, str] | None = None      # (test, why): the proxy exited after that earlier test's report
    metrics: Mapping[str, Any] | None = None     # the run's figures (the canary's call phase)
    failure_class: Mapping[str, Any] | None = None   # how the failed phase's session broke (metrics.classify)

    @classmethod
    def of(cls, facts: PhaseFacts, outcome: Outcome, **extra) -> PhaseRecord:
        return cls(facts.ids, outcome.own, outcome.reason, outcome.party, dict(outcome.invariants), **extra)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["reqs"] = list(self.reqs)
        data["death_of"] = None if self.death_of is None else {"test": self.death_of[0], "reason": self.death_of[1]}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PhaseRecord:
        death = data.get("death_of")
        return cls(tuple(data.get("reqs", ())), data.get("own"), data.get("reason", ""), data.get("party", ""),
                   dict(data.get("invariants") or {}), None if death is None else (death["test"], death["reason"]),
                   data.get("metrics"), data.get("failure_class"))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> PhaseRecord:
        return cls.from_dict(json.loads(text))
