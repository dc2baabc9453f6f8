"""What one run targets: the profile, the base scenario, the defect, the gate, where reports go."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mock_upstream import scenario as scenarios
from reference_proxy.defects import DEFECTS

from . import profiles
from .errors import UsageProblem


@dataclass(frozen=True)
class RunConfig:
    profile: profiles.Profile
    scenario: scenarios.Scenario
    scenario_name: str | None
    defect: str | None
    strict: bool
    reports_dir: Path

    def describe(self) -> dict:
        return {"profile": self.profile.name, "scenario": self.scenario_name, "defect": self.defect,
                "strict": self.strict}


def build(profile: str, scenario: str | None, defect: str | None, strict: bool, reports_dir: Path) -> RunConfig:
    """Resolve the user's choices; a bad one raises UsageProblem with one line saying what to do."""
    loaded = profiles.load(profile)
    try:
        base = scenarios.load(scenario) if scenario else scenarios.load("default")
    except scenarios.ScenarioError as exc:
        raise UsageProblem(str(exc)) from None
    if defect is not None:
        if defect not in DEFECTS:
            raise UsageProblem(f"unknown defect {defect!r}: use one of {', '.join(sorted(DEFECTS))}")
        if not loaded.can_switch_defects:
            raise UsageProblem(f"profile {loaded.name!r} has no proxy.defect_args, so --defect cannot be applied")
    return RunConfig(loaded, base, scenario, defect, strict, reports_dir)
