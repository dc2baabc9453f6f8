"""Make sure a Chromium is there: Playwright's managed one, else the system's, else Debian's package (as root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from voice_harness.targets import browser
from voice_harness.errors import EnvironmentProblem

APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def ensure() -> str:
    """A line saying which browser will be used; installs Debian's chromium when that is possible."""
    managed = browser.managed_path()
    try:
        path = browser.executable(managed)
        return f"browser: {path or managed} ({'system' if path else 'Playwright managed'})"
    except EnvironmentProblem:
        if os.environ.get("CHROMIUM_PATH"):
            raise
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise EnvironmentProblem("no Chromium found: install one (Debian: `sudo apt-get install chromium`, "
                                 "or `.venv/bin/playwright install chromium` where downloads work) "
                                 "or set CHROMIUM_PATH")
    print("harness: no Chromium found; installing Debian's chromium with apt-get", flush=True)
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(command, env=APT_ENV, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise EnvironmentProblem(f"`{' '.join(command)}` failed with code {done.returncode}; "
                                     f"install chromium by hand or set CHROMIUM_PATH")
    path = browser.executable(managed)
    return f"browser: {path} (system, just installed)"


def main() -> int:
    try:
        print(ensure())
    except EnvironmentProblem as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 2
    return 0
