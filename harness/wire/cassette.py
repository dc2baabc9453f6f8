"""Cassettes: one test's upstream session (leg B) as recorded against a real service, in JSON lines.

The first line is a header (harness version, test, model, date, scenario, the test's verdict); each later line
is one thing that happened on a connection, at `t` seconds after the test's first upstream connection opened:

    {"t": 0.0,   "conn": 1, "open": {"path": "/v1/realtime?model=gpt-realtime"}}
    {"t": 0.004, "conn": 1, "from": "client", "event": {"type": "session.update", ...}}
    {"t": 0.31,  "conn": 1, "from": "server", "event": {"type": "session.updated", ...}}
    {"t": 3.1,   "conn": 1, "close": {"code": 1000, "reason": "", "by": "server"}}

Connections are numbered from 1 in the order they opened. Binary frames (the Realtime API sends none) are kept
as {"binary": base64}. What goes in is already redacted (the recorder redacts every frame); the header and the
paths are redacted again here. Pure: no sockets, no pytest.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from voice_harness.wire.recording import PROXY_TO_UPSTREAM, UPSTREAM_LEG, Frame
from voice_harness.wire.redaction import redact, redact_parsed

FORMAT = 1
SUFFIX = ".jsonl"
CLIENT, SERVER = "client", "server"


class CassetteError(ValueError):
    """A file that is not a cassette of this format (named with the line that is wrong)."""


@dataclass
class Entry:
    t: float
    source: str                       # client | server
    event: dict | None = None         # a text frame's JSON (None for binary or non-JSON text)
    binary: bytes | None = None
    text: str | None = None           # a text frame that was not JSON

    @property
    def type(self) -> str | None:
        return self.event.get("type") if isinstance(self.event, dict) else None


@dataclass
class Connection:
    number: int
    opened: float
    path: str = ""
    entries: list[Entry] = field(default_factory=list)
    close: dict | None = None         # {"t", "code", "reason", "by": client|server}

    def client_events(self) -> list[Entry]:
        return [e for e in self.entries if e.source == CLIENT]


@dataclass
class Cassette:
    header: dict
    connections: list[Connection]
    path: Path | None = None

    @property
    def test(self) -> str:
        return self.header.get("test", "")


def model_of(path: str) -> str | None:
    """The model a Realtime URL's query names (?model=...)."""
    values = parse_qs(urlsplit(path).query).get("model")
    return values[0] if values else None


def from_frames(frames: list[Frame], opened: dict[int, tuple[float, str]], header: dict) -> Cassette:
    """A cassette from a test's leg-B frames. opened: conn -> (monotonic time it opened, request path), as the
    tap saw it; a connection missing there opened at its first frame."""
    legs = [f for f in frames if f.leg == UPSTREAM_LEG]
    conns = sorted({f.conn for f in legs}, key=lambda c: opened.get(c, (min(f.t for f in legs if f.conn == c),))[0])
    if not conns:
        return Cassette(dict(header), [])
    origin = min(opened.get(c, (min(f.t for f in legs if f.conn == c), ""))[0] for c in conns)
    connections = []
    for number, conn in enumerate(conns, 1):
        at, path = opened.get(conn, (min(f.t for f in legs if f.conn == conn), ""))
        connection = Connection(number, round(at - origin, 6), redact(path))
        for frame in (f for f in legs if f.conn == conn):
            t = round(frame.t - origin, 6)
            source = CLIENT if frame.route == PROXY_TO_UPSTREAM else SERVER
            if frame.kind == "close":
                if connection.close is None:
                    connection.close = {"t": t, "code": frame.data.get("code"),
                                        "reason": frame.data.get("reason") or "", "by": source}
            elif frame.kind == "binary":
                connection.entries.append(Entry(t, source, binary=bytes(frame.data)))
            elif frame.kind == "text":
                if isinstance(frame.data, dict):
                    connection.entries.append(Entry(t, source, event=frame.data))
                else:
                    connection.entries.append(Entry(t, source, text=frame.preview or ""))
        connections.append(connection)
    model = next((model_of(c.path) for c in connections if model_of(c.path)), None)
    full = {"cassette": FORMAT, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "model": model,
            **header}
    return Cassette(redact_parsed(full, json.dumps(full)), connections)


