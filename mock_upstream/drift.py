"""Drift: does the mock still answer as the real service did? Pure: no sockets, no clocks, no files.

Each recorded connection of a cassette is played again into the mock's engine: the client events the proxy
sent, at their recorded times, under the cassette's scenario. What the engine answers is then compared with
what the service answered, over all sessions:

- event types: a server event type one side sends and the other never does;
- order: two event types whose first occurrences the service put one way round (more than ORDER_MARGIN_S
  apart) and the mock, in the same session, the other; it fails only when the service keeps that order in
  every session that has both (the service interleaves independent streams, so a mixed order is only noted);
- fields: per event type, a field path (to FIELD_DEPTH levels) one side's events carry and the other's never
  do; and fields the `openai` package's models do not declare for the service's events (noted, never failing:
  they depend on the installed `openai` version, and no mock change removes them);
- error codes and close codes one side uses and the other does not;
- timing: confirmation (a user item's conversation.item.create to its conversation.item.added) and first output
  (response.create to the first response.output_* event), median and p95 of each side.

The mock is judged only up to where the recorded connection ended (its close, by either side, else its last
entry): a test that ended mid-response never saw the rest, so what the mock would send after that is dropped.

Each difference but timing is structural. A timing difference is reported when the two medians differ by more
than TIMING_REPORT_S; it fails when the median, or (from P95_MIN_SAMPLES samples on each side) the p95, differs
by more than TIMING_FAIL_S plus TIMING_FAIL_FACTOR times the mock's value. Below P95_MIN_SAMPLES a p95 past
that tolerance is reported, not failing.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from voice_harness.mock_upstream.engine import CloseSocket, Engine, Send
from voice_harness.mock_upstream.scenario import Scenario
from voice_harness.wire.validation import server_event_problems
from voice_harness.wire.cassette import CLIENT, SERVER, Cassette, Connection

ORDER_MARGIN_S = 0.02
FIELD_DEPTH = 2
TIMING_REPORT_S = 0.05
TIMING_FAIL_S = 0.5
TIMING_FAIL_FACTOR = 1.0
P95_MIN_SAMPLES = 20
END_MARGIN_S = 1e-6       # cassette times are kept to the microsecond
OUTPUT_PREFIX = "response.output_"
STRUCTURAL = ("event type", "order", "field", "model", "error code", "close code")


@dataclass
class Session:
    """One connection's server side, as (time after open, event) and the server's close code (or None)."""
    events: list[tuple[float, dict]]
    close: int | None
    client: list[tuple[float, dict]] = field(default_factory=list)


@dataclass
class Difference:
    kind: str            # one of STRUCTURAL, or "timing"
    what: str
    service: str
    mock: str
    sessions: int
    fails: bool = True


def _events(connection: Connection, source: str) -> list[tuple[float, dict]]:
    """(time after open, event) of one side's JSON-object frames (anything else is not an event to compare)."""
    return [(e.t - connection.opened, e.event) for e in connection.entries
            if e.source == source and isinstance(e.event, dict)]


def _closed_by_server(connection: Connection) -> bool:
    return isinstance(connection.close, dict) and connection.close.get("by") == SERVER


def recorded_end(connection: Connection) -> float:
    """When the recorded connection ended, after its open: its close (by either side), else its last entry."""
    if isinstance(connection.close, dict) and isinstance(connection.close.get("t"), (int, float)):
        return connection.close["t"] - connection.opened
    return max((e.t for e in connection.entries), default=connection.opened) - connection.opened


def service_session(connection: Connection) -> Session:
    close = connection.close.get("code") if _closed_by_server(connection) else None
    return Session(_events(connection, SERVER), close, _events(connection, CLIENT))


def mock_session(connection: Connection, scenario: Scenario) -> Session:
    """The engine's answers to the connection's recorded client events, at their recorded times, up to when the
    recorded connection ended. The mock's own close counts after that time only where the service closed too."""
    engine = Engine(scenario, connection.number)
    actions = list(engine.connect(0.0).actions)
    client = _events(connection, CLIENT)
    closed_at = None
    for t, event in client:
        if closed_at is not None and t >= closed_at:
            break
        actions += engine.receive_text(t, json.dumps(event)).actions
        closes = [a.at for a in actions if isinstance(a, CloseSocket)]
        closed_at = min(closes) if closes else None
    end = recorded_end(connection) + END_MARGIN_S
    close = min((a for a in actions if isinstance(a, CloseSocket)), key=lambda a: a.at, default=None)
    if close is not None and close.at > end and not _closed_by_server(connection):
        close = None
    cut = end if close is None else min(end, close.at)
    sends = sorted((a for a in actions if isinstance(a, Send) and a.at <= cut), key=lambda a: a.at)
    return Session([(a.at, a.event) for a in sends], close.code if close else None, client)


