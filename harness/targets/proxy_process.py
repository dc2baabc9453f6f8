"""The proxy under test as a subprocess: started in its own process group, probed until ready, logged, killed whole.

The command may be the server itself or a launcher that starts it (npx, tsx, `bash -c`, env): the harness watches
the whole process group and the port, not only the process it started. The group's members are read from Linux's
/proc (each /proc/PID/stat names its process group); where there is no /proc, the kernel is asked whether the group
has a process left (kill(-pgid, 0), which counts zombies). Only this group is ever signalled.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from voice_harness.errors import EnvironmentProblem
from voice_harness.judging.attribution import ServerSighting, exit_phrase, server_death, signal_name
from voice_harness.targets.proxy_log import HEAD_BYTES, TAIL_BYTES, ProxyLog
from voice_harness.timeouts import units

PROBE_INTERVAL_S = 0.05
STOP_GRACE_S = 5.0
PORT_PROBE_UNITS = 0.5   # a TCP connect to the proxy's port; a timeout says "busy", never "dead"
EXIT_WAIT_UNITS = 1      # a launcher (npx, tsx) follows its dead server out within this: then its status is known
LOG_DRAIN_UNITS = 1      # the dead server's last words, already in the pipe, reach the log within this


def _group_alive(pgid: int) -> bool:
    """Whether a process of group pgid still runs (a zombie waiting for its reaper does not count)."""
    try:
        entries = os.listdir("/proc")
    except OSError:  # no /proc: ask the kernel (zombies count there)
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free right now (the proxy binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ExternalProxy:
    """A proxy already running at a URL: nothing to start or stop."""

    running = True
    died = False   # unknowable for a proxy the harness did not start

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or (443 if parts.scheme == "wss" else 80)
        self.base_url = f"{parts.scheme}://{parts.netloc}"

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def log_tail(self, lines: int = 20) -> str:
        return "(the proxy runs elsewhere: no log)"

    def exit_description(self) -> str | None:
        return None

    def death(self, refused_at: float | None = None) -> str | None:
        return None   # a refused connection to a proxy the harness did not start is judged by the checks alone

    exit_code = None


class ProxyProcess:
    """The proxy as a subprocess in a process group of its own; its output goes to a ProxyLog (redacted, capped,
    appended across restarts). exit_description() and log_tail() name a proxy that died."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path, port: int,
                 ready_log: str | None, ready_timeout_s: float, host: str = "127.0.0.1", *,
                 log_head_bytes: int = HEAD_BYTES, log_tail_bytes: int = TAIL_BYTES):
        self.argv, self.port, self.host = argv, port, host
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.ready_log = re.compile(ready_log) if ready_log else None
        self.ready_timeout_s = ready_timeout_s
        self.stop_grace_s = STOP_GRACE_S
        # Redacted with the proxy's own environment: a key given in the profile's env is a key too.
        self._log = ProxyLog(log_path, log_head_bytes, log_tail_bytes, env=self.env)
        self._proc: subprocess.Popen | None = None
        self._copier: threading.Thread | None = None
        self._started_at = 0.0
        self._exited_at: float | None = None
        self._stopped_by_us = False
        self._death: str | None = None   # how this start's server died, once seen down
        self._served = False             # its port accepted a connection since this start
        self._outlived = False           # ... and did after the launcher had exited (it backgrounded its server)

    def start(self) -> None:
        """Start the proxy (a restart first ends the previous process group whole) and wait until it is ready."""
        self.stop()
        self._log.start(shlex.join(self.argv), self.ready_log)
        self._stopped_by_us, self._exited_at, self._death = False, None, None
        self._served = self._outlived = False
        try:
            self._proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, env=self.env, start_new_session=True)
        except OSError as exc:
            self._proc = None
            self._log.close()
            raise EnvironmentProblem(f"proxy command {self.argv[0]!r} could not be started: {exc.strerror}") from None
        self._started_at = time.monotonic()
        threading.Thread(target=self._watch, args=(self._proc,), name="proxy-exit", daemon=True).start()
        # The log goes through redaction: a proxy that prints its key must not leave it in the reports.
        self._copier = self._log.copy(self._proc.stdout)
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            code = self._proc.poll()
            # A launcher that exits 0 while its group lives on has put its server in the background: not a failure.
            if code is not None and (code != 0 or not _group_alive(self._proc.pid)):
                self.stop()  # what it started goes too; its last output is in the log before the tail is read
                how = f"exited with code {code}" if code >= 0 else f"was killed by {signal_name(-code)}"
                raise EnvironmentProblem(f"the proxy {how} during start-up; "
                                         f"log {self.log_path}: {self.log_tail(3)}")
            if self._ready():
                return
        self.stop()
        raise EnvironmentProblem(f"the proxy was not ready within {self.ready_timeout_s:g} s; "
                                 f"log {self.log_path}: {self.log_tail(3)}")

    def _watch(self, proc: subprocess.Popen) -> None:
        proc.wait()
        if proc is self._proc:
            self._exited_at = time.monotonic()

    def _ready(self) -> bool:
        """Waits up to PROBE_INTERVAL_S: for the ready line (the log's copier watches for it), or a TCP connect."""
        if self.ready_log is not None:
            return self._log.ready.wait(PROBE_INTERVAL_S)
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                self._served = True
                return True
        except OSError:
            time.sleep(PROBE_INTERVAL_S)
            return False

    @property
    def base_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """The server serves: a process of its group runs and its port does not refuse connections."""
        return self._proc is not None and not self.sighting().down

    @property
    def exit_code(self) -> int | None:
        """The launcher's (the process the harness started) return code once it has exited (negative: the signal
        that killed it); else None. Under a launcher the server's own code may not be knowable."""
        return None if self._proc is None else self._proc.poll()

    @property
    def died(self) -> bool:
        """The server stopped serving without the harness asking it to (a crash, or an exit of its own)."""
        return self._proc is not None and not self._stopped_by_us and self.sighting().down

    def sighting(self) -> ServerSighting:
        """A look at the launcher, the process group and the port, now (before the first start: all gone)."""
        proc = self._proc
        if proc is None:
            return ServerSighting(self.port, 0, "", None, None, False, None)
        code = proc.poll()
        exited_at = None if code is None else (self._exited_at or time.monotonic()) - self._started_at
        # A running launcher is a live group member; the group's other members are only looked up once it exited.
        alive = code is None or _group_alive(proc.pid)
        accepting = self._accepting() if alive else None
        self._outlived = self._outlived or (accepting is True and code is not None)
        return ServerSighting(self.port, proc.pid, Path(self.argv[0]).name, code, exited_at, alive, accepting,
                              self._served, self._outlived)

    def _accepting(self) -> bool | None:
        try:
            with socket.create_connection((self.host, self.port), timeout=units(PORT_PROBE_UNITS)):
                self._served = True
                return True
        except (ConnectionRefusedError, ConnectionResetError):
            return False
        except OSError:   # a timeout: a full backlog is a busy server, not a dead one
            return None

    def death(self, refused_at: float | None = None) -> str | None:
        """One line on how the server died without the harness asking it to, or None while it serves.
        refused_at: seconds into the current test of the first connection the client tap could not make to it
        (attribution.first_refusal); it is evidence of a death even where the server was started again since."""
        proc = self._proc
        if proc is None or self._stopped_by_us:
            return None
        if self._death is not None:
            return self._death
        sighting = self.sighting()
        if sighting.down and sighting.launcher_code is None:
            # npx and tsx exit a moment after their server, with its code: the status is worth a bounded wait.
            # A launcher that lingers (`bash -c 'server; sleep 3'`) is named instead, once the wait is over.
            _wait_until(lambda: proc.poll() is not None, units(EXIT_WAIT_UNITS))
            sighting = self.sighting()
        if not sighting.down and refused_at is None:
            return None
        # Its last words were written before it died: let them reach the log before its tail is read.
        _wait_until(lambda: self._log.unread() == 0, units(LOG_DRAIN_UNITS))
        why = server_death(sighting, refused_at)
        if sighting.down:
            self._death = why
        return why

    def exit_description(self) -> str | None:
        """One line on how the launcher (the process the harness started) ended, or None while it runs (or before
        its first start)."""
        code = self.exit_code
        if code is None:
            return None
        at = (self._exited_at or time.monotonic()) - self._started_at
        by_us = "; the harness had asked it to stop" if self._stopped_by_us else ""
        return f"{exit_phrase(code, at)}{by_us}"

    def stop(self, grace_s: float | None = None) -> None:
        """End the proxy and everything it started (its process group): TERM, wait, then KILL what is left,
        children that ignore TERM after the leader exited included. Then the log is closed."""
        proc = self._proc
        if proc is None:
            return
        grace_s = self.stop_grace_s if grace_s is None else grace_s
        pgid = proc.pid
        gone = lambda: proc.poll() is not None and not _group_alive(pgid)  # noqa: E731
        if not gone():
            self._stopped_by_us = self._stopped_by_us or proc.poll() is None
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(pgid, sig)
                except ProcessLookupError:
                    pass
                if _wait_until(gone, grace_s):
                    break
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            pass
        if self._copier is not None:
            self._copier.join(timeout=2)  # the pipe ends with the group: the last lines reach the log
        self._log.close()

    def log_tail(self, lines: int = 20) -> str:
        """The last non-blank lines of the log: joined by " | " for three or fewer, else one per line."""
        if self._log.starts == 0 and not self.log_path.exists():
            return "(no log)"
        tail = self._log.tail(lines)
        return " | ".join(tail) if lines <= 3 else "\n".join(tail)

