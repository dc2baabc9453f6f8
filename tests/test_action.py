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
                   "harness-version", "artifact-name", "drift", "drift-fails", "setup-command", "working-directory",
                   "cache", "shard"}
# How the docs name the action: the tag of a team's fork or mirror (this repository has no tags and no published
# owner, so the owner is a placeholder said to be one), or a copy of action.yml in the team's own repository.
TAGGED, COPIED = "your-org/voice-proxy-harness@v1", "./.github/actions/voice-harness"
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
    assert INPUTS["working-directory"]["default"] == "." and INPUTS["cache"]["default"] == "true"
    assert INPUTS["drift"]["default"] == INPUTS["drift-fails"]["default"] == "false"
    # Empty means "decide": the profile by the rule, the upstream by the profile, the harness from the checkout.
    for name in ("proxy-command", "proxy-url", "profile", "upstream", "args", "harness-version", "setup-command",
                 "shard"):
        assert INPUTS[name]["default"] == "", name


def test_the_outputs_are_exit_code_and_reports_dir_from_existing_steps():
    assert set(OUTPUTS) == {"exit-code", "reports-dir", "drift"}
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
        steps += [s for s in found if "voice-proxy-harness@" in str(s.get("uses", ""))
                  or s.get("uses") == COPIED]
    return steps


@pytest.mark.parametrize("doc", ["docs/github-action.md", "README.md"])
def test_the_example_workflows_parse_and_pass_only_declared_inputs(doc):
    steps = _example_steps((ROOT / doc).read_text())
    assert steps, f"{doc} shows no step that uses the action"
    for step in steps:
        assert step["uses"] in (TAGGED, COPIED), f"{doc}: {step['uses']}"
        assert set(step.get("with", {})) <= set(INPUTS), f"{doc}: {set(step['with']) - set(INPUTS)}"
        if step["uses"] == COPIED:   # a copy of action.yml holds no harness: it must say which one to install
            assert step["with"]["harness-version"], doc
    commands = [s["with"]["proxy-command"] for s in steps if "proxy-command" in s.get("with", {})]
    assert commands and all("{port}" in c for c in commands)


def test_the_guide_names_its_placeholder_as_one_and_shows_the_three_ways_to_use_the_action():
    assert "`your-org`" in GUIDE and "no tags" in GUIDE
    ways = re.search(r"^## Three ways to use it\n(.*?)(?=^## )", GUIDE, re.M | re.S)
    assert ways, "the guide has no section on the ways to use the action"
    steps = _example_steps(ways.group(1))
    assert {s["uses"] for s in steps} == {TAGGED, COPIED}
    assert any(re.fullmatch(r"https://\S+\.whl", s.get("with", {}).get("harness-version", "")) for s in steps), \
        "no example installs a release wheel by URL"
    assert ".github/actions/voice-harness/action.yml" in ways.group(1)


def test_the_guide_says_what_is_cached_and_how_to_turn_it_off():
    caching = re.search(r"^## Caching\n(.*?)(?=^## )", GUIDE, re.M | re.S)
    assert caching, "no section on caching"
    for what in ("virtual environment", "browser", "npm", "`cache: false`"):
        assert what in caching.group(1), what


def test_the_guide_has_a_complete_workflow_with_the_key_from_the_secrets():
    complete = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", GUIDE, re.S)]
    workflows = [w for w in complete if isinstance(w, dict) and "jobs" in w and True in w]
    assert workflows, "no complete workflow (with `on:` and `jobs:`) in the guide"
    real = [s for w in workflows for j in w["jobs"].values() for s in j["steps"]
            if s.get("with", {}).get("upstream") == "real"]
    assert real and all(s["env"]["OPENAI_API_KEY"] == "${{ secrets.OPENAI_API_KEY }}" for s in real)


# ---- the shell steps, run in bash with a stand-in harness


