"""From test outcomes to requirement verdicts and the run's exit status: pure functions.

A test reports on its own ids (its `req` marker): passed (the situation arose and the requirement held),
failed (the proxy broke it), error (it could not be judged: the environment, the harness, the app or the
scenario failed, never the proxy), inconclusive (the situation never arose, or a step it needed did not
happen), skipped, or expected (its scenario makes the upstream itself misbehave and declared this verdict:
the scenario's, not the proxy's). Its session
may also expose violations of the invariant ids, found on its timeline whatever the test is for: those count
as failures of the invariant's id, naming the test, and never as failures of the test's own ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voice_harness.judging.catalogue import Requirement

PASS, FAIL, ERROR, INCONCLUSIVE, SKIP, UNTESTED = "pass", "fail", "error", "inconclusive", "skip", "untested"
EXPECTED = "expected"   # the verdict a scenario declared (`expect`): the scenario's, not the proxy's
VERDICTS = (PASS, FAIL, ERROR, INCONCLUSIVE, EXPECTED, SKIP, UNTESTED)
# A test's outcome for its own ids; a later phase's outcome replaces an earlier one's only if it ranks higher.
# An error outranks a failure: a failure seen while the harness itself broke (the mock upstream crashed in
# teardown, say) is no claim about the proxy.
_RANK = {"passed": 0, "skipped": 1, "inconclusive": 2, "expected": 3, "failed": 4, "error": 5}
# The verdicts that judged the proxy on an id: a run that gives one of these to every id the harness checks is
# complete. Not judged: error (the run broke), skip (for want of an app capability, say), untested (not
# selected), expected (the scenario decided it). Inconclusive counts: the id's tests ran against the proxy and the
# situation never arose, which is itself a finding (a MUST one stops the gate).
JUDGED = (PASS, FAIL, INCONCLUSIVE)
# The gate's states: passed (a release verdict), partial (nothing stopped the gate, but the run did not judge
# every id this version checks: not a release verdict), failed.
GATE_PASSED, GATE_PARTIAL, GATE_FAILED = "passed", "partial", "failed"
# What a scenario may declare an id's verdict to be, and the test outcome each means.
EXPECTABLE = {FAIL: "failed", INCONCLUSIVE: "inconclusive"}


@dataclass
class CaseResult:
    nodeid: str
    reqs: tuple[str, ...]
    outcome: str = "passed"         # passed | failed | error | skipped | inconclusive | expected
    reason: str = ""
    party: str = ""                 # for an error: environment | harness | app | scenario
    findings: dict[str, str] = field(default_factory=dict)   # invariant id -> why this session broke it

    def merge_phase(self, outcome: str, reason: str, party: str = "") -> None:
        """Fold in one phase (setup, call, teardown): the worst outcome wins, with the first reason it came with."""
        if _RANK[outcome] > _RANK[self.outcome]:
            self.outcome, self.reason, self.party = outcome, reason, party

    def found(self, req: str, reason: str) -> None:
        """This test's session broke invariant `req` (the first reason stays)."""
        self.findings.setdefault(req, reason)


@dataclass
class Verdict:
    level: str
    verdict: str = UNTESTED
    tests: list[str] = field(default_factory=list)
    reason: str = ""
    exposed_by: list[str] = field(default_factory=list)   # other ids' tests whose sessions broke this invariant
    planned: bool = False   # the catalogue names the id but this harness version has no check for it yet


def verdicts(catalogue: dict[str, Requirement], results: list[CaseResult]) -> dict[str, Verdict]:
    table = {rid: Verdict(req.level, planned=bool(req.planned)) for rid, req in catalogue.items()}
    for rid, verdict in table.items():
        mine = [r for r in results if rid in r.reqs]
        verdict.tests = [r.nodeid for r in mine]
        exposing = [r for r in results if rid in r.findings]
        verdict.exposed_by = [r.nodeid for r in exposing if rid not in r.reqs]
        failed = [r for r in mine if r.outcome == "failed"]
        errors = [r for r in mine if r.outcome == "error"]
        if failed:
            verdict.verdict, verdict.reason = FAIL, failed[0].reason
        elif exposing:
            first = exposing[0]
            verdict.verdict = FAIL
            verdict.reason = f"{first.findings[rid]} (invariant, in the session of {first.nodeid})"
        elif errors:
            # Not judged in (some of) its tests: no pass can be claimed, and the proxy is not blamed.
            verdict.verdict, verdict.reason = ERROR, f"{errors[0].party or 'harness'} error: {errors[0].reason}"
        elif any(r.outcome == "passed" for r in mine):
            verdict.verdict = PASS
        elif any(r.outcome == "inconclusive" for r in mine):
            verdict.verdict = INCONCLUSIVE
            verdict.reason = next(r.reason for r in mine if r.outcome == "inconclusive")
        elif any(r.outcome == "expected" for r in mine):
            verdict.verdict = EXPECTED
            verdict.reason = next(r.reason for r in mine if r.outcome == "expected")
        elif mine:
            verdict.verdict, verdict.reason = SKIP, mine[0].reason
        elif catalogue[rid].planned:
            verdict.reason = f"planned: {catalogue[rid].planned}"
    return table


