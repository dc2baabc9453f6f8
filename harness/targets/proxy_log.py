"""The proxy's log file: its output copied in bounded chunks, redacted, capped in size, kept across restarts.

Memory stays bounded whatever the proxy prints (a line of 200 MB without a newline included): the pipe is
read in chunks of ``CHUNK_BYTES``; redaction holds back at most a short carry of raw text, so that a key split
across two chunks is still whole when it is replaced; readiness is searched on the new text plus a bounded
carry of the previous text.

The file is capped: the first ``head_bytes`` of the run's output are written to it; what follows goes to an
in-memory ring of the last ``tail_bytes``. When the output ends (the process has exited, or the harness closes
the log) the file gets one line saying how much was cut, then the ring. A restart appends (the trailer is
taken off and written again at the next end), so the file never exceeds head + tail + a line.
"""

from __future__ import annotations

import codecs
import fcntl
import os
import re
import select
import struct
import termios
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from voice_harness.wire.redaction import redact, secret_spans

HEAD_BYTES = 4 * 1024 * 1024   # the start of the run's output, kept in the file
TAIL_BYTES = 1024 * 1024       # the end of the run's output, kept once the head is spent
CHUNK_BYTES = 65536            # one read from the pipe
CARRY_CHARS = 4096             # longest secret held back whole across chunks; a longer run cannot be a key
READY_CARRY_CHARS = 4096       # previous text searched again with the new, for a ready line split by a read
TAIL_READ_BYTES = 65536        # tail() looks at no more than this

_LAST_SPACE = re.compile(r"\s\S*\Z")


def split_point(text: str, carry: int = CARRY_CHARS, env: Mapping[str, str] | None = None) -> int:
    """Where text can be cut so that no secret straddles the cut once more text follows: text[:cut] can be
    redacted and written now, text[cut:] (at most 2 * carry characters) waits for the next chunk.

    Secrets hold no whitespace (but "Bearer <token>"), so the cut goes after the last whitespace, before a
    trailing "Bearer ". If the trailing run of non-whitespace is longer than carry, it cannot all be a key:
    the cut goes carry characters from the end, moved back to the start of a secret it would split."""
    n = len(text)
    match = _LAST_SPACE.search(text, max(0, n - carry - 1))
    cut = match.start() + 1 if match else max(0, n - carry)
    if match:
        before = text[max(0, cut - carry):cut]
        word = before.rstrip()
        if word[-6:].lower() == "bearer":
            cut -= len(before) - len(word) + 6
    if n - cut > carry:
        cut = n - carry
    if not 0 < cut < n:
        return cut
    # A secret straddling the cut and no longer than carry lies in this window (a wider one allows for a
    # second secret overlapping the first).
    window = max(0, cut - 2 * carry)
    spans = [(window + s, window + e) for s, e in secret_spans(text[window:], env) if e - s <= carry]
    moved = True
    while moved:  # a secret straddling the cut: cut before it
        moved = False
        for start, end in spans:
            if start < cut < end:
                cut, moved = start, True
    return cut


def char_boundary(data: bytes | bytearray, at: int) -> int:
    """The last UTF-8 character boundary at or before at (a cut there splits no character)."""
    at = min(at, len(data))
    while 0 < at < len(data) and (data[at] & 0xC0) == 0x80:
        at -= 1
    return at


def cut_line(cut: int, kept: int) -> str:
    return f"--- [proxy log: {cut} bytes cut here; the head and the last {kept} bytes are kept] ---\n"