def _value(expression: str, inputs: dict, outputs: dict, action_path: Path = ROOT) -> str:
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
        return str(action_path)
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
            self.action_path = ROOT

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
            defaults = {"install": {"venv": str(venv)}, "prepare": {"working-directory": str(workspace)}}
            outputs = {step: {**defaults.get(step, {}), **(outputs or {}).get(step, {})}
                       for step in {*defaults, *(outputs or {})}}
            output_file = tmp_path / f"output-{step_id}"
            output_file.write_text("")
            script = tmp_path / f"{step_id}.sh"
            # As the runner does: an expression in a script is pasted into its text before bash reads it (there are
            # none, so that a value never becomes code; a pasted one would show here as a command that ran).
            script.write_text(EXPRESSION.sub(lambda m: _value(m.group(0), inputs or {}, outputs, self.action_path),
                                             step["run"]))
            environment = {"PATH": f"{fake_bin}:{os.environ['PATH']}", "HOME": str(tmp_path),
                           "GITHUB_OUTPUT": str(output_file), "GITHUB_STEP_SUMMARY": str(self.summary),
                           "GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(temp), **(env or {})}
            environment |= {k: _value(v, inputs or {}, outputs, self.action_path)
                            for k, v in step.get("env", {}).items()}
            done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workspace,
                                  env=environment, capture_output=True, text=True, timeout=60)
            done.outputs = dict(line.split("=", 1) for line in output_file.read_text().splitlines() if line)
            return done

    return Runner()


@pytest.mark.parametrize("inputs, profile", [
    ({}, "reference"),
    ({"proxy-command": "node server.js --port {port}"}, "reference"),
    ({"proxy-url": "ws://127.0.0.1:9000/openai"}, "url"),
    ({"proxy-url": "ws://127.0.0.1:9000/openai", "profile": "ci/staging.toml"}, "{workspace}/ci/staging.toml"),
    ({"profile": "conformance.toml"}, "{workspace}/conformance.toml"),
    ({"profile": "/etc/p.toml"}, "/etc/p.toml"),
    ({"upstream": "real", "profile": "real"}, "real"),
], ids=["nothing", "command", "url", "own-profile", "own-profile-at-the-top", "absolute", "real"])
def test_the_profile_rule(runner, inputs, profile):
    """A profile file is made absolute against the workspace (the harness runs from working-directory); a bundled
    profile's name stays a name."""
    done = runner("prepare", inputs)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.outputs["profile"] == profile.format(workspace=runner.workspace)
    assert done.outputs["reports-dir"] == f"{runner.workspace}/reports"
    assert done.outputs["working-directory"] == str(runner.workspace)


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


def test_a_shard_is_passed_as_one_option_and_no_shard_as_none(runner):
    done = runner("run", {"shard": "2/4", "args": "--req CANARY-1"}, {"prepare": {"profile": "reference", "reports-dir": "/r"}})
    assert done.returncode == 0, done.stderr
    assert runner.calls() == [["run", "--reports-dir=/r", "--profile=reference", "--shard=2/4", "--", "--req",
                               "CANARY-1"]]
    # A value that is not K/N is the harness's to refuse (one line, exit 2), never run as code.
    runner("run", {"shard": "$(touch pwned)"}, {"prepare": {"profile": "reference", "reports-dir": "/r"}})
    assert runner.calls()[-1][-1] == "--shard=$(touch pwned)" and not list(runner.workspace.glob("pwned*"))


def test_the_guide_shows_a_matrix_of_shards_and_a_job_that_merges_them():
    workflows = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", GUIDE, re.S)]
    jobs = [job for w in workflows if isinstance(w, dict) and "jobs" in w for job in w["jobs"].values()]
    sharded = [j for j in jobs if j.get("strategy", {}).get("matrix", {}).get("shard") == [1, 2, 3, 4]]
    assert sharded, "no job with strategy.matrix.shard: [1, 2, 3, 4]"
    texts = [yaml.safe_dump(j) for j in sharded]
    assert any("--shard" in t or "shard:" in t for t in texts)
    assert any("upload-artifact" in t for t in texts), "each shard uploads its folder"
    merging = [yaml.safe_dump(j) for j in jobs if "report --merge" in yaml.safe_dump(j)]
    assert merging and all("download-artifact" in t and "needs" in t for t in merging)


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
    assert done.outputs == {"exit-code": str(step_code), "drift": "not run"}
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
              "    folder = [a for a in sys.argv[3:] if not a.startswith('-')][0]\n"
              "    bin = os.path.join(folder, 'bin'); os.makedirs(bin, exist_ok=True)\n"
              "    shutil.copy(__file__, os.path.join(bin, 'python'))\n"
              "    open(os.path.join(bin, 'voice-harness'), 'w').write('#!/bin/sh\\necho voice-harness 0.1.0\\n')\n"
              "    os.chmod(os.path.join(bin, 'voice-harness'), 0o755)\n"
              "elif sys.argv[1:3] == ['-m', 'pip']:\n"
              f"    open({str(log)!r}, 'a').write(json.dumps(sys.argv[3:]) + '\\n')\n")
    python = _executable(tmp_path / "interpreter" / "python3", source)
    return python, log


