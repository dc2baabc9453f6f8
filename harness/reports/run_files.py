"""A run owns its reports folder: one run at a time (a lock naming its holder), and it starts by clearing the
artefacts an earlier run left there, so nothing of that run mixes with this one.

Other commands' outputs (bench.json, explore.json, the sensitivity matrix, their subfolders) are not a
conformance run's and stay."""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import time
from pathlib import Path

from voice_harness.wire.redaction import redact

from voice_harness.errors import EnvironmentProblem

LOCK = ".run.lock"
# What one conformance run writes; cleared when the next one starts.
PER_RUN = ("conformance.json", "conformance.md", "metrics.json", "metrics-ttfr.svg", "junit.xml",
           "timelines", "traces", "logs", "playwright", "allure-results", "html", "shard.json")
_held: dict[Path, int] = {}   # folders this process holds, and the lock file's descriptor


def claim(reports_dir: Path) -> None:
    """Hold reports_dir for this run (a second claim by this process is a no-op); EnvironmentProblem naming the
    other run if one holds it."""
    folder = reports_dir.resolve()
    if folder in _held:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise EnvironmentProblem(f"the reports folder {folder} cannot be used: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 1024, 0).decode("utf-8", errors="replace").strip() or "another process"
        os.close(fd)
        raise EnvironmentProblem(f"the reports folder {folder} is in use by another run ({holder}): wait for it "
                                 f"to end, or give this run a folder of its own with --reports-dir") from None
    os.ftruncate(fd, 0)
    command = redact(" ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]]))[:300]
    os.pwrite(fd, f"pid {os.getpid()}, since {time.strftime('%H:%M:%S')}: {command}\n".encode(), 0)
    _held[folder] = fd


def release(reports_dir: Path) -> None:
    """Let other runs use reports_dir again (also done by the process's exit)."""
    fd = _held.pop(reports_dir.resolve(), None)
    if fd is not None:
        os.ftruncate(fd, 0)
        os.close(fd)


def clear(reports_dir: Path, names: tuple[str, ...] = PER_RUN) -> list[str]:
    """Remove an earlier run's artefacts from reports_dir; the names removed."""
    removed = []
    for name in names:
        path = reports_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists() or path.is_symlink():
            path.unlink(missing_ok=True)
        else:
            continue
        removed.append(name)
    return removed


def clear_cassettes(reports_dir: Path) -> list[str]:
    """A real-mode run's cassettes replace the last one's (not cleared by every run: a replay reads them)."""
    return clear(reports_dir, ("cassettes", "drift.json", "drift.md"))
