"""Which Chromium to launch, in the order that works on each kind of machine: CHROMIUM_PATH if set; Playwright's
managed Chromium if installed; else a system Chromium or Google Chrome (Ubuntu's snap stubs do not count).

The order is one pure function, `plan`, shared by the lookup at every launch (`executable`, which only looks) and by
`setup-browser` (voice_harness.tools.setup_browser, which may also install between the looks), so both always agree
on which browser a run gets."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from voice_harness.errors import EnvironmentProblem

LAUNCH_FLAGS = ["--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-dev-shm-usage"]
# A microphone that plays a WAV once (without %noloop the file repeats), granted without a prompt; reply audio
# plays without a user gesture.
def microphone_flags(wav: Path) -> list[str]:
    return ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop", "--autoplay-policy=no-user-gesture-required"]


SYSTEM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
NO_DOWNLOAD = "VOICE_HARNESS_NO_DOWNLOAD"
# The steps in the one order that works everywhere; "download" and "apt" install, the others only look.
STEPS = ("override", "managed", "download", "system", "apt")
INSTALLING = frozenset({"download", "apt"})
LABELS = {"override": "CHROMIUM_PATH", "managed": "Playwright's Chromium",
          "download": "python -m playwright install chromium", "system": "system Chromium/Chrome",
          "apt": "apt-get install chromium"}
HOW_TO_FIX = ("run `make setup` (it downloads Playwright's Chromium where downloads work, else as root installs "
              "Debian's chromium) or set CHROMIUM_PATH to a Chromium or Chrome binary")
SNIFF_BYTES = 4096


def is_real_browser(path: str) -> bool:
    """A file that is not Ubuntu's snap stub: there /usr/bin/chromium-browser is a shell script that only installs
    or runs the snap, which fails where snapd is not usable (containers, CI); any other file counts."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError:
        return False
    return not (head.startswith(b"#!") and b"snap" in head)