PYTHON_311 = {"python-version": "3.11.9"}


def _install(runner, fake_python, inputs: dict):
    """The plan step, then (when it succeeded) the install step with the plan's outputs, as the action runs them."""
    python, _ = fake_python
    outputs = {"python": {"python-path": str(python), **PYTHON_311}}
    plan = runner("plan", inputs, outputs)
    if plan.returncode != 0:
        return plan, None
    return plan, runner("install", inputs, {**outputs, "plan": plan.outputs})


@pytest.mark.parametrize("version, spec", [
    ("", str(ROOT)),
    ("==0.1.0", "voice-proxy-harness==0.1.0"),
    (">=0.1,<0.2", "voice-proxy-harness>=0.1,<0.2"),
    ("voice-proxy-harness==0.1.0", "voice-proxy-harness==0.1.0"),
    ("git+https://example.org/voice-proxy-harness@v0.1.0", "git+https://example.org/voice-proxy-harness@v0.1.0"),
])
def test_the_install_step_installs_the_checkout_or_the_given_version_once(runner, fake_python, version, spec):
    _, log = fake_python
    plan, first = _install(runner, fake_python, {"harness-version": version})
    assert first.returncode == 0, first.stdout + first.stderr
    assert plan.outputs["spec"] == spec
    installs = [json.loads(line) for line in log.read_text().splitlines()]
    assert installs[-1][-1] == spec and installs[-1][0] == "install"
    assert first.outputs["venv"] == f"{runner.temp}/voice-harness/venv-3.11.9"
    _, again = _install(runner, fake_python, {"harness-version": version})
    assert again.returncode == 0 and len(log.read_text().splitlines()) == len(installs)   # reused


def test_an_environment_that_no_longer_runs_is_made_again(runner, fake_python):
    """A venv restored from the cache whose scripts point at a moved interpreter is not trusted for its marker."""
    _, log = fake_python
    _, first = _install(runner, fake_python, {"harness-version": "==0.1.0"})
    broken = Path(first.outputs["venv"]) / "bin" / "voice-harness"
    broken.write_text("#!/nonexistent/python\n")
    _, again = _install(runner, fake_python, {"harness-version": "==0.1.0"})
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(log.read_text().splitlines()) == 4        # pip upgrade and install, twice


def test_the_install_step_refuses_an_option_as_the_version(runner, fake_python):
    _, log = fake_python
    plan, install = _install(runner, fake_python, {"harness-version": "--index-url=https://example.org/simple"})
    assert plan.returncode == 2 and install is None and not log.exists()


def test_a_copy_of_action_yml_without_harness_version_says_what_to_set(runner, fake_python, tmp_path):
    """`uses: ./.github/actions/voice-harness` holds action.yml alone: there is no harness to install from it."""
    copy = tmp_path / "team-repo" / ".github" / "actions" / "voice-harness"
    copy.mkdir(parents=True)
    (copy / "action.yml").write_text(ACTION_TEXT)
    python, log = fake_python
    runner.action_path = copy
    done = runner("plan", {}, {"python": {"python-path": str(python), **PYTHON_311}})
    assert done.returncode == 2 and "harness-version" in done.stdout and "::error" in done.stdout
    assert not log.exists()


WHEEL = "https://github.com/your-org/voice-proxy-harness/releases/download/v0.1.0/voice_proxy_harness-0.1.0-py3-none-any.whl"


