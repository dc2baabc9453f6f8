"""The proxy under test as a subprocess: started in its own process group, probed until ready, logged, killed whole."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from mock_upstream.redaction import redact

from .errors import EnvironmentProblem

PROBE_INTERVAL_S = 0.05


def _copy_redacted(stream, path: Path) -> None:
    # Appended: a restart after a crash must not wipe the crash's trace.
    with open(path, "a", encoding="utf-8", errors="replace") as log:
        for raw in iter(stream.readline, b""):
            log.write(redact(raw.decode("utf-8", errors="replace")))
            log.flush()
    stream.close()


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


class ProxyProcess:
    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path, port: int,
                 ready_log: str | None, ready_timeout_s: float, host: str = "127.0.0.1"):
        self.argv, self.port, self.host = argv, port, host
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.ready_log = re.compile(ready_log) if ready_log else None
        self.ready_timeout_s = ready_timeout_s
        self._proc: subprocess.Popen | None = None
        self._copier: threading.Thread | None = None
        self._starts = 0
        self._log_start = 0  # where this start's part of the log begins (readiness reads only that part)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self._copier is not None:
            self._copier.join(timeout=2)  # the previous process's last lines go before the new header
        self._starts += 1
        # A run's first start begins a fresh log; every restart appends to it, so a crash's trace survives.
        with open(self.log_path, "w" if self._starts == 1 else "a", encoding="utf-8") as log:
            log.write(redact(f"--- proxy start {self._starts} at {datetime.now(timezone.utc).isoformat()}: "
                             f"{shlex.join(self.argv)}\n"))
            self._log_start = log.tell()
        try:
            self._proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, env=self.env, start_new_session=True)
        except OSError as exc:
            raise EnvironmentProblem(f"proxy command {self.argv[0]!r} could not be started: {exc.strerror}") from None
        # The log goes through redaction: a proxy that prints its key must not leave it in the reports.
        self._copier = threading.Thread(target=_copy_redacted, args=(self._proc.stdout, self.log_path),
                                        name="proxy-log", daemon=True)
        self._copier.start()
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
            try:
                with open(self.log_path, "rb") as log:
                    log.seek(self._log_start)
                    return bool(self.ready_log.search(log.read().decode("utf-8", errors="replace")))
            except OSError:
                return False
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    @property
    def base_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

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
