"""What the end-to-end tests share: a harness run in a subprocess, its verdicts, processes in the background.
(tests/ is on sys.path: its conftest.py sits in a folder without __init__.py.)"""

import asyncio
import json
import threading
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def harness_run(reports: Path, *args: str, env: dict | None = None, without: tuple[str, ...] = (),
                cwd: Path = ROOT) -> tuple[subprocess.CompletedProcess, dict]:
    """`voice-harness run` with its reports in `reports`, run in cwd; env added to this process's, `without`
    taken out."""
    environment = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in without}
    done = subprocess.run([sys.executable, "-m", "voice_harness", "run", "--reports-dir", str(reports), *args],
                          cwd=cwd, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
                          env=environment)
    path = reports / "conformance.json"
    assert path.is_file(), done.stdout[-3000:] + done.stderr[-2000:]
    return done, json.loads(path.read_text())["requirements"]


def verdicts(record, *ids):
    return {rid: record[rid]["verdict"] for rid in ids}


class Background:
    """A process of this test, in its own group, ended with the test."""

    def __init__(self, argv, ready: str, env=None):
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True, env={**os.environ, **(env or {})})
        for line in self.proc.stderr:  # bounded: the process prints its ready line or exits
            if ready in line:
                return
        raise AssertionError(f"{argv} exited with {self.proc.wait()}")

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(10)


# A user message item as a proxy sends it upstream, and the next server event of a type, for tests that talk to the
# mock upstream directly.
USER_ITEM = {"type": "conversation.item.create", "item": {
    "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}}


async def next_event(ws, wanted: str, timeout_s: float = 5) -> dict:
    async with asyncio.timeout(timeout_s):
        while True:
            event = json.loads(await ws.recv())
            if event["type"] == wanted:
                return event


def run_async(coroutine):
    """asyncio.run in a thread of its own: a test may run after one that left an event loop running in this
    thread (Playwright's sync API keeps one for the session), where asyncio.run refuses to start."""
    result: dict = {}

    def target():
        try:
            result["value"] = asyncio.run(coroutine)
        except BaseException as exc:   # handed to the test's thread below
            result["error"] = exc

    thread = threading.Thread(target=target, name="test-loop")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def served_page(folder: Path, html: str):
    """A one-page site (index.html) served from `folder` on loopback: yields its URL, then stops serving."""
    from voice_harness.targets.static_server import StaticServer

    (folder / "index.html").write_text(html)
    server = StaticServer(folder)
    try:
        yield server.url
    finally:
        server.stop()
