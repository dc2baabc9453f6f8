"""The harness's overrides of other plugins' fixtures, registered by the plugin at configure time: after every
plugin pytest loads from entry points or -p, so they win whatever the load order (pytest takes the fixture
registered last). Inert for a run that does not use the harness: the other plugin's value passes unchanged."""

from __future__ import annotations

import pytest

from voice_harness.targets import browser


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict, playwright, pytestconfig) -> dict:
    """pytest-playwright's launch args (so --headed, --slowmo, --browser-channel keep working) plus the
    harness's flags and, when Playwright's own browser is not there, the system Chromium."""
    if not getattr(pytestconfig, "harness_asked", False):
        return browser_type_launch_args
    args = dict(browser_type_launch_args)
    args["args"] = [*args.get("args", []), *browser.LAUNCH_FLAGS]
    if "executable_path" not in args:
        path = browser.executable(playwright.chromium.executable_path)
        if path:
            args["executable_path"] = path
    return args
