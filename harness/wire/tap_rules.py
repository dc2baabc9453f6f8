"""The rules the tap applies on top of a real upstream: delay or drop server events, close at a trigger.

Part of the floor (`wire`): the rules come in as data of the shapes below, which the mock's scenario rules
(`voice_harness.mock_upstream.scenario`'s Delay, Drop, Close) have; whether a scenario is made only of such
rules is the mock's to say (`voice_harness.mock_upstream.tap_rules.unsupported`).
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

# The close triggers the tap can see on its own (the rest need the service's state: only the mock has it).
TAP_TRIGGERS = ("connect", "session_update", "first_user_item")


class DelayRule(Protocol):
    """Hold back every server event of this type (for items: of this role) by ms."""

    @property
    def event(self) -> str: ...
    @property
    def ms(self) -> int: ...
    @property
    def role(self) -> str | None: ...


class DropRule(Protocol):
    """Never pass on server events of this type (for items: of this role)."""

    @property
    def event(self) -> str: ...
    @property
    def role(self) -> str | None: ...


class CloseRule(Protocol):
    """Close the client's socket with code and reason, after_ms after the trigger."""

    @property
    def trigger(self) -> str: ...
    @property
    def after_ms(self) -> int: ...
    @property
    def code(self) -> int: ...
    @property
    def reason(self) -> str: ...


class TapScenario(Protocol):
    """What the tap reads of a scenario: its delay, drop and close rules."""

    @property
    def delays(self) -> Sequence[DelayRule]: ...
    @property
    def drops(self) -> Sequence[DropRule]: ...
    @property
    def closes(self) -> Sequence[CloseRule]: ...


def role_of(data: Any) -> str | None:
    """The role a rule matches of a parsed server event: its item's role, or the item's type when it has none."""
    if isinstance(data, dict) and isinstance(data.get("item"), dict):
        return data["item"].get("role") or data["item"].get("type")
    return None


class TapRules:
    """The rules of one scenario for one tapped connection."""

    def __init__(self, scenario: TapScenario):
        self.scenario = scenario
        self._seen: set[str] = set()

    def dropped(self, kind: str | None, role: str | None) -> bool:
        return any(r.event == kind and r.role in (None, role) for r in self.scenario.drops)

    def delay_s(self, kind: str | None, role: str | None) -> float:
        return sum(r.ms for r in self.scenario.delays if r.event == kind and r.role in (None, role)) / 1000

    def closes_for(self, kind: str | None, role: str | None) -> list[CloseRule]:
        """The close rules this client event (or None: the connect) fires, each once per connection."""
        trigger = ("connect" if kind is None else "session_update" if kind == "session.update"
                   else "first_user_item" if kind == "conversation.item.create" and role == "user" else None)
        if trigger is None or trigger in self._seen:
            return []
        self._seen.add(trigger)
        return [c for c in self.scenario.closes if c.trigger == trigger]
