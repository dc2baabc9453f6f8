"""The gate's own figures for `voice-harness bench`, measured in the harness's source checkout: the unit tier
(`pytest tests -m 'not e2e' -n 2`), set-up plus `make conformance` on a fresh clone, and `make test` (CI's job)
on that clone. Each is a real run, bounded, timed by its wall clock; a run that did not pass gives no figure
(its exit status says why)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from voice_harness import paths
from voice_harness.errors import EnvironmentProblem
from voice_harness.tools.bounded import run_bounded

UNIT_TIMEOUT_S = 600
CONFORMANCE_TIMEOUT_S = 1200
CI_TIMEOUT_S = 5400      # CI's own bound: 90 minutes
GRACE_S = 30


def checkout() -> Path:
    """The source checkout the harness runs from (its tests, Makefile and git history); EnvironmentProblem when
    the harness is installed without one."""
    root = paths.package_root().parent
    if not ((root / ".git").exists() and (root / "Makefile").is_file() and (root / "tests").is_dir()):
        raise EnvironmentProblem(f"this figure is measured in the harness's source checkout (with tests/, the "
                                 f"Makefile and .git); {root} is not one: run the bench from a clone")
    return root


def timed(argv: list[str], cwd: Path, timeout_s: int) -> dict:
    started = time.monotonic()
    done = run_bounded(argv, timeout_s, cwd=cwd, interrupt_grace=GRACE_S)
    wall = round(time.monotonic() - started, 1)
    lines = done.output.strip().splitlines()
    return {"wall_s": wall, "exit": -1 if done.code is None else done.code,
            "result": lines[-1].strip("= ") if lines else "",
            "command": " ".join("python" if arg == sys.executable else arg for arg in argv)}


def unit_tier(log) -> dict:
    root = checkout()
    figure = timed([sys.executable, "-m", "pytest", "tests", "-m", "not e2e", "-n", "2", "-q", "-p",
                    "no:cacheprovider"], root, UNIT_TIMEOUT_S)
    log(f"  unit tier (-n 2)        {figure['wall_s']:7.1f} s  exit {figure['exit']}  {figure['result']}")
    return figure


def fresh_clone(work: Path) -> Path:
    """A clone of the checkout's HEAD (what was committed, as CI gets it), with the shared docs beside it when the
    checkout has them. One clone per bench: `ci` after `fresh-clone` runs make test where make conformance already
    made the .venv (without its set-up); `ci` alone includes it."""
    root = checkout()
    clone = work / "fresh" / root.name
    if clone.is_dir():
        return clone
    done = subprocess.run(["git", "clone", "--quiet", str(root), str(clone)], capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise EnvironmentProblem(f"git clone of {root} failed: {(done.stderr or done.stdout).strip()[:200]}")
    if (root.parent / "shared").is_dir():
        shutil.copytree(root.parent / "shared", clone.parent / "shared")
    return clone


def conformance_on_a_fresh_clone(work: Path, log) -> dict:
    clone = fresh_clone(work)
    figure = timed(["make", "conformance"], clone, CONFORMANCE_TIMEOUT_S)
    log(f"  fresh clone: set-up + make conformance {figure['wall_s']:7.1f} s  exit {figure['exit']}  "
        f"{figure['result']}")
    return figure


def ci_on_a_fresh_clone(work: Path, log) -> dict:
    clone = fresh_clone(work)
    figure = timed(["make", "test"], clone, CI_TIMEOUT_S)
    log(f"  fresh clone: make test  {figure['wall_s']:7.1f} s  exit {figure['exit']}  {figure['result']}")
    return figure
