"""`voice-harness init`: the texts it writes are a function of the options (the profile loads and validates, the
workflow runs the action as the docs' recipes do, .gitignore gets one `reports/` line), and the I/O around them
never overwrites without --force, checks every target before writing any, and runs the canary once."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from voice_harness.errors import UsageProblem
from voice_harness.targets import profiles
from voice_harness.tools import cli, init

ROOT = Path(__file__).resolve().parents[2]
ACTION_INPUTS = set(yaml.safe_load((ROOT / "action.yml").read_text())["inputs"])
ENV_CMD = "OPENAI_PROXY_PORT={port} OPENAI_REALTIME_URL={upstream_url} npx tsx src/run.ts"


# ---- pure: options -> texts

def test_leading_assignments_go_to_the_env_and_env_flags_win_over_them():
    plan = init.plan(ENV_CMD, ["OPENAI_REALTIME_URL={upstream_url}/x", "LOG=debug"])
    assert plan.command == ("npx", "tsx", "src/run.ts")
    assert plan.env == {"OPENAI_PROXY_PORT": "{port}", "OPENAI_REALTIME_URL": "{upstream_url}/x", "LOG": "debug"}


@pytest.mark.parametrize("proxy_cmd, env, why", [
    ("node server.js", [], "does not use {port}"),
    ("PORT={port}", [], "names no program"),
    ("node server.js", ["PORT"], "NAME=VALUE"),
    ("node server.js", ["1PORT={port}"], "NAME=VALUE"),
])
def test_a_command_the_harness_could_not_start_is_a_usage_problem(proxy_cmd, env, why):
    with pytest.raises(UsageProblem, match=why):
        init.plan(proxy_cmd, env)


def test_the_port_may_come_from_an_env_flag_alone():
    assert init.plan("node server.js", ["PORT={port}"]).env == {"PORT": "{port}"}


def test_a_profile_is_a_toml_file():
    with pytest.raises(UsageProblem, match=r"\.toml"):
        init.plan(ENV_CMD, [], profile="conformance")


def _load(text: str, folder: Path) -> profiles.Profile:
    path = folder / "voice-harness.toml"
    path.write_text(text)
    return profiles.load(str(path))


def test_the_profile_of_an_env_configured_proxy_loads_and_validates(tmp_path):
    (tmp_path / "packages/proxy").mkdir(parents=True)
    plan = init.plan(ENV_CMD, ["OPENAI_API_KEY=sk-dummy"], cwd="packages/proxy", app_url="http://127.0.0.1:5173/")
    profile = _load(init.profile_text(plan), tmp_path)
    assert profile.proxy.command == ("npx", "tsx", "src/run.ts")
    assert profile.proxy.environment(4321, "ws://u", None) == {
        "OPENAI_PROXY_PORT": "4321", "OPENAI_REALTIME_URL": "ws://u", "OPENAI_API_KEY": "sk-dummy"}
    assert profile.proxy.cwd == (tmp_path / "packages/proxy").resolve()
    assert profile.app.url == "http://127.0.0.1:5173/"
    assert profile.proxy.path == "/openai" and profile.upstream.mode == "mock"


def test_the_profile_without_cwd_and_app_leaves_them_as_comments(tmp_path):
    text = init.profile_text(init.plan("node server.js --port {port}", []))
    profile = _load(text, tmp_path)
    assert profile.proxy.cwd is None and profile.app.url is None and profile.proxy.env == {}
    assert "# cwd = " in text and "# url = " in text


def test_values_with_quotes_backslashes_and_control_characters_survive_toml():
    awkward = 'a "quoted" C:\\path\ttab \x7f'
    plan = init.plan("node 'my server.js' --port {port}", [f"NOTE={awkward}"])
    data = tomllib.loads(init.profile_text(plan))
    assert data["proxy"]["command"] == ["node", "my server.js", "--port", "{port}"]
    assert data["proxy"]["env"]["NOTE"] == awkward


def _workflow(**kwargs) -> dict:
    return yaml.safe_load(init.workflow_text(init.plan(ENV_CMD, [], **kwargs)))


def _action_steps(job: dict) -> list[dict]:
    return [step for step in job["steps"] if "voice-proxy-harness" in step.get("uses", "") or
            step.get("uses", "").startswith("acme/")]


def test_the_workflow_runs_the_mock_on_pull_requests_the_real_api_nightly_and_the_gate_on_tags():
    workflow = _workflow(profile="ci/voice-harness.toml")
    triggers = workflow[True]   # YAML 1.1 reads the `on:` key as True
    assert "pull_request" in triggers and triggers["schedule"][0]["cron"] and triggers["push"]["tags"] == ["v*"]
    jobs = workflow["jobs"]
    mock, = _action_steps(jobs["mock"])
    assert "pull_request" in jobs["mock"]["if"]
    assert "env" not in mock and mock["with"].get("upstream", "mock") == "mock"
    nightly, = _action_steps(jobs["nightly"])
    assert jobs["nightly"]["if"] == "github.event_name == 'schedule'"
    assert nightly["env"] == {"OPENAI_API_KEY": "${{ secrets.OPENAI_API_KEY }}"}
    assert nightly["with"]["upstream"] == "real"
    # The drift check runs, and a finding about the mock stays a warning: the team's job is about its proxy.
    assert nightly["with"]["drift"] == "true" and "drift-fails" not in nightly["with"]
    gate, canary = _action_steps(jobs["release-gate"])
    assert gate["with"]["args"] == "--require-complete" and "env" not in gate
    assert canary["with"]["args"] == "--req CANARY-1" and canary["with"]["upstream"] == "real"
    assert canary["env"] == {"OPENAI_API_KEY": "${{ secrets.OPENAI_API_KEY }}"}
    steps = [*_action_steps(jobs["mock"]), nightly, gate, canary]
    assert all(step["with"]["profile"] == "ci/voice-harness.toml" for step in steps)
    artifacts = [step["with"].get("artifact-name", "conformance-reports") for step in steps]
    assert len(set(artifacts)) == len(artifacts)   # one name per use of the action in a workflow run


def test_the_workflow_sets_only_inputs_the_action_has():
    assert init.ACTION_INPUTS <= ACTION_INPUTS
    workflow = _workflow(setup_command="npm ci", working_directory="packages/proxy",
                         action="acme/voice-proxy-harness@v0")
    for job in workflow["jobs"].values():
        for step in _action_steps(job):
            assert step["uses"] == "acme/voice-proxy-harness@v0"
            assert set(step["with"]) <= ACTION_INPUTS, set(step["with"]) - ACTION_INPUTS


def test_the_setup_command_is_an_input_where_the_action_has_it_else_a_comment():
    with_inputs = _workflow(setup_command="npm ci", working_directory="packages/proxy")
    first, = _action_steps(with_inputs["jobs"]["mock"])
    assert first["with"]["setup-command"] == "npm ci" and first["with"]["working-directory"] == "packages/proxy"
    _, canary = _action_steps(with_inputs["jobs"]["release-gate"])
    assert "setup-command" not in canary["with"]   # the gate's first step installed them
    text = init.workflow_text(init.plan(ENV_CMD, [], setup_command="npm ci", inputs=frozenset()))
    assert "setup-command:" not in text and "(run: npm ci)" in text and "drift" not in text
    first, = _action_steps(yaml.safe_load(text)["jobs"]["mock"])
    assert set(first["with"]) == {"profile"}


def test_a_placeholder_action_is_explained_in_the_workflow_and_a_real_one_is_not():
    assert "your-org/voice-proxy-harness@v1 is a placeholder" in init.workflow_text(init.plan(ENV_CMD, []))
    assert "is a placeholder" not in init.workflow_text(init.plan(ENV_CMD, [], action="./.github/actions/voice-harness"))


@pytest.mark.parametrize("existing, expected", [
    (None, "reports/\n"),
    ("", "reports/\n"),
    ("node_modules/\n", "node_modules/\nreports/\n"),
    ("node_modules/", "node_modules/\nreports/\n"),
    ("node_modules/\n/reports/\n", None),
    ("reports\n", None),
    ("reports/old\n", "reports/old\nreports/\n"),
])
def test_gitignore_gets_one_reports_line(existing, expected):
    assert init.gitignore_text(existing) == expected


def test_the_next_command_follows_the_canarys_exit_code():
    assert "--req CANARY-1" in init.next_lines("voice-harness", "p.toml", None, False)[0]
    passed = init.next_lines("voice-harness", "p.toml", 0, True)
    assert "voice-harness run --profile p.toml " in passed[0] and "fork of the action" in passed[-1]
    assert "failed against your proxy" in init.next_lines("voice-harness", "p.toml", 1, False)[0]
    assert "could not judge" in init.next_lines("voice-harness", "p.toml", 2, False)[0]


# ---- I/O: what exists, the writes, the run

@pytest.fixture
def repo(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _init(*argv, runs=None, code=0):
    args = cli._parser().parse_args(["init", *argv])
    calls = runs if runs is not None else []
    return init.main(args, "voice-harness", run=lambda a: calls.append(a) or code)


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}


def test_init_writes_the_three_files_and_runs_the_canary_once(repo, capsys):
    (repo / "svc").mkdir()
    runs = []
    assert _init("--proxy-cmd", ENV_CMD, "--cwd", "svc", "--setup-command", "npm ci", runs=runs, code=1) == 1
    assert runs == [["run", "--profile", "voice-harness.toml", "--", "--req", "CANARY-1"]]
    profile = profiles.load(str(repo / "voice-harness.toml"))
    assert profile.proxy.cwd == (repo / "svc").resolve()
    assert (repo / ".gitignore").read_text() == "reports/\n"
    mock, = _action_steps(yaml.safe_load((repo / init.WORKFLOW).read_text())["jobs"]["mock"])
    assert mock["with"]["working-directory"] == "svc"
    assert "failed against your proxy" in capsys.readouterr().out


def test_init_from_a_sub_folder_writes_the_workflow_at_the_root_with_the_profile_path_from_there(repo):
    sub = repo / "packages/proxy"
    sub.mkdir(parents=True)
    (repo / ".gitignore").write_text("dist\n")
    os.chdir(sub)
    assert _init("--proxy-cmd", ENV_CMD, "--cwd", ".", "--no-run") == 0
    assert profiles.load(str(sub / "voice-harness.toml")).proxy.cwd == sub.resolve()
    mock, = _action_steps(yaml.safe_load((repo / init.WORKFLOW).read_text())["jobs"]["mock"])
    assert mock["with"]["profile"] == "packages/proxy/voice-harness.toml"
    assert (repo / ".gitignore").read_text() == "dist\nreports/\n"


def test_re_running_names_the_existing_file_and_writes_nothing_without_force(repo, capsys):
    assert _init("--proxy-cmd", ENV_CMD, "--no-run") == 0
    (repo / "voice-harness.toml").unlink()   # only the workflow is left: still nothing may be written
    before = _files(repo)
    capsys.readouterr()
    runs = []
    assert _init("--proxy-cmd", "node other.js --port {port}", runs=runs) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and ".github/workflows/voice-harness.yml exists" in err[0] and "--force" in err[0]
    assert _files(repo) == before and runs == []
    assert _init("--proxy-cmd", "node other.js --port {port}", "--force", "--no-run") == 0
    assert profiles.load(str(repo / "voice-harness.toml")).proxy.command == ("node", "other.js", "--port", "{port}")
    assert (repo / ".gitignore").read_text() == "reports/\n"


@pytest.mark.parametrize("argv, why", [
    (["--proxy-cmd", "node server.js"], "{port}"),
    (["--proxy-cmd", ENV_CMD, "--cwd", "missing"], "not a folder"),
    (["--proxy-cmd", ENV_CMD, "--env", "BAD"], "NAME=VALUE"),
    (["--proxy-cmd", ENV_CMD, "--app-url", "ftp://x"], "app.url"),
])
def test_a_bad_option_is_one_line_exit_2_and_writes_nothing(repo, capsys, argv, why):
    assert _init(*argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and why in err[0], err
    assert _files(repo) == {} and not list(repo.glob("*.toml"))


def test_without_proxy_cmd_and_no_terminal_it_is_a_usage_error_not_a_prompt(tmp_path):
    done = subprocess.run([sys.executable, "-m", "voice_harness", "init"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "--proxy-cmd" in lines[0], done.stderr
    assert list(tmp_path.iterdir()) == []


def test_at_a_terminal_it_asks_for_the_proxy_command_only(repo, monkeypatch):
    asked = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "PORT={port} node server.js")
    assert _init("--no-run") == 0
    assert len(asked) == 1 and "{port}" in asked[0]
    assert profiles.load(str(repo / "voice-harness.toml")).proxy.env == {"PORT": "{port}"}


def test_a_key_given_to_init_stays_out_of_the_profile_it_writes():
    the_plan = init.plan("OPENAI_API_KEY=sk-proj-" + "abc123" * 4 + " PORT={port} node s.js",
                         ["GH_TOKEN=ghp_x0123456789abcdef0123", "MODE=mock", "DUMMY_API_KEY=sk-dummy"])
    text = init.profile_text(the_plan)
    assert the_plan.secrets == ("GH_TOKEN", "OPENAI_API_KEY")
    assert "abc123" not in text and "ghp_x" not in text and 'MODE = "mock"' in text
    assert 'DUMMY_API_KEY = "sk-dummy"' in text   # a placeholder is no secret
    assert "# OPENAI_API_KEY: not written here (a secret)" in text
