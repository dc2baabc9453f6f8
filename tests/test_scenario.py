"""Scenarios are data: every bundled file loads, and mistakes are named precisely."""

import pytest

from mock_upstream import scenario
from mock_upstream.scenario import Close, Delay, ScenarioError


@pytest.mark.parametrize("name", scenario.names())
def test_every_bundled_scenario_loads(name):
    assert scenario.load(name).name == name


def test_the_default_file_matches_the_built_in_field_model():
    assert scenario.load("default").closes == scenario.Scenario().closes


def test_overrides_turn_tables_into_rules():
    changed = scenario.Scenario().with_overrides(delays=[{"event": "session.updated", "ms": 5}])
    assert changed.delays == (Delay("session.updated", 5),)
    assert changed.closes == (Close("premature_response_create", 2700, 1000, "", expected=False),)


def test_an_unknown_rule_key_is_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[delay]]\nevent = "x"\nms = 1\nrole = "user"\nwhen = 3\n')
    with pytest.raises(ScenarioError, match=r"bad.toml: delays: unknown key 'when'"):
        scenario.load(str(path))


def test_an_unknown_trigger_is_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[close]]\ntrigger = "whenever"\n')
    with pytest.raises(ScenarioError, match="trigger .whenever."):
        scenario.load(str(path))


def test_reply_parts_loads_and_must_be_at_least_one(tmp_path):
    path = tmp_path / "parts.toml"
    path.write_text("reply_parts = 3\n")
    assert scenario.load(str(path)).reply_parts == 3
    assert scenario.Scenario().reply_parts == 1
    path.write_text("reply_parts = 0\n")
    with pytest.raises(ScenarioError, match="parts.toml: reply_parts"):
        scenario.load(str(path))
