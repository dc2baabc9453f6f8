"""The proxy under test as a subprocess: started in its own process group, probed until ready, logged, killed whole.

The command may be the server itself or a launcher that starts it (npx, tsx, `bash -c`, env): the harness watches
the whole process group and, on evidence of a death, the port, not only the process it started. The group's
members are read from Linux's /proc (each /proc/PID/stat names its process group); where there is no /proc, the
kernel is asked whether the group has a process left (kill(-pgid, 0), which counts zombies). Only this group is
ever signalled.
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
from voice_harness.judging.attribution import ServerSighting, Unreached, server_death, signal_name
from voice_harness.targets.proxy_log import HEAD_BYTES, TAIL_BYTES, ProxyLog
from voice_harness.timeouts import units

PROBE_INTERVAL_S = 0.05
STOP_GRACE_S = 5.0
PORT_PROBE_UNITS = 0.5   # a TCP connect to the proxy's port; a timeout says "busy", never "dead"
EXIT_WAIT_UNITS = 1      # a launcher (npx, tsx) follows its dead server out within this: then its status is known
LOG_DRAIN_UNITS = 1      # the dead server's last words, already in the pipe, reach the log within this
REAP_UNITS = 0.5        # a launcher /proc shows dead is reported by waitpid within this


def _group_members(pgid: int) -> frozenset[int] | None:
    """The processes of group pgid that still run (a zombie waiting for its reaper does not count), read from
    Linux's /proc; None where there is no /proc to read them from."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    members = set()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            members.add(int(entry))
    return frozenset(members)


def _group_alive(pgid: int) -> bool:
    """Whether a process of group pgid still runs: one of its members where /proc is there, else the kernel is
    asked (zombies count there)."""
    members = _group_members(pgid)
    if members is not None:
        return bool(members)
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


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

    def death(self, unreached: Unreached | None = None) -> str | None:
        return None   # a refused connection to a proxy the harness did not start is judged by the checks alone


