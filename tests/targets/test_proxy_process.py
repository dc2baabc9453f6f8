"""The proxy subprocess's log: every start of a run is kept, each under a header, with no secret in it."""

import re
import secrets
import signal
import socket
import sys
import time
import tracemalloc

import pytest

from voice_harness.errors import EnvironmentProblem
from voice_harness.judging.attribution import Unreached
from voice_harness.targets.proxy_log import HEAD_BYTES, TAIL_BYTES
from voice_harness.targets.proxy_process import ProxyProcess, free_port

# Made at run time: no key-like string is committed, and redaction cannot rely on a fixed value.
SECRET = "sk-" + secrets.token_hex(12)


def make_proxy(tmp_path, script: str, ready_timeout_s: float = 10) -> ProxyProcess:
    argv = [sys.executable, "-c", script, "--api-key", SECRET]
    return ProxyProcess(argv, {}, tmp_path / "logs" / "proxy.log", free_port(), "ready", ready_timeout_s)


def test_a_restart_appends_to_the_log_under_a_header_of_its_own(tmp_path):
    proxy = make_proxy(tmp_path, "print('first life; ready', flush=True); import time; time.sleep(60)")
    proxy.start()
    proxy.stop()
    proxy.argv[2] = "print('second life; ready', flush=True); import time; time.sleep(60)"
    proxy.start()
    proxy.stop()
    lines = proxy.log_path.read_text().splitlines()
    headers = [line for line in lines if line.startswith("--- proxy start ")]
    assert [h.split(" at ")[0] for h in headers] == ["--- proxy start 1", "--- proxy start 2"]
    assert lines.index(headers[0]) < lines.index("first life; ready") < lines.index(headers[1]) < \
        lines.index("second life; ready")
    assert SECRET not in proxy.log_path.read_text() and "sk-[redacted]" in headers[0]


def test_readiness_after_a_restart_is_judged_on_the_new_start_only(tmp_path):
    proxy = make_proxy(tmp_path, "print('ready', flush=True); import time; time.sleep(60)")
    proxy.start()
    proxy.stop()
    proxy.argv[2] = "import time; time.sleep(60)"  # never says it is ready
    proxy.ready_timeout_s = 0.5
    with pytest.raises(EnvironmentProblem, match="not ready"):
        proxy.start()
    assert proxy.log_path.read_text().count("--- proxy start ") == 2


def test_a_new_run_starts_a_fresh_log(tmp_path):
    proxy = make_proxy(tmp_path, "print('ready', flush=True); import time; time.sleep(60)")
    proxy.log_path.parent.mkdir(parents=True)
    proxy.log_path.write_text("old run\n")
    proxy.start()
    proxy.stop()
    assert "old run" not in proxy.log_path.read_text()


# ----------------------------------------------------------------------------- bounded log, restarts, exits

