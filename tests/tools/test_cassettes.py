"""Cassettes end to end, without a key: the standalone mock with --require-key stands in for the real service
(upstream.real_url pointed at it). A real-mode run keeps one cassette per test; a replay of them passes with no
key in the environment and gives each test its recorded verdict; a proxy that diverges from a cassette is an
error showing the divergence; a cassette of the field defect replays to the same red verdict; drift finds
nothing between the stand-in's cassettes and the mock, and finds each kind of edit."""

import json
import secrets
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from voice_harness.targets.proxy_process import free_port
from voice_harness.wire import cassette

from support import ROOT, Background, harness_run

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("cassettes")]

KEY = "sk-test-" + secrets.token_hex(16)
SELECT = ("--", "-k", "canary")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Cassettes of the canary tests against the stand-in: of the reference proxy, and of the field defect."""
    port = free_port()
    standin = Background([sys.executable, "-m", "mock_upstream", "serve", "--port", str(port), "--require-key"],
                         "listening on")
    try:
        folder = tmp_path_factory.mktemp("recorded")
        profile = folder / "standin.toml"
        profile.write_text('[proxy]\ncommand = ["{python}", "-m", "voice_harness.reference_proxy", "--port", "{port}", '
                           '"--upstream-url", "{upstream_url}"]\ndefect_args = ["--defect", "{defect}"]\n\n'
                           f'[upstream]\nmode = "real"\nreal_url = "ws://127.0.0.1:{port}/v1/realtime?model=gpt-realtime"\n')
        runs = {}
        for name, extra in (("good", ()), ("defect", ("--defect", "premature-response-create"))):
            runs[name] = harness_run(folder / name, "--profile", str(profile), *extra, *SELECT, env={"OPENAI_API_KEY": KEY})
        yield folder, runs
    finally:
        standin.stop()


def ran(reports):
    return sorted(case.get("classname").replace(".", "/") + ".py::" + case.get("name")
                  for case in ET.parse(reports / "junit.xml").iter("testcase") if case.find("skipped") is None)


def test_a_real_mode_run_keeps_one_cassette_per_test_with_its_header_and_no_key(recorded):
    folder, runs = recorded
    done, record = runs["good"]
    assert done.returncode == 0, done.stdout[-3000:]
    found = cassette.load_all(folder / "good" / "cassettes")
    assert sorted(found) == ran(folder / "good")
    for test, tape in found.items():
        assert (tape.header["test"], tape.header["model"], tape.header["verdict"]) == (test, "gpt-realtime", "passed")
        assert tape.connections and tape.connections[0].client_events()[0].type == "session.update"
    assert not [p for p in (folder / "good" / "cassettes").iterdir() if KEY in p.read_text()]


def test_a_replay_passes_without_a_key_and_gives_each_test_its_recorded_verdict(recorded, tmp_path):
    folder, _ = recorded
    done, record = harness_run(tmp_path, "--upstream", f"replay:{folder / 'good' / 'cassettes'}", *SELECT,
                               without=("OPENAI_API_KEY",))
    assert done.returncode == 0, done.stdout[-3000:]
    assert record["CANARY-1"]["verdict"] == "pass"
    assert ran(tmp_path) == ran(folder / "good")


def test_a_proxy_that_diverges_from_its_cassette_is_an_error_that_shows_the_divergence(recorded, tmp_path):
    folder, _ = recorded
    done, record = harness_run(tmp_path, "--upstream", f"replay:{folder / 'good' / 'cassettes'}",
                               "--defect", "greeting-upstream", "--", "-k", "greeting_shown",
                               without=("OPENAI_API_KEY",))
    assert done.returncode == 2, done.stdout[-3000:]
    assert record["CANARY-1"]["verdict"] == "error"
    assert "replay diverged" in done.stdout and "expects `response.create`, the proxy sent " \
                                                "`conversation.item.create`" in done.stdout


def test_a_cassette_of_the_field_defect_replays_to_the_same_red_verdict(recorded, tmp_path):
    folder, runs = recorded
    done, record = runs["defect"]
    assert done.returncode == 1 and record["CANARY-1"]["verdict"] == "fail", done.stdout[-3000:]
    replayed, again = harness_run(tmp_path, "--upstream", f"replay:{folder / 'defect' / 'cassettes'}",
                                  "--defect", "premature-response-create", *SELECT, without=("OPENAI_API_KEY",))
    assert replayed.returncode == 1, replayed.stdout[-3000:]
    assert {rid: again[rid]["verdict"] for rid in ("CANARY-1", "ORD-1")} == \
        {rid: record[rid]["verdict"] for rid in ("CANARY-1", "ORD-1")}


def drift(cassettes, reports):
    return subprocess.run([sys.executable, "-m", "harness", "drift", "--cassettes", str(cassettes),
                           "--reports-dir", str(reports)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def edited(source, target, edit):
    """A copy of the cassettes with edit(record) applied to every server event line."""
    shutil.copytree(source, target)
    for path in target.glob("*.jsonl"):
        lines = [json.loads(line) for line in path.read_text().splitlines()]
        for record in lines:
            if record.get("from") == "server":
                edit(record)
        path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return target


def rename(record):
    if record["event"].get("type") == "conversation.item.added":
        record["event"]["type"] = "conversation.item.created"


def drop_field(record):
    if record["event"].get("type") == "conversation.item.added":
        record["event"].pop("previous_item_id", None)


def late_confirmation(record):
    if record["event"].get("type") == "conversation.item.added":
        record["t"] += 3.0


@pytest.mark.parametrize("edit, named", [(rename, "event type: `conversation.item.created`"),
                                         (drop_field, "field: `conversation.item.added` field `previous_item_id`"),
                                         (late_confirmation, "timing: confirmation")])
def test_drift_is_clean_for_the_standin_and_names_each_kind_of_edit(recorded, tmp_path, edit, named):
    folder, _ = recorded
    clean = drift(folder / "good" / "cassettes", tmp_path / "clean")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert json.loads((tmp_path / "clean" / "drift.json").read_text())["differences"] == []
    changed = drift(edited(folder / "good" / "cassettes", tmp_path / "edited", edit), tmp_path / "changed")
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert named in changed.stdout
    assert (tmp_path / "changed" / "drift.md").read_text().count("|") > 10


def test_a_proxy_that_does_less_than_the_recorded_one_is_not_failed_for_what_the_cassette_holds_back(recorded,
                                                                                                   tmp_path):
    """The field defect's cassette has the user item's confirmation only after the early response.create; a
    correct proxy waits for that confirmation, which the replay cannot give: an error, never the proxy's fail."""
    folder, _ = recorded
    done, record = harness_run(tmp_path, "--upstream", f"replay:{folder / 'defect' / 'cassettes'}", "--workers", "1",
                               "--", "-k", "test_agent_replies_to_the_first_text", without=("OPENAI_API_KEY",))
    assert done.returncode == 2, done.stdout[-3000:]
    assert record["CANARY-1"]["verdict"] == "error"
    assert "replay stalled" in done.stdout and "follows a `response.create` the proxy has not sent" in done.stdout
