"""The CI recipes are valid workflow YAML and run only commands the README documents."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_a_workflow_is_valid_and_runs_only_documented_commands(path):
    workflow = yaml.safe_load(path.read_text())
    assert workflow["jobs"] and True in workflow  # YAML 1.1 reads the `on:` key as True
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            command = step.get("run")
            if command is None:
                continue
            command = command.removeprefix("sudo ")
            if command.startswith("cat reports/"):
                continue  # publishing a report file the README describes
            documented = command.split(" -- ")[0].split(" --reports-dir")[0]
            assert documented in README, f"{path.name}: `{command}` is not a command the README documents"


def test_there_is_a_nightly_a_release_gate_and_a_pr_workflow():
    assert {p.stem for p in WORKFLOWS} >= {"nightly", "release-gate", "pr"}


# ---- the recipes that run the harness through the repository's own action (action.yml, `uses: ./`)

ACTION = yaml.safe_load((ROOT / "action.yml").read_text())


def _workflow(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github" / "workflows" / f"{name}.yml").read_text())


def _action_steps(workflow: dict) -> list[dict]:
    return [s for job in workflow["jobs"].values() for s in job["steps"] if s.get("uses") == "./"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_a_recipe_that_uses_the_action_checks_out_first_and_passes_only_declared_inputs(path):
    workflow = yaml.safe_load(path.read_text())
    for job in workflow["jobs"].values():
        steps = job["steps"]
        used = [i for i, s in enumerate(steps) if s.get("uses") == "./"]
        if not used:
            continue
        checkout = [i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith("actions/checkout@")]
        assert checkout and checkout[0] < used[0], f"{path.name}: `uses: ./` needs the repository checked out first"
        names = [steps[i].get("with", {}).get("artifact-name", ACTION["inputs"]["artifact-name"]["default"])
                 for i in used]
        assert len(set(names)) == len(names), f"{path.name}: two uses of the action upload the same artifact"
        for i in used:
            given = set(steps[i].get("with", {}))
            assert given <= set(ACTION["inputs"]), f"{path.name}: undeclared inputs {given - set(ACTION['inputs'])}"
            key = steps[i].get("env", {}).get("OPENAI_API_KEY")
            assert key in (None, "${{ secrets.OPENAI_API_KEY }}"), f"{path.name}: the key must come from the secret"
        # The action publishes the table and the reports itself; the recipe does not run the harness beside it.
        assert not any("harness run" in str(s.get("run", "")) for s in steps), path.name


def test_nightly_runs_the_action_against_the_real_api_with_the_secret():
    (step,) = _action_steps(_workflow("nightly"))
    assert step["with"]["profile"] == "real" and step["with"]["upstream"] == "real"
    assert step["env"]["OPENAI_API_KEY"] == "${{ secrets.OPENAI_API_KEY }}"
    assert step["with"]["artifact-name"] == "nightly-reports"


def test_the_release_gate_runs_every_must_against_the_mock_then_the_real_canary():
    gate, canary = _action_steps(_workflow("release-gate"))
    assert gate["with"].get("profile", "reference") == "reference" and gate["with"].get("upstream", "mock") == "mock"
    # The gate runs every suite, and a run that left an id unjudged (a skip, say) fails it: no release verdict.
    assert gate["with"]["args"].split() == ["--require-complete"]
    assert "OPENAI_API_KEY" not in gate.get("env", {})
    assert canary["with"]["profile"] == "real" and canary["with"]["args"].split() == ["--req", "CANARY-1"]
    assert canary["with"]["reports-dir"] != gate["with"].get("reports-dir", "reports")
    assert canary["env"]["OPENAI_API_KEY"] == "${{ secrets.OPENAI_API_KEY }}"
    assert "if" not in canary, "the paid canary runs only after the gate passed"


def test_pull_requests_still_run_the_projects_own_tests():
    runs = [s.get("run") for job in _workflow("pr")["jobs"].values() for s in job["steps"]]
    assert "sudo make test" in runs