CUT_LINE = re.compile(r"--- \[proxy log: (\d+) bytes cut here; the head and the last (\d+) bytes are kept\] ---")


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def alive(pid: int) -> bool:
    """Whether pid runs (a zombie left for its reaper does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_a_huge_line_without_a_newline_is_cut_and_memory_stays_bounded(tmp_path):
    script = ("import sys; out = sys.stdout.buffer; out.write(b'HEAD' + b'x' * (50 * 1024 * 1024)); "
              "out.write(b'TAIL\\nready\\n'); out.flush(); import time; time.sleep(60)")
    proxy = make_proxy(tmp_path, script, ready_timeout_s=60)
    tracemalloc.start()
    try:
        proxy.start()
        proxy.stop()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"the copier peaked at {peak} bytes"
    data = proxy.log_path.read_bytes()
    assert len(data) <= HEAD_BYTES + TAIL_BYTES + 1024
    text = data.decode()
    cut = CUT_LINE.search(text)
    assert cut and int(cut[2]) == TAIL_BYTES
    assert text.startswith("--- proxy start 1 at ") and "\nHEADxxx" in text[:HEAD_BYTES]
    assert text.endswith("xxxTAIL\nready\n") and proxy.log_tail(1) == "ready"


def test_ready_log_is_seen_after_the_head_budget_is_spent(tmp_path):
    script = ("import time; [print('noise line', i) for i in range(20000)]; print('ready', flush=True); "
              "time.sleep(60)")
    argv = [sys.executable, "-c", script]
    # The whole line: readiness is seen on the output as it arrives, the log may still hold back its end.
    proxy = ProxyProcess(argv, {}, tmp_path / "proxy.log", free_port(), "(?m)^ready\n", 20,
                         log_head_bytes=2048, log_tail_bytes=1024)
    proxy.start()
    assert proxy.log_path.stat().st_size <= 2048  # the proxy still runs: the file holds the head only
    assert proxy.log_tail(1) == "ready"
    proxy.stop()
    text = proxy.log_path.read_text()
    assert CUT_LINE.search(text) and text.endswith("noise line 19999\nready\n")
    assert len(text.encode()) <= 2048 + 1024 + 120


CRASHING = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                          "print('child up', flush=True); time.sleep(120)"], stdout=subprocess.PIPE, text=True)
child.stdout.readline()
print('child pid', child.pid, flush=True)
print('ready', flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
print('first life: crashing', flush=True)
sys.exit(3)
"""


def test_a_restart_after_a_crash_ends_the_old_group_and_keeps_the_crash_in_the_log(tmp_path):
    trigger = tmp_path / "crash-now"
    argv = [sys.executable, "-c", CRASHING, str(trigger)]
    proxy = ProxyProcess(argv, {}, tmp_path / "proxy.log", free_port(), "ready", 20)
    proxy.stop_grace_s = 0.5  # the child ignores TERM: it takes a KILL after this
    assert proxy.death() is None
    proxy.start()
    assert proxy.death() is None and proxy.exit_code is None
    child = int(re.search(r"child pid (\d+)", proxy.log_path.read_text())[1])
    assert alive(child)
    trigger.touch()
    assert wait_for(lambda: proxy.exit_code is not None)
    assert proxy.exit_code == 3
    # Its child lives on in the group, but nothing listens on its port any more.
    assert re.fullmatch(r"the proxy process exited with code 3 at \d+\.\d s after its start", proxy.death())
    assert alive(child)  # the crash left its child behind, in the proxy's process group
    proxy.argv = [sys.executable, "-c", "print('second life: ready', flush=True); import time; time.sleep(60)"]
    proxy.start()
    try:
        assert not alive(child)
        assert proxy.death() is None
        text = proxy.log_path.read_text()
        assert text.count("--- proxy start ") == 2
        assert text.index("child pid") < text.index("first life: crashing") < \
            text.index("--- proxy start 2") < text.index("second life: ready")
    finally:
        proxy.stop()
    assert proxy.death() is None   # the harness asked it to stop


def test_stop_ends_children_that_ignore_term_while_the_leader_runs(tmp_path):
    script = ("import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', "
              "'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); "
              "time.sleep(120)'], stdout=subprocess.PIPE); c.stdout.readline(); print('child pid', c.pid); "
              "print('ready', flush=True); time.sleep(120)")
    proxy = make_proxy(tmp_path, script)
    proxy.start()
    child = int(re.search(r"child pid (\d+)", proxy.log_path.read_text())[1])
    proxy.stop(grace_s=0.5)
    assert not alive(child) and not proxy.running


def test_a_death_names_the_signal_that_killed_the_proxy(tmp_path):
    trigger = tmp_path / "die-now"
    script = ("import os, signal, sys, time; print('ready', flush=True)\n"
              "while not os.path.exists(sys.argv[1]): time.sleep(0.01)\n"
              "os.kill(os.getpid(), signal.SIGUSR1)")
    proxy = ProxyProcess([sys.executable, "-c", script, str(trigger)], {}, tmp_path / "proxy.log", free_port(),
                         "ready", 20)
    proxy.start()
    trigger.touch()
    assert wait_for(lambda: not proxy.running)
    assert proxy.exit_code == -signal.SIGUSR1
    assert re.fullmatch(r"the proxy process was killed by signal SIGUSR1 \(10\) at \d+\.\d s after its start",
                        proxy.death())
    proxy.stop()