@pytest.mark.parametrize("version, cached", [
    ("", True),                                   # the action's checkout: keyed on its content
    ("==0.1.0", True),
    ("voice-proxy-harness==0.1.0", True),
    (WHEEL, True),
    ("git+https://example.org/voice-proxy-harness@" + "a" * 40, True),
    (">=0.1,<0.2", False),                        # a range: a newer release must not hide behind the cache
    ("voice-proxy-harness==0.1.*", False),
    ("git+https://example.org/voice-proxy-harness@main", False),   # a branch moves
    ("voice-proxy-harness", False),
])
def test_the_environment_is_cached_only_for_a_spec_that_names_one_harness(runner, fake_python, version, cached):
    python, _ = fake_python
    outputs = {"python": {"python-path": str(python), **PYTHON_311}}
    done = runner("plan", {"harness-version": version}, outputs)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("venv-key" in done.outputs) is cached
    if cached:
        assert done.outputs["venv-key"].startswith("voice-harness-venv-") and "py3.11.9" in done.outputs["venv-key"]
        other = runner("plan", {"harness-version": version}, {"python": {**outputs["python"], "python-version": "3.12.1"}})
        assert other.outputs["venv-key"] != done.outputs["venv-key"]
    off = runner("plan", {"harness-version": version, "cache": "false"}, outputs)
    assert "venv-key" not in off.outputs and off.outputs["spec"] == done.outputs["spec"]


def test_a_local_wheel_is_keyed_on_its_content(runner, fake_python):
    python, _ = fake_python
    outputs = {"python": {"python-path": str(python), **PYTHON_311}}
    wheel = runner.workspace / "vendor" / "voice_proxy_harness-0.1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"one")
    first = runner("plan", {"harness-version": "vendor/voice_proxy_harness-0.1.0-py3-none-any.whl"}, outputs)
    wheel.write_bytes(b"two")
    second = runner("plan", {"harness-version": "vendor/voice_proxy_harness-0.1.0-py3-none-any.whl"}, outputs)
    assert first.outputs["venv-key"] != second.outputs["venv-key"]


def test_the_cache_steps_restore_before_and_save_after_what_they_keep():
    """Every cache is restored before the step that would make its content and saved right after that step (not
    at the end of the job, which a failing conformance run would skip); cache: false turns all of them off."""
    names = [s["name"] for s in STEPS]
    order = {s.get("id") or s["name"]: i for i, s in enumerate(STEPS)}
    restores = [s for s in STEPS if s.get("uses") == "actions/cache/restore@v4"]
    saves = [s for s in STEPS if s.get("uses") == "actions/cache/save@v4"]
    assert {s["id"] for s in restores} == {"venv-cache", "browser-cache", "npm-cache"} and len(saves) == 3
    assert order["venv-cache"] < order["install"] < names.index("Keep the harness environment")
    assert order["browser-cache"] < order["browser"] < names.index("Keep the browser")
    assert order["npm-cache"] < order["setup"] < names.index("Keep the npm downloads") < order["run"]
    for step in restores + saves:
        assert "always()" not in step["if"] and "key != ''" in step["if"], step["name"]
    for save in saves:
        assert "cache-hit != 'true'" in save["if"], save["name"]
    # Only npm's cache, which is content-addressed, takes an older key's content.
    assert [s["id"] for s in restores if "restore-keys" in s["with"]] == ["npm-cache"]


def test_the_browser_key_follows_playwrights_version_and_cache_false_drops_it(runner):
    _executable(runner.venv / "bin" / "python",
                f'#!/bin/sh\n[ "$1" = -c ] && {{ echo 1.47.0; exit 0; }}\nexec "{sys.executable}" "$@"\n')
    plan = {"spec": "x", "venv": str(runner.venv)}
    (runner.venv / ".installed").write_text("x")
    done = runner("install", {}, {"plan": plan})
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.outputs["browser-key"].endswith("-playwright-1.47.0")
    assert done.outputs["browsers"] == f"{runner.workspace.parent}/.cache/ms-playwright"
    off = runner("install", {"cache": "false"}, {"plan": plan})
    assert "browser-key" not in off.outputs


def test_the_browser_step_says_when_playwrights_own_browser_is_there_to_keep(runner):
    browsers = runner.workspace.parent / "browsers"
    none = runner("Browser", {}, {"install": {"browsers": str(browsers)}})
    assert none.returncode == 0 and "managed" not in none.outputs
    (browsers / "chromium-1134").mkdir(parents=True)
    found = runner("Browser", {}, {"install": {"browsers": str(browsers)}})
    assert found.outputs == {"managed": "true"}


