"""python -m harness run|bench|report|sensitivity|setup-browser: a thin layer over pytest with exit codes 0 (gate passed), 1 (failures), 2 (usage/env)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import browser, run_config
from .errors import EnvironmentProblem, UsageProblem

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "suites"
# pytest's own exit codes that mean "the harness could not run", not "the proxy failed". Code 2
# (interrupted, or an environment problem the plugin already named) passes through as it is.
_USAGE_CODES = {3: "internal error", 4: "usage error", 5: "no tests were selected"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit 2, as every usage error here
        print(f"harness: {message} (see python -m harness {self.prog.split()[-1]} --help)", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m harness", description="Conformance harness for voice-agent proxies.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("run", help="run the conformance suites; extra pytest arguments go after --")
    _target_options(run)
    bench = commands.add_parser("bench", help="print the wall time of canary tests on the embedded default")
    _target_options(bench)
    bench.add_argument("--count", type=int, default=5, help="canary runs after the browser is up (default 5)")
    commands.add_parser("setup-browser", help="find a Chromium, or install Debian's chromium when run as root")
    html = commands.add_parser("report", help="build a single-file HTML report of the last run (Allure 3, offline)")
    html.add_argument("--reports-dir", default=str(ROOT / "reports"), help="the run's reports (default reports/)")
    html.add_argument("--output", help="where index.html goes (default <reports-dir>/html)")
    sens = commands.add_parser("sensitivity", help="run the suites against every known defect; write the matrix")
    sens.add_argument("--defect", action="append", dest="defects", help="only this defect (repeatable)")
    sens.add_argument("--reduced", action="store_true",
                      help="per defect, only the tests of its expected and collateral ids plus CANARY-1")
    sens.add_argument("--jobs", type=int, default=2, help="defects run at the same time (default 2)")
    sens.add_argument("--workers", type=int, default=1, help="pytest-xdist workers per run (default 1)")
    sens.add_argument("--reports-dir", default=str(ROOT / "reports"))
    sens.add_argument("--docs", help="also write the Markdown matrix to this docs page")
    return parser


def _target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="reference", help="a profile name in profiles/ or a .toml path")
    parser.add_argument("--scenario", help="mock upstream scenario for tests without their own")
    parser.add_argument("--defect", help="switch on a known defect of the reference proxy")
    parser.add_argument("--strict", action="store_true", help="SHOULD failures fail the run too")
    parser.add_argument("--reports-dir", default=str(ROOT / "reports"))
    parser.add_argument("--proxy-cmd", help="start the proxy with this command; needs {port}, may use {upstream_url}")
    parser.add_argument("--proxy-url", help="test a proxy already running at this ws:// URL")
    parser.add_argument("--app-url", help="drive an app served at this URL (selectors from the profile)")
    parser.add_argument("--upstream", choices=("mock", "real"),
                        help="mock, or the real OpenAI Realtime API through the recording tap")
    parser.add_argument("--timelines", choices=("failed", "all"), default="failed",
                        help="HTML timelines of both legs under reports/timelines/: for failed tests, or all")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run every selected test N times (flake statistics in reports/metrics.json)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    args = _parser().parse_args(argv)
    if args.command == "setup-browser":
        from .setup_browser import main as setup_browser
        return setup_browser()
    if args.command == "sensitivity":
        return _sensitivity(args)
    if args.command == "report":
        from .html_report import main as html_report
        try:
            return html_report(Path(args.reports_dir), Path(args.output) if args.output else None)
        except (UsageProblem, EnvironmentProblem) as exc:
            print(f"harness: {exc}", file=sys.stderr)
            return 2
    try:
        config = run_config.build(args.profile, args.scenario, args.defect, args.strict, Path(args.reports_dir),
                                  args.proxy_cmd, args.proxy_url, args.app_url, args.upstream)
        browser.executable(browser.managed_path())
    except (UsageProblem, EnvironmentProblem) as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 2
    if args.command == "bench":
        from .bench import bench_canary
        return bench_canary(config, args.count, extra)
    return run_pytest(pytest_args(config, extra, args))


def _sensitivity(args) -> int:
    from reference_proxy.defects import DEFECTS

    from .sensitivity import main as sensitivity

    unknown = [d for d in args.defects or [] if d not in DEFECTS]
    if unknown:
        print(f"harness: unknown defect {unknown[0]!r}: use one of {', '.join(sorted(DEFECTS))}", file=sys.stderr)
        return 2
    try:
        browser.executable(browser.managed_path())
    except EnvironmentProblem as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 2
    return sensitivity(args.defects, args.reduced, args.jobs, args.workers, Path(args.reports_dir),
                       Path(args.docs) if args.docs else None)


# Tracing costs about 0.2 s per browser test; `-- --tracing=off` saves it. (The harness itself takes the
# screenshot of a failed test at the moment of failure, which costs nothing for the tests that pass.)
PLAYWRIGHT_ARTIFACTS = {"--tracing": "retain-on-failure"}


def pytest_args(config: run_config.RunConfig, extra: list[str], cli: argparse.Namespace) -> list[str]:
    reports = config.reports_dir
    args = [str(SUITES), "--rootdir", str(ROOT), "-p", "no:cacheprovider",
            "--profile", str(config.profile.source), "--reports-dir", str(reports),
            f"--junitxml={reports / 'junit.xml'}", f"--alluredir={reports / 'allure-results'}",
            "--clean-alluredir"]
    if config.scenario_name:
        args += ["--scenario", config.scenario_name]
    if config.defect:
        args += ["--defect", config.defect]
    if config.strict:
        args.append("--harness-strict")
    for option, value in (("--proxy-cmd", cli.proxy_cmd), ("--proxy-url", cli.proxy_url),
                          ("--app-url", cli.app_url), ("--upstream", cli.upstream)):
        if value:
            args.append(f"{option}={value}")
    if getattr(cli, "timelines", "failed") != "failed":
        args.append(f"--timelines={cli.timelines}")
    if getattr(cli, "repeat", 1) > 1:
        args += ["--count", str(cli.repeat)]
    # A failed browser test keeps Playwright's trace (attached to its Allure result).
    for option, value in PLAYWRIGHT_ARTIFACTS.items():
        if not any(a == option or a.startswith(option + "=") for a in extra):
            args.append(f"{option}={value}")
    if not any(a == "--output" or a.startswith("--output=") for a in extra):
        args.append(f"--output={reports / 'playwright'}")
    return args + extra


def run_pytest(args: list[str]) -> int:
    import pytest

    code = int(pytest.main(args))
    if code in _USAGE_CODES:
        print(f"harness: pytest stopped: {_USAGE_CODES[code]} (exit 2)", file=sys.stderr)
        return 2
    return code