def summary(table: dict[str, Verdict]) -> dict[str, int]:
    counts = {f"{level.lower()}_{v}": 0 for level in ("MUST", "SHOULD")
              for v in ("passed", "failed", "error", "inconclusive", "expected", "skipped")}
    counts["untested"] = 0
    names = {PASS: "passed", FAIL: "failed", ERROR: "error", INCONCLUSIVE: "inconclusive", EXPECTED: "expected",
             SKIP: "skipped"}
    for verdict in table.values():
        if verdict.verdict == UNTESTED:
            counts["untested"] += 1
        else:
            counts[f"{verdict.level.lower()}_{names[verdict.verdict]}"] += 1
    return counts


def gating(table: dict[str, Verdict], strict: bool) -> dict[str, list[str]]:
    """The ids that stop the gate: failed, not judged (error), and only inconclusive (never provoked); MUST ids,
    with strict also SHOULD."""
    levels = {"MUST", "SHOULD"} if strict else {"MUST"}
    return {state: [rid for rid, v in table.items() if v.level in levels and v.verdict == state]
            for state in (FAIL, ERROR, INCONCLUSIVE)}


def gate_passes(table: dict[str, Verdict], strict: bool) -> bool:
    """Every selected MUST requirement passed (and with strict, every SHOULD too): none failed, none only
    inconclusive."""
    return not any(gating(table, strict).values())


def coverage(table: dict[str, Verdict]) -> dict:
    """What the run judged of the ids this harness version checks (the catalogue less its planned ids): judged
    and total counts, the ids left out (no pass, fail or inconclusive), and the planned ids (not checked)."""
    checked = {rid: v for rid, v in table.items() if not v.planned}
    left_out = [rid for rid, v in checked.items() if v.verdict not in JUDGED]
    return {"judged": len(checked) - len(left_out), "total": len(checked), "left_out": left_out,
            "not_checked": [rid for rid, v in table.items() if v.planned]}


def gate_state(table: dict[str, Verdict], strict: bool) -> str:
    """failed when an id stopped the gate; partial when none did but the run left ids out (narrowed with -k or
    --req, a skipped test, a verdict a scenario decided): no release verdict; passed otherwise."""
    if not gate_passes(table, strict):
        return GATE_FAILED
    return GATE_PARTIAL if coverage(table)["left_out"] else GATE_PASSED


def scenario_expectation(expect: dict[str, str], ids: tuple[str, ...] | list[str], outcome: str,
                         judged: str | None = None) -> tuple[str, str, bool] | None:
    """How a test's outcome for its own ids stands to the verdicts its scenario declared (`expect`, by id):
    (id, declared verdict, met) or None when no declaration applies. outcome: passed | failed | inconclusive
    (anything else, a skip or an error, judged nothing and meets or breaks no declaration); judged: the id a
    failure or inconclusive was raised under (a failure under an id the scenario declared nothing for, or one
    that is no check's verdict, such as the proxy's exit, stays the proxy's)."""
    declared = [rid for rid in ids if rid in expect]
    if not declared or outcome not in ("passed", "failed", "inconclusive"):
        return None
    if outcome != "passed":
        if judged not in expect:
            return None
        rid = judged
    else:
        rid = declared[0]
    return rid, expect[rid], EXPECTABLE.get(expect[rid]) == outcome


def first_error(results: list[CaseResult]) -> CaseResult | None:
    """The first test that could not be judged (environment, harness, app or scenario): the run's exit 2."""
    return next((r for r in results if r.outcome == "error"), None)


def exit_status(pytest_status: int, table: dict[str, Verdict], results: list[CaseResult], strict: bool,
                require_complete: bool = False) -> int:
    """2 when any test could not be judged (an error); 0 when the gate passes and nothing outside the catalogue
    failed; 1 when not (with require_complete, also when the run is partial); pytest's own status when it could
    not run the tests (usage error, interrupted, no tests)."""
    if pytest_status not in (0, 1):
        return pytest_status
    if first_error(results) is not None:
        return 2
    untagged_failures = any(r.outcome == "failed" and not r.reqs for r in results)
    if untagged_failures or not gate_passes(table, strict):
        return 1
    if require_complete and gate_state(table, strict) == GATE_PARTIAL:
        return 1
    return 0