def lines(cassette: Cassette) -> list[dict]:
    """The cassette as the JSON objects of its lines, in time order within each connection."""
    out: list[dict] = [cassette.header]
    for c in cassette.connections:
        out.append({"t": c.opened, "conn": c.number, "open": {"path": c.path}})
        for e in c.entries:
            record: dict = {"t": e.t, "conn": c.number, "from": e.source}
            if e.event is not None:
                record["event"] = e.event
            elif e.binary is not None:
                record["binary"] = base64.b64encode(e.binary).decode()
            else:
                record["text"] = e.text or ""
            out.append(record)
        if c.close is not None:
            out.append({"t": c.close["t"], "conn": c.number,
                        "close": {k: v for k, v in c.close.items() if k != "t"}})
    return out


def write(path: Path, cassette: Cassette) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(record, separators=(",", ":")) + "\n" for record in lines(cassette)))
    return path


def load(path: Path) -> Cassette:
    """Read a cassette; CassetteError names the file and line of anything malformed."""
    records = _records(Path(path), _text(Path(path)))
    if not records or records[0][1].get("cassette") != FORMAT:
        raise CassetteError(f"{path}:1: not a cassette (the first line must be a header with \"cassette\": {FORMAT})")
    header, connections = records[0][1], {}
    if not isinstance(header.get("test", ""), str):
        raise CassetteError(f"{path}:{records[0][0]}: the header's \"test\" is not a string")
    for number, record in records[1:]:
        _add(connections, record, f"{path}:{number}")
    return Cassette(header, [connections[k] for k in sorted(connections)], Path(path))


def _text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CassetteError(f"{path}: cannot be read: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise CassetteError(f"{path}:{line}: not UTF-8 text") from None


def _records(path: Path, text: str) -> list[tuple[int, dict]]:
    """(line number, JSON object) of every line that is not blank."""
    records = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            raise CassetteError(f"{path}:{number}: not JSON") from None
        if not isinstance(record, dict):
            raise CassetteError(f"{path}:{number}: not a JSON object")
        records.append((number, record))
    return records


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _add(connections: dict[int, Connection], record: dict, where: str) -> None:
    """One line after the header into connections (by number); where: "file:line" for errors."""
    conn, t = record.get("conn"), record.get("t")
    if not (_number(t) and _number(conn) and conn == int(conn)):
        raise CassetteError(f"{where}: a line needs a numeric \"t\" and a whole-number \"conn\"")
    conn, t = int(conn), float(t)
    if "open" in record:
        if conn in connections:
            raise CassetteError(f"{where}: connection {conn} is opened twice")
        connections[conn] = Connection(conn, t, str(_object(record, "open", where).get("path", "")))
        return
    connection = connections.get(conn)
    if connection is None:
        raise CassetteError(f"{where}: connection {conn} is used before its \"open\" line")
    if "close" in record:
        close = _object(record, "close", where)
        connection.close = {"t": t, "code": close.get("code"), "reason": close.get("reason", ""),
                            "by": close.get("by", SERVER)}
    elif record.get("from") in (CLIENT, SERVER):
        connection.entries.append(_entry(record, t, where))
    else:
        raise CassetteError(f"{where}: a line is an open, a close, or a frame from client or server")


def _object(record: dict, key: str, where: str) -> dict:
    if not isinstance(record[key], dict):
        raise CassetteError(f"{where}: \"{key}\" must be a JSON object")
    return record[key]


def _entry(record: dict, t: float, where: str) -> Entry:
    source = record["from"]
    if "event" in record:
        return Entry(t, source, event=_object(record, "event", where))
    if "binary" in record:
        try:
            data = base64.b64decode(record["binary"].encode("ascii"), validate=True)
        except (AttributeError, ValueError):
            raise CassetteError(f"{where}: \"binary\" is not base64") from None
        return Entry(t, source, binary=data)
    return Entry(t, source, text=str(record.get("text", "")))


def load_all(path: Path) -> dict[str, Cassette]:
    """The cassettes of a file or a folder (its *.jsonl), by the test each recorded; two cassettes of one test are
    an error (which one to play would be a guess)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob(f"*{SUFFIX}"))
        if not files:
            raise CassetteError(f"{path}: no cassettes (*{SUFFIX}) in this folder")
    elif path.is_file():
        files = [path]
    else:
        raise CassetteError(f"{path}: no such file or folder")
    found: dict[str, Cassette] = {}
    for file in files:
        cassette = load(file)
        test = cassette.test or file.stem
        if test in found:
            raise CassetteError(f"{found[test].path} and {file}: both are cassettes of the test {test}")
        found[test] = cassette
    return found