class ProxyLog:
    """One run's log of a proxy: start() for each start of the process, copy() its output, close() at its end.

    write() and end_output() take the output in-process (the copier thread calls them; tests may too)."""

    def __init__(self, path: Path, head_bytes: int = HEAD_BYTES, tail_bytes: int = TAIL_BYTES,
                 env: Mapping[str, str] | None = None):
        self.path = Path(path)
        self.head_bytes, self.tail_bytes = head_bytes, tail_bytes
        self.env = None if env is None else dict(env)  # where redaction reads the keys (None: os.environ)
        self.ready = threading.Event()  # set once this start's output matched its ready pattern
        self.starts = 0
        self._lock = threading.Lock()
        self._file = None
        self._head_used = 0             # bytes of the head written to the file
        self._head_ends_line = True
        self._ends_line = True          # the output so far ends with a newline (a start line begins its own)
        self._cutting = False           # the head is spent: output goes to the ring
        self._ring = bytearray()
        self._cut = 0                   # bytes dropped from the ring
        self._sealed = False            # the file ends with the cut line and the ring
        self._generation = 0            # output of an earlier start's copier still running is dropped
        # Held by the copier from a read to the write of what it read, so unread() never misses bytes in between.
        self._read_lock = threading.Lock()
        self._read_fd: int | None = None  # the current start's pipe, while it is copied
        self._reset_stream(None)

    def _reset_stream(self, ready: re.Pattern | None) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._carry = ""
        self._ready_re, self._ready_window = ready, ""
        self.ready.clear()

    # ------------------------------------------------------------------------------------ the run's starts

    def start(self, command_line: str, ready: re.Pattern | str | None = None) -> int:
        """A start of the process: the first begins a fresh file, later ones append. Writes the start line;
        readiness is judged on this start's output only. Returns the start's number."""
        with self._lock:
            self._generation += 1
            self.starts += 1
            self._reset_stream(re.compile(ready) if isinstance(ready, str) else ready)
            if self.starts == 1:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "wb")
            when = datetime.now(timezone.utc).isoformat()
            line = redact(f"--- proxy start {self.starts} at {when}: {command_line}\n", self.env)
            self._emit((line if self._ends_line else "\n" + line).encode())
            return self.starts

    def copy(self, stream) -> threading.Thread:
        """A daemon thread copying stream (a pipe) into the log until its end, then closing the log."""
        generation = self._generation
        fd = stream.fileno()
        self._read_fd = fd

        def run() -> None:
            waiting = select.poll()
            waiting.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
            try:
                while True:
                    waiting.poll()   # blocks until there is output or the pipe's end; the lock is free meanwhile
                    with self._read_lock:
                        data = os.read(fd, CHUNK_BYTES)
                        if data:
                            self.write(data, generation)
                    if not data:
                        break
            except OSError:
                pass
            finally:
                with self._read_lock:
                    if self._read_fd == fd:
                        self._read_fd = None
                    stream.close()
                self.end_output(generation)

        thread = threading.Thread(target=run, name="proxy-log", daemon=True)
        thread.start()
        return thread

    # ------------------------------------------------------------------------------------------ the output

    def write(self, data: bytes, generation: int | None = None) -> None:
        """Take a chunk of the process's output."""
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            self._take(self._decoder.decode(data), final=False)

    def end_output(self, generation: int | None = None) -> None:
        """The output has ended: what was held back is written, then the log is closed."""
        with self._lock:
            if generation is not None and generation != self._generation:
                return
            self._take(self._decoder.decode(b"", final=True), final=True)
            self._seal()

    def close(self) -> None:
        """Write what was cut and the kept tail to the file and let go of it (a later start reopens it)."""
        with self._lock:
            self._seal()

    def _take(self, text: str, final: bool) -> None:
        became_ready = False
        if self._ready_re is not None and not self.ready.is_set():
            window = self._ready_window + text
            became_ready = bool(self._ready_re.search(window))
            self._ready_window = window[-READY_CARRY_CHARS:]
        text = self._carry + text
        cut = len(text) if final else split_point(text, CARRY_CHARS, self.env)
        self._carry = text[cut:]
        if cut:
            self._emit(redact(text[:cut], self.env).encode())
        if became_ready:  # only once the text that made it ready is in the file: a reader of the log sees it
            self.ready.set()

    def _emit(self, data: bytes) -> None:
        """Append redacted bytes: to the file while the head has room, then to the ring."""
        if data:
            self._ends_line = data.endswith(b"\n")
        if self._file is None:
            self._file = open(self.path, "r+b" if self.path.exists() else "wb")
            self._file.seek(0, 2)
        if self._sealed:
            self._file.seek(self._head_used)
            self._file.truncate()
            self._sealed = False
        if not self._cutting:
            room = char_boundary(data, self.head_bytes - self._head_used)
            if room < len(data):
                self._cutting = True
            if room:
                self._file.write(data[:room])
                self._head_used += room
                self._head_ends_line = data[room - 1:room] == b"\n"
            data = data[room:]
        if data:
            self._ring += data
            excess = len(self._ring) - self.tail_bytes
            if excess > 0:
                del self._ring[:excess]
                self._cut += excess
        self._file.flush()

    def _seal(self) -> None:
        if self._file is None:
            return
        if self._cutting and not self._sealed:
            self._file.seek(self._head_used)
            self._file.truncate()
            start = _next_char(self._ring) if self._cut else 0
            if self._cut:
                line = cut_line(self._cut + start, len(self._ring) - start)
                self._file.write((line if self._head_ends_line else "\n" + line).encode())
            self._file.write(self._ring[start:])
            self._sealed = True
        self._file.close()
        self._file = None

    # ---------------------------------------------------------------------------------------- reading back

    def unread(self) -> int:
        """Bytes of output still in the pipe, not yet in the log (0 once the copier has taken everything written
        so far, or when nothing is copied). A dead server's last words are in the log once this is 0."""
        with self._read_lock:
            if self._read_fd is None:
                return 0
            try:
                return struct.unpack("i", fcntl.ioctl(self._read_fd, termios.FIONREAD, b"\0" * 4))[0]
            except OSError:
                return 0

    def tail(self, lines: int = 20) -> list[str]:
        """The last non-blank lines of the log, read from at most TAIL_READ_BYTES of it."""
        with self._lock:
            data = bytes(self._ring[-TAIL_READ_BYTES:])
            if len(data) < TAIL_READ_BYTES and not self._cut:
                want = min(TAIL_READ_BYTES - len(data), self._head_used)
                try:
                    with open(self.path, "rb") as log:
                        log.seek(self._head_used - want)
                        data = log.read(want) + data
                except OSError:
                    pass
        text = data.decode("utf-8", errors="replace")
        return [line for line in text.splitlines() if line.strip()][-lines:] if lines > 0 else []


def _next_char(data: bytearray) -> int:
    """The offset of the first character that starts in data (the ring may begin inside one)."""
    at = 0
    while at < len(data) and (data[at] & 0xC0) == 0x80:
        at += 1
    return at