def test_a_proxy_that_exits_during_start_up_is_named_with_its_code_and_last_words(tmp_path):
    proxy = make_proxy(tmp_path, "import sys; print('boom: cannot bind'); sys.exit(3)")
    with pytest.raises(EnvironmentProblem, match="the proxy exited with code 3 during start-up.*boom: cannot bind"):
        proxy.start()


# ----------------------------------------------------------------------------- a server started through a launcher

SERVER = """
import os, socket, sys, time
listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[2] + ".listening", "w").close()
print("server pid", os.getpid(), flush=True)
while not os.path.exists(sys.argv[2]):
    time.sleep(0.01)
print("server: dying with code 7", flush=True)
os._exit(7)
"""


def launched(tmp_path, launcher: str, ready_log: str | None = None, server: str = SERVER) -> tuple[ProxyProcess, "Path"]:
    """The SERVER above started by `bash -c LAUNCHER`, where {server} stands for its command and {listening} for
    a file it makes once it listens; ready on its port (or on ready_log). Touching the returned file makes the
    server exit 7."""
    script, trigger = tmp_path / "server.py", tmp_path / "die-now"
    script.write_text(server)
    port = free_port()
    command = launcher.format(server=f"{sys.executable} {script} {port} {trigger}", listening=f"{trigger}.listening")
    return ProxyProcess(["bash", "-c", command], {}, tmp_path / "proxy.log", port, ready_log, 20), trigger


def test_a_server_dead_under_a_lingering_launcher_is_seen_dead_and_said_so(tmp_path):
    proxy, trigger = launched(tmp_path, "{server}; sleep 60; exit 3")
    proxy.start()
    try:
        assert proxy.running and proxy.death() is None
        launcher = proxy.sighting().launcher_pid
        trigger.touch()
        assert wait_for(lambda: not proxy.running)
        assert proxy.exit_code is None   # the launcher lingers: no status from it
        why = proxy.death()
        assert re.fullmatch(rf"the proxy's server stopped accepting connections on port {proxy.port}; its launcher "
                            rf"\(pid {launcher}, bash\) is still running, so the server's exit status is not known",
                            why)
        assert proxy.death(Unreached(refused_at=0.5)) == why   # the first sighting of a death stands
        assert "server: dying with code 7" in proxy.log_tail(3)
        proxy.argv = [sys.executable, "-c", "print('second life: ready', flush=True); import time; time.sleep(60)"]
        proxy.ready_log = re.compile("ready")
        proxy.start()   # the lingering launcher goes with its group
        assert not alive(launcher) and proxy.death() is None
    finally:
        proxy.stop()


def test_a_launcher_that_follows_its_server_out_gives_the_servers_status(tmp_path):
    proxy, trigger = launched(tmp_path, "{server}; code=$?; sleep 0.2; exit $code")   # as npx and tsx do
    proxy.start()
    try:
        trigger.touch()
        assert wait_for(lambda: not proxy.running)
        assert re.fullmatch(r"the proxy process exited with code 7 at \d+\.\d s after its start", proxy.death())
    finally:
        proxy.stop()


def test_a_launcher_that_exits_while_its_server_serves_is_no_death(tmp_path):
    # Puts its server in the background, and exits once it listens.
    proxy, trigger = launched(tmp_path, "{server} & until [ -e {listening} ]; do sleep 0.01; done")
    proxy.start()
    try:
        assert wait_for(lambda: proxy.exit_code == 0)
        assert proxy.running and proxy.death() is None
        trigger.touch()
        assert wait_for(lambda: not proxy.running)
        # Seen while the exiting server still counts as a process, or once it is gone: both are so.
        assert re.fullmatch(rf"the proxy's server (stopped accepting connections on port {proxy.port}|is gone: no "
                            rf"process of its group is left); its launcher \(pid {proxy.sighting().launcher_pid}, "
                            rf"bash\) had exited \(code 0\) while the server went on serving, so the server's exit "
                            rf"status is not known", proxy.death())
    finally:
        proxy.stop()


