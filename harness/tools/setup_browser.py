"""Make sure a Chromium is there (`voice-harness setup-browser`, which `make setup` runs), trying in the
order that works on each kind of machine and saying, in one line per step, what it tried and what came of it:

1. CHROMIUM_PATH, if set, and then only it: it must be an existing file (the user chose; a wrong choice is said).
2. Playwright's managed Chromium, if already installed.
3. `python -m playwright install chromium`, where downloads work. Hosted CI runners need it: there the
   distribution's `chromium` is a snap stub and `apt-get install chromium` fails. Bounded by DOWNLOAD_TIMEOUT_S;
   a failure (no network, an error, the timeout) is said and the next step taken. Set VOICE_HARNESS_NO_DOWNLOAD=1
   to skip it on machines where downloads cannot work, so that the set-up does not try in vain.
4. A system Chromium or Google Chrome (Ubuntu's snap stub does not count).
5. As root with apt-get: Debian's `chromium` package.

If none gives a browser: EnvironmentProblem with one line naming what was tried and what to do (the CLI exits 2).
The order itself is `browser.plan`, the same one the lookup at every launch follows minus the installing steps."""

from __future__ import annotations

import os
import re
import shutil
import sys
from typing import Callable, Sequence

from voice_harness.targets import browser
from voice_harness.errors import EnvironmentProblem
from voice_harness.tools.bounded import Finished, run_bounded

DOWNLOAD_TIMEOUT_S = 300
DOWNLOAD = [sys.executable, "-m", "playwright", "install", "chromium"]
# Where to look once an installing step has succeeded. Debian's package puts the browser at /usr/bin/chromium,
# one of the fixed system candidates, so the candidates found before the install still cover it.
LOOK_AFTER = {"download": "managed", "apt": "system"}
HOW_TO_FIX = ("set CHROMIUM_PATH to a Chromium or Chrome binary, or install one: `python -m playwright install "
              "chromium` where downloads work, `sudo apt-get install chromium` on Debian")
REASON_CHARS = 120
ANSI = re.compile(r"\x1b\[[0-9;]*m")


Runner = Callable[[Sequence[str], "float | None", "dict | None"], Finished]


def reason(output: str) -> str:
    """The line of a failed command's output that says why: its first error line (Playwright's and apt's come
    before their stack traces and retries), else its last line; shortened, colours removed."""
    lines = [ANSI.sub("", line).strip() for line in output.splitlines()]
    lines = [line for line in lines if line]
    errors = [line for line in lines if line.startswith(("Error", "E: ", "error"))]
    chosen = errors[0] if errors else lines[-1] if lines else ""
    return chosen if len(chosen) <= REASON_CHARS else chosen[:REASON_CHARS - 3] + "..."


def attempt(command: Sequence[str], run: Runner, timeout: float | None = None,
            env: dict | None = None) -> tuple[bool, str]:
    """Run one installing command: (succeeded, a short note of what came of it)."""
    try:
        done = run(command, timeout, env)
    except OSError as exc:
        return False, f"could not start ({exc.strerror or exc})"
    if done.code is None:
        return False, f"timed out after {timeout:g} s"
    if done.code != 0:
        why = reason(done.output)
        return False, f"failed (exit {done.code}{': ' + why if why else ''})"
    return True, "done"


def download(run: Runner) -> tuple[bool, str]:
    """Playwright's own download of its Chromium, bounded: where the network is closed it fails fast, where it is
    slow it must not hold the set-up for ever."""
    return attempt(DOWNLOAD, run, DOWNLOAD_TIMEOUT_S)


def apt_install(run: Runner, packages: Sequence[str] = ("chromium",)) -> tuple[bool, str]:
    """Debian's packages (chromium by default), unattended (no prompt may wait on a closed stdin)."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        ok, note = attempt(command, run, None, env)
        if not ok:
            return False, f"`{' '.join(command)}` {note}"
    return True, "done"


INSTALLERS = {"download": download, "apt": apt_install}


def installing_blocked() -> dict[str, str]:
    """The installing steps this machine cannot take, and why: apt needs root and apt-get."""
    if shutil.which("apt-get") is None:
        return {"apt": "no apt-get"}
    if os.geteuid() != 0:
        return {"apt": "not root"}
    return {}


def take(step: str, machine: browser.Machine, run: Runner) -> tuple[str | None, str]:
    """One step of the plan: (the browser found or None, a short note of what came of it). An installing step
    counts only if the browser is then where it should be."""
    if step not in INSTALLERS:
        return browser.look(step, machine)
    ok, note = INSTALLERS[step](run)
    if not ok:
        return None, note
    path, found = browser.look(LOOK_AFTER[step], machine)
    return path, f"{note}, {found}" if path else f"{note}, but {browser.LABELS[LOOK_AFTER[step]]}: {found}"


def ensure(machine: browser.Machine | None = None, run: Runner = run_bounded,
           blocked: dict[str, str] | None = None) -> str:
    """The browser to use, after trying the steps of `browser.plan` in order, one line each on stdout; the
    start of a line is printed before a slow step runs, so the user sees what is being waited for."""
    if machine is None:
        machine = browser.Machine(os.environ, browser.managed_path(), browser.system_candidates())
    tried = []
    for step, skip in browser.plan(machine.env, install=True,
                                   blocked=installing_blocked() if blocked is None else blocked):
        print(f"harness: {browser.LABELS[step]}: ", end="", flush=True)
        path, note = (None, f"skipped ({skip})") if skip else take(step, machine, run)
        print(note, flush=True)
        if path:
            return path
        tried.append(f"{browser.LABELS[step]}: {note}")
    raise EnvironmentProblem(browser.failure(machine.env, tried, HOW_TO_FIX))


def main() -> int:
    """The `setup-browser` command: 0 with a browser, 2 (one line on stderr) without."""
    try:
        ensure()
    except EnvironmentProblem as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 2
    return 0