def pairs(cassettes: list[Cassette], scenario_of: Callable[[Cassette], Scenario]) -> list[tuple[Session, Session]]:
    """(service, mock) for every recorded connection."""
    return [(service_session(c), mock_session(c, scenario_of(cassette)))
            for cassette in cassettes for c in cassette.connections]


def compare(sessions: list[tuple[Session, Session]]) -> list[Difference]:
    found: list[Difference] = []
    found += _sets("event type", sessions, lambda s: {_type(e) for _, e in s.events})
    found += _order(sessions)
    found += _fields(sessions)
    found += _model(sessions)
    found += _sets("error code", sessions, lambda s: {str(_inner(e, "error").get("code"))
                                                      for _, e in s.events if _type(e) == "error"})
    found += _sets("close code", sessions, lambda s: {str(s.close)} if s.close is not None else set())
    found += _timing(sessions)
    return found


def _type(event: dict) -> str:
    return str(event.get("type"))


def _inner(event: dict, key: str) -> dict:
    """event[key] when it is an object, else {} (a malformed recording must not stop the comparison)."""
    value = event.get(key)
    return value if isinstance(value, dict) else {}


def _sets(kind: str, sessions, values) -> list[Difference]:
    service_counts: dict[str, int] = {}
    mock_counts: dict[str, int] = {}
    for service, mock in sessions:
        for value in values(service):
            service_counts[value] = service_counts.get(value, 0) + 1
        for value in values(mock):
            mock_counts[value] = mock_counts.get(value, 0) + 1
    out = []
    for value in sorted(set(service_counts) - set(mock_counts)):
        out.append(Difference(kind, f"`{value}`", "sends it", "never", service_counts[value]))
    for value in sorted(set(mock_counts) - set(service_counts)):
        out.append(Difference(kind, f"`{value}`", "never", "sends it", mock_counts[value]))
    return out


def _first_times(session: Session) -> dict[str, float]:
    first: dict[str, float] = {}
    for t, event in session.events:
        first.setdefault(_type(event), t)
    return first


def _ahead(first: dict[str, float]) -> set[tuple[str, str]]:
    """(a, b) for each two types whose first occurrences are a before b, more than ORDER_MARGIN_S apart."""
    return {(a, b) for a in first for b in first if first[b] - first[a] > ORDER_MARGIN_S}


def _order(sessions) -> list[Difference]:
    """Pairs the mock puts the other way round; failing only where no service session put them the mock's way."""
    service_ahead: dict[tuple[str, str], int] = {}
    disagree: dict[tuple[str, str], int] = {}
    for service, mock in sessions:
        s, m = _ahead(_first_times(service)), _ahead(_first_times(mock))
        for pair in s:
            service_ahead[pair] = service_ahead.get(pair, 0) + 1
        for a, b in s & {(b, a) for a, b in m}:
            disagree[(a, b)] = disagree.get((a, b), 0) + 1
    out = []
    for (a, b), n in sorted(disagree.items()):
        mixed = service_ahead.get((b, a), 0)
        said = f"`{a}` first" if not mixed else \
            f"`{a}` first in {service_ahead[(a, b)]} sessions, `{b}` first in {mixed}"
        out.append(Difference("order", f"`{a}` and `{b}`", said, f"`{b}` first", n, fails=not mixed))
    return out


def field_paths(value: Any, prefix: str = "", depth: int = FIELD_DEPTH) -> set[str]:
    """The key paths of a JSON object, to `depth` levels (lists look into their first object)."""
    paths: set[str] = set()
    if depth <= 0:
        return paths
    if isinstance(value, list):
        for item in value[:1]:
            paths |= field_paths(item, prefix + "[]", depth)
    elif isinstance(value, dict):
        for key, inner in value.items():
            path = f"{prefix}.{key}" if prefix else key
            paths.add(path)
            paths |= field_paths(inner, path, depth - 1)
    return paths


