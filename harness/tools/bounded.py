"""One way to run a command the harness starts and waits for (an install step, a whole `harness run`, a probe
session): stdin closed, output captured, in a process group of its own, and bounded. At the bound the whole
group goes, so nothing it started outlives it: first, if asked, an interrupt and a grace period (pytest then ends
its workers, which end their proxies and browsers, each in a group of its own), then a kill.

The same when the caller is interrupted (Ctrl-C, or SIGTERM under `interruptible()`): the thread that waits stops its
command's group before the interrupt goes on, and `stop_all` stops the groups other threads wait for (a command
that runs several at once, as `sensitivity --jobs`), so that their waits return."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


@dataclass(frozen=True)
class Finished:
    """How a command ended: its exit code (None: stopped at the bound) and its output."""
    code: int | None
    output: str


_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()
_STOPPING = False   # set by stop_all: the process is ending, and whatever starts now is stopped at once


def run_bounded(command: Sequence[str], timeout: float | None, env: dict | None = None, *,
                cwd: Path | None = None, interrupt_grace: float = 0.0) -> Finished:
    """Run `command` quietly within `timeout` seconds (None: no bound). OSError if it cannot start."""
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace", env=env, cwd=cwd, start_new_session=True)
    with _LIVE_LOCK:
        _LIVE.add(process)
        stopping = _STOPPING
    try:
        if stopping:   # started while stop_all ran (a thread that took its next job just before): stopped at once
            _stop((process,), 0)
            raise KeyboardInterrupt("stopping: every command the harness started is being stopped")
        try:
            output, _ = process.communicate(timeout=timeout)
            return Finished(process.returncode, output)
        except subprocess.TimeoutExpired:
            pass
        except BaseException:
            # This thread was interrupted: its command's group goes before the interrupt goes on.
            _stop((process,), interrupt_grace)
            raise
        return Finished(None, _stop((process,), interrupt_grace, collect=True))
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(process)


def stop_all(grace: float) -> None:
    """For a process that is ending (interrupted): stop the group of every command still running (an interrupt,
    `grace` seconds, then a kill), so that the threads waiting for them return; a command started from now on is
    stopped at once."""
    global _STOPPING
    with _LIVE_LOCK:
        _STOPPING = True
        running = tuple(_LIVE)
    _stop(running, grace)


def _signal(processes, sig: int) -> None:
    for process in processes:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)


def _wait(processes, seconds: float, collect: bool) -> str | None:
    """Wait up to `seconds` for the processes to end; with `collect` (one process, waited for by this thread) its
    remaining output once it ended, else None."""
    if collect:
        try:
            return processes[0].communicate(timeout=seconds)[0]
        except subprocess.TimeoutExpired:
            return None
    deadline = time.monotonic() + seconds
    while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    return None


def _stop(processes, grace: float, collect: bool = False) -> str:
    """Interrupt the processes' groups and give them `grace` seconds (pytest ends its workers, their proxies and
    browsers), then kill the groups whatever their leaders did, so that nothing of them outlives the stop. An
    interrupt of this wait kills at once. With `collect`: the one process's remaining output."""
    output = None
    if grace > 0:
        _signal(processes, signal.SIGINT)
        try:
            output = _wait(processes, grace, collect)
        except BaseException:
            _signal(processes, signal.SIGKILL)   # interrupted again: no grace left
            raise
    _signal(processes, signal.SIGKILL)
    if output is None:
        output = _wait(processes, 5.0, collect)
    return output or ""


@contextlib.contextmanager
def interruptible():
    """SIGTERM raises KeyboardInterrupt in the main thread while this holds (as Ctrl-C does), so that a command
    stopped by its caller (CI's timeout, `kill`) stops what it started. Outside the main thread: nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
