"""`--shard K/N`: the run keeps the K-th of N parts of its selection (reports.shards: node ids sorted and dealt
round-robin, after -k, -m and --req chose the selection) and writes shard.json beside conformance.json: its
per-test results, which `voice-harness report --merge` judges together with the other shards' as one run.

Under pytest-xdist every worker collects and splits the same way; the controller collects nothing, so the
workers send it the selection's size and fingerprint (workeroutput)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from voice_harness import version
from voice_harness.errors import UsageProblem
from voice_harness.reports import shards

SELECTION = pytest.StashKey[dict]()
_OUTPUT_KEY = "harness_shard_selection"


def _shard(config: pytest.Config) -> shards.Shard | None:
    text = config.getoption("--shard", default=None)
    return shards.parse(text) if text else None


def pytest_configure(config: pytest.Config) -> None:
    try:
        _shard(config)
    except UsageProblem as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.hookimpl(trylast=True)   # after the harness's --req and pytest's -k/-m have chosen the selection
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    shard = _shard(config)
    if shard is None:
        return
    names = [item.nodeid for item in items]
    keep = set(shards.pick(names, shard))
    selection = {"tests": len(set(names)), "digest": shards.selection_digest(names), "shard_tests": len(keep)}
    config.stash[SELECTION] = selection
    if hasattr(config, "workeroutput"):
        config.workeroutput[_OUTPUT_KEY] = selection
    config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in keep])
    items[:] = [item for item in items if item.nodeid in keep]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """xdist's controller: a worker's view of the selection (every worker's is the same)."""
    selection = getattr(node, "workeroutput", {}).get(_OUTPUT_KEY)
    if selection is not None:
        node.config.stash[SELECTION] = selection


@pytest.hookimpl(trylast=True)   # after the conformance book (plugin.Conformance) has judged and written
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    shard = _shard(config)
    if (shard is None or hasattr(config, "workeroutput") or getattr(config, "harness", None) is None
            or not getattr(config, "harness_asked", False) or config.option.collectonly):
        return
    selection = config.stash.get(SELECTION, None)
    status = int(exitstatus)
    if status == pytest.ExitCode.NO_TESTS_COLLECTED and selection and selection["tests"] and \
            not selection["shard_tests"]:
        # More shards than tests: this one has none, which is no usage error; the merge judges the rest.
        status = session.exitstatus = 0
    if selection is None:
        return   # stopped before collection ended (a usage error): nothing to merge
    book = config.pluginmanager.get_plugin("harness-conformance")
    record = {"kind": "run", "harness": version(), "shard": str(shard), "target": config.harness.describe(),
              "require_complete": bool(config.getoption("--require-complete")), "selection": selection,
              "pytest_status": status, "status": getattr(book, "status", "complete"),
              "results": [dataclasses.asdict(r) for r in getattr(book, "results", {}).values()],
              "figures": list(getattr(book, "figures", [])), "failures": list(getattr(book, "failures", []))}
    path = config.harness.reports_dir / shards.SHARD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    shard = _shard(config)
    selection = config.stash.get(SELECTION, None)
    if shard is not None and selection is not None and getattr(config, "harness", None) is not None:
        terminalreporter.write_line(f"harness: shard {shard}: {selection['shard_tests']} of {selection['tests']} "
                                    f"tests; merge the shards with `voice-harness report --merge DIR...` "
                                    f"({config.harness.reports_dir / shards.SHARD_FILE})")