def _fields(sessions) -> list[Difference]:
    service: dict[str, set[str]] = {}
    mock: dict[str, set[str]] = {}
    counts: dict[tuple[str, str], int] = {}
    for s, m in sessions:
        for side, into in ((s, service), (m, mock)):
            for _, event in side.events:
                into.setdefault(_type(event), set()).update(field_paths(event))
        for _, event in s.events:
            for path in field_paths(event):
                counts[(_type(event), path)] = counts.get((_type(event), path), 0) + 1
    out = []
    for kind in sorted(set(service) & set(mock)):
        for path in sorted(service[kind] - mock[kind]):
            out.append(Difference("field", f"`{kind}` field `{path}`", "has it", "never", counts[(kind, path)]))
        for path in sorted(mock[kind] - service[kind]):
            out.append(Difference("field", f"`{kind}` field `{path}`", "never", "has it",
                                  sum(1 for _, m in sessions for _, e in m.events if _type(e) == kind
                                      and path in field_paths(e))))
    return out


def without_indices(problem: str) -> str:
    """A model problem with the list indices of its path left out (`output[0].x` -> `output[].x`, and pydantic's
    `output.0.x` the same), so that one row covers every element."""
    path, sep, message = problem.partition(": ")
    path = re.sub(r"\.\d+(?=\.|\[|$)", "[]", re.sub(r"\[\d+\]", "[]", path))
    return path + sep + message


def _model(sessions) -> list[Difference]:
    """What the service sent that the `openai` package's models do not declare (the mock's validate by design).
    Noted, never failing: the rows depend on the installed `openai` version, and no mock change removes them."""
    counts: dict[str, int] = {}
    for service, _ in sessions:
        problems = {f"`{_type(event)}`: {without_indices(problem)}"
                    for _, event in service.events for problem in server_event_problems(event)}
        for key in problems:
            counts[key] = counts.get(key, 0) + 1
    return [Difference("model", what, "sends it", "(validates)", n, fails=False) for what, n in sorted(counts.items())]


def latencies(session: Session) -> dict[str, list[float]]:
    """Confirmation and first-output latencies of one session (seconds)."""
    out: dict[str, list[float]] = {"confirmation": [], "first output": []}
    for t, event in session.client:
        if event.get("type") == "conversation.item.create":
            item_id = _inner(event, "item").get("id")
            added = next((u for u, e in session.events if u >= t and _type(e) == "conversation.item.added"
                          and (item_id is None or _inner(e, "item").get("id") == item_id)), None)
            if added is not None:
                out["confirmation"].append(added - t)
        elif event.get("type") == "response.create":
            first = next((u for u, e in session.events if u >= t and _type(e).startswith(OUTPUT_PREFIX)), None)
            if first is not None:
                out["first output"].append(first - t)
    return out


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def timing(sessions) -> dict[str, dict]:
    """Median and p95 per measure, for the service and the mock."""
    figures: dict[str, dict] = {}
    for measure in ("confirmation", "first output"):
        service = [v for s, _ in sessions for v in latencies(s)[measure]]
        mock = [v for _, m in sessions for v in latencies(m)[measure]]
        if service and mock:
            figures[measure] = {"count": len(service), "mock_count": len(mock),
                                "service": {"median": statistics.median(service), "p95": p95(service)},
                                "mock": {"median": statistics.median(mock), "p95": p95(mock)}}
    return figures


def _timing(sessions) -> list[Difference]:
    out = []
    for measure, f in timing(sessions).items():
        s, m = f["service"], f["mock"]
        past = {k for k in ("median", "p95") if abs(s[k] - m[k]) > TIMING_FAIL_S + TIMING_FAIL_FACTOR * m[k]}
        enough = min(f["count"], f["mock_count"]) >= P95_MIN_SAMPLES
        fails = "median" in past or ("p95" in past and enough)
        if past or abs(s["median"] - m["median"]) > TIMING_REPORT_S:
            out.append(Difference("timing", measure, _ms(s), _ms(m), f["count"], fails))
    return out


def _ms(figures: dict) -> str:
    return f"median {figures['median'] * 1000:.0f} ms, p95 {figures['p95'] * 1000:.0f} ms"


def to_json(differences: list[Difference], sessions, cassettes: int) -> dict:
    return {"cassettes": cassettes, "sessions": len(sessions), "timing": timing(sessions),
            "tolerance": {"report_s": TIMING_REPORT_S, "fail_s": TIMING_FAIL_S, "fail_factor": TIMING_FAIL_FACTOR,
                          "p95_min_samples": P95_MIN_SAMPLES},
            "structural": sum(1 for d in differences if d.kind in STRUCTURAL),
            "failing": sum(1 for d in differences if d.fails),
            "differences": [asdict(d) for d in differences]}