# ---- setup-command and working-directory


def test_an_empty_setup_command_runs_nothing(runner):
    done = runner("setup", {})
    assert done.returncode == 0 and "no setup-command" in done.stdout and done.outputs == {}
    assert sorted(p.name for p in runner.workspace.iterdir()) == []


def test_setup_command_runs_in_working_directory(runner):
    proxy = runner.workspace / "packages" / "proxy"
    proxy.mkdir(parents=True)
    prepared = runner("prepare", {"working-directory": "packages/proxy", "setup-command": "npm ci"})
    assert prepared.outputs["working-directory"] == str(proxy)
    done = runner("setup", {"setup-command": "pwd > where.txt\necho built > built.txt"},
                  {"prepare": prepared.outputs})
    assert done.returncode == 0, done.stdout + done.stderr
    assert (proxy / "where.txt").read_text().strip() == str(proxy) and (proxy / "built.txt").exists()


@pytest.mark.parametrize("command, code", [("exit 3", 3), ("false\necho not reached > reached.txt", 1),
                                           ("false | true", 1)])
def test_a_failing_setup_command_is_exit_2_with_its_own_annotation(runner, command, code):
    done = runner("setup", {"setup-command": command})
    assert done.returncode == 2
    assert f"::error title=voice-harness setup::setup-command failed with exit {code}" in done.stdout
    assert "harness did not run" in done.stdout and not (runner.workspace / "reached.txt").exists()
    # The Result step then reports the action's 2 and says an earlier step failed: no verdict on the proxy.
    result = runner("result", {}, {"run": {}})
    assert result.returncode == 2 and "earlier step" in result.stdout


def test_the_setup_step_says_when_there_is_an_npm_cache_to_keep(runner):
    cache = runner.workspace.parent / ".npm"
    done = runner("setup", {"setup-command": f"mkdir -p {cache}"}, {"prepare": {"npm-cache": str(cache)}})
    assert done.outputs == {"npm-cache": "true"}


def test_the_npm_cache_is_keyed_on_the_lock_file_of_working_directory(runner):
    proxy = runner.workspace / "proxy"
    proxy.mkdir()
    inputs = {"working-directory": "proxy", "setup-command": "npm ci"}
    assert "npm-key" not in runner("prepare", inputs).outputs                    # no lock file: nothing to key on
    (proxy / "package-lock.json").write_text('{"lockfileVersion": 3}')
    first = runner("prepare", inputs).outputs
    assert first["npm-key"].startswith(first["npm-key-prefix"]) and first["npm-cache"].endswith("/.npm")
    (proxy / "package-lock.json").write_text('{"lockfileVersion": 3, "packages": {}}')
    assert runner("prepare", inputs).outputs["npm-key"] != first["npm-key"]
    assert "npm-key" not in runner("prepare", {**inputs, "cache": "false"}).outputs
    assert "npm-key" not in runner("prepare", {"working-directory": "proxy"}).outputs   # nothing runs npm


@pytest.mark.parametrize("folder", ["missing", "a\nb"])
def test_a_working_directory_that_is_not_a_folder_is_refused(runner, folder):
    done = runner("prepare", {"working-directory": folder})
    assert done.returncode == 2 and "::error" in done.stdout and done.outputs == {}


@pytest.mark.parametrize("name", ["cache", "drift", "drift-fails"])
def test_a_switch_is_true_or_false(runner, name):
    done = runner("prepare", {name: "yes"})
    assert done.returncode == 2 and f"{name} must be true or false" in done.stdout