def test_a_stopped_proxy_is_no_death(tmp_path):
    proxy, _ = launched(tmp_path, "{server}; sleep 60")
    proxy.start()
    proxy.stop(grace_s=2)
    assert not proxy.running and proxy.death() is None


def test_a_server_with_a_ready_line_dead_under_a_lingering_launcher_is_charged_once_and_started_again(tmp_path):
    # Ready on its log line (as profiles/command.toml is): no connect ever reached the port before the death, yet
    # a refusal after readiness is the server's death, seen once: the proxy is not running and starts afresh.
    proxy, trigger = launched(tmp_path, "{server}; sleep 30", ready_log="server pid")
    proxy.start()
    try:
        assert wait_for(lambda: re.search(r"server pid (\d+)\n", proxy.log_path.read_text()))
        server = int(re.search(r"server pid (\d+)\n", proxy.log_path.read_text())[1])
        trigger.touch()
        assert wait_for(lambda: not alive(server))
        why = proxy.death(Unreached(refused_at=1.0))
        launcher = proxy.sighting().launcher_pid
        assert why.startswith(f"the proxy's server stopped accepting connections on port {proxy.port} (first "
                              f"refused connection 1.0 s into the test); its launcher (pid {launcher}, bash)"), why
        assert not proxy.running and proxy.death() == why
        trigger.unlink()
        proxy.start()
        assert proxy.running and proxy.death() is None and not alive(launcher)
    finally:
        proxy.stop()


def test_stopping_a_proxy_whose_launcher_already_exited_is_no_death(tmp_path):
    # `bash -c "server & exit 0"`: the launcher is gone before the harness stops what it left in its group.
    proxy, _ = launched(tmp_path, "{server} & exit 0")
    proxy.start()
    assert wait_for(lambda: proxy.exit_code == 0) and proxy.running
    proxy.stop(grace_s=2)
    assert not proxy.running and proxy.death() is None


def test_a_reset_connection_to_a_server_that_serves_is_no_death(tmp_path):
    # A proxy may reject an upgrade with a TCP reset; a port that then accepts says the server lives.
    proxy, _ = launched(tmp_path, "{server}; sleep 30")
    proxy.start()
    try:
        assert proxy.death(Unreached(reset_at=0.3)) is None and proxy.running
    finally:
        proxy.stop()


COUNTING = """
import socket, sys
listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
print("listening", flush=True)
while True:
    connection, peer = listener.accept()
    print("connection from", peer[1], flush=True)
    connection.close()
"""


def test_the_port_is_probed_only_on_evidence_of_a_death(tmp_path):
    """A serving proxy sees no connection from the death checks: only one a test could not make earns a probe."""
    proxy, _ = launched(tmp_path, "{server}; sleep 30", ready_log="listening", server=COUNTING)
    proxy.start()

    def connections_before_one_of_ours() -> int:
        """How many connections the server accepted before one of ours (it accepts them in turn)."""
        with socket.create_connection((proxy.host, proxy.port)) as ours:
            mine = f"connection from {ours.getsockname()[1]}\n"
        assert wait_for(lambda: mine in proxy.log_path.read_text()), proxy.log_path.read_text()
        text = proxy.log_path.read_text()
        return text[:text.index(mine)].count("connection from ")

    try:
        before = connections_before_one_of_ours()
        for _ in range(3):   # what the harness asks around each test
            assert proxy.running and proxy.death() is None
        assert connections_before_one_of_ours() == before + 1          # our previous one only
        assert proxy.death(Unreached(reset_at=0.2)) is None
        assert connections_before_one_of_ours() == before + 1 + 1 + 1  # ours, the probe the reset earned, ours
    finally:
        proxy.stop()
