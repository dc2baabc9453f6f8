"""What a failed run leaves for its reader: attachments on the Allure result, the per-area status lines, and the
single-file HTML report that `voice-harness report` builds with Allure 3 and a browser can open."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from voice_harness.targets import browser
from voice_harness.plugin.attachments import mock_transcript
from voice_harness.reports.report import area_status
from voice_harness.timeouts import units
from voice_harness.wire.recording import Frame
from voice_harness.mock_upstream.scenario import Scenario

# Its module fixture is made once: under pytest-xdist (make test), every test of the module runs on one worker.
pytestmark = pytest.mark.xdist_group("html-report")

ROOT = Path(__file__).resolve().parents[2]


def harness(*args: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=env)


def test_each_area_gets_one_line_naming_its_failed_ids():
    record = {"requirements": {
        "ORD-1": {"area": "ordering", "verdict": "fail"}, "ORD-2": {"area": "ordering", "verdict": "pass"},
        "ORD-3": {"area": "ordering", "verdict": "untested"}, "CLI-1": {"area": "client input", "verdict": "skip"},
        "LIFE-1": {"area": "lifecycle", "verdict": "pass"}}}
    assert area_status(record) == ["ordering     FAIL    1/2 pass; failed: ORD-1; 1 untested",
                                   "client input -       0/0 pass; skipped: CLI-1",
                                   "lifecycle    pass    1/1 pass"]


def test_the_mock_transcript_shows_the_scenario_and_the_upstream_leg_with_the_mocks_notes():
    frames = [Frame(1.0, "A", "->", "text", "InjectUserMessage", data={"type": "InjectUserMessage"}),
              Frame(1.2, "B", "->", "text", "response.create", conn=3, data={"type": "response.create"},
                    note={"premature": True}),
              Frame(3.9, "B", "<-", "close", conn=3, data={"code": 1000, "reason": ""})]
    text = mock_transcript(frames, 0.5, Scenario())
    lines = text.splitlines()
    assert lines[0].startswith("scenario default: ") and '"reply_latency_ms": 30' in lines[1]
    assert "InjectUserMessage" not in text
    assert re.search(r"0\.700s\s+conn 3\s+proxy -> mock\s+response\.create\s+note: \{\"premature\": true\}", lines[2])
    assert re.search(r"3\.400s\s+conn 3\s+mock -> proxy\s+close 1000", lines[3])


def test_report_without_node_exits_2_with_one_line(tmp_path):
    (tmp_path / "allure-results").mkdir()
    (tmp_path / "allure-results" / "x-result.json").write_text("{}")
    done = harness("report", "--reports-dir", str(tmp_path), env={**os.environ, "PATH": str(Path(sys.executable).parent)})
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "needs Node.js" in done.stderr, done.stderr


def test_report_never_deletes_a_folder_that_holds_no_earlier_report(tmp_path):
    (tmp_path / "allure-results").mkdir()
    (tmp_path / "allure-results" / "x-result.json").write_text("{}")
    done = harness("report", "--reports-dir", str(tmp_path), "--output", str(tmp_path))
    assert done.returncode == 2 and "holds no earlier report" in done.stderr
    assert (tmp_path / "allure-results" / "x-result.json").is_file()


def test_report_without_results_exits_2_saying_to_run_first(tmp_path):
    done = harness("report", "--reports-dir", str(tmp_path))
    assert done.returncode == 2
    assert "run `python -m harness run` first" in done.stderr and done.stderr.count("\n") == 1


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory) -> Path:
    """The canary red on the field defect, next to the readiness tests green."""
    reports = tmp_path_factory.mktemp("failed-run")
    done = harness("run", "--defect", "premature-response-create", "--reports-dir", str(reports), "--",
                   "-k", "canary or readiness")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert "requirement areas" in done.stdout and re.search(r"canary\s+FAIL\s+0/1 pass; failed: CANARY-1", done.stdout)
    return reports


def allure_results(reports: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (reports / "allure-results").glob("*-result.json")]


def attachment_text(reports: Path, result: dict, name: str) -> str:
    source = next(a["source"] for a in result["attachments"] if a["name"] == name)
    return (reports / "allure-results" / source).read_text()


@pytest.mark.e2e
def test_a_failed_browser_test_carries_what_its_reader_needs(failed_run):
    failed = [r for r in allure_results(failed_run) if r["status"] == "failed"]
    # The canary fails; so do readiness tests whose sessions break the ORD-1 invariant (the same premature
    # response.create). Every failure carries its timeline and the mock's transcript; a browser test that
    # waited for the close (the canary) also the page, its console and the proxy's log of the close.
    canaries = [r for r in failed if "canary" in r["fullName"]]
    assert canaries
    for result in failed:
        names = {a["name"] for a in result["attachments"]}
        assert {"timeline of both legs", "proxy log (tail)", "mock upstream transcript"} <= names
        transcript = attachment_text(failed_run, result, "mock upstream transcript")
        assert re.search(r"proxy -> mock\s+response\.create\s+note: .*\"premature\": true", transcript)
    for result in canaries:
        names = {a["name"] for a in result["attachments"]}
        assert {"screenshot at failure", "browser console"} <= names
        assert any(n.startswith("trace (Playwright") for n in names)
        assert "close code=1000" in attachment_text(failed_run, result, "browser console")
        assert "upstream closed (1000)" in attachment_text(failed_run, result, "proxy log (tail)")
    passed = [r for r in allure_results(failed_run) if r["status"] == "passed"]
    assert passed and not any(r.get("attachments") for r in passed)


@pytest.mark.e2e
def test_the_html_report_renders_the_runs_counts_in_a_browser(failed_run):
    results = allure_results(failed_run)
    counts = {status: sum(r["status"] == status for r in results) for status in ("passed", "failed")}
    done = harness("report", "--reports-dir", str(failed_run))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    index = failed_run / "html" / "index.html"
    assert f"report: {index}" in done.stdout

    def rendered(page) -> str:
        page.goto(index.as_uri())
        # Allure's summary panel: "Total" and, for each status with tests, its heading followed by its count.
        try:
            page.wait_for_function("/Total\\s+\\d+/.test(document.body.innerText)", timeout=units(30) * 1000)
        except PlaywrightTimeout:
            pytest.fail(f"the report's summary was not rendered in {units(30):.0f} s; the page showed: "
                        f"{page.inner_text('body')[:1500]!r}")
        return page.inner_text("body")

    text = browser.with_page(rendered)
    assert re.search(rf"Total\s+{len(results)}\b", text), text[:1500]
    assert re.search(rf"Failed\s+{counts['failed']}\b", text), text[:1500]
    assert re.search(rf"Passed\s+{counts['passed']}\b", text), text[:1500]
    assert "test_agent_replies_to_the_first_text_message_within_15_s" in text
