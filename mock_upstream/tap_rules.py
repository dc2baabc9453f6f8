"""Which scenarios the tap can play on top of a real upstream: those made only of delay, drop and close rules.

The rest of a scenario (reply scripts, audio, VAD, injected errors, handshakes) is the service's own business
and needs the mock; `unsupported` says which part of a scenario stands in the way. The tap applies the rules
with `voice_harness.wire.tap_rules` (the floor, which knows nothing of Scenario).
"""

from __future__ import annotations

import dataclasses

from voice_harness.mock_upstream.scenario import Scenario
from voice_harness.wire.tap_rules import TAP_TRIGGERS

# The fields the tap plays (expect declares verdicts: no behaviour of the upstream).
_RULE_FIELDS = {"name", "description", "delays", "drops", "closes", "expect"}


def unsupported(scenario: Scenario) -> str | None:
    """Why the tap cannot play this scenario on top of a real service, or None when it can."""
    default = Scenario()
    for f in dataclasses.fields(Scenario):
        if f.name not in _RULE_FIELDS and getattr(scenario, f.name) != getattr(default, f.name):
            return f"sets {f.name}, which only the mock can do"
    for close in scenario.closes:
        if close.trigger not in TAP_TRIGGERS and close.expected:
            return f"closes at {close.trigger}, which only the mock can see"
    return None
