"""The fault zoo: each set-up mistake, broken proxy and harness fault of tests/plugin/fault_zoo.toml, run through
`harness run`, gets the attribution the file states (exit code, verdicts, message), and leaves no process of
the run behind. docs/attribution.md publishes the same table (checked at the end of this file)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from voice_harness.reports import run_files
from voice_harness.targets.proxy_log import HEAD_BYTES, TAIL_BYTES
from voice_harness.targets.proxy_process import free_port
from voice_harness.timeouts import units

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CASES = tomllib.loads((Path(__file__).with_name("fault_zoo.toml")).read_text())["case"]
MARK_ENV = "FAULT_ZOO_RUN"


def processes_marked(marker: str) -> list[str]:
    """The processes whose environment carries this run's marker (every descendant of the run inherits it)."""
    found = []
    needle = f"{MARK_ENV}={marker}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")[:120]
                found.append(f"{entry.name} {command!r}")
        except OSError:
            continue
    return found


def wait_until(condition, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


class Setup:
    """What a case prepares before its run, and undoes after."""

    def __init__(self, case: dict, tmp: Path):
        self.case, self.tmp, self.held = case, tmp, None
        self.values = {"fixtures": str(FIXTURES), "root": str(ROOT), "tmp": str(tmp), "free_port": str(free_port())}

    def __enter__(self) -> "Setup":
        kind = self.case.get("setup")
        if kind == "held_port":
            self.held = socket.socket()
            self.held.bind(("127.0.0.1", 0))
            self.held.listen()
            self.values["held_port"] = str(self.held.getsockname()[1])
            (self.tmp / "fixed_port.toml").write_text((ROOT / "profiles" / "reference.toml").read_text()
                                                      + f"\n[upstream]\nport = {self.values['held_port']}\n")
        elif kind == "broken_scenario":
            (self.tmp / "broken.toml").write_text('reply_latency_ms = "soon"\n')
        elif kind == "lock":
            run_files.claim(self.tmp / "reports")
        return self

    def __exit__(self, *exc) -> None:
        if self.held is not None:
            self.held.close()
        if self.case.get("setup") == "lock":
            run_files.release(self.tmp / "reports")

    def fill(self, text: str) -> str:
        for key, value in self.values.items():
            text = text.replace("{" + key + "}", value)
        return text


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
@pytest.mark.e2e
def test_each_fault_gets_the_attribution_of_the_table(case, tmp_path):
    marker = secrets.token_hex(8)
    reports = tmp_path / "reports"
    with Setup(case, tmp_path) as setup:
        done = subprocess.run([sys.executable, "-m", "harness", "run", "--reports-dir", str(reports),
                               *[setup.fill(a) for a in case["args"]]],
                              cwd=ROOT, capture_output=True, text=True, timeout=units(300), stdin=subprocess.DEVNULL,
                              env={**os.environ, MARK_ENV: marker})
        output = done.stdout + done.stderr
        assert done.returncode == case["exit"], output[-4000:]
        assert setup.fill(case["message"]) in output, output[-4000:]
        if case["party"] != "harness":   # a fault of the harness's own keeps its stack, for the bug report
            assert "Traceback" not in output, output[-4000:]
        left = wait_until(lambda: not processes_marked(marker), 10) or processes_marked(marker)
        assert left is True, f"processes of the run left behind: {left}"
        record_path = reports / "conformance.json"
        assert record_path.is_file() == case["written"], output[-3000:]
        if case["written"]:
            assert_verdicts(json.loads(record_path.read_text()), case)
        if case.get("setup") == "pidfile":
            children = [int(p) for p in (tmp_path / "children").read_text().split()]
            assert len(children) >= 2   # crashed again after its restart
            assert wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in children), 10), children
        if case.get("log_capped"):
            logs = list((reports / "logs").glob("proxy-*.log"))
            assert logs and all(log.stat().st_size < HEAD_BYTES + TAIL_BYTES + 4096 for log in logs)
            assert "bytes cut" in logs[0].read_text(errors="replace")
        if case.get("timeline_shows"):
            timelines = "".join(p.read_text() for p in (reports / "timelines").glob("*.json"))
            assert case["timeline_shows"] in timelines


def assert_verdicts(record: dict, case: dict) -> None:
    got = {rid: entry["verdict"] for rid, entry in record["requirements"].items()}
    for rid, verdict in case["verdicts"].items():
        assert got[rid] == verdict, (rid, record["requirements"][rid])
    blamed = {rid for rid, verdict in got.items() if verdict == "fail"}
    assert blamed <= {rid for rid, verdict in case["verdicts"].items() if verdict == "fail"}, blamed
    if case.get("charged"):
        carrying = [f for f in record["failures"] if case["message"] in f["reason"]]
        assert carrying, record["failures"]
        assert all(f["requirements"] == [case["charged"]] for f in carrying), carrying   # charged to no other id
        for name in case.get("charged_tests", []):
            assert any(name in f["test"] for f in carrying), (name, record["failures"])
    if case.get("alone"):
        # Only the listed ids may be red or MUST-inconclusive: a crash must not leak into the tests around it.
        others = {rid: (entry["verdict"], entry["reason"]) for rid, entry in record["requirements"].items()
                  if rid not in case["verdicts"] and (entry["verdict"] in ("fail", "error") or
                                                      (entry["verdict"] == "inconclusive" and entry["level"] == "MUST"))}
        assert not others, others
    if case["exit"] == 2:
        assert record["run"]["status"] == "environment error"
        assert record["run"]["error"]["party"] == case["party"]
    else:
        assert record["run"]["status"] == "complete"


def table_rows() -> list[str]:
    """The attribution table as docs/attribution.md publishes it: one row per case of the zoo."""
    rows = ["| fault | blamed | exit | verdicts | conformance.json | the run says |", "|---|---|---|---|---|---|"]
    for case in CASES:
        verdicts = ", ".join(f"{rid} {verdict}" for rid, verdict in case["verdicts"].items()) or "none"
        written = "written" if case["written"] else "not written"
        message = f"`{case['message']}`" if case["message"] else ""
        rows.append(f"| {case['name']} | {case['party']} | {case['exit']} | {verdicts} | {written} | {message} |")
    return rows


def test_the_attribution_table_of_the_docs_is_the_zoo():
    page = (ROOT / "docs" / "attribution.md").read_text().splitlines()
    rows = table_rows()
    start = page.index(rows[0])
    assert page[start:start + len(rows)] == rows
    assert not page[start + len(rows):] or not page[start + len(rows)].startswith("|")   # no row the zoo lacks
