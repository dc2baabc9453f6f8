"""Which Chromium to launch: Playwright's managed one if installed, else the system's."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from voice_harness.errors import EnvironmentProblem

LAUNCH_FLAGS = ["--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-dev-shm-usage"]
SYSTEM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
HOW_TO_FIX = "run `make setup` (as root it installs Debian's chromium) or set CHROMIUM_PATH to a Chromium binary"


def executable(managed_path: str | None) -> str | None:
    """The executable_path to launch, or None to let Playwright use its managed Chromium."""
    override = os.environ.get("CHROMIUM_PATH")
    if override:
        if not Path(override).is_file():
            raise EnvironmentProblem(f"CHROMIUM_PATH={override} does not exist: {HOW_TO_FIX}")
        return override
    if managed_path and Path(managed_path).is_file():
        return None
    for candidate in (*SYSTEM_CANDIDATES, shutil.which("chromium") or ""):
        if candidate and Path(candidate).is_file():
            return candidate
    raise EnvironmentProblem(f"no Chromium found (neither Playwright's managed browser nor a system one): {HOW_TO_FIX}")


def managed_path() -> str | None:
    """Where Playwright's own Chromium would be (it may not be installed)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        return pw.chromium.executable_path


def with_page(action, viewport: dict | None = None):
    """Run action(page) in a Chromium of its own, in a thread of its own (Playwright's sync API may not run
    where an event loop is, and must not leave one behind); action's result."""
    import concurrent.futures

    def run():
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            path = executable(pw.chromium.executable_path)
            chromium = pw.chromium.launch(executable_path=path, args=LAUNCH_FLAGS)
            try:
                return action(chromium.new_page(viewport=viewport or {"width": 1280, "height": 800}))
            finally:
                chromium.close()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def version() -> str:
    """The Chromium's own version line (for the report's environment), or 'unknown'."""
    import subprocess

    cache = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or Path.home() / ".cache" / "ms-playwright")
    revision = lambda path: int("".join(ch for ch in path.parts[-3] if ch.isdigit()) or 0)  # noqa: E731
    managed = sorted(cache.glob("chromium-*/chrome-linux*/chrome"), key=revision)
    system = [c for c in SYSTEM_CANDIDATES if Path(c).is_file()]
    path = os.environ.get("CHROMIUM_PATH") or (str(managed[-1]) if managed else system[0] if system else None)
    if path is None:
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