def test_the_harness_runs_from_working_directory_with_the_paths_made_absolute(runner, tmp_path):
    """--proxy-cmd runs from the harness's folder: the run step starts the harness in working-directory, after the
    prepare step made the profile and the reports absolute against the workspace."""
    proxy = runner.workspace / "packages" / "proxy"
    proxy.mkdir(parents=True)
    (runner.workspace / "ci").mkdir()
    (runner.workspace / "ci" / "p.toml").write_text("")
    prepared = runner("prepare", {"working-directory": "packages/proxy", "profile": "ci/p.toml"})
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    where = tmp_path / "harness-cwd"
    _executable(runner.venv / "bin" / "voice-harness", f"#!/bin/sh\npwd > {where}\n")
    done = runner("run", {"proxy-command": "npx tsx run.ts"}, {"prepare": prepared.outputs})
    assert done.returncode == 0 and done.outputs == {"exit-code": "0"}, done.stdout + done.stderr
    assert where.read_text().strip() == str(proxy)
    assert f"--profile={runner.workspace}/ci/p.toml" in done.stdout
    assert f"--reports-dir={runner.workspace}/reports" in done.stdout


PROFILE_KEY = "sk-proj-" + "k3y" * 12     # looks like a key: a profile that carries one must still not win


@pytest.mark.parametrize("step_key, reason", [
    ("sk-dummy", "is a placeholder, not a key"),
    (None, "needs OPENAI_API_KEY in the environment"),
])
def test_in_real_mode_the_steps_key_wins_over_the_profiles_and_a_placeholder_is_exit_2(runner, step_key, reason):
    """The key precedence, through the action and the real harness: the action passes the step's environment on
    and never sets the key; the harness takes the key from the environment only, so a key in the profile's
    proxy.env does not rescue a placeholder (or a missing) secret, and the run ends before any test, the value
    never shown."""
    profile = runner.workspace / "conformance.toml"
    profile.write_text('[proxy]\ncommand = ["{python}", "-m", "voice_harness.reference_proxy", "--port", "{port}", '
                       f'"--upstream-url", "{{upstream_url}}"]\n[proxy.env]\nOPENAI_API_KEY = "{PROFILE_KEY}"\n'
                       '[upstream]\nmode = "real"\n')
    prepared = runner("prepare", {"profile": "conformance.toml"})
    harness = {"install": {"venv": str(Path(sys.executable).parent.parent)}, "prepare": prepared.outputs}
    done = runner("run", {"upstream": "real"}, harness, env={"OPENAI_API_KEY": step_key} if step_key else {})
    assert done.returncode == 0 and done.outputs == {"exit-code": "2"}, done.stdout + done.stderr
    assert reason in done.stdout + done.stderr
    assert PROFILE_KEY not in done.stdout + done.stderr and "sk-dummy" not in done.stdout + done.stderr
    result = runner("result", {}, {"run": done.outputs})
    assert result.returncode == 2 and "could not judge the proxy" in result.stdout


# ---- the result: exit 1 said as what it is, drift a warning unless drift-fails


def _conformance(runner, state: str, status: str = "complete", failed=(), inconclusive=(), judged=40, total=40):
    reports = runner.workspace / "reports"
    reports.mkdir(exist_ok=True)
    (reports / "conformance.json").write_text(json.dumps({
        "run": {"status": status}, "gate": {"state": state, "judged": judged, "total": total,
                                            "failed": list(failed), "only_inconclusive": list(inconclusive)}}))
    return {"prepare": {"reports-dir": str(reports)}, "run": {"exit-code": "1"}}


def test_exit_1_of_a_complete_run_names_the_proxys_failures(runner):
    done = runner("result", {}, _conformance(runner, "failed", failed=["ORD-1", "BARGE-2"]))
    assert done.returncode == 1
    assert "::error title=voice-harness::conformance failures (your proxy's): ORD-1, BARGE-2" in done.stdout


def test_a_partial_run_under_require_complete_is_not_called_the_proxys_failures(runner):
    done = runner("result", {}, _conformance(runner, "partial", judged=3, total=40))
    assert done.returncode == 1
    assert "conformance failures" not in done.stdout and "partial run (3 of 40 ids judged)" in done.stdout
    assert "--require-complete" in done.stdout and "no requirement of your proxy failed" in done.stdout


def test_a_must_only_inconclusive_is_not_called_a_failure(runner):
    done = runner("result", {}, _conformance(runner, "failed", inconclusive=["TURN-3"]))
    assert done.returncode == 1
    assert "conformance failures" not in done.stdout and "inconclusive" in done.stdout and "TURN-3" in done.stdout


