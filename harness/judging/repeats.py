"""Verdicts over repeated runs (`harness run --repeat N`, which is pytest-repeat's `--count N`): which run each
test result belongs to, each id's verdict in each run, and the ids whose verdict was not the same in every run.

A release gate acts on a verdict, so a verdict that changes from run to run is itself a finding: either the
proxy has a real race (then the failure is real, and "seen in k of N runs" says how often) or a check judges
before its stimulus went through (then the check is wrong). Pure functions of the test results.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from voice_harness.judging.catalogue import Requirement
from voice_harness.judging.verdicts import FAIL, CaseResult, Verdict, verdicts

# pytest-repeat adds `k-N` as the last parametrize id: test_x[1-10], test_x[json-array-3-10].
_REPEAT_ID = re.compile(r"\[(?:(?P<params>.*)-)?(?P<k>\d+)-(?P<n>\d+)\]$")


def run_of(nodeid: str) -> tuple[int, int] | None:
    """(k, N) for the k-th of N repeats of a test, or None for a test that was not repeated."""
    match = _REPEAT_ID.search(nodeid)
    if match is None or not 1 <= int(match["k"]) <= int(match["n"]):
        return None
    return int(match["k"]), int(match["n"])


def base_nodeid(nodeid: str) -> str:
    """The test's node id without its repeat part: what reproduces it."""
    match = _REPEAT_ID.search(nodeid)
    if match is None or run_of(nodeid) is None:
        return nodeid
    return nodeid[:match.start()] + (f"[{match['params']}]" if match["params"] else "")


def repeat_count(results: list[CaseResult]) -> int:
    """N when the results are N repeats of the selected tests; 1 otherwise."""
    counts = {run[1] for run in (run_of(r.nodeid) for r in results) if run is not None}
    return max(counts, default=1)


def per_run(catalogue: dict[str, Requirement], results: list[CaseResult]) -> list[dict[str, Verdict]]:
    """Each id's verdict table in run 1..N, each judged from that run's results alone."""
    n = repeat_count(results)
    runs: list[list[CaseResult]] = [[] for _ in range(n)]
    for result in results:
        run = run_of(result.nodeid)
        runs[(run[0] - 1) if run is not None else 0].append(result)
    return [verdicts(catalogue, run_results) for run_results in runs]


@dataclass(frozen=True)
class Stability:
    verdicts: tuple[str, ...]        # the id's verdict in run 1..N

    @property
    def stable(self) -> bool:
        return len(set(self.verdicts)) <= 1

    def seen(self, verdict: str = FAIL) -> int:
        return sum(v == verdict for v in self.verdicts)

    def summary(self) -> str:
        """e.g. `fail 2, pass 8`: each verdict with the number of runs that gave it, most frequent first."""
        return ", ".join(f"{v} {k}" for v, k in Counter(self.verdicts).most_common())


def stability(catalogue: dict[str, Requirement], results: list[CaseResult]) -> dict[str, Stability]:
    """Per id, its verdicts across the N runs (ids no test of the run carried are left out)."""
    tables = per_run(catalogue, results)
    carried = {rid for r in results for rid in (*r.reqs, *r.findings)}
    return {rid: Stability(tuple(table[rid].verdict for table in tables)) for rid in catalogue if rid in carried}


def seen_in(rid: str, table: dict[str, Verdict], results: list[CaseResult],
            catalogue: dict[str, Requirement], runs: dict[str, Stability] | None = None) -> str:
    """For a failed id of a repeated run that did not fail in every run: `seen in k of N runs; reproduce with
    ...` naming its first failing test; else ''. runs: the run's stability(), when already computed."""
    n = repeat_count(results)
    if n <= 1 or table[rid].verdict != FAIL:
        return ""
    record = (runs if runs is not None else stability(catalogue, results)).get(rid)
    if record is None or record.seen(FAIL) in (0, n):
        return ""
    failing = next((r.nodeid for r in results if rid in r.reqs and r.outcome == "failed"),
                   next((r.nodeid for r in results if rid in r.findings), ""))
    reproduce = f"; reproduce with voice-harness run --repeat {n} -- '{base_nodeid(failing)}'" if failing else ""
    return f"seen in {record.seen(FAIL)} of {n} runs{reproduce}"


def with_counts(table: dict[str, Verdict], results: list[CaseResult],
                catalogue: dict[str, Requirement]) -> dict[str, Stability]:
    """In a repeated run, a failed id that did not fail in every run says so in its reason (how often, and
    the command that reproduces it): a release gate must not read a race as a steady defect, nor hide it.
    The run's stability(), for the record."""
    runs = stability(catalogue, results)
    for rid, verdict in table.items():
        note = seen_in(rid, table, results, catalogue, runs)
        if note:
            verdict.reason = f"{note}: {verdict.reason}"
    return runs
