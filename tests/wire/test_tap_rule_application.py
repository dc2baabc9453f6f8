"""How the tap applies a scenario's delay, drop and close rules on top of a real upstream: the rules come in as
data (the mock's Scenario has the TapScenario shape; the floor imports nothing of the mock)."""

from dataclasses import dataclass

from voice_harness.mock_upstream import scenario
from voice_harness.mock_upstream.scenario import Close, Delay, Drop
from voice_harness.wire.tap_rules import TapRules, role_of


def test_rules_match_by_type_and_role_and_closes_fire_once_per_trigger():
    rules = TapRules(scenario.Scenario(delays=(Delay("conversation.item.added", 300, role="user"),),
                                       drops=(Drop("rate_limits.updated"),),
                                       closes=(Close("first_user_item", 100, 1000),)))
    assert rules.delay_s("conversation.item.added", "user") == 0.3
    assert rules.delay_s("conversation.item.added", "assistant") == 0
    assert rules.dropped("rate_limits.updated", None)
    assert not rules.dropped("response.done", None)
    assert rules.closes_for("conversation.item.create", "user") == [Close("first_user_item", 100, 1000)]
    assert rules.closes_for("conversation.item.create", "user") == []


@dataclass(frozen=True)
class _Rule:
    event: str = ""
    ms: int = 0
    role: str | None = None
    trigger: str = ""
    after_ms: int = 0
    code: int = 1000
    reason: str = ""


@dataclass(frozen=True)
class _Rules:
    delays: tuple = ()
    drops: tuple = ()
    closes: tuple = ()


def test_any_data_of_the_scenario_shape_is_played():
    rules = TapRules(_Rules(delays=(_Rule(event="response.done", ms=50), _Rule(event="response.done", ms=25)),
                            closes=(_Rule(trigger="connect", code=1011), _Rule(trigger="session_update"))))
    assert rules.delay_s("response.done", None) == 0.075
    assert [c.code for c in rules.closes_for(None, None)] == [1011]
    assert [c.trigger for c in rules.closes_for("session.update", None)] == ["session_update"]
    assert rules.closes_for("response.create", None) == []


def test_an_item_event_matches_by_its_items_role_or_else_its_type():
    assert role_of({"item": {"role": "user", "type": "message"}}) == "user"
    assert role_of({"item": {"type": "function_call"}}) == "function_call"
    assert role_of({"type": "response.done"}) is None
    assert role_of(None) is None
