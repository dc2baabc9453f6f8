"""A command the harness waits for never outlives the wait: not at its bound, not when the waiting thread is
interrupted, not when another thread stops every command (an interrupted `sensitivity --jobs 2`)."""

import contextlib
import signal
import sys
import threading
import time

import pytest

from voice_harness.tools import bounded

# A command that ignores SIGINT and leaves a grandchild in its group; it prints the grandchild's pid first.
STUBBORN = ("import signal, subprocess, sys, time; signal.signal(signal.SIGINT, signal.SIG_IGN); "
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
            "print(child.pid, flush=True); time.sleep(120)")


def gone(pid: int, within_s: float = 5) -> bool:
    """The process ended (a zombie until its parent, itself killed, is reaped by init)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/status") as fh:
                if "zombie" in next((line for line in fh if line.startswith("State:")), "").lower():
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


def grandchild_of(marker_file) -> int:
    """The pid the stubborn command printed (it is read from the file the command's output goes to)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = marker_file.read_text() if marker_file.exists() else ""
        if text.strip():
            return int(text.split()[0])
        time.sleep(0.05)
    raise AssertionError("the command never started its grandchild")


def stubborn_writing_to(path) -> list[str]:
    return [sys.executable, "-c", STUBBORN.replace("print(child.pid, flush=True)",
                                                   f"open({str(path)!r}, 'w').write(str(child.pid))")]


@pytest.fixture(autouse=True)
def not_stopping(monkeypatch):
    """stop_all marks the process as ending; each test starts, and leaves, the module as a live process has it."""
    monkeypatch.setattr(bounded, "_STOPPING", False, raising=False)


@contextlib.contextmanager
def interrupted_in(seconds: float):
    """An interrupt of the main thread (the test's) in `seconds`, as Ctrl-C would be: a real signal (SIGUSR1, so
    that neither pytest's SIGINT nor pytest-timeout's SIGALRM is touched), so that a blocking wait is cut short,
    whose handler raises KeyboardInterrupt."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGUSR1, interrupt)
    timer = threading.Timer(seconds, signal.pthread_kill, (threading.main_thread().ident, signal.SIGUSR1))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)


def waited_for_in_a_thread(marker, grace: float) -> tuple[threading.Thread, list, int]:
    """The stubborn command run (bounded, with `grace`) by another thread: (that thread, what its wait returned
    once it did, the command's grandchild)."""
    finished: list = []
    waiter = threading.Thread(target=lambda: finished.append(
        bounded.run_bounded(stubborn_writing_to(marker), 120, interrupt_grace=grace)))
    waiter.start()
    return waiter, finished, grandchild_of(marker)


def test_stop_all_ends_the_commands_other_threads_wait_for_and_their_waits_return(tmp_path):
    waiter, finished, grandchild = waited_for_in_a_thread(tmp_path / "pid", grace=0.5)
    bounded.stop_all(grace=0.5)
    waiter.join(timeout=10)
    assert not waiter.is_alive() and finished, "the waiting thread did not return"
    assert finished[0].code is not None and finished[0].code < 0   # killed, not ended by itself
    assert gone(grandchild), "the command's grandchild outlived stop_all"


def test_after_stop_all_a_command_that_starts_is_stopped_at_once(tmp_path):
    bounded.stop_all(grace=0.5)
    marker = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        bounded.run_bounded(stubborn_writing_to(marker), 120, interrupt_grace=30)
    assert time.monotonic() - started < 10, "the late command ran instead of being stopped"


def test_a_grandchild_that_ignores_the_interrupt_goes_even_when_its_leader_obeyed(tmp_path):
    marker = tmp_path / "pid"
    obedient_leader = [sys.executable, "-c", STUBBORN.replace("signal.signal(signal.SIGINT, signal.SIG_IGN); ", "")
                       .replace("[sys.executable, '-c', 'import time; time.sleep(120)']",
                                "[sys.executable, '-c', 'import signal, time; "
                                "signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(120)'], "
                                "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL")   # not holding the output
                       .replace("print(child.pid, flush=True)", f"open({str(marker)!r}, 'w').write(str(child.pid))")]
    done = bounded.run_bounded(obedient_leader, 2, interrupt_grace=0.5)
    assert done.code is None
    assert gone(grandchild_of(marker)), "the grandchild that ignored the interrupt outlived its group's stop"


def test_an_interrupt_of_the_waiting_thread_stops_the_commands_group_and_goes_on(tmp_path):
    marker = tmp_path / "pid"
    with interrupted_in(1.0), pytest.raises(KeyboardInterrupt):
        bounded.run_bounded(stubborn_writing_to(marker), 120, interrupt_grace=0.5)
    assert gone(grandchild_of(marker)), "the command's grandchild outlived the interrupt"


def test_a_second_interrupt_during_the_grace_kills_at_once(tmp_path):
    """The user presses Ctrl-C again (or CI follows its SIGINT with SIGTERM): no grace is left, the groups die now
    (their 30 s of grace would outlast the check)."""
    waiter, _, grandchild = waited_for_in_a_thread(tmp_path / "pid", grace=30)
    with interrupted_in(0.5), pytest.raises(KeyboardInterrupt):
        bounded.stop_all(grace=30)
    assert gone(grandchild, within_s=5), "the second interrupt did not cut the grace short"
    waiter.join(timeout=40)


def test_sigterm_is_an_interrupt_only_inside_interruptible():
    before = signal.getsignal(signal.SIGTERM)
    with bounded.interruptible():
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGTERM)
            time.sleep(1)   # the handler runs between bytecodes: never reached
    assert signal.getsignal(signal.SIGTERM) is before   # the previous handler is back


STOPPED_WITHIN_S = 45   # the runs' 30 s of grace after their interrupt, then a kill; they end in seconds


@pytest.mark.e2e
def test_a_sensitivity_run_stopped_by_sigterm_stops_the_runs_it_started(tmp_path):
    """CI's timeout or a `kill`: the defect runs (each a harness run in a process group of its own, with its proxy
    and browser) go with the matrix, and it says so, exit 130. The two defects' runs take over a minute each by
    themselves (their voice and lifecycle tests wait out their bounds), so a matrix that waited for them instead of
    stopping them would not end within STOPPED_WITHIN_S."""
    import subprocess
    from pathlib import Path

    reports = tmp_path / "matrix"
    matrix = subprocess.Popen([sys.executable, "-m", "harness", "sensitivity", "--reduced", "--defect",
                               "ignore-client-audio", "--defect", "no-upstream-timeout", "--reports-dir", str(reports)],
                              cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)

    def ours() -> list[int]:
        """The processes whose command line names the matrix's reports folder: its defect runs and their proxies."""
        found = []
        for status in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if str(reports) in status.read_bytes().decode(errors="replace"):
                    found.append(int(status.parent.name))
            except OSError:
                continue
        return [pid for pid in found if pid != matrix.pid]

    def proxies_under(pid: int) -> list[int]:
        """The reference proxies among the process's descendants (a defect run's, once its session is up)."""
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
            except (OSError, IndexError, ValueError):
                continue
        found, todo = [], [pid]
        while todo:
            for child in children.get(todo.pop(), []):
                todo.append(child)
                try:
                    if b"reference_proxy" in Path(f"/proc/{child}/cmdline").read_bytes():
                        found.append(child)
                except OSError:
                    continue
        return found

    deadline = time.monotonic() + 60
    while not proxies_under(matrix.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    started, proxies = ours(), proxies_under(matrix.pid)
    assert started and proxies, "no defect run got as far as its proxy"
    stopped = time.monotonic()
    matrix.send_signal(signal.SIGTERM)
    out, err = matrix.communicate(timeout=120)
    assert time.monotonic() - stopped < STOPPED_WITHIN_S, "the matrix waited for its runs instead of stopping them"
    assert matrix.returncode == 130, out[-2000:] + err[-2000:]
    assert "interrupted; the runs it started are stopped" in err
    left = [pid for pid in started + proxies if not gone(pid, within_s=10)]
    assert not left, f"still running after the matrix ended: {left}"
