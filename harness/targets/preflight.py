"""Pre-flight: before any test, what the run needs from its environment is there. Each problem is one line
(EnvironmentProblem, exit 2) and no verdict is written: a proxy URL nobody listens on is not the proxy's
failure of CANARY-1."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from voice_harness.errors import EnvironmentProblem
from voice_harness.targets.run_config import RunConfig
from voice_harness.timeouts import units

# Ports Chromium refuses to load pages from (net::ERR_UNSAFE_PORT), from Chromium's net/base/port_util.cc.
CHROMIUM_UNSAFE_PORTS = frozenset({
    1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109,
    110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530,
    531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045,
    5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6697, 10080})


_passed: set[str] = set()   # the targets this process has checked already (harness run, then its pytest)

# A command that makes harness runs of its own (sensitivity: tens of them) checks once that the browser starts and
# says so to its runs in this variable (they inherit it): each run would otherwise start a Chromium only to see it
# start. Its value names the app page the check loaded ("-": none).
BROWSER_CHECKED = "VOICE_HARNESS_BROWSER_CHECKED"


def _browser_key(app_url: str | None) -> str:
    return app_url or "-"


def browser_checked_by_caller(app_url: str | None) -> bool:
    """The command that started this run checked already that the browser starts, for this app page."""
    return os.environ.get(BROWSER_CHECKED) == _browser_key(app_url)


def check_browser_for_runs(browser_check: Callable[[str | None], None], app_url: str | None = None) -> None:
    """The browser starts (EnvironmentProblem if not); the runs this process starts from now on skip that check."""
    browser_check(app_url)
    os.environ[BROWSER_CHECKED] = _browser_key(app_url)


def run(config: RunConfig, browser_check: Callable[[str | None], None] | None = None) -> None:
    """Every check in turn; the first problem raises EnvironmentProblem. A target this process has already
    checked is not checked again."""
    key = repr((str(config.profile.source), sorted(config.describe().items()), config.profile.upstream.port))
    if key in _passed:
        return
    profile = config.profile
    if profile.proxy.url is not None:
        proxy_answers(profile.proxy.url)
    else:
        proxy_command_exists(profile.proxy.command, profile.proxy.cwd)
    if profile.upstream.port:
        port_free(profile.upstream.port, "the real upstream's tap" if config.real_upstream else "the mock upstream")
    if profile.app.url is not None:
        app_serves(profile.app.url)
    if browser_check is not None and not browser_checked_by_caller(profile.app.url):
        browser_check(profile.app.url)
    _passed.add(key)


def proxy_answers(url: str, timeout_s: float | None = None) -> None:
    """A WebSocket handshake with the proxy at url succeeds (the connection is closed at once)."""
    from websockets.exceptions import InvalidHandshake, InvalidURI
    from websockets.sync.client import connect

    try:
        with connect(url, open_timeout=timeout_s or units(5), close_timeout=1):
            pass
    except (OSError, TimeoutError) as exc:
        raise EnvironmentProblem(f"pre-flight: the proxy at {url} is unreachable "
                                 f"({getattr(exc, 'strerror', None) or type(exc).__name__}): start it, or fix "
                                 f"--proxy-url / the profile's proxy.url") from None
    except (InvalidHandshake, InvalidURI) as exc:
        raise EnvironmentProblem(f"pre-flight: the proxy at {url} refused the WebSocket handshake ({exc}): check "
                                 f"the URL's path against the proxy's endpoint") from None


def proxy_command_exists(command: tuple[str, ...], cwd: Path | None = None) -> None:
    """The program the profile starts the proxy with can be found (a relative path: in the proxy's cwd)."""
    if not command:
        return
    program = command[0].replace("{python}", sys.executable)
    if "/" in program:
        path = (cwd or Path.cwd()) / program
        if not path.is_file():
            raise EnvironmentProblem(f"pre-flight: the proxy command {program!r} was not found in {path.parent}: fix "
                                     f"the path in --proxy-cmd / the profile's proxy.command (relative paths start "
                                     f"from proxy.cwd)")
        if not os.access(path, os.X_OK):
            raise EnvironmentProblem(f"pre-flight: the proxy command {program!r} is not executable: chmod +x it, or "
                                     f"start it through its interpreter (e.g. bash {program})")
        return
    if shutil.which(program) is None:
        raise EnvironmentProblem(f"pre-flight: the proxy command {program!r} was not found on PATH: install it, give "
                                 f"its path, or start it through its launcher (e.g. npx tsx server.ts); environment "
                                 f"variables go before it in --proxy-cmd (PORT={{port}} node server.js) or in "
                                 f"[proxy.env]")


def port_free(port: int, what: str) -> None:
    """Nothing listens on 127.0.0.1:port yet, so the harness can."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as the listener will: TIME_WAIT is no owner
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise EnvironmentProblem(f"pre-flight: port {port} for {what} is taken ({exc.strerror}): end what "
                                     f"holds it (another run?) or change upstream.port in the profile") from None


def app_serves(url: str, timeout_s: float | None = None) -> None:
    """The app's page answers over HTTP, on a port the browser will load."""
    port = urlsplit(url).port
    if port in CHROMIUM_UNSAFE_PORTS:
        raise EnvironmentProblem(f"pre-flight: the app URL {url} uses port {port}, which Chromium refuses to load "
                                 f"(net::ERR_UNSAFE_PORT): serve the app on another port")
    try:
        with urllib.request.urlopen(url, timeout=timeout_s or units(10)) as response:
            response.read(1)
    except urllib.error.HTTPError as exc:
        raise EnvironmentProblem(f"pre-flight: the app URL {url} answers HTTP {exc.code}: check --app-url or the "
                                 f"profile's app.url") from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise EnvironmentProblem(f"pre-flight: the app URL {url} is unreachable ({reason}): start the app "
                                 f"server, or fix --app-url / the profile's app.url") from None
