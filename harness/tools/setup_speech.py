"""Make sure the voice tests can speak: espeak-ng and sox, else Debian's packages (as root), else one line saying
what to do (exit 2). Then the utterances are made once, into the cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from voice_harness.errors import EnvironmentProblem
from voice_harness.targets import speech

APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def ensure() -> list[str]:
    """Lines saying what was found or installed, and which utterances are ready."""
    lines = []
    missing = speech.missing_tools()
    if missing:
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise EnvironmentProblem(f"{' and '.join(missing)} not found: {speech.HOW_TO_GET}")
        lines.append(f"harness: installing {' and '.join(missing)} with apt-get")
        print(lines[-1], flush=True)
        for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *speech.TOOLS]):
            done = subprocess.run(command, env=APT_ENV, stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
                raise EnvironmentProblem(f"`{' '.join(command)}` failed ({done.returncode}: {tail[0][:120]}): "
                                         f"{speech.HOW_TO_GET}")
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
