"""Shards of a run or of a sensitivity matrix, and the checks before they are merged: pure functions.

`--shard K/N` keeps the K-th of N parts of a selection (tests for `run`, defects for `sensitivity`): the names
sorted, then dealt round-robin, so the same selection always splits the same way on any machine and under any
number of pytest-xdist workers, and the parts differ in size by one at most. No scheduler: CI runners run the
shards, pytest-xdist the tests inside one.

A shard's record says which harness made it, of what target and selection, and which shard it is; a merge
takes the shards of one run only: the same harness version, target, options and selection, every K from 1 to N
once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable

from voice_harness.errors import UsageProblem

SHARD_FILE = "shard.json"   # a run shard's record, beside its conformance.json


@dataclass(frozen=True)
class Shard:
    k: int   # 1..n
    n: int

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"


def parse(text: str) -> Shard:
    """`K/N` with 1 <= K <= N; UsageProblem with one line otherwise."""
    k, sep, n = str(text).strip().partition("/")
    if sep and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n):
        return Shard(int(k), int(n))
    raise UsageProblem(f"--shard takes K/N with 1 <= K <= N (the K-th of N shards, e.g. 1/4), not {text!r}")


def pick(names: Iterable[str], shard: Shard) -> list[str]:
    """The names that fall to this shard, in sorted order: every N-th of the sorted selection from the K-th."""
    return sorted(set(names))[shard.k - 1::shard.n]


def selection_digest(names: Iterable[str]) -> str:
    """A fingerprint of a whole selection (before the split): shards of different selections do not merge."""
    return hashlib.sha256("\n".join(sorted(set(names))).encode()).hexdigest()[:16]


def check_complete(shards: list[tuple[str, Shard]]) -> None:
    """(where, shard) of every part given to a merge: one N, every K once. UsageProblem naming the gap."""
    if not shards:
        raise UsageProblem("report --merge found no shard to merge")
    if len({s.n for _, s in shards}) > 1:
        raise UsageProblem(f"report --merge: the shards split into different numbers of parts "
                           f"({', '.join(f'{w}: {s}' for w, s in shards)}); merge the shards of one run")
    n = shards[0][1].n
    seen: dict[int, str] = {}
    for where, shard in shards:
        if shard.k in seen:
            raise UsageProblem(f"report --merge: shard {shard} given twice ({seen[shard.k]} and {where})")
        seen[shard.k] = where
    missing = [str(Shard(k, n)) for k in range(1, n + 1) if k not in seen]
    if missing:
        raise UsageProblem(f"report --merge: shard {', '.join(missing)} missing (given: "
                           f"{', '.join(f'{w} ({Shard(k, n)})' for k, w in sorted(seen.items()))})")


def check_same(what: str, values: list[tuple[str, object]]) -> None:
    """Every shard's `what` (harness version, target, selection, ...) is the same; UsageProblem naming two that
    differ."""
    first_where, first = values[0]
    for where, value in values[1:]:
        if value != first:
            raise UsageProblem(f"report --merge: the shards are of different runs: {what} {_short(first)} in "
                               f"{first_where}, {_short(value)} in {where}")


def _short(value: object) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in value.items() if v is not None) + "}"
    return repr(value)


def pytest_status(statuses: list[int]) -> int:
    """The merged runs' pytest status, as one run's would be: the first that says the run could not run (not 0 or
    1) wins, else 1 when any shard had a failing test."""
    odd = [s for s in statuses if s not in (0, 1)]
    return odd[0] if odd else max(statuses, default=0)


# Worse run statuses win when shards are merged (conformance.json's run.status).
_STATUS_RANK = ("complete", "interrupted", "environment error")


def run_status(statuses: list[str]) -> str:
    return max(statuses, key=lambda s: _STATUS_RANK.index(s) if s in _STATUS_RANK else len(_STATUS_RANK))
