"""Scenarios are data: every bundled file loads, and mistakes are named precisely."""

import base64
import dataclasses
import importlib
import inspect
import pkgutil
from types import SimpleNamespace

import pytest

import suites
from voice_harness.plugin.fixtures import scenario_for
from voice_harness.mock_upstream import scenario
from voice_harness.mock_upstream.engine import Engine, Send
from voice_harness.mock_upstream.scenario import Close, Delay, InjectError, ScenarioError, Turn


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
    with pytest.raises(ScenarioError, match=r"bad.toml: delay\[0\]: unknown key 'when'"):
        scenario.load(str(path))


def test_an_unknown_trigger_is_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[[close]]\ntrigger = "whenever"\n')
    with pytest.raises(ScenarioError, match=r"bad.toml: close\[0\]\.trigger must be one of connect, .*got 'whenever'"):
        scenario.load(str(path))


def test_reply_parts_loads_and_must_be_at_least_one(tmp_path):
    path = tmp_path / "parts.toml"
    path.write_text("reply_parts = 3\n")
    assert scenario.load(str(path)).reply_parts == 3
    assert scenario.Scenario().reply_parts == 1
    path.write_text("reply_parts = 0\n")
    with pytest.raises(ScenarioError, match="parts.toml: reply_parts"):
        scenario.load(str(path))


