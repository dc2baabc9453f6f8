"""The Allure results of a run: one result per pytest test, with readable parameters and pytest's totals."""

import json
import shutil
from collections import Counter

import pytest

from voice_harness.reports import html_report
from voice_harness.reports.allure_params import CASE, parameters, shown

# Cases alike but for their ids (a placeholder parameter, as in the suites' sweeps), bytes parameters, a failure
# hidden among look-alike passes, a conformance failure, an inconclusive check and a plain test.
SAMPLE = '''
import pytest
from voice_harness.judging.checks import fail, provoked

@pytest.mark.req("CLI-3")
@pytest.mark.parametrize("frame", [pytest.param(b"\\x01\\x02\\x03", id="odd-length"),
                                   pytest.param(b"\\x00" * 961, id="odd-length-20-ms")])
def test_bytes(frame):
    pass

@pytest.mark.req("ORD-1")
@pytest.mark.parametrize("_", [pytest.param(None, id="at-once"), pytest.param(None, id="late"),
                               pytest.param(None, id="later")])
def test_sweep(_, request):
    if request.node.callspec.id == "late":
        fail("response.create too early")

@pytest.mark.req("ORD-7")
def test_never_provoked():
    provoked([], "a user message sent while a response was active")

@pytest.mark.parametrize("n", [1, 2])
def test_plain(n):
    assert n == 1
'''


def test_a_value_is_shown_readable_and_cut():
    assert shown(b"\x01\x02") == r"b'\x01\x02'"
    long = shown(b"\x00" * 961)
    assert long.startswith("961 bytes: b'\\x00") and long.endswith("...") and len(long) <= 80
    assert shown("x" * 200).endswith("...") and len(shown("x" * 200)) == 80
    assert shown(None) == "None"


def test_the_case_id_alone_makes_the_history_id_and_a_placeholder_is_hidden():
    params = {p.name: p for p in parameters({"_": None, "frame": b"\x01"}, "late-chromium")}
    assert params[CASE].excluded is False and repr(params[CASE].value) == "late-chromium"
    assert params["_"].hidden and params["_"].excluded
    assert params["frame"].excluded and not params["frame"].hidden and repr(params["frame"].value) == r"b'\x01'"
    assert parameters({}, None) == []


@pytest.mark.e2e
@pytest.mark.filterwarnings("ignore::pytest.PytestRemovedIn10Warning")
def test_allure_has_one_result_per_pytest_test_with_readable_parameters_and_the_same_totals(pytester):
    pytester.makeconftest('pytest_plugins = ["voice_harness.plugin"]')
    pytester.makepyfile(test_sample=SAMPLE)
    results = pytester.path / "allure-results"
    run = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--reports-dir", str(pytester.path / "out"),
                                        f"--alluredir={results}")
    outcomes = run.parseoutcomes()
    assert outcomes == {"passed": 5, "failed": 2, "skipped": 1}, outcomes   # the inconclusive check: skipped
    allure = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    assert len(allure) == sum(outcomes.values())
    assert len({r["historyId"] for r in allure}) == len(allure), "two tests folded into one history id"
    statuses = Counter("failed" if r["status"] in ("failed", "broken") else r["status"] for r in allure)
    assert statuses == Counter(outcomes)
    shown_values = [p["value"] for r in allure for p in r.get("parameters", [])]
    assert not any("<class" in value for value in shown_values), shown_values
    by_name = {r["name"]: r for r in allure}
    frame = {p["name"]: p for p in by_name["test_bytes[odd-length]"]["parameters"]}
    assert frame["frame"]["value"] == r"b'\x01\x02\x03'" and frame[CASE]["value"] == "odd-length"
    sweep = {p["name"]: p for p in by_name["test_sweep[late]"]["parameters"]}
    assert sweep["_"]["mode"] == "hidden" and by_name["test_sweep[late]"]["status"] == "failed"
    # The check named no id: the message Allure shows first carries the marker's.
    assert "ORD-1: response.create too early" in by_name["test_sweep[late]"]["statusDetails"]["message"], \
        by_name["test_sweep[late]"]["statusDetails"]
    # What Allure 3 itself counts, where its command line is installed already (a test installs nothing).
    if shutil.which("node") and (html_report.TOOLS_DIR / "node_modules" / "allure" / "cli.js").is_file():
        built = html_report.build(results, pytester.path / "html")
        assert built["stats"] == {"total": sum(outcomes.values()), **outcomes}, built["stats"]
