"""From test outcomes to requirement verdicts and the run's exit status: pure functions."""

from __future__ import annotations

from dataclasses import dataclass, field

from .catalogue import Requirement

PASS, FAIL, SKIP, UNTESTED = "pass", "fail", "skip", "untested"


@dataclass
class CaseResult:
    nodeid: str
    reqs: tuple[str, ...]
    outcome: str = "passed"         # passed | failed | skipped
    reason: str = ""

    def merge_phase(self, outcome: str, reason: str) -> None:
        """Fold in one phase (setup, call, teardown): any failure fails the test; the first reason stays."""
        if outcome == "failed" and self.outcome != "failed":
            self.outcome, self.reason = "failed", reason
        elif outcome == "skipped" and self.outcome == "passed":
            self.outcome, self.reason = "skipped", reason


@dataclass
class Verdict:
    level: str
    verdict: str = UNTESTED
    tests: list[str] = field(default_factory=list)
    reason: str = ""


def verdicts(catalogue: dict[str, Requirement], results: list[CaseResult]) -> dict[str, Verdict]:
    table = {rid: Verdict(req.level) for rid, req in catalogue.items()}
    for result in results:
        for rid in result.reqs:
            table[rid].tests.append(result.nodeid)
    for rid, verdict in table.items():
        mine = [r for r in results if rid in r.reqs]
        failed = [r for r in mine if r.outcome == "failed"]
        if failed:
            verdict.verdict, verdict.reason = FAIL, failed[0].reason
        elif any(r.outcome == "passed" for r in mine):
            verdict.verdict = PASS
        elif mine:
            verdict.verdict, verdict.reason = SKIP, mine[0].reason
    return table


def summary(table: dict[str, Verdict]) -> dict[str, int]:
    counts = {f"{level.lower()}_{v}": 0 for level in ("MUST", "SHOULD") for v in ("passed", "failed", "skipped")}
    counts["untested"] = 0
    names = {PASS: "passed", FAIL: "failed", SKIP: "skipped"}
    for verdict in table.values():
        if verdict.verdict == UNTESTED:
            counts["untested"] += 1
        else:
            counts[f"{verdict.level.lower()}_{names[verdict.verdict]}"] += 1
    return counts


def gate_passes(table: dict[str, Verdict], strict: bool) -> bool:
    """Every selected MUST requirement passed (and with strict, every SHOULD too)."""
    gating = {"MUST", "SHOULD"} if strict else {"MUST"}
    return not any(v.verdict == FAIL and v.level in gating for v in table.values())


def exit_status(pytest_status: int, table: dict[str, Verdict], results: list[CaseResult], strict: bool) -> int:
    """0 when the gate passes and nothing outside the catalogue failed; pytest's status otherwise."""
    if pytest_status != 1:
        return pytest_status
    untagged_failures = any(r.outcome == "failed" and not r.reqs for r in results)
    if untagged_failures or not gate_passes(table, strict):
        return 1
    return 0
