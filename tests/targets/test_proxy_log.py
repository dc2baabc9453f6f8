"""The proxy's log in-process: bounded in memory and on disk, redacted across chunk boundaries, ready-aware."""

import re
import secrets
import threading
import tracemalloc

from voice_harness.targets.proxy_log import CARRY_CHARS, CHUNK_BYTES, ProxyLog, split_point
from voice_harness.wire.redaction import redact

# Made at run time: no key-like string is committed.
KEY = "sk-" + secrets.token_hex(16)
ENV_KEY = secrets.token_hex(10)
ENV = {"OPENAI_API_KEY": ENV_KEY, "SHORT_API_KEY": "k3y"}
CUT_LINE = re.compile(r"--- \[proxy log: (\d+) bytes cut here; the head and the last (\d+) bytes are kept\] ---")


def fed(tmp_path, *chunks: bytes, head: int = 1 << 20, tail: int = 1 << 20, env=ENV) -> str:
    log = ProxyLog(tmp_path / "proxy.log", head, tail, env=env)
    log.start("proxy --port 1")
    for chunk in chunks:
        log.write(chunk)
    log.end_output()
    return log.path.read_text()


def body(text: str) -> str:
    """The log without its start line."""
    return text.split("\n", 1)[1]


TEXT = (f"starting\nkey {KEY} loaded\nAuthorization: Bearer {ENV_KEY[:12]}\nenv key={ENV_KEY};\n"
        f"short k3y and k3yboard\nbearer\n  tok-en\n{'é' * 5}\ndone")


def test_a_secret_split_across_two_reads_is_redacted_as_if_read_whole(tmp_path):
    data, whole = TEXT.encode(), redact(TEXT, ENV)
    for at in range(len(data) + 1):
        assert body(fed(tmp_path, data[:at], data[at:])) == whole, f"split at byte {at}"


def test_the_redacted_text_has_no_secret_left():
    whole = redact(TEXT, ENV)
    assert KEY not in whole and ENV_KEY not in whole and ENV_KEY[:12] not in whole and " k3y " not in whole


