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
