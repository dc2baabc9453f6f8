"""voice-harness app-check: which optional capabilities an app has (PROTOCOL.md section 6, docs/app-contract.md).

It opens the app against the reference stack, as a run does (the reference proxy, the mock upstream, the client
tap, the same browser fixtures: a small pytest session of harness/tools/app_probe.py), decides each capability
from what the app sent (harness/drivers/app_capabilities.py) and prints the table with the ids each one
unlocks. Exit 0 with the table; exit 2 with one line when it cannot look (a bad option, an app URL that does
not answer, an app that does not connect, no browser).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from voice_harness import paths
from voice_harness.drivers import app_capabilities
from voice_harness.errors import EnvironmentProblem, UsageProblem
from voice_harness.targets import browser, preflight, run_config
from voice_harness.tools.bounded import run_bounded

IDLE_WAIT_S = 12.0        # the idle probe's wait: apps of this family close after about 10 s of silence
PROBE_TIMEOUT_S = 300     # the whole probe session, bounded (it takes about 20 s plus the idle wait)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--app-url", help="the app to check (default: the bundled test app)")
    parser.add_argument("--profile", default="reference",
                        help="the profile with the app's selectors and URL parameter names (default reference)")
    parser.add_argument("--idle-wait", type=float, default=IDLE_WAIT_S,
                        help=f"seconds the idle probe waits for the app to close a silent connection; it opens "
                             f"the app with idleTimeout of half that (default {IDLE_WAIT_S:g}; 0 skips it)")


def main(args: argparse.Namespace) -> int:
    try:
        if args.idle_wait < 0:
            raise UsageProblem("--idle-wait takes a number of seconds, 0 or more")
        work = Path(tempfile.mkdtemp(prefix="voice-harness-app-check-"))
        try:
            config = run_config.build(run_config.Options(profile=args.profile, reports_dir=work / "reports",
                                                         app_url=args.app_url, upstream="mock"))
            if config.profile.proxy.url is not None:
                raise UsageProblem(f"app-check starts the reference stack; profile {config.profile.name!r} points "
                                   f"at a running proxy (proxy.url): use a profile that starts one")
            if config.profile.app.url is not None:
                preflight.app_serves(config.profile.app.url)
            browser.executable(browser.managed_path())
            observations = probe(config, work, args.idle_wait)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    except (UsageProblem, EnvironmentProblem) as exc:
        print(f"harness: app-check: {exc}", file=sys.stderr)
        return 2
    findings = app_capabilities.decide(observations)
    print(f"app: {config.profile.app.url or 'the bundled test app'} (profile {config.profile.name})")
    for line in app_capabilities.rows(findings):
        print(line)
    missing = app_capabilities.not_exercised(findings)
    if missing:
        print("ids with a test this app cannot exercise (skipped or judged on what the app sends of its own): "
              + ", ".join(missing))
    print(f"the app contract: {contract_path()}")
    return 0


def contract_path() -> Path:
    """The app contract as shipped in the package (docs/app-contract.md in a checkout)."""
    return paths.bundled("app_contract") / "app-contract.md"


def probe(config: run_config.RunConfig, work: Path, idle_wait_s: float) -> dict:
    """Run the probe session; its observations. A probe that could not look is an EnvironmentProblem naming why."""
    from voice_harness.tools import app_probe   # a pytest module: imported only when a check runs

    out = work / "observations.json"
    argv = [sys.executable, "-m", "pytest", str(Path(app_probe.__file__)), "-c", str(paths.package_root() / "pytest.ini"),
            "--rootdir", str(work), "-p", "voice_harness.plugin", "-p", "no:cacheprovider",
            "--import-mode=importlib", "-n", "0", "-q", "--profile", str(config.profile.source.resolve()),
            "--reports-dir", str(config.reports_dir), f"--output={work / 'playwright'}"]
    if config.profile.app.url is not None:
        argv.append(f"--app-url={config.profile.app.url}")
    env = {**os.environ, app_probe.OUT_ENV: str(out), app_probe.IDLE_ENV: str(idle_wait_s),
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)   # the probe session is the harness's own, as a run's is
    done = run_bounded(argv, PROBE_TIMEOUT_S, env, cwd=work, interrupt_grace=10)
    if done.code is None:
        raise EnvironmentProblem(f"the probe session did not end within {PROBE_TIMEOUT_S} s")
    observations = json.loads(out.read_text()) if out.is_file() else {}
    if observations.get("error"):
        raise EnvironmentProblem(observations["error"])
    if done.code != 0 or "baseline" not in observations:
        raise EnvironmentProblem(f"the probe session failed (pytest exit {done.code}): {_last_line(done.output)}")
    return observations


def _last_line(output: str) -> str:
    """The line that says most: pytest's harness line or its first error, else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("harness:", "E ")):
            return line.removeprefix("E ").strip()
    return lines[-1] if lines else "no output"
