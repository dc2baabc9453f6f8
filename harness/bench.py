"""python -m harness bench: the wall time of canary tests on the embedded default, after the browser is up."""

from __future__ import annotations

import statistics
import time
import xml.etree.ElementTree as ET

from .run_config import RunConfig

CANARY_TEST = "test_agent_replies_to_the_first_text_message_within_15_s"
TARGET_S = 2.0


def bench_canary(config: RunConfig, count: int, extra: list[str]) -> int:
    from .cli import SUITES, run_pytest

    runs = max(1, count) + 1  # the first run pays for browser launch, proxy and mock start
    out = config.reports_dir / "bench"
    junit = out / "junit.xml"
    args = [str(SUITES / "test_canary.py"), "-p", "no:cacheprovider", "-q", "-k", CANARY_TEST,
            "--count", str(runs), "--profile", str(config.profile.source), "--reports-dir", str(out),
            f"--junitxml={junit}"] + (["--defect", config.defect] if config.defect else []) + extra
    started = time.monotonic()
    code = run_pytest(args)
    total = time.monotonic() - started
    if code != 0 or not junit.exists():
        print(f"harness bench: the canary did not pass (exit {code}); no figures")
        return code or 1
    times = [float(case.get("time", 0)) for case in ET.parse(junit).iter("testcase")]
    first, rest = times[0], times[1:]
    print()
    print(f"canary wall time, profile {config.profile.name}, {len(rest)} runs after the first "
          f"(setup + call + teardown of each test, from junit)")
    print(f"  first run (browser launch, mock and proxy start included): {first:.3f} s")
    for index, value in enumerate(rest, start=2):
        print(f"  run {index}: {value:.3f} s")
    if rest:
        median = statistics.median(rest)
        verdict = "met" if median < TARGET_S else "missed"
        print(f"  median {median:.3f} s, min {min(rest):.3f} s, max {max(rest):.3f} s; "
              f"target < {TARGET_S:g} s per test after the browser is up: {verdict}")
    print(f"  whole pytest run: {total:.2f} s")
    return 0
