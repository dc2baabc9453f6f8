"""voice-harness COMMAND: a thin layer over pytest with exit codes 0 (gate passed), 1 (failures), 2 (usage/env).
The commands are the parser's (`voice-harness --help` lists them, from the parser itself: commands()).
`python -m voice_harness` is the same command."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from voice_harness.targets import browser, preflight, run_config
from voice_harness import options
from voice_harness.reports import run_files, shards
from voice_harness import paths, version
from voice_harness.errors import EnvironmentProblem, UsageProblem
from voice_harness.invocation import BENCH_GROUPS, DEFAULT_BENCH_GROUPS, program

# pytest's own exit codes that mean "the harness could not run", not "the proxy failed". Code 2
# (interrupted, or an environment problem the plugin already named) passes through as it is.
_USAGE_CODES = {3: "internal error", 4: "usage error", 5: "no tests were selected"}
# pytest arguments of a run that runs no test: no pre-flight, and the last run's reports stay.
_ONLY_LOOKING = ("--collect-only", "--co", "--help", "-h", "--fixtures", "--markers", "--version")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line and exit 2, as every usage error here
        top = program()
        command = self.prog.removeprefix(top).strip()   # "" for the top-level parser
        print(f"harness: {message} (see {' '.join(filter(None, [top, command, '--help']))})", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=program(), description="Conformance harness for voice-agent proxies.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("run", help="run the conformance suites; extra pytest arguments go after --")
    _target_options(run)
    bench = commands.add_parser("bench", help="measure the harness on the embedded default: reports/bench.json")
    bench.add_argument("--groups", default=",".join(DEFAULT_BENCH_GROUPS),
                       help=f"comma-separated subset of {','.join(BENCH_GROUPS)} (default: all but ci, which runs "
                            f"make test on a fresh clone)")
    bench.add_argument("--runs", type=int, default=20, help="canary runs for the overhead figures (default 20)")
    bench.add_argument("--reports-dir", default=str(paths.default_reports()))
    commands.add_parser("setup-browser", help="find or get a Chromium: CHROMIUM_PATH, Playwright's, playwright install, "
                                            "the system's, Debian's package as root")
    commands.add_parser("setup-speech", help="find espeak-ng and sox (Debian's packages as root) and make the "
                                             "utterances the voice tests speak")
    init = commands.add_parser("init", help="in your proxy's repository: write a profile, a CI workflow and a "
                                            ".gitignore line, then run the canary once")
    from voice_harness.tools.init import add_arguments as init_arguments
    init_arguments(init)
    profile = commands.add_parser("profile", help="the bundled profiles: list them, or print one to start yours from")
    profile.add_argument("action", choices=("list", "show"))
    profile.add_argument("name", nargs="?", help="with show: the bundled profile to print")
    html = commands.add_parser("report", help="build a single-file HTML report of the last run (Allure 3, offline); "
                                              "with --merge, one run's reports from its shards")
    html.add_argument("--reports-dir", default=str(paths.default_reports()),
                      help="the run's reports; with --merge, where the merged reports go (default ./reports)")
    html.add_argument("--output", help="where index.html goes (default <reports-dir>/html)")
    html.add_argument("--merge", nargs="+", metavar="DIR",
                      help="the reports folders of every shard of one run (run --shard K/N) or one sensitivity "
                           "matrix (sensitivity --shard K/N): one conformance.json and .md, one matrix, one Allure "
                           "report; exit status as the run's")
    html.add_argument("--no-html", action="store_true", help="with --merge: no HTML report (Allure results only)")
    explore = commands.add_parser("explore", help="generated sessions and upstream timings; a violation is shrunk "
                                                  "to a reproducer: reports/explore.json")
    from voice_harness.tools.explore import add_arguments as explore_arguments
    explore_arguments(explore)
    drift = commands.add_parser("drift", help="compare the mock with recorded cassettes of the real service: "
                                              "reports/drift.json and .md")
    from voice_harness.tools.drift import add_arguments as drift_arguments
    drift_arguments(drift)
    app_check = commands.add_parser("app-check", help="which optional capabilities an app has (URL parameters, "
                                                      "microphone, disconnect control, ...): a table with the ids "
                                                      "each one unlocks")
    from voice_harness.tools.app_check import add_arguments as app_check_arguments
    app_check_arguments(app_check)
    stab = commands.add_parser("stability", help="run the suites N times (reference proxy, and defects if asked) "
                                                 "and count the ids whose verdict changed: reports/stability.json; "
                                                 "extra pytest arguments go after --")
    stab.add_argument("--repeat", type=int, default=10, help="runs per target (default 10)")
    stab.add_argument("--defect", action="append", dest="defects", default=[],
                      help="also this defect of the reference proxy, with its reduced selection (repeatable; "
                           "'all' for every defect)")
    stab.add_argument("--busy", action="store_true", help="keep every core busy with a loop while it runs")
    stab.add_argument("--without-reference", action="store_true", help="only the named defects")
    stab.add_argument("--profile", help="the profile of each run (default: the reference profile)")
    stab.add_argument("--app-url", help="the app each run drives (default: the profile's)")
    stab.add_argument("--workers", type=_workers_value, default="auto", help="pytest-xdist workers (default auto)")
    stab.add_argument("--reports-dir", default=str(paths.default_reports()))
    sens = commands.add_parser("sensitivity", help="run the suites against every known defect; write the matrix")
    sens.add_argument("--defect", action="append", dest="defects", help="only this defect (repeatable)")
    sens.add_argument("--reduced", action="store_true",
                      help="per defect, only the tests of its expected and collateral ids plus CANARY-1")
    sens.add_argument("--jobs", type=int, default=2, help="defects run at the same time (default 2)")
    sens.add_argument("--workers", type=int, default=1, help="pytest-xdist workers per run (default 1)")
    sens.add_argument("--reports-dir", default=str(paths.default_reports()))
    sens.add_argument("--docs", help="also write the Markdown matrix to this docs page")
    sens.add_argument("--variant", choices=options.VARIANTS,
                      help="run the matrix against the reference proxy's feature-minimal variant")
    sens.add_argument("--shard", type=_shard_value,
                      help="only the K-th of N parts of the defects (K/N: names sorted, dealt round-robin); "
                           "`report --merge` makes the one matrix")
    parser.epilog = "commands: " + ", ".join(commands.choices)   # from the parser: it cannot go stale
    return parser


def commands() -> list[str]:
    """The CLI's commands, as its parser declares them."""
    action = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return list(action.choices)