def test_a_key_split_inside_a_long_run_without_whitespace_is_redacted(tmp_path):
    run = "x" * 10_000 + f'"api_key":"{KEY}"' + "y" * 10_000
    data = run.encode()
    for at in (10_005, 10_015, 10_020 + len(KEY) // 2):
        assert KEY not in fed(tmp_path, data[:at], data[at:])


def test_split_point_keeps_back_only_what_may_be_an_unfinished_secret():
    assert split_point("a whole line\n") == len("a whole line\n")
    assert split_point("partial wor") == len("partial ")
    assert split_point("Authorization: Bearer ") == len("Authorization: ")
    long_run = "z" * (3 * CARRY_CHARS)
    assert split_point(long_run) == len(long_run) - CARRY_CHARS


def test_a_character_split_across_two_reads_survives(tmp_path):
    data = "naïve café\n".encode()
    assert body(fed(tmp_path, data[:3], data[3:12], data[12:])) == "naïve café\n"


def test_output_past_the_head_is_cut_to_the_tail_with_one_line_saying_so(tmp_path):
    payload = b"H" * 900 + b"M" * 100_000 + b"T" * 300 + b"\nlast line\n"
    text = fed(tmp_path, *[payload[i:i + 4096] for i in range(0, len(payload), 4096)], head=1000, tail=500)
    assert len(text.encode()) <= 1000 + 500 + 120
    head, cut, kept, tail = re.split(r"\n?" + CUT_LINE.pattern + r"\n", text)
    assert head.startswith("--- proxy start 1 at ") and "H" * 900 + "M" in head and len(head.encode()) == 1000
    assert tail.endswith("T" * 300 + "\nlast line\n") and len(tail.encode()) == int(kept) == 500
    start_line = len(text.split("\n", 1)[0]) + 1
    assert int(cut) == start_line + len(payload) - 1000 - 500


def test_memory_stays_bounded_however_much_arrives_without_a_newline(tmp_path):
    log = ProxyLog(tmp_path / "proxy.log", env={})  # the default caps: 4 MiB head, 1 MiB tail
    chunk = b"x" * CHUNK_BYTES
    tracemalloc.start()
    try:
        log.start("proxy")
        for _ in range(50 * 1024 * 1024 // CHUNK_BYTES):  # 50 MiB
            log.write(chunk)
        log.write(b"\nready\n")
        log.end_output()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 6 * 1024 * 1024, f"peak {peak} bytes"
    size = log.path.stat().st_size
    assert 5 * 1024 * 1024 < size < 5 * 1024 * 1024 + 1024
    assert CUT_LINE.search(log.path.read_text()) and log.tail(1) == ["ready"]


def test_readiness_is_seen_after_the_head_is_spent_and_across_a_read(tmp_path):
    log = ProxyLog(tmp_path / "proxy.log", 256, 256, env={})
    log.start("proxy", re.compile("listening on port \\d+"))
    for _ in range(100):
        log.write(b"noise " * 100)
    assert not log.ready.is_set()
    log.write(b"\nlistening on po")
    assert not log.ready.is_set()
    log.write(b"rt 8080\n")
    assert log.ready.is_set()


def test_readiness_is_announced_only_once_the_lines_before_it_are_in_the_file(tmp_path):
    seen = []
    log = ProxyLog(tmp_path / "proxy.log", env={})

    class Recording(threading.Event):
        def set(self):
            seen.append(log.path.read_text())
            super().set()

    log.start("proxy", "ready")
    log.ready = Recording()
    log.write(b"child pid 41\nready\n")
    assert log.ready.is_set() and "child pid 41\nready\n" in seen[0]


def test_a_restart_appends_and_the_file_stays_capped(tmp_path):
    log = ProxyLog(tmp_path / "proxy.log", 1000, 500, env={})
    log.start("proxy one")
    log.write(b"first life\n" + b"a" * 5000 + b"\ncrashed: segfault\n")
    log.end_output()
    assert log.path.read_text().endswith("crashed: segfault\n")
    log.start("proxy two", "ready")
    assert not log.ready.is_set()
    log.write(b"second life: ready\n")
    log.end_output()
    text = log.path.read_text()
    assert len(text.encode()) <= 1000 + 500 + 120
    assert len(CUT_LINE.findall(text)) == 1
    assert text.startswith("--- proxy start 1 at ") and "first life" in text
    assert "crashed: segfault\n--- proxy start 2 at " in text and text.endswith("second life: ready\n")
    assert log.ready.is_set()


def test_a_start_line_begins_a_line_of_its_own(tmp_path):
    log = ProxyLog(tmp_path / "proxy.log", env={})
    log.start("proxy one")
    log.write(b"no newline at the end")
    log.end_output()
    log.start("proxy two")
    assert "no newline at the end\n--- proxy start 2 at " in log.path.read_text()


def test_tail_gives_the_last_lines_from_the_file_or_the_kept_tail(tmp_path):
    log = ProxyLog(tmp_path / "proxy.log", 10_000, 1000, env={})
    log.start("proxy")
    log.write(b"".join(b"line %d\n" % i for i in range(100)))
    assert log.tail(2) == ["line 98", "line 99"]  # still within the head: read from the file
    log.write(b"".join(b"line %d\n" % i for i in range(100, 3000)))
    assert log.tail(3) == ["line 2997", "line 2998", "line 2999"]  # past the head: from memory


def test_the_first_start_begins_a_fresh_file(tmp_path):
    (tmp_path / "proxy.log").write_text("an earlier run\n")
    assert "an earlier run" not in fed(tmp_path, b"hello\n")



def test_unread_is_zero_only_once_what_is_in_the_pipe_is_in_the_log(tmp_path):
    """A dead server's last words: once unread() says 0, the tail has them (the harness reads it then). The
    copier reads and writes under the lock unread() takes, so no chunk is between the pipe and the log then."""
    import os
    import time
    log = ProxyLog(tmp_path / "proxy.log", env=ENV)
    log.start("proxy --port 1")
    reader, writer = os.pipe()
    try:
        log.copy(os.fdopen(reader, "rb", buffering=0))
        for round_ in range(20):
            os.write(writer, b"".join(f"round {round_} line {n}\n".encode() for n in range(200)))
            deadline = time.monotonic() + 10
            while log.unread() != 0:
                assert time.monotonic() < deadline
                time.sleep(0.001)
            assert log.tail(1) == [f"round {round_} line 199"]
    finally:
        os.close(writer)