def system_candidates(which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """The fixed Debian/Ubuntu paths first, then whatever PATH offers, in order and without repeats."""
    found = [*SYSTEM_PATHS, *(which(name) or "" for name in SYSTEM_NAMES)]
    return list(dict.fromkeys(path for path in found if path))


def _is_file(path: str) -> bool:
    return Path(path).is_file()


@dataclass(frozen=True)
class Machine:
    """What the choice of browser depends on, handed in so that tests can describe any machine: the environment,
    where Playwright's Chromium would be, the system candidates and the two predicates."""
    env: Mapping[str, str]
    managed: str | None
    candidates: Sequence[str] = ()
    exists: Callable[[str], bool] = field(default=_is_file)
    is_browser: Callable[[str], bool] = field(default=is_real_browser)


def plan(env: Mapping[str, str], install: bool, blocked: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """The steps to take, in order, each with why it is skipped ("" to take it). CHROMIUM_PATH, when set, is the
    only step: the user chose, and a wrong choice must be said rather than papered over. Without `install` the
    installing steps are left out altogether (the lookup at launch never installs); `blocked` names the installing
    steps this machine cannot take (no apt-get, not root) and why."""
    if env.get("CHROMIUM_PATH"):
        return [("override", "")]
    blocked = dict(blocked or {})
    if env.get(NO_DOWNLOAD, "") not in ("", "0"):
        blocked.setdefault("download", f"{NO_DOWNLOAD}={env[NO_DOWNLOAD]}")
    return [(step, blocked.get(step, "")) for step in STEPS[1:] if install or step not in INSTALLING]


def look(step: str, machine: Machine) -> tuple[str | None, str]:
    """One looking step: (the browser found or None, a short note of what came of it)."""
    if step == "override":
        path = machine.env["CHROMIUM_PATH"]
        return (path, f"found {path}") if machine.exists(path) else (None, f"{path} is not a file")
    if step == "managed":
        if machine.managed and machine.exists(machine.managed):
            return machine.managed, f"found {machine.managed}"
        return None, "not installed"
    if step == "system":
        return _look_system(machine)
    raise ValueError(f"{step} is not a looking step")


def _look_system(machine: Machine) -> tuple[str | None, str]:
    """The first candidate that is a real browser; the note names the snap stubs passed over, which otherwise
    look like a browser that is there."""
    stubs = []
    for path in machine.candidates:
        if machine.exists(path):
            if machine.is_browser(path):
                return path, f"found {path}"
            stubs.append(path)
    return None, "none found" + (f" (ignored snap stub {', '.join(stubs)})" if stubs else "")


def failure(env: Mapping[str, str], tried: Sequence[str], how_to_fix: str = HOW_TO_FIX) -> str:
    """The one line for the user when no step found a browser: what was tried and what to do."""
    if env.get("CHROMIUM_PATH"):
        return (f"CHROMIUM_PATH={env['CHROMIUM_PATH']} is not a file: point CHROMIUM_PATH at a Chromium or Chrome "
                f"binary, or unset it to let the harness find one")
    return f"no Chromium found (tried: {'; '.join(tried)}): {how_to_fix}"


def choose(machine: Machine) -> tuple[str, str]:
    """The browser a launch gets, as (step, path), by the looking steps of `plan`; EnvironmentProblem if none."""
    tried = []
    for step, _ in plan(machine.env, install=False):
        path, note = look(step, machine)
        if path:
            return step, path
        tried.append(f"{LABELS[step]}: {note}")
    raise EnvironmentProblem(failure(machine.env, tried))


def executable(managed_path: str | None) -> str | None:
    """The executable_path to launch, or None to let Playwright use its managed Chromium."""
    step, path = choose(Machine(os.environ, managed_path, system_candidates()))
    return None if step == "managed" else path


def managed_path() -> str | None:
    """Where Playwright's own Chromium would be (it may not be installed). Asked in a thread of its own: Playwright's
    sync API refuses to start where an event loop runs (a caller inside a pytest run that drove a page before)."""
    return _in_own_thread(_managed_path)


def _managed_path() -> str | None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        return pw.chromium.executable_path


def _in_own_thread(work):
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()


def with_page(action, viewport: dict | None = None):
    """Run action(page) in a Chromium of its own, in a thread of its own (Playwright's sync API may not run
    where an event loop is, and must not leave one behind); action's result."""
    def run():
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            path = executable(pw.chromium.executable_path)
            chromium = pw.chromium.launch(executable_path=path, args=LAUNCH_FLAGS)
            try:
                return action(chromium.new_page(viewport=viewport or {"width": 1280, "height": 800}))
            finally:
                chromium.close()

    return _in_own_thread(run)


def version() -> str:
    """The Chromium's own version line (for the report's environment), or 'unknown'."""
    import subprocess

    cache = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or Path.home() / ".cache" / "ms-playwright")
    revision = lambda path: int("".join(ch for ch in path.parts[-3] if ch.isdigit()) or 0)  # noqa: E731
    managed = sorted(cache.glob("chromium-*/chrome-linux*/chrome"), key=revision)
    try:   # the same order as a launch; the managed one from the cache, as starting Playwright here may not work
        _, path = choose(Machine(os.environ, str(managed[-1]) if managed else None, system_candidates()))
    except EnvironmentProblem:
        return "unknown"
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = done.stdout.strip().splitlines()
    return lines[0] if lines else "unknown"


def check_starts(app_url: str | None = None) -> None:
    """Pre-flight: the browser starts (and loads the app's page, given its URL); EnvironmentProblem if not."""
    from voice_harness.timeouts import units

    def visit(page) -> None:
        if app_url:
            page.goto(app_url, timeout=units(15) * 1000)

    try:
        with_page(visit)
    except EnvironmentProblem:
        raise
    except Exception as exc:  # Playwright's errors: a browser that will not start, a page it will not load
        from voice_harness.judging.attribution import first_line

        first = first_line(exc)
        what = "load the app page " + app_url if app_url and "net::ERR_" in first else "start"
        raise EnvironmentProblem(f"pre-flight: the browser did not {what}: {first}") from None
