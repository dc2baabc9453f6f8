"""Make sure the voice tests can speak: espeak-ng and sox, else Debian's packages (as root), else one line saying
what to do (exit 2). Then the utterances are made once, into the cache."""

from __future__ import annotations

import shutil
import sys

from voice_harness.errors import EnvironmentProblem
from voice_harness.targets import speech
from voice_harness.tools.setup_browser import Runner, apt_install, installing_blocked, run_bounded


def ensure(run: Runner = run_bounded) -> list[str]:
    """Lines saying what was found or installed, and which utterances are ready."""
    lines = []
    missing = speech.missing_tools()
    if missing:
        blocked = installing_blocked().get("apt")
        if blocked:
            raise EnvironmentProblem(f"{' and '.join(missing)} not found ({blocked}): {speech.HOW_TO_GET}")
        lines.append(f"harness: installing {' and '.join(missing)} with apt-get")
        print(lines[-1], flush=True)
        ok, note = apt_install(run, speech.TOOLS)   # the set-up's one apt step, as for the browser
        if not ok:
            raise EnvironmentProblem(f"{note}: {speech.HOW_TO_GET}")
        still = speech.missing_tools()
        if still:
            raise EnvironmentProblem(f"{' and '.join(still)} still not found after apt-get: {speech.HOW_TO_GET}")
    else:
        lines.append(f"harness: speech tools: {', '.join(shutil.which(t) or t for t in speech.TOOLS)}")
    for name in speech.UTTERANCES:
        made = speech.utterance(name)
        lines.append(f"harness: utterance {name!r}: {made.path} ({made.duration_s:.2f} s at {made.rate} Hz)")
    return lines


def main() -> int:
    try:
        for line in ensure():
            print(line)
    except EnvironmentProblem as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 2
    return 0
