"""The composite GitHub Action (action.yml): its declaration, its documentation, and its shell steps run for real in
bash with a stand-in harness, so the argument list, the profile rule and the exit codes are checked, not read."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
ACTION_TEXT = (ROOT / "action.yml").read_text()
INPUTS = ACTION["inputs"]
OUTPUTS = ACTION["outputs"]
STEPS = ACTION["runs"]["steps"]
RUN_STEPS = [s for s in STEPS if "run" in s]
GUIDE = (ROOT / "docs" / "github-action.md").read_text()
README = (ROOT / "README.md").read_text()

# What the brief asked for, no more and no less: a renamed or dropped input must show up here.
EXPECTED_INPUTS = {"proxy-command", "proxy-url", "profile", "upstream", "args", "reports-dir", "python-version",
                   "harness-version", "artifact-name", "drift"}
EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.S)
INPUT_REFERENCE = re.compile(r"\binputs\.([A-Za-z0-9_-]+)")


def _step(step_id: str) -> dict:
    found = [s for s in STEPS if s.get("id") == step_id]
    assert len(found) == 1, f"action.yml has no single step with id {step_id!r}"
    return found[0]


def _table(markdown: str, heading: str) -> dict[str, str]:
    """The rows of the table under `heading` (up to the next heading of that level or higher), by first cell."""
    match = re.search(rf"^{re.escape(heading)}\n(.*?)(?=^#{{1,{heading.count('#')}}} |\Z)", markdown, re.M | re.S)
    assert match, f"no section {heading!r}"
    rows = re.findall(r"^\| `([^`]+)` \|(.*)$", match.group(1), re.M)
    return {name: rest for name, rest in rows}


# ---- the declaration


def test_the_action_is_composite_and_says_what_it_does():
    assert ACTION["runs"]["using"] == "composite"
    assert ACTION["name"] and ACTION["description"]


def test_the_inputs_are_the_agreed_ones_each_described_and_optional():
    assert set(INPUTS) == EXPECTED_INPUTS
    for name, spec in INPUTS.items():
        assert isinstance(spec.get("description"), str) and len(spec["description"]) > 20, name
        assert spec.get("required", False) is False, f"{name}: every input is optional"
        assert "default" in spec, f"{name}: no default"
    assert INPUTS["reports-dir"]["default"] == "reports"
    assert INPUTS["python-version"]["default"] == "3.11"
    assert INPUTS["artifact-name"]["default"] == "conformance-reports"
    # Empty means "decide": the profile by the rule, the upstream by the profile, the harness from the checkout.
    for name in ("proxy-command", "proxy-url", "profile", "upstream", "args", "harness-version"):
        assert INPUTS[name]["default"] == "", name


def test_the_outputs_are_exit_code_and_reports_dir_from_existing_steps():
    assert set(OUTPUTS) == {"exit-code", "reports-dir"}
    ids = {s.get("id") for s in STEPS}
    for name, spec in OUTPUTS.items():
        assert spec["description"]
        step = re.fullmatch(r"\$\{\{ steps\.([\w-]+)\.outputs\.([\w-]+) \}\}", spec["value"])
        assert step and step.group(1) in ids and step.group(2) == name, f"{name}: {spec['value']}"


def test_every_input_expression_names_a_declared_input_and_every_input_is_used():
    used = {ref for expression in EXPRESSION.findall(ACTION_TEXT) for ref in INPUT_REFERENCE.findall(expression)}
    assert used <= set(INPUTS), f"undeclared inputs used: {used - set(INPUTS)}"
    assert used == set(INPUTS), f"declared but never used: {set(INPUTS) - used}"


def test_no_run_script_holds_an_expression():
    """${{ inputs.x }} inside a script is pasted into the shell code before bash reads it: script injection. Every
    value reaches the scripts through env instead (and so does every other expression, to keep the rule simple)."""
    assert RUN_STEPS
    for step in RUN_STEPS:
        assert "${{" not in step["run"], f"step {step['name']!r} interpolates an expression into its script"
    assert all(isinstance(v, str) for s in STEPS for v in s.get("env", {}).values())


def test_every_run_step_is_bash():
    for step in RUN_STEPS:
        assert step.get("shell") == "bash", f"step {step['name']!r}"


def test_the_steps_set_up_python_install_find_a_browser_run_publish_and_fail_last():
    uses = [s.get("uses") for s in STEPS]
    assert "actions/setup-python@v5" in uses and "actions/upload-artifact@v4" in uses
    python = _step("python")
    assert python["with"]["python-version"] == "${{ inputs.python-version }}"
    assert python["with"]["update-environment"] is False            # the job's own python stays the caller's
    browser = next(s for s in RUN_STEPS if s["name"] == "Browser")
    assert '"$VENV/bin/voice-harness" setup-browser' in browser["run"]
    assert STEPS.index(_step("install")) < STEPS.index(browser) < STEPS.index(_step("run"))
    assert '("$VENV/bin/voice-harness" run ' in _step("run")["run"] and '"${command[@]}"' in _step("run")["run"]
    upload = next(s for s in STEPS if s.get("uses") == "actions/upload-artifact@v4")
    assert upload["if"].startswith("always()")
    assert upload["with"]["name"] == "${{ inputs.artifact-name }}"
    summary = next(s for s in RUN_STEPS if "GITHUB_STEP_SUMMARY" in s["run"])
    assert summary["if"] == "always()" and "conformance.md" in summary["run"]
    assert STEPS.index(summary) > STEPS.index(_step("run")) and STEPS.index(upload) > STEPS.index(_step("run"))
    result = _step("result")
    assert STEPS[-1] is result and result["if"] == "always()" and 'exit "$code"' in result["run"]


def test_the_action_installs_no_system_package_and_never_handles_the_key():
    for step in RUN_STEPS:
        script = step["run"]
        for forbidden in ("apt-get", "apt install", "playwright install", "OPENAI_API_KEY", "set -x"):
            assert forbidden not in script, f"step {step['name']!r} contains {forbidden!r}"


# ---- the documentation


def test_the_guide_has_every_input_and_output_in_its_tables_with_the_defaults():
    inputs = _table(GUIDE, "## Inputs")
    assert set(inputs) == set(INPUTS)
    for name, spec in INPUTS.items():
        if spec["default"]:
            assert f"`{spec['default']}`" in inputs[name], f"{name}: the table does not show {spec['default']!r}"
    assert set(_table(GUIDE, "## Outputs")) == set(OUTPUTS)
    exits = re.search(r"^## Exit codes\n(.*?)(?=^## )", GUIDE, re.M | re.S)
    assert exits and re.findall(r"^\| (\d) \|", exits.group(1), re.M) == ["0", "1", "2"]


def test_the_readme_section_names_every_input_and_output_and_links_the_guide():
    match = re.search(r"^## In a proxy's CI: the GitHub Action\n(.*?)(?=^## )", README, re.M | re.S)
    assert match, "README.md has no section on the GitHub Action"
    section = match.group(1)
    for name in [*INPUTS, *OUTPUTS]:
        assert f"`{name}`" in section, f"the README section does not name {name}"
    assert "(docs/github-action.md)" in section


def _example_steps(markdown: str) -> list[dict]:
    steps = []
    for block in re.findall(r"```yaml\n(.*?)```", markdown, re.S):
        data = yaml.safe_load(block)
        jobs = data.get("jobs", {}).values() if isinstance(data, dict) else []
        found = [s for job in jobs for s in job["steps"]] if jobs else data if isinstance(data, list) else []
        steps += [s for s in found if "voice-proxy-harness@" in str(s.get("uses", ""))]
    return steps


@pytest.mark.parametrize("doc", ["docs/github-action.md", "README.md"])
def test_the_example_workflows_parse_and_pass_only_declared_inputs(doc):
    steps = _example_steps((ROOT / doc).read_text())
    assert steps, f"{doc} shows no step that uses the action"
    for step in steps:
        assert step["uses"] == "<owner>/voice-proxy-harness@v0"
        assert set(step.get("with", {})) <= set(INPUTS), f"{doc}: {set(step['with']) - set(INPUTS)}"
    commands = [s["with"]["proxy-command"] for s in steps if "proxy-command" in s.get("with", {})]
    assert commands and all("{port}" in c for c in commands)


def test_the_guide_explains_the_owner_placeholder_and_a_complete_workflow():
    assert "`<owner>`" in GUIDE
    complete = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", GUIDE, re.S)]
    workflows = [w for w in complete if isinstance(w, dict) and "jobs" in w and True in w]
    assert workflows, "no complete workflow (with `on:` and `jobs:`) in the guide"
    real = [s for w in workflows for j in w["jobs"].values() for s in j["steps"]
            if s.get("with", {}).get("upstream") == "real"]
    assert real and all(s["env"]["OPENAI_API_KEY"] == "${{ secrets.OPENAI_API_KEY }}" for s in real)


# ---- the shell steps, run in bash with a stand-in harness


def _value(expression: str, inputs: dict, outputs: dict) -> str:
    match = re.fullmatch(r"\$\{\{ (.+?) \}\}", expression)
    assert match, f"an env value is not one expression: {expression!r}"
    ref = match.group(1)
    if ref.startswith("inputs."):
        name = ref.removeprefix("inputs.")
        return inputs.get(name, INPUTS[name]["default"])
    if ref.startswith("steps."):
        _, step, _, name = ref.split(".")
        return outputs.get(step, {}).get(name, "")
    if ref == "github.action_path":
        return str(ROOT)
    raise AssertionError(f"the test does not know {ref}")


def _executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def runner(tmp_path):
    """Runs one step of action.yml as GitHub runs a composite bash step, in a fresh workspace, with a stand-in
    venv whose voice-harness records its arguments and exits with $FAKE_EXIT."""
    workspace, temp = tmp_path / "workspace", tmp_path / "runner-temp"
    workspace.mkdir()
    temp.mkdir()
    venv = tmp_path / "venv"
    _executable(venv / "bin" / "python", f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    log = tmp_path / "harness-calls.jsonl"
    _executable(venv / "bin" / "voice-harness", f"#!{sys.executable}\nimport json, os, sys\n"
                f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:] + (['(no download)'] if "
                "os.environ.get('VOICE_HARNESS_NO_DOWNLOAD') else [])) + '\\n')\n"
                "sys.exit(int(os.environ.get('FAKE_EXIT', '0')))\n")
    fake_bin = tmp_path / "fake-bin"
    _executable(fake_bin / "sudo", "#!/bin/sh\nexit 1\n")   # no passwordless sudo here
    _executable(fake_bin / "id", '#!/bin/sh\n[ "$1" = -u ] && echo 1001 || echo runner\n')   # not root

    class Runner:
        def __init__(self):
            self.workspace, self.venv, self.temp = workspace, venv, temp
            self.summary = tmp_path / "summary.md"

        def allow_sudo(self):
            """Passwordless sudo: runs the command after its options (the environment it passes is the test's)."""
            _executable(fake_bin / "sudo", '#!/bin/bash\nwhile [[ "$1" == -* ]]; do shift; done\n'
                                           '[ "$#" -eq 0 ] || exec "$@"\n')

        def calls(self) -> list[list[str]]:
            return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

        def __call__(self, step_id: str, inputs: dict | None = None, outputs: dict | None = None,
                     env: dict | None = None):
            step = _step(step_id) if step_id in {s.get("id") for s in STEPS} else \
                next(s for s in STEPS if s.get("name") == step_id)
            outputs = {"install": {"venv": str(venv)}, **(outputs or {})}
            output_file = tmp_path / f"output-{step_id}"
            output_file.write_text("")
            script = tmp_path / f"{step_id}.sh"
            script.write_text(step["run"])
            environment = {"PATH": f"{fake_bin}:{os.environ['PATH']}", "HOME": str(tmp_path),
                           "GITHUB_OUTPUT": str(output_file), "GITHUB_STEP_SUMMARY": str(self.summary),
                           "GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(temp), **(env or {})}
            environment |= {k: _value(v, inputs or {}, outputs) for k, v in step.get("env", {}).items()}
            done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workspace,
                                  env=environment, capture_output=True, text=True, timeout=60)
            done.outputs = dict(line.split("=", 1) for line in output_file.read_text().splitlines() if line)
            return done

    return Runner()


@pytest.mark.parametrize("inputs, profile", [
    ({}, "reference"),
    ({"proxy-command": "node server.js --port {port}"}, "reference"),
    ({"proxy-url": "ws://127.0.0.1:9000/openai"}, "url"),
    ({"proxy-url": "ws://127.0.0.1:9000/openai", "profile": "ci/staging.toml"}, "ci/staging.toml"),
    ({"upstream": "real", "profile": "real"}, "real"),
], ids=["nothing", "command", "url", "own-profile", "real"])
def test_the_profile_rule(runner, inputs, profile):
    done = runner("prepare", inputs)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.outputs["profile"] == profile
    assert done.outputs["reports-dir"] == f"{runner.workspace}/reports"


def test_a_command_and_a_url_together_are_refused_with_exit_2(runner):
    done = runner("prepare", {"proxy-command": "node s.js --port {port}", "proxy-url": "ws://127.0.0.1:9/x"})
    assert done.returncode == 2
    assert "::error" in done.stdout and "not both" in done.stdout
    assert "profile" not in done.outputs


def test_a_two_line_reports_dir_is_refused_rather_than_written_into_the_outputs(runner):
    done = runner("prepare", {"reports-dir": "reports\nprofile=evil"})
    assert done.returncode == 2 and done.outputs == {}


def test_the_run_step_passes_every_input_as_one_argument_and_runs_none_of_them(runner):
    command = 'node server.js --port {port} --upstream "{upstream_url}" $(touch pwned) `touch pwned2`; touch pwned3'
    done = runner("run", {"proxy-command": command, "upstream": "real", "args": '-k "canary or ready" -x $(touch pwned4)'},
                  {"prepare": {"profile": "reference", "reports-dir": "/r/reports"}})
    assert done.returncode == 0, done.stdout + done.stderr
    assert runner.calls() == [["run", "--reports-dir=/r/reports", "--profile=reference", f"--proxy-cmd={command}",
                               "--upstream=real", "--", "-k", "canary or ready", "-x", "$(touch", "pwned4)"]]
    assert not list(runner.workspace.glob("pwned*"))
    assert done.outputs == {"exit-code": "0"}


def test_without_args_there_is_no_double_dash_and_a_url_is_passed(runner):
    done = runner("run", {"proxy-url": "ws://127.0.0.1:9000/openai"},
                  {"prepare": {"profile": "url", "reports-dir": "/r/x"}})
    assert done.returncode == 0, done.stderr
    assert runner.calls() == [["run", "--reports-dir=/r/x", "--profile=url", "--proxy-url=ws://127.0.0.1:9000/openai"]]


def test_an_unclosed_quote_in_args_is_exit_2_without_a_run(runner):
    done = runner("run", {"args": '-k "canary'}, {"prepare": {"profile": "reference", "reports-dir": "/r"}})
    assert done.returncode == 0 and done.outputs == {"exit-code": "2"} and runner.calls() == []


@pytest.mark.parametrize("code, reported", [(0, "0"), (1, "1"), (2, "2"), (137, "2")])
def test_the_run_step_keeps_the_exit_code_so_the_reports_are_still_published(runner, code, reported):
    done = runner("run", {}, {"prepare": {"profile": "reference", "reports-dir": "/r"}}, env={"FAKE_EXIT": str(code)})
    assert done.returncode == 0
    assert done.outputs == {"exit-code": reported}


@pytest.mark.parametrize("run_code, step_code", [("0", 0), ("1", 1), ("2", 2), ("", 2)])
def test_the_last_step_fails_with_the_runs_exit_code(runner, run_code, step_code):
    done = runner("result", {}, {"run": {"exit-code": run_code}})
    assert done.returncode == step_code
    assert done.outputs == {"exit-code": str(step_code)}
    assert ("::error" in done.stdout) == (step_code != 0)


def test_the_summary_gets_conformance_md_when_there_is_one(runner):
    reports = runner.workspace / "reports"
    absent = runner("Conformance table in the job summary", {}, {"prepare": {"reports-dir": str(reports)}})
    assert absent.returncode == 0 and not runner.summary.exists()
    reports.mkdir()
    (reports / "conformance.md").write_text("# Conformance\n\ngate: passed.\n")
    present = runner("Conformance table in the job summary", {}, {"prepare": {"reports-dir": str(reports)}})
    assert present.returncode == 0 and runner.summary.read_text() == "# Conformance\n\ngate: passed.\n"


def test_the_browser_step_runs_setup_browser_and_fails_with_2_when_it_finds_none(runner):
    ok = runner("Browser")
    assert ok.returncode == 0 and runner.calls() == [["setup-browser"]]
    failed = runner("Browser", env={"FAKE_EXIT": "2"})
    assert failed.returncode == 2 and "::error" in failed.stdout


def test_without_a_browser_setup_browser_is_asked_again_as_root_for_the_system_package_only(runner):
    runner.allow_sudo()
    done = runner("Browser", env={"FAKE_EXIT": "2"})
    assert done.returncode == 2
    assert runner.calls() == [["setup-browser"], ["setup-browser", "(no download)"]]
    assert "again as root" in done.stdout


@pytest.fixture
def fake_python(tmp_path):
    """A stand-in interpreter for the install step: `-m venv DIR` makes DIR/bin/{python,voice-harness}, `-m pip`
    records its arguments."""
    log = tmp_path / "pip-calls.jsonl"
    source = (f"#!{sys.executable}\nimport json, os, shutil, sys\n"
              "if sys.argv[1:3] == ['-m', 'venv']:\n"
              "    bin = os.path.join(sys.argv[3], 'bin'); os.makedirs(bin, exist_ok=True)\n"
              "    shutil.copy(__file__, os.path.join(bin, 'python'))\n"
              "    open(os.path.join(bin, 'voice-harness'), 'w').write('#!/bin/sh\\necho voice-harness 0.1.0\\n')\n"
              "    os.chmod(os.path.join(bin, 'voice-harness'), 0o755)\n"
              "elif sys.argv[1:3] == ['-m', 'pip']:\n"
              f"    open({str(log)!r}, 'a').write(json.dumps(sys.argv[3:]) + '\\n')\n")
    python = _executable(tmp_path / "interpreter" / "python3", source)
    return python, log


@pytest.mark.parametrize("version, spec", [
    ("", str(ROOT)),
    ("==0.1.0", "voice-proxy-harness==0.1.0"),
    (">=0.1,<0.2", "voice-proxy-harness>=0.1,<0.2"),
    ("voice-proxy-harness==0.1.0", "voice-proxy-harness==0.1.0"),
    ("git+https://example.org/voice-proxy-harness@v0.1.0", "git+https://example.org/voice-proxy-harness@v0.1.0"),
])
def test_the_install_step_installs_the_checkout_or_the_given_version_once(runner, fake_python, version, spec):
    python, log = fake_python
    outputs = {"python": {"python-path": str(python), "python-version": "3.11.9"}}
    first = runner("install", {"harness-version": version}, outputs)
    assert first.returncode == 0, first.stdout + first.stderr
    installs = [json.loads(line) for line in log.read_text().splitlines()]
    assert installs[-1][-1] == spec and installs[-1][0] == "install"
    assert first.outputs["venv"] == f"{runner.temp}/voice-harness/venv-3.11.9"
    again = runner("install", {"harness-version": version}, outputs)
    assert again.returncode == 0 and len(log.read_text().splitlines()) == len(installs)   # reused


def test_the_install_step_refuses_an_option_as_the_version(runner, fake_python):
    python, log = fake_python
    done = runner("install", {"harness-version": "--index-url=https://example.org/simple"},
                  {"python": {"python-path": str(python), "python-version": "3.11.9"}})
    assert done.returncode == 2 and not log.exists()


@pytest.mark.parametrize("run_code, drift_code, step_code", [("0", "0", 0), ("0", "1", 1), ("1", "0", 1),
                                                             ("0", "2", 2), ("2", "1", 2), ("0", "", 0)])
def test_a_drift_failure_fails_the_action_too(runner, run_code, drift_code, step_code):
    done = runner("result", {}, {"run": {"exit-code": run_code}, "drift": {"exit-code": drift_code}})
    assert done.returncode == step_code
    assert ("drift:" in done.stdout) == (drift_code not in ("", "0"))


def test_the_drift_step_runs_drift_on_the_runs_cassettes_or_says_there_are_none(runner):
    reports = runner.workspace / "reports"
    none = runner("drift", {"drift": "true"}, {"prepare": {"reports-dir": str(reports)}})
    assert none.outputs == {"exit-code": "2"} and "no cassettes" in none.stdout and runner.calls() == []
    (reports / "cassettes").mkdir(parents=True)
    found = runner("drift", {"drift": "true"}, {"prepare": {"reports-dir": str(reports)}}, env={"FAKE_EXIT": "1"})
    assert found.returncode == 0 and found.outputs == {"exit-code": "1"}
    assert runner.calls() == [["drift", "--cassettes", f"{reports}/cassettes", "--reports-dir", str(reports)]]
