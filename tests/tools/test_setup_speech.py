"""setup-speech: the speech tools found, or Debian's packages installed through the set-up's one apt step, or one
line saying what to do (never run for real here: a stand-in runner records the commands)."""

import pytest

from voice_harness.errors import EnvironmentProblem
from voice_harness.targets import speech
from voice_harness.tools import setup_speech
from voice_harness.tools.setup_browser import Finished


def test_missing_tools_are_installed_with_apt_as_root_and_then_found(monkeypatch, tmp_path):
    calls, state = [], {"installed": False}
    monkeypatch.setattr(speech, "missing_tools", lambda: [] if state["installed"] else ["sox"])
    monkeypatch.setattr(setup_speech, "installing_blocked", lambda: {})
    monkeypatch.setattr(speech, "utterance", lambda name: speech.Utterance(name, "", tmp_path / "u.wav", 24000,
                                                                          bytes(48000)))

    def run(command, timeout, env):
        calls.append(list(command))
        state["installed"] = state["installed"] or "install" in command
        return Finished(0, "")
    lines = setup_speech.ensure(run)
    assert calls == [["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "espeak-ng", "sox"]]
    assert lines[0] == "harness: installing sox with apt-get" and "utterance 'first'" in lines[-1]


def test_without_root_it_says_what_to_install(monkeypatch):
    monkeypatch.setattr(speech, "missing_tools", lambda: ["espeak-ng", "sox"])
    monkeypatch.setattr(setup_speech, "installing_blocked", lambda: {"apt": "not root"})
    with pytest.raises(EnvironmentProblem, match=r"espeak-ng and sox not found \(not root\): install them"):
        setup_speech.ensure(lambda *a: pytest.fail("nothing may run"))


def test_a_failed_apt_step_is_named(monkeypatch):
    monkeypatch.setattr(speech, "missing_tools", lambda: ["sox"])
    monkeypatch.setattr(setup_speech, "installing_blocked", lambda: {})
    with pytest.raises(EnvironmentProblem, match=r"`apt-get update -qq` failed \(exit 100: E: no network\)"):
        setup_speech.ensure(lambda command, timeout, env: Finished(100, "E: no network\n"))
