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


def run_bounded(command: Sequence[str], timeout: float | None, env: dict | None = None, *,
                cwd: Path | None = None, interrupt_grace: float = 0.0) -> Finished:
    """Run `command` quietly within `timeout` seconds (None: no bound). OSError if it cannot start."""
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace", env=env, cwd=cwd, start_new_session=True)
    with _LIVE_LOCK:
        _LIVE.add(process)
    try:
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
    """Stop the group of every command still running (an interrupt, `grace` seconds, then a kill), so that the
    threads waiting for them return."""
    with _LIVE_LOCK:
        running = tuple(_LIVE)
    _stop(running, grace)


def _stop(processes, grace: float, collect: bool = False) -> str:
    """Interrupt the processes' groups, give them `grace` seconds, then kill what is left. With `collect` (one
    process, waited for by this thread), its remaining output."""
    steps = ((signal.SIGINT, grace),) if grace > 0 else ()
    for sig, wait_s in steps + ((signal.SIGKILL, 5.0),):
        for process in processes:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)
        if collect:
            try:
                return processes[0].communicate(timeout=wait_s)[0]
            except subprocess.TimeoutExpired:
                continue
        deadline = time.monotonic() + wait_s
        while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
            time.sleep(0.05)
        if all(p.poll() is not None for p in processes):
            break
    return ""


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
