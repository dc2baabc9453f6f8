"""voice-harness report: a single-file HTML report of the last run, built offline by Allure 3.

Allure 3 is a Node.js tool from the npm registry. It is installed once into the harness's cache
(~/.cache/voice-harness/allure, or $VOICE_HARNESS_CACHE/allure; a pinned version, no global install, nothing
written where the harness is installed); after that the report builds without any network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from voice_harness import paths
from voice_harness.errors import EnvironmentProblem, UsageProblem

ALLURE_VERSION = "3.18.0"
TOOLS_DIR = paths.cache_dir() / "allure"
REPORT_NAME = "Voice agent proxy conformance"
NODE_MISSING = ("the HTML report needs Node.js 20+ and npm, which were not found: install them "
                "(Debian: `apt-get install nodejs npm`) or read reports/conformance.md instead")


def allure_executable(tools_dir: Path = TOOLS_DIR, log=print) -> Path:
    """The project's Allure 3 command line, installed from npm on first use."""
    exe = tools_dir / "node_modules" / "allure" / "cli.js"
    if shutil.which("node") is None or (not exe.is_file() and shutil.which("npm") is None):
        raise EnvironmentProblem(NODE_MISSING)
    if exe.is_file():
        return exe
    log(f"harness report: installing Allure {ALLURE_VERSION} from npm into {tools_dir} (first use only)")
    tools_dir.mkdir(parents=True, exist_ok=True)
    (tools_dir / "package.json").write_text(json.dumps(
        {"name": "harness-allure", "private": True, "dependencies": {"allure": ALLURE_VERSION}}, indent=2) + "\n")
    try:
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=tools_dir,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvironmentProblem(f"`npm install allure@{ALLURE_VERSION}` in {tools_dir} did not finish "
                                 f"({type(exc).__name__}); check access to the npm registry") from None
    if done.returncode != 0 or not exe.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise EnvironmentProblem(f"`npm install allure@{ALLURE_VERSION}` in {tools_dir} failed "
                                 f"(exit {done.returncode}: {last}); check access to the npm registry")
    return exe


def build(results_dir: Path, output_dir: Path, tools_dir: Path = TOOLS_DIR, log=print) -> dict:
    """Build output_dir/index.html from the Allure results; the report's own counts (summary.json)."""
    if not results_dir.is_dir() or not any(results_dir.glob("*-result.json")):
        from voice_harness.invocation import program   # as the user called it: voice-harness, or python -m ...
        raise UsageProblem(f"no test results in {results_dir}: run `{program()} run` first "
                           f"(or pass --reports-dir of a run)")
    if output_dir.exists():
        if any(output_dir.iterdir()) and not (output_dir / "summary.json").is_file():
            raise UsageProblem(f"{output_dir} is not empty and holds no earlier report: pass an empty or new "
                               f"folder as --output")
    exe = allure_executable(tools_dir, log)
    if output_dir.exists():
        shutil.rmtree(output_dir)  # an earlier report only (checked above)
    command = ["node", str(exe), "awesome", str(results_dir), "--single-file", "--output", str(output_dir),
               "--report-name", REPORT_NAME]
    try:
        done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600,
                              env={**os.environ, "NO_COLOR": "1"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvironmentProblem(f"Allure did not build the report ({type(exc).__name__})") from None
    index = output_dir / "index.html"
    if done.returncode != 0 or not index.is_file():
        last = ((done.stderr or done.stdout).strip().splitlines() or ["no output"])[-1]
        raise EnvironmentProblem(f"Allure could not build the report (exit {done.returncode}: {last})")
    summary = output_dir / "summary.json"
    stats = json.loads(summary.read_text()).get("stats", {}) if summary.is_file() else {}
    return {"index": index, "stats": stats}


def main(reports_dir: Path, output_dir: Path | None) -> int:
    output = output_dir or reports_dir / "html"
    result = build(reports_dir / "allure-results", output)
    counts = ", ".join(f"{v} {k}" for k, v in result["stats"].items() if k != "total")
    print(f"report: {result['index']} ({result['stats'].get('total', '?')} tests: {counts or 'no counts'})")
    return 0
