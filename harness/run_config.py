"""What one run targets: the profile, the base scenario, the defect, the gate, where reports go."""

from __future__ import annotations

import os
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

    @property
    def real_upstream(self) -> bool:
        return self.profile.upstream.mode == "real"

    def describe(self) -> dict:
        return {"profile": self.profile.name, "upstream": self.profile.upstream.mode,
                "proxy": self.profile.proxy.url or "started by the profile's command",
                "app": self.profile.app.url or "bundled", "scenario": self.scenario_name, "defect": self.defect,
                "strict": self.strict}


def build(profile: str, scenario: str | None, defect: str | None, strict: bool, reports_dir: Path,
          proxy_cmd: str | None = None, proxy_url: str | None = None, app_url: str | None = None,
          upstream: str | None = None) -> RunConfig:
    """Resolve the user's choices; a bad one raises UsageProblem with one line saying what to do."""
    loaded = profiles.with_overrides(profiles.load(profile), proxy_cmd, proxy_url, app_url, upstream)
    if loaded.upstream.mode == "real" and not os.environ.get("OPENAI_API_KEY"):
        raise UsageProblem("the real upstream needs OPENAI_API_KEY in the environment "
                           "(export it, or run against the mock: --upstream mock)")
    try:
        base = scenarios.load(scenario) if scenario else scenarios.load("default")
    except scenarios.ScenarioError as exc:
        raise UsageProblem(str(exc)) from None
    if defect is not None:
        if defect not in DEFECTS:
            raise UsageProblem(f"unknown defect {defect!r}: use one of {', '.join(sorted(DEFECTS))}")
        if not loaded.can_switch_defects:
            raise UsageProblem(f"profile {loaded.name!r} starts no proxy with proxy.defect_args, "
                               f"so --defect cannot be applied")
    return RunConfig(loaded, base, scenario, defect, strict, reports_dir)
