"""The proxy under test as a subprocess: started in its own process group, probed until ready, logged, killed whole."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from .errors import EnvironmentProblem

PROBE_INTERVAL_S = 0.05


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free right now (the proxy binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ProxyProcess:
    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path, port: int,
                 ready_log: str | None, ready_timeout_s: float, host: str = "127.0.0.1"):
        self.argv, self.port, self.host = argv, port, host
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.ready_log = re.compile(ready_log) if ready_log else None
        self.ready_timeout_s = ready_timeout_s
        self._proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")
        try:
            self._proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=self.env, start_new_session=True)
        except OSError as exc:
            raise EnvironmentProblem(f"proxy command {self.argv[0]!r} could not be started: {exc.strerror}") from None
        finally:
            log.close()
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise EnvironmentProblem(f"the proxy exited with code {code} during start-up; "
                                         f"log {self.log_path}: {self.log_tail(3)}")
            if self._ready():
                return
            time.sleep(PROBE_INTERVAL_S)
        self.stop()
        raise EnvironmentProblem(f"the proxy was not ready within {self.ready_timeout_s:g} s; "
                                 f"log {self.log_path}: {self.log_tail(3)}")

    def _ready(self) -> bool:
        if self.ready_log is not None:
            return bool(self.ready_log.search(self.log_path.read_text(errors="replace")))
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, grace_s: float = 5.0) -> None:
        """End the proxy and everything it started (its process group): TERM, then KILL."""
        if self._proc is None:
            return
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, grace_s)):
            try:
                os.killpg(self._proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self._proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Children left in the group after the leader exited.
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        tail = [line for line in text.splitlines() if line.strip()][-lines:]
        return " | ".join(tail) if lines <= 3 else "\n".join(tail)
