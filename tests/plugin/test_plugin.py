"""The plugin, run inside pytester: markers, collection errors, reports and exit status."""

import json

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::pytest.PytestRemovedIn10Warning")]


@pytest.fixture
def run(pytester):
    pytester.makeconftest('pytest_plugins = ["voice_harness.plugin"]')

    def run(body, *args):
        pytester.makepyfile(test_sample=body)
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", "--reports-dir", str(pytester.path / "out"), *args)
    return run


def conformance(pytester) -> dict:
    """The conformance record the sample run wrote."""
    return json.loads((pytester.path / "out" / "conformance.json").read_text())


def test_an_unknown_requirement_id_is_a_collection_error(run):
    result = run('import pytest\n@pytest.mark.req("NOPE-9")\ndef test_x():\n    pass\n')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown requirement id 'NOPE-9'*"])


def test_the_report_lists_every_id_with_verdicts(run, pytester):
    result = run('import pytest\nfrom voice_harness.judging.checks import fail\n'
                 '@pytest.mark.req("CANARY-1")\ndef test_ok():\n    pass\n'
                 '@pytest.mark.req("ORD-1")\ndef test_bad():\n    fail("late")\n')
    assert result.ret == 1
    record = conformance(pytester)
    assert record["requirements"]["CANARY-1"]["verdict"] == "pass"
    assert record["requirements"]["ORD-1"]["verdict"] == "fail"
    assert "late" in record["requirements"]["ORD-1"]["reason"]
    assert record["requirements"]["LIFE-4"]["verdict"] == "untested"
    assert record["summary"]["must_failed"] == 1
    assert "| ORD-1 | MUST | FAIL |" in (pytester.path / "out" / "conformance.md").read_text()
    result.stdout.fnmatch_lines(["*conformance*", "ORD-1*MUST*FAIL*late*"])


def test_a_should_failure_alone_exits_0_unless_strict(run):
    body = 'import pytest\nfrom voice_harness.judging.checks import fail\n@pytest.mark.req("READY-4")\ndef test_x():\n    fail("x")\n'
    assert run(body).ret == 0
    assert run(body, "--harness-strict").ret == 1


def test_a_conformance_failure_is_reported_without_a_stack_trace(run):
    result = run('import pytest\nfrom voice_harness.judging.checks import fail\n'
                 '@pytest.mark.req("ORD-1")\ndef test_x():\n    fail("response.create too early")\n')
    assert result.ret == 1
    result.stdout.fnmatch_lines(["ORD-1: response.create too early"])
    result.stdout.no_fnmatch_line("*raise ConformanceFailure*")


def test_a_bad_profile_option_is_a_usage_error(run):
    result = run("def test_x():\n    pass\n", "--profile", "nosuchprofile")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown profile 'nosuchprofile'*"])


def test_an_inconclusive_must_test_is_not_a_pass_and_stops_the_gate(run, pytester):
    result = run('import pytest\nfrom voice_harness.judging.checks import provoked\n'
                 '@pytest.mark.req("CANARY-1")\ndef test_ok():\n    pass\n'
                 '@pytest.mark.req("ORD-7")\ndef test_never_provoked():\n'
                 '    provoked([], "a user message sent while a response was active")\n')
    assert result.ret == 1
    record = conformance(pytester)
    assert record["requirements"]["ORD-7"]["verdict"] == "inconclusive"
    assert "a user message sent while a response was active" in record["requirements"]["ORD-7"]["reason"]
    gate = record["gate"]
    assert (gate["state"], gate["passed"], gate["failed"], gate["not_judged"], gate["only_inconclusive"]) == \
        ("failed", False, [], [], ["ORD-7"])
    result.stdout.fnmatch_lines(["*gate: FAILED; only inconclusive (never provoked, so not passed): ORD-7*"])


def test_the_same_run_passes_once_another_test_provokes_the_id(run, pytester):
    result = run('import pytest\nfrom voice_harness.judging.checks import provoked\n'
                 '@pytest.mark.req("ORD-7")\ndef test_never_provoked():\n    provoked([], "x")\n'
                 '@pytest.mark.req("ORD-7")\ndef test_provoked():\n    provoked([1], "x")\n')
    assert result.ret == 0
    record = conformance(pytester)
    assert record["requirements"]["ORD-7"]["verdict"] == "pass"


def test_an_exception_that_is_no_check_verdict_is_an_error_not_the_proxys_failure(run, pytester):
    result = run('import pytest\n'
                 '@pytest.mark.req("CANARY-1")\ndef test_ok():\n    pass\n'
                 '@pytest.mark.req("ORD-1")\ndef test_broken_check():\n    {}["session"]\n'
                 '@pytest.mark.req("ORD-2")\ndef test_judged_after():\n    pass\n')
    assert result.ret == 2
    record = conformance(pytester)
    assert record["run"]["status"] == "environment error"
    assert record["run"]["error"]["party"] == "harness" and "KeyError" in record["run"]["error"]["reason"]
    assert record["requirements"]["ORD-1"]["verdict"] == "error"
    assert "fail" not in {entry["verdict"] for entry in record["requirements"].values()}
    assert record["requirements"]["ORD-2"]["verdict"] == "pass"   # what was judged is kept
    assert record["summary"]["must_failed"] == 0 and record["summary"]["must_error"] == 1
    result.stdout.fnmatch_lines(["harness: harness error (not the proxy's failure; exit 2): KeyError*"
                                 "first in test_sample.py::test_broken_check*"])


