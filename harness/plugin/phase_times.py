"""A pytest plugin for `harness bench`: each test's setup, call and teardown durations, written as JSON to the
file named by HARNESS_PHASE_TIMES at the end of the session (on the controller, so it works with xdist)."""

from __future__ import annotations

import json
import os

import pytest

_times: dict[str, dict[str, float]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _times.setdefault(report.nodeid, {})[report.when] = round(report.duration, 4)


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("HARNESS_PHASE_TIMES")
    if path and not hasattr(session.config, "workerinput"):
        with open(path, "w") as fh:
            json.dump(_times, fh, indent=1)
