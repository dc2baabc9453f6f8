"""Scenario rules the tap can apply on top of a real upstream: delay or drop server events, close at a trigger.

The rest of a scenario (reply scripts, audio, VAD, injected errors, handshakes) is the service's own business
and needs the mock; `unsupported` says which part of a scenario stands in the way.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from voice_harness.mock_upstream.scenario import Close, Scenario

TAP_TRIGGERS = ("connect", "session_update", "first_user_item")
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


def role_of(data: Any) -> str | None:
    if isinstance(data, dict) and isinstance(data.get("item"), dict):
        return data["item"].get("role") or data["item"].get("type")
    return None


class TapRules:
    """The rules of one scenario for one tapped connection."""

    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self._seen: set[str] = set()

    def dropped(self, kind: str | None, role: str | None) -> bool:
        return any(r.event == kind and r.role in (None, role) for r in self.scenario.drops)

    def delay_s(self, kind: str | None, role: str | None) -> float:
        return sum(r.ms for r in self.scenario.delays if r.event == kind and r.role in (None, role)) / 1000

    def closes_for(self, kind: str | None, role: str | None) -> list[Close]:
        """The close rules this client event (or None: the connect) fires, each once per connection."""
        trigger = ("connect" if kind is None else "session_update" if kind == "session.update"
                   else "first_user_item" if kind == "conversation.item.create" and role == "user" else None)
        if trigger is None or trigger in self._seen:
            return []
        self._seen.add(trigger)
        return [c for c in self.scenario.closes if c.trigger == trigger]