def test_an_interrupted_run_is_marked_so(run, pytester):
    result = run('import pytest\n'
                 '@pytest.mark.req("CANARY-1")\ndef test_ok():\n    pass\n'
                 '@pytest.mark.req("ORD-1")\ndef test_interrupted():\n    raise KeyboardInterrupt\n')
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert conformance(pytester)["run"]["status"] == "interrupted"
    assert "**Run interrupted**" in (pytester.path / "out" / "conformance.md").read_text()


def test_a_failed_pre_flight_is_one_line_exit_2_and_leaves_no_verdict_of_an_earlier_run(run, pytester):
    from voice_harness.targets.proxy_process import free_port

    body = 'import pytest\n@pytest.mark.req("CANARY-1")\ndef test_ok():\n    pass\n'
    assert run(body).ret == 0 and conformance(pytester)["requirements"]["CANARY-1"]["verdict"] == "pass"
    url = f"ws://127.0.0.1:{free_port()}/openai"
    result = run(body, "--proxy-url", url)
    assert result.ret == 2
    result.stderr.fnmatch_lines([f"*harness: pre-flight: the proxy at {url} is unreachable*"])
    assert not (pytester.path / "out" / "conformance.json").exists()
    result.stdout.no_fnmatch_line("*CANARY-1*")


def test_a_passing_run_leaves_no_artefact_of_an_earlier_run(run, pytester):
    out = pytester.path / "out"
    for stale in ("timelines/old-call.html", "traces/old.zip", "logs/proxy-gw0.log", "metrics.json"):
        (out / stale).parent.mkdir(parents=True, exist_ok=True)
        (out / stale).write_text("from an earlier run")
    (out / "bench.json").write_text("{}")   # another command's output stays
    result = run('import pytest\n@pytest.mark.req("CANARY-1")\ndef test_ok():\n    pass\n')
    assert result.ret == 0
    assert not any((out / name).exists() for name in ("timelines", "traces", "logs", "metrics.json"))
    assert (out / "bench.json").exists() and conformance(pytester)["run"]["status"] == "complete"


def test_a_verdict_under_an_id_the_marker_does_not_list_is_a_harness_error(run, pytester):
    result = run('import pytest\nfrom voice_harness.judging.checks import fail\n'
                 '@pytest.mark.req("LIFE-1")\ndef test_x():\n    fail("closed late", req="LIFE-2")\n')
    assert result.ret == 2
    record = conformance(pytester)
    assert record["requirements"]["LIFE-1"]["verdict"] == "error"
    assert record["requirements"]["LIFE-2"]["verdict"] == "untested"
    assert "the check judged LIFE-2, which the test's req marker (LIFE-1) does not list" in \
        record["requirements"]["LIFE-1"]["reason"]


def test_a_wire_connection_found_closed_leaves_the_check_inconclusive_not_failed(run, pytester):
    result = run('import pytest\nfrom websockets.exceptions import ConnectionClosedError\n'
                 'from websockets.frames import Close\n'
                 '@pytest.mark.req("LIFE-1")\ndef test_x():\n'
                 '    raise ConnectionClosedError(Close(1011, "gone"), None)\n')
    assert result.ret == 1   # a MUST id only inconclusive stops the gate; nobody is blamed
    entry = conformance(pytester)["requirements"]["LIFE-1"]
    assert entry["verdict"] == "inconclusive"
    assert "the connection closed (code 1011 gone) before the check could finish" in entry["reason"]


SEES_LAUNCH_ARGS = '''
def test_launch_args(browser_type_launch_args, harness_config):
    print("FLAGS", "--disable-sync" in browser_type_launch_args.get("args", []))
'''


@pytest.mark.parametrize("order", [("voice_harness.plugin", "playwright"), ("playwright", "voice_harness.plugin")])
def test_the_harness_overrides_win_whatever_order_the_plugins_load_in(pytester, monkeypatch, order):
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_sample=SEES_LAUNCH_ARGS)
    plugins = [arg for name in order for arg in ("-p", name)]
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "xdist", *plugins, "-s")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*FLAGS True*"])


def test_a_run_that_uses_none_of_the_harness_keeps_pytest_playwrights_launch_args(pytester):
    pytester.makepyfile(test_sample='def test_launch_args(browser_type_launch_args):\n'
                                    '    print("FLAGS", "--disable-sync" in browser_type_launch_args.get("args", []))\n')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*FLAGS False*"])
    assert "conformance" not in result.stdout.str()


def test_a_plain_run_asked_by_its_fixtures_alone_owns_its_reports_and_names_its_target(pytester):
    """A team's own test file run by plain pytest with no harness option: like `voice-harness run`, it clears what
    an earlier run left in ./reports (no stale conformance.md beside its files, no proxy log silently
    overwritten), and it says that it tests the default profile, and how to name another target."""
    reports = pytester.path / "reports"
    for stale in ("conformance.md", "conformance.json", "logs/proxy-main.log"):
        (reports / stale).parent.mkdir(parents=True, exist_ok=True)
        (reports / stale).write_text("from an earlier run")
    (reports / "bench.json").write_text("{}")   # another command's output stays
    pytester.makepyfile(test_ours="def test_ours(harness_config):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["harness: no target given: this run tests profile 'reference' (bundled reference "
                                 "proxy*); name yours with --proxy-cmd CMD, --proxy-url URL or --profile PATH",
                                 f"harness: reports in {reports} (an earlier run's *cleared)"])
    assert not any((reports / name).exists() for name in ("conformance.md", "conformance.json", "logs"))
    assert (reports / "bench.json").exists()
