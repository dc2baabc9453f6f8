"""One way to run a command the harness starts and waits for (an install step, a whole `harness run`, a probe
session): stdin closed, output captured, in a process group of its own, and bounded. At the bound the whole
group goes, so nothing it started outlives it: first, if asked, an interrupt and a grace period (pytest then ends
its workers, which end their proxies and browsers, each in a group of its own), then a kill."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


@dataclass(frozen=True)
class Finished:
    """How a command ended: its exit code (None: stopped at the bound) and its output."""
    code: int | None
    output: str


def run_bounded(command: Sequence[str], timeout: float | None, env: dict | None = None, *,
                cwd: Path | None = None, interrupt_grace: float = 0.0) -> Finished:
    """Run `command` quietly within `timeout` seconds (None: no bound). OSError if it cannot start."""
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace", env=env, cwd=cwd, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
        return Finished(process.returncode, output)
    except subprocess.TimeoutExpired:
        pass
    output = ""
    for sig, grace in (((signal.SIGINT, interrupt_grace),) if interrupt_grace > 0 else ()) + ((signal.SIGKILL, None),):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            output, _ = process.communicate(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue
    return Finished(None, output)
