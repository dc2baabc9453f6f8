"""Which scenarios the tap can play on top of a real upstream, and how it applies them."""

from voice_harness.mock_upstream import scenario
from voice_harness.mock_upstream.scenario import Close, Delay, Drop
from voice_harness.mock_upstream.tap_rules import TapRules, unsupported


def test_delay_drop_and_close_rules_are_tap_rules_and_the_rest_needs_the_mock():
    assert unsupported(scenario.load("default")) is None
    assert unsupported(scenario.load("slow-user-item-added")) is None
    assert "only the mock" in unsupported(scenario.load("function-call"))
    assert "only the mock" in unsupported(scenario.Scenario(closes=(Close("response_done"),)))


def test_rules_match_by_type_and_role_and_closes_fire_once_per_trigger():
    rules = TapRules(scenario.Scenario(delays=(Delay("conversation.item.added", 300, role="user"),),
                                       drops=(Drop("rate_limits.updated"),),
                                       closes=(Close("first_user_item", 100, 1000),)))
    assert rules.delay_s("conversation.item.added", "user") == 0.3
    assert rules.delay_s("conversation.item.added", "assistant") == 0
    assert rules.dropped("rate_limits.updated", None)
    assert rules.closes_for("conversation.item.create", "user") == [Close("first_user_item", 100, 1000)]
    assert rules.closes_for("conversation.item.create", "user") == []