def load_toml(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return scenario.load(str(path))


@pytest.mark.parametrize("text, message", [
    ('reply_latency_ms = "soon"\n',
     "bad.toml: reply_latency_ms must be an integer number of milliseconds, got 'soon'"),
    ('[[delay]]\nevent = "session.updated"\nms = 1\n\n[[delay]]\nevent = "session.updated"\nms = -5\n',
     "bad.toml: delay[1].ms must be >= 0, got -5"),
    ("reply_chunks = true\n", "bad.toml: reply_chunks must be an integer, got True"),
    ("replies = 0\n", "bad.toml: replies must be true or false, got 0"),
    ('[[drop]]\nevent = "session.update"\n', "bad.toml: drop[0].event must be a Realtime server event type, "
                                             "got 'session.update'"),
    ('[[delay]]\nevent = "conversation.item.added"\nms = 5\nrole = "bot"\n',
     "bad.toml: delay[0].role must be one of user, assistant, system, function_call, function_call_output, got 'bot'"),
    ('[[close]]\ntrigger = "connect"\ncode = 1006\n', "bad.toml: close[0].code must be a close code a server may send"),
    ('[[close]]\ntrigger = "connect"\ncode = 5000\n', "bad.toml: close[0].code must be a close code"),
    ('[[close]]\ntrigger = "connect"\nreason = "' + "x" * 124 + '"\n', "bad.toml: close[0].reason must be at most 123"),
    ("audio_chunk_ms = 0\n", "bad.toml: audio_chunk_ms must be >= 1, got 0"),
    ("reply_chunks = 0\n", "bad.toml: reply_chunks must be >= 1, got 0"),
    ("reply_latency_ms = 1.5\n", "bad.toml: reply_latency_ms must be an integer number of milliseconds, got 1.5"),
    ('delay = "slow"\n', "bad.toml: delay must be a list of tables, got 'slow'"),
    ("[[delay]]\nms = 5\n", "bad.toml: delay[0]: missing key 'event'"),
    ("vad_silence_ms = 0\n", "bad.toml: vad_silence_ms must be >= 1, got 0"),
    ('unknown_events = ["response.done"]\n', "bad.toml: unknown_events must be a list of event types the Realtime "
                                              "API does not have"),
    ('unknown_events = "response.future_feature"\n', "bad.toml: unknown_events must be a list of event type strings"),
], ids=["string-latency", "negative-delay", "bool-for-int", "int-for-bool", "unknown-event", "unknown-role",
        "close-code-1006", "close-code-5000", "long-close-reason", "zero-audio-chunk", "zero-reply-chunks",
        "float-latency", "rules-not-a-list", "missing-key", "zero-vad-silence", "known-unknown-event",
        "unknown-events-not-a-list"])
def test_a_bad_value_is_refused_at_load_naming_the_file_and_the_key(tmp_path, text, message):
    with pytest.raises(ScenarioError) as raised:
        load_toml(tmp_path, text)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_overrides_are_checked_like_files_and_name_the_overridden_scenario():
    with pytest.raises(ScenarioError, match=r"^scenario 'default' overrides: delays\[0\]\.ms must be >= 0, got -5$"):
        scenario.Scenario().with_overrides(delays=[{"event": "session.updated", "ms": -5}])
    with pytest.raises(ScenarioError, match=r"overrides: closes\[0\]\.code must be a close code"):
        scenario.Scenario().with_overrides(closes=(Close("connect", code=1015),))


@pytest.mark.parametrize("override", [
    {"reply_audio_chunks": 0, "vad_utterance_ms": 0, "reply_latency_ms": 0},
    {"closes": [{"trigger": "connect", "code": code} for code in (1000, 1001, 1011, 1014, 3000, 4999)]},
    {"delays": [{"event": "conversation.item.added", "ms": 0, "role": None}]},
    {"drops": [{"event": "conversation.item.done", "role": "function_call_output"}], "script": [{"text": "hi"}]},
], ids=["zeros", "close-codes", "role-none", "function-output-role"])
def test_the_edges_of_what_is_allowed_load(override):
    scenario.Scenario().with_overrides(**override)


def scenario_marks():
    """Every @pytest.mark.scenario in suites/: on test functions, and on the parameters of parametrize marks."""
    found = []
    for info in pkgutil.iter_modules(suites.__path__):
        module = importlib.import_module(f"suites.{info.name}")
        for owner in [module, *(v for v in vars(module).values() if inspect.isfunction(v) or inspect.isclass(v))]:
            for mark in getattr(owner, "pytestmark", []):
                params = mark.args[1] if mark.name == "parametrize" else ()
                candidates = [mark, *(getattr(m, "mark", m) for p in params for m in getattr(p, "marks", ()))]
                found += [m for m in candidates if m.name == "scenario"]
    return found


def test_every_scenario_the_suites_ask_for_loads():
    marks = scenario_marks()
    assert len(marks) >= 30   # the scan still finds the suites' marks
    for mark in marks:
        scenario_for(SimpleNamespace(get_closest_marker=lambda name, mark=mark: mark),
                     SimpleNamespace(scenario=scenario.Scenario()))


def test_every_event_the_mock_sends_is_a_server_event_a_rule_may_name():
    engine = Engine(scenario.Scenario(reply_audio_chunks=2, vad_utterance_ms=50, script=(Turn("function_call", "f"),),
                                      errors=(InjectError("first_user_item", "idle_timeout"),)))
    user_item = {"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}}
    audio = {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(4800)).decode()}
    outcomes = [engine.connect(0.0), engine.receive(0.1, {"type": "session.update", "session": {"type": "realtime"}}),
                engine.receive(1.0, user_item), engine.receive(1.1, {"type": "response.create"}),
                engine.receive(5.0, audio), engine.receive(9.0, {"type": "response.create"}),
                engine.receive(9.0, {"type": "response.cancel"}),
                engine.receive(9.5, {"type": "input_audio_buffer.commit"}), engine.receive_text(10.0, "not json")]
    sent = {a.event["type"] for outcome in outcomes for a in outcome.actions if isinstance(a, Send)}
    assert len(sent) > 15 and sent <= scenario.SERVER_EVENTS, sent - scenario.SERVER_EVENTS


def test_an_optional_field_of_a_rule_is_checked_when_given_and_may_be_left_out(tmp_path):
    with pytest.raises(ScenarioError, match=r"bad.toml: turn\[0\]\.text must be a string, got 5"):
        load_toml(tmp_path, "[[turn]]\ntext = 5\n")
    assert load_toml(tmp_path, '[[turn]]\nkind = "text"\n').script[0].text is None


def test_a_scenario_declares_the_verdicts_it_forces_and_they_are_checked(tmp_path):
    assert scenario.load("close-after-first-message").expect == {"CANARY-1": "fail"}
    assert scenario.Scenario().expect == {}
    with pytest.raises(ScenarioError, match=r'bad.toml: expect must be a table of requirement id = "fail" or '
                                            r'"inconclusive", got \{\'CANARY-1\': \'red\'\}'):
        load_toml(tmp_path, 'expect = {CANARY-1 = "red"}\n')
    with pytest.raises(ScenarioError, match="expect must be a table of requirement id = verdict, got 'fail'"):
        scenario.Scenario().with_overrides(expect="fail")


def test_a_run_scenario_that_expects_an_unknown_id_is_a_usage_error(tmp_path):
    from voice_harness.errors import UsageProblem
    from voice_harness.targets import run_config

    path = tmp_path / "odd.toml"
    path.write_text('expect = {NOPE-1 = "fail"}\n')
    with pytest.raises(UsageProblem, match="expect names an unknown requirement id 'NOPE-1'"):
        run_config.build(run_config.Options(scenario=str(path), reports_dir=tmp_path))


def test_a_cassette_header_written_before_session_turn_detection_still_loads():
    old = {k: v for k, v in dataclasses.asdict(scenario.Scenario()).items() if k != "unknown_events"}
    old["vad_silence_ms"] = 0
    loaded = scenario.from_dict(old, "old.cassette: header")
    assert loaded.vad_silence_ms == scenario.Scenario().vad_silence_ms and loaded.unknown_events == []
    with pytest.raises(ScenarioError, match="vad_silence_ms must be >= 1"):
        scenario.Scenario().with_overrides(vad_silence_ms=0)