def _target_options(parser: argparse.ArgumentParser) -> None:
    options.add_to_cli(parser, {"reports_dir": str(paths.default_reports())})
    parser.add_argument("--workers", type=_workers_value, default="auto",
                        help="pytest-xdist workers: a number, or auto (default): one per CPU, at most "
                             f"{run_config.MAX_AUTO_WORKERS}; 1 for a proxy at a URL, a mock on a fixed port, the "
                             "real upstream, --headed, --pdb or --trace")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run every selected test N times (flake statistics in reports/metrics.json)")


def _addopts() -> list[str]:
    """PYTEST_ADDOPTS, which can choose the workers too (pytest itself reports it if it cannot be split)."""
    try:
        return shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    except ValueError:
        return []


def _shard_value(text: str) -> shards.Shard:
    try:
        return shards.parse(text)
    except UsageProblem as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--shard takes ")) from None


def _workers_value(text: str) -> str:
    if text == "auto" or (text.isdigit() and int(text) >= 1):
        return text
    raise argparse.ArgumentTypeError(f"a positive number or auto, not {text!r}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    args = _parser().parse_args(argv)
    if args.command == "setup-browser":
        from voice_harness.tools.setup_browser import main as setup_browser
        return setup_browser()
    if args.command == "setup-speech":
        from voice_harness.tools.setup_speech import main as setup_speech
        return setup_speech()
    if args.command == "explore":
        from voice_harness.tools.explore import main as explore
        return explore(args)
    if args.command == "drift":
        from voice_harness.tools.drift import main as drift
        return drift(args)
    if args.command in _RUNS_OF_RUNS:
        # Commands that run whole harness runs: stopped (Ctrl-C, SIGTERM), they stop every run they started.
        from voice_harness.tools import bounded
        try:
            with bounded.interruptible():
                return _RUNS_OF_RUNS[args.command](args, extra)
        except KeyboardInterrupt:
            print(f"harness: {args.command} interrupted; the runs it started are stopped", file=sys.stderr)
            return 130
    if args.command == "app-check":
        from voice_harness.tools.app_check import main as app_check
        return app_check(args)
    if args.command == "init":
        from voice_harness.tools.init import main as init
        return init(args, program())
    if args.command == "profile":
        return _profile(args)
    if args.command == "report":
        from voice_harness.reports.html_report import main as html_report
        try:
            if args.merge:
                return _merge(args)
            return html_report(Path(args.reports_dir), Path(args.output) if args.output else None)
        except (UsageProblem, EnvironmentProblem) as exc:
            print(f"harness: {exc}", file=sys.stderr)
            return 2
    if getattr(args, "shard", None):
        try:
            shards.parse(args.shard)
        except UsageProblem as exc:
            print(f"harness: {exc}", file=sys.stderr)
            return 2
    looking = any(a in _ONLY_LOOKING for a in extra)
    try:
        # The reports folder is this run's from here; an earlier run's artefacts go even if this run stops at
        # a usage error below (none of them describes it). A folder another run holds is left alone, and so
        # is the folder of a run that only looks (collect-only, help).
        taken = None
        if not looking:
            run_files.claim(Path(args.reports_dir))
            run_files.clear(Path(args.reports_dir))
    except EnvironmentProblem as exc:
        taken = exc
    try:
        config = run_config.build(run_config.Options.from_args(args))
        if taken is not None:
            raise taken
        for part in ("suites", "catalogue", "test_app"):   # a broken install: exit 2 before any test
            paths.bundled(part)
        if not preflight.browser_checked_by_caller(config.profile.app.url):
            browser.executable(browser.managed_path())   # starts Playwright's driver: 0.6 s of CPU a run
        workers = run_config.workers(args.workers, config, extra + _addopts(), run_config.available_cpus())
        pytest_argv = pytest_args(config, (["-n", str(workers)] if workers > 1 else []) + extra, args)
        if not looking:
            preflight.run(config, browser.check_starts)   # the plugin finds it done
    except (UsageProblem, EnvironmentProblem) as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 2
    if not looking:
        from voice_harness.drivers.app_capabilities import profile_line
        print(profile_line(config.profile.app), flush=True)
    return run_pytest(pytest_argv)


def _profile(args) -> int:
    """`profile list`: the bundled profiles' names; `profile show NAME`: one of them as it is, to copy."""
    from voice_harness.targets import profiles

    if args.action == "list":
        print("\n".join(profiles.names()))
        return 0
    if args.name not in profiles.names():
        print(f"harness: profile show takes one of {', '.join(profiles.names())}", file=sys.stderr)
        return 2
    print((paths.bundled("profiles") / f"{args.name}.toml").read_text(), end="")
    return 0


def _browser_found() -> bool:
    """True when a Chromium is there; else one line on stderr (the caller exits 2)."""
    try:
        browser.executable(browser.managed_path())
    except EnvironmentProblem as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return False
    return True


def _stability(args, extra: list[str]) -> int:
    from voice_harness.tools.stability import main as stability
    if args.repeat < 2:
        print("harness: stability --repeat takes 2 or more runs", file=sys.stderr)
        return 2
    target = [*(["--profile", args.profile] if args.profile else []),
              *(["--app-url", args.app_url] if args.app_url else [])]
    return stability(args.defects, args.repeat, args.busy, Path(args.reports_dir), args.workers, extra,
                     not args.without_reference, target)


def _bench(args, extra: list[str] | None = None) -> int:
    from voice_harness.tools.bench import main as bench

    groups = tuple(g for g in args.groups.split(",") if g)
    unknown = [g for g in groups if g not in BENCH_GROUPS]
    if unknown or not groups or args.runs < 1:
        print(f"harness: bench --groups takes some of {','.join(BENCH_GROUPS)} and --runs a positive number",
              file=sys.stderr)
        return 2
    if not _browser_found():
        return 2
    return bench(groups, args.runs, Path(args.reports_dir))


def _sensitivity(args, extra: list[str] | None = None) -> int:
    from voice_harness.targets.defect_registry import load as load_defects
    from voice_harness.tools.sensitivity import main as sensitivity

    known = load_defects()
    unknown = [d for d in args.defects or [] if d not in known]
    if unknown:
        print(f"harness: unknown defect {unknown[0]!r}: use one of {', '.join(sorted(known))}", file=sys.stderr)
        return 2
    if args.shard is not None and args.docs:
        print("harness: sensitivity --docs writes the whole matrix: give it to no shard, and publish the merged "
              "matrix (report --merge) instead", file=sys.stderr)
        return 2
    try:   # once here, not once per defect run
        preflight.check_browser_for_runs(browser.check_starts)
    except EnvironmentProblem as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 2
    return sensitivity(args.defects, args.reduced, args.jobs, args.workers, Path(args.reports_dir),
                       Path(args.docs) if args.docs else None, args.variant, args.shard)


def _merge(args) -> int:
    """report --merge DIR...: the run shards' one conformance record and Allure report, the matrix shards' one
    matrix; the worst exit status of them. A refused set of shards is UsageProblem before anything is written."""
    from voice_harness.reports import merge
    from voice_harness.tools import sensitivity

    dirs, out = [Path(d) for d in args.merge], Path(args.reports_dir)
    runs, matrices = merge.find(dirs)
    if out.resolve() in {d.resolve() for d in dirs}:
        raise UsageProblem(f"report --merge: the output folder {out} is one of the shards: give another --reports-dir")
    if runs:
        merge.check_runs(runs)
    for name, found in matrices.items():
        sensitivity.check_shards(name, found)
    run_files.claim(out)
    run_files.clear(out, run_files.PER_RUN + tuple(matrices) + tuple(n.removesuffix(".json") + ".md" for n in matrices))
    html = None if args.no_html else Path(args.output) if args.output else out / "html"
    codes = [merge.write_run(runs, out, html)] if runs else []
    codes += sensitivity.write_merged(matrices, out)
    return 2 if any(c not in (0, 1) for c in codes) else max(codes, default=0)


# pytest options whose value is the next argument (never a test to select), and those of them whose value names a
# test file or node id (resolved in the bundled suites, as a selection is).
_TAKES_VALUE = ("-k", "-m", "-p", "-c", "-o", "-n", "-W", "--dist", "--count", "--maxfail", "--tb", "--durations",
                "--deselect", "--ignore", "--ignore-glob", "--junit-xml", "--junitxml", "--basetemp", "--rootdir",
                "--confcutdir", "--timeout", "--alluredir", "--output", "--tracing", "--browser")
_TAKES_A_TEST = ("--deselect", "--ignore")


def _names_a_test(arg: str) -> bool:
    named = arg.split("::", 1)[0]
    return named.endswith(".py") or named.rstrip("/") == "suites"


def _in_suites(arg: str, suites: Path) -> str:
    """A test file or node id (`suites/test_voice.py`, `test_voice.py::test_x`) as the bundled suites' path."""
    named = arg.split("::", 1)[0]
    relative = named.removeprefix("./").removeprefix("suites/").rstrip("/")
    target = suites if relative in ("suites", "") else suites / relative
    if not target.exists():
        raise UsageProblem(f"{arg}: no such test file in the harness's suites ({suites}); name one of "
                           f"{', '.join(sorted(p.name for p in suites.glob('test_*.py')))}")
    return str(target) + arg[len(named):]


def _selection(extra: list[str], suites: Path) -> tuple[list[str], list[str]]:
    """The test files or node ids among the extra pytest arguments, resolved in the bundled suites; the other
    arguments as they were (the value of `--deselect` or `--ignore` resolved the same way)."""
    chosen, rest = [], []
    for index, arg in enumerate(extra):
        option = extra[index - 1] if index > 0 else ""
        if option in _TAKES_VALUE:
            rest.append(_in_suites(arg, suites) if option in _TAKES_A_TEST and _names_a_test(arg) else arg)
        elif arg.startswith("-") or not _names_a_test(arg):
            rest.append(arg)
        else:
            chosen.append(_in_suites(arg, suites))
    return chosen, rest


def pytest_args(config: run_config.RunConfig, extra: list[str], cli: argparse.Namespace) -> list[str]:
    reports = config.reports_dir
    suites = paths.bundled("suites")
    chosen, extra = _selection(extra, suites)
    # The run is the harness's own, wherever it is called from: its ini (not the calling repository's addopts
    # or conftests: confcutdir is the ini's folder), its plugin, nothing cached in the install folder.
    args = [*(chosen or [str(suites)]), "-c", str(paths.package_root() / "pytest.ini"), "--rootdir", str(suites.parent),
            "-p", "voice_harness.plugin", "-p", "no:cacheprovider",
            # Hypothesis's plugin imports Hypothesis (0.6 s a process) for tests the suites do not have.
            "-p", "no:hypothesispytest",
            "--profile", str(config.profile.source), "--reports-dir", str(reports),
            f"--junitxml={reports / 'junit.xml'}", f"--alluredir={reports / 'allure-results'}",
            "--clean-alluredir"]
    args += options.to_pytest(cli, skip=("--profile", "--reports-dir"))   # those two resolved above
    if getattr(cli, "repeat", 1) > 1:
        args += ["--count", str(cli.repeat)]
    # A failed browser test keeps a Playwright trace (attached to its Allure result), unless pytest-playwright's
    # own full tracing was asked for.
    if not any(a.startswith(("--tracing", "--harness-trace")) for a in extra):
        args.append("--harness-trace=failed")
    if not any(a == "--output" or a.startswith("--output=") for a in extra):
        args.append(f"--output={reports / 'playwright'}")
    return args + extra


def run_pytest(args: list[str]) -> int:
    import pytest

    # Nothing goes into the install folder: no assertion-rewrite caches next to the bundled suites (the workers
    # and the proxy inherit the variable).
    sys.dont_write_bytecode = True
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"

    if "harness" in sys.modules:
        # `python -m harness` in a checkout imported the folder under its own name, which pytest would mark for
        # assertion rewriting (the editable install's folders) and warn about in every run: nothing is lost.
        args = ["-W", "ignore:Module already imported so cannot be rewritten; harness:pytest.PytestAssertRewriteWarning",
                *args]
    code = int(pytest.main(args))
    if code in _USAGE_CODES:
        print(f"harness: pytest stopped: {_USAGE_CODES[code]} (exit 2)", file=sys.stderr)
        return 2
    return code


_RUNS_OF_RUNS = {"sensitivity": _sensitivity, "stability": _stability, "bench": _bench}