@pytest.mark.parametrize("state, status", [("passed", "complete"), (None, None), ("failed", "interrupted")])
def test_exit_1_without_a_complete_failed_gate_is_not_called_the_proxys_failures(runner, state, status):
    outputs = _conformance(runner, state, status, failed=["ORD-1"]) if state else \
        {"prepare": {"reports-dir": str(runner.workspace / "reports")}, "run": {"exit-code": "1"}}
    done = runner("result", {}, outputs)
    assert done.returncode == 1 and "::error" in done.stdout and "conformance failures" not in done.stdout


@pytest.mark.parametrize("drift_fails, run_code, drift_code, step_code, drift", [
    ("false", "0", "0", 0, "clean"),
    ("false", "0", "1", 0, "findings"),      # a finding about the mock: a warning, the job stays green
    ("true", "0", "1", 1, "findings"),       # drift-fails: as before, it fails the action
    ("false", "1", "0", 1, "clean"),
    ("false", "0", "2", 2, "error"),         # could not run: an error whatever drift-fails says
    ("true", "0", "2", 2, "error"),
    ("false", "2", "1", 2, "findings"),
    ("true", "2", "1", 2, "findings"),
    ("false", "0", "", 0, "not run"),
    ("false", "", "", 2, "not run"),
])
def test_drift_is_a_warning_and_an_output_unless_drift_fails(runner, drift_fails, run_code, drift_code, step_code,
                                                             drift):
    done = runner("result", {"drift-fails": drift_fails}, {"run": {"exit-code": run_code},
                                                           "drift": {"exit-code": drift_code}})
    assert done.returncode == step_code
    assert done.outputs == {"exit-code": str(step_code), "drift": drift}
    assert ("::warning title=voice-harness drift::" in done.stdout) == (drift == "findings" and drift_fails == "false")
    assert ("::error title=voice-harness drift::" in done.stdout) == (
        drift == "error" or (drift == "findings" and drift_fails == "true"))


# ---- no input is ever shell code, but setup-command, which is meant to be


INJECTION = "$(touch {name}) `touch {name}2`; touch {name}3"


def test_no_input_reaches_a_script_as_an_expression_and_none_is_run(runner, fake_python):
    """Every step that runs a script, given an input whose text would run commands if it were pasted into the
    script: nothing runs (setup-command is run on purpose, by its own bash, and only that one)."""
    python, _ = fake_python
    (runner.venv / ".installed").write_text("x")
    outputs = {"python": {"python-path": str(python), **PYTHON_311}, "run": {"exit-code": "0"},
               "plan": {"spec": "x", "venv": str(runner.venv)}}
    for step in RUN_STEPS:
        # the inputs that reach this step (the others cannot)
        reaching = {ref for value in step.get("env", {}).values() for ref in INPUT_REFERENCE.findall(value)}
        for name in sorted(reaching - {"setup-command"}):
            inputs = {name: INJECTION.format(name=f"pwned-{name}"), "setup-command": "true"}
            runner(step.get("id") or step["name"], inputs, outputs)
    assert sorted(p.name for p in runner.workspace.iterdir() if p.name.startswith("pwned")) == []
    runner("setup", {"setup-command": "touch ran-on-purpose"})
    assert (runner.workspace / "ran-on-purpose").exists()


def test_setup_command_is_read_from_the_environment_by_a_bash_of_its_own():
    setup = _step("setup")
    assert setup["env"]["SETUP_COMMAND"] == "${{ inputs.setup-command }}"
    assert 'bash -eo pipefail -c "$SETUP_COMMAND"' in setup["run"]


def test_the_drift_step_runs_drift_on_the_runs_cassettes_or_says_there_are_none(runner):
    reports = runner.workspace / "reports"
    none = runner("drift", {"drift": "true"}, {"prepare": {"reports-dir": str(reports)}})
    assert none.outputs == {"exit-code": "2"} and "no cassettes" in none.stdout and runner.calls() == []
    (reports / "cassettes").mkdir(parents=True)
    found = runner("drift", {"drift": "true"}, {"prepare": {"reports-dir": str(reports)}}, env={"FAKE_EXIT": "1"})
    assert found.returncode == 0 and found.outputs == {"exit-code": "1"}
    assert runner.calls() == [["drift", "--cassettes", f"{reports}/cassettes", "--reports-dir", str(reports)]]