class ProxyProcess:
    """The proxy as a subprocess in a process group of its own; its output goes to a ProxyLog (redacted, capped,
    appended across restarts). death() says how its server died during a test, log_tail() gives its last words.

    Its port is probed (one TCP connect, no bytes sent: the proxy may still see and log it) only on evidence
    that the server may have died: a connection the test could not make to it, a process of its group that has
    exited since the port last accepted a connection (the launcher included), or a launcher that exited while
    it is not yet known whether its server outlived it. A server that serves costs no connection per test."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path, port: int,
                 ready_log: str | None, ready_timeout_s: float, host: str = "127.0.0.1", *,
                 log_head_bytes: int = HEAD_BYTES, log_tail_bytes: int = TAIL_BYTES, cwd: Path | None = None):
        self.argv, self.port, self.host, self.cwd = argv, port, host, cwd
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
        self._members: frozenset[int] = frozenset()   # its group's processes since its port last accepted
        self._outlived = False           # the port accepted a connection after the launcher had exited (a launcher
                                         # that put its server in the background): the launcher's status is not its

    def start(self) -> None:
        """Start the proxy (a restart first ends the previous process group whole) and wait until it is ready."""
        self.stop()
        self._log.start(shlex.join(self.argv), self.ready_log)
        self._stopped_by_us, self._exited_at, self._death = False, None, None
        self._members, self._outlived = frozenset(), False
        try:
            self._proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, env=self.env, cwd=self.cwd,
                                          start_new_session=True)
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
                # Ready counts as serving (its ready line says it listens): a refusal from now on is a death. The
                # group as it is now is what a later look compares with.
                self._members = _group_members(self._proc.pid) or frozenset()
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
        if self._connect(0.5):
            return True
        time.sleep(PROBE_INTERVAL_S)
        return False

    @property
    def base_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """The server serves: no death was seen since its start, a process of its group runs, and its port, when
        there is a reason to try it, does not refuse connections."""
        return self._proc is not None and self._death is None and not self.sighting().down

    @property
    def exit_code(self) -> int | None:
        """The launcher's (the process the harness started) return code once it has exited (negative: the signal
        that killed it); else None. Under a launcher the server's own code may not be knowable."""
        return None if self._proc is None else self._proc.poll()

    def sighting(self, suspect: bool = False) -> ServerSighting:
        """A look at the launcher and the process group, now (before the first start: all gone); and at the port
        if there is evidence the server may have died (suspect: a connection the test could not make to it)."""
        proc = self._proc
        if proc is None:
            return ServerSighting(self.port, 0, "", None, None, False, None)
        code = proc.poll()
        members = _group_members(proc.pid)
        if code is None and members is not None and proc.pid not in members:
            # /proc already shows the launcher dead (a zombie) while waitpid may not report it for a moment: reap
            # it, so a death is never said without the exit status that is about to be known.
            try:
                code = proc.wait(timeout=units(REAP_UNITS))
            except subprocess.TimeoutExpired:
                pass
        exited_at = None if code is None else (self._exited_at or time.monotonic()) - self._started_at
        # A running launcher is a live group member.
        alive = code is None or (bool(members) if members is not None else _group_alive(proc.pid))
        lost = members is not None and bool(self._members - members)
        accepting = None
        if alive and (suspect or lost or (code is not None and not self._outlived)):
            accepting = self._connect(units(PORT_PROBE_UNITS))
        if accepting is True and members is not None:
            self._members = members          # serving as it is now: only a process gone from now on is news
        elif members is not None:
            self._members = self._members | members   # a process gone stays evidence until the port answers
        return ServerSighting(self.port, proc.pid, Path(self.argv[0]).name, code, exited_at, alive, accepting,
                              self._outlived)

    def _connect(self, timeout: float) -> bool | None:
        """One TCP connect to the proxy's port, no bytes sent: True accepted, False refused, None undecided (a
        timeout is a full backlog, a busy server; a reset is no sign of death on its own)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                pass
        except ConnectionRefusedError:
            return False
        except OSError:
            return None
        if self._proc is not None and self._proc.poll() is not None:
            self._outlived = True   # the launcher has exited and the port still serves: the server outlived it
        return True

    def death(self, unreached: Unreached | None = None) -> str | None:
        """One line on how the server died without the harness asking it to, or None while it serves.
        unreached: the connections the client tap could not make to it during the current test
        (attribution.first_unreached); a refused one is evidence of a death even where the server was started
        again since, a reset one only if the server is down now."""
        proc = self._proc
        if proc is None:
            return None
        if self._death is not None:
            return self._death
        if self._stopped_by_us:
            return None
        sighting = self.sighting(suspect=unreached is not None)
        if sighting.down and sighting.launcher_code is None:
            # npx and tsx exit a moment after their server, with its code: the status is worth a bounded wait.
            # A launcher that lingers (`bash -c 'server; sleep 3'`) is named instead, once the wait is over.
            if _wait_until(lambda: proc.poll() is not None, units(EXIT_WAIT_UNITS)):
                sighting = self.sighting(suspect=True)
        why = server_death(sighting, unreached)
        if why is None:
            return None
        # Its last words were written before it died: let them reach the log before its tail is read.
        _wait_until(lambda: self._log.unread() == 0, units(LOG_DRAIN_UNITS))
        if sighting.down:
            self._death = why
        return why

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
            # Whatever the launcher did before (it may have exited 0, its server in the background), what is left
            # of the group ends because the harness asks it to: no death.
            self._stopped_by_us = True
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



def from_spec(spec, port: int, upstream_url: str, defect: str | None, variant: str | None,
              log_path: Path) -> ProxyProcess:
    """The proxy a profile's ProxySpec starts: its command and environment with the placeholders filled, in its
    working directory, ready by its ready line or its port."""
    return ProxyProcess(spec.argv(port, upstream_url, defect, variant),
                        spec.environment(port, upstream_url, defect, variant), log_path, port,
                        spec.ready_log, spec.ready_timeout_s, cwd=spec.cwd)
