"""Which scenarios the tap can play on top of a real upstream (how the tap applies their rules:
tests/wire/test_tap_rule_application.py)."""

from voice_harness.mock_upstream import scenario
from voice_harness.mock_upstream.scenario import Close
from voice_harness.mock_upstream.tap_rules import unsupported


def test_delay_drop_and_close_rules_are_tap_rules_and_the_rest_needs_the_mock():
    assert unsupported(scenario.load("default")) is None
    assert unsupported(scenario.load("slow-user-item-added")) is None
    assert "only the mock" in unsupported(scenario.load("function-call"))
    assert "only the mock" in unsupported(scenario.Scenario(closes=(Close("response_done"),)))
