"""Drift: does the mock still answer as the real service did? Pure: no sockets, no clocks, no files.

Each recorded connection of a cassette is played again into the mock's engine: the client events the proxy
sent, at their recorded times, under the cassette's scenario. What the engine answers is then compared with
what the service answered, over all sessions:

- event types: a server event type one side sends and the other never does;
- order: two event types whose first occurrences the service put one way round (more than ORDER_MARGIN_S
  apart) and the mock, in the same session, the other;
- fields: per event type, a field path (to FIELD_DEPTH levels) one side's events carry and the other's never
  do; and fields the `openai` package's models do not declare for the service's events;
- error codes and close codes one side uses and the other does not;
- timing: confirmation (a user item's conversation.item.create to its conversation.item.added) and first output
  (response.create to the first response.output_* event), median and p95 of each side.

Each difference but timing is structural. A timing difference is reported when the two medians differ by more
than TIMING_REPORT_S; it fails when the median or the p95 differs by more than TIMING_FAIL_S plus
TIMING_FAIL_FACTOR times the mock's value.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from voice_harness.mock_upstream.engine import CloseSocket, Engine, Send
from voice_harness.mock_upstream.scenario import Scenario
from voice_harness.mock_upstream.validation import server_event_problems
from voice_harness.wire.cassette import CLIENT, SERVER, Cassette, Connection

ORDER_MARGIN_S = 0.02
FIELD_DEPTH = 2
TIMING_REPORT_S = 0.05
TIMING_FAIL_S = 0.5
TIMING_FAIL_FACTOR = 1.0
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


def service_session(connection: Connection) -> Session:
    opened = connection.opened
    events = [(e.t - opened, e.event) for e in connection.entries if e.source == SERVER and e.event is not None]
    client = [(e.t - opened, e.event) for e in connection.entries if e.source == CLIENT and e.event is not None]
    close = connection.close.get("code") if connection.close and connection.close.get("by") == SERVER else None
    return Session(events, close, client)


def mock_session(connection: Connection, scenario: Scenario) -> Session:
    """The engine's answers to the connection's recorded client events, at their recorded times."""
    engine = Engine(scenario, connection.number)
    actions = list(engine.connect(0.0).actions)
    client = [(e.t - connection.opened, e.event) for e in connection.entries
              if e.source == CLIENT and e.event is not None]
    closed_at = None
    for t, event in client:
        if closed_at is not None and t >= closed_at:
            break
        actions += engine.receive_text(t, json.dumps(event)).actions
        closes = [a.at for a in actions if isinstance(a, CloseSocket)]
        closed_at = min(closes) if closes else None
    close = min((a for a in actions if isinstance(a, CloseSocket)), key=lambda a: a.at, default=None)
    sends = sorted((a for a in actions if isinstance(a, Send) and (close is None or a.at <= close.at)),
                   key=lambda a: a.at)
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
    found += _sets("error code", sessions, lambda s: {str((e.get("error") or {}).get("code"))
                                                      for _, e in s.events if _type(e) == "error"})
    found += _sets("close code", sessions, lambda s: {str(s.close)} if s.close is not None else set())
    found += _timing(sessions)
    return found


def _type(event: dict) -> str:
    return str(event.get("type"))


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


def _order(sessions) -> list[Difference]:
    counts: dict[tuple[str, str], int] = {}
    for service, mock in sessions:
        s, m = _first_times(service), _first_times(mock)
        common = sorted(set(s) & set(m))
        for a in common:
            for b in common:
                if s[b] - s[a] > ORDER_MARGIN_S and m[a] - m[b] > ORDER_MARGIN_S:
                    counts[(a, b)] = counts.get((a, b), 0) + 1
    return [Difference("order", f"`{a}` and `{b}`", f"`{a}` first", f"`{b}` first", n)
            for (a, b), n in sorted(counts.items())]


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


def _model(sessions) -> list[Difference]:
    """What the service sent that the `openai` package's models do not declare (the mock's validate by design)."""
    counts: dict[str, int] = {}
    for service, _ in sessions:
        for _, event in service.events:
            for problem in server_event_problems(event):
                key = f"`{_type(event)}`: {problem}"
                counts[key] = counts.get(key, 0) + 1
    return [Difference("model", what, "sends it", "(validates)", n) for what, n in sorted(counts.items())]


def latencies(session: Session) -> dict[str, list[float]]:
    """Confirmation and first-output latencies of one session (seconds)."""
    out: dict[str, list[float]] = {"confirmation": [], "first output": []}
    for t, event in session.client:
        if event.get("type") == "conversation.item.create":
            item_id = (event.get("item") or {}).get("id")
            added = next((u for u, e in session.events if u >= t and _type(e) == "conversation.item.added"
                          and (item_id is None or (e.get("item") or {}).get("id") == item_id)), None)
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
            figures[measure] = {"count": len(service),
                                "service": {"median": statistics.median(service), "p95": p95(service)},
                                "mock": {"median": statistics.median(mock), "p95": p95(mock)}}
    return figures


def _timing(sessions) -> list[Difference]:
    out = []
    for measure, f in timing(sessions).items():
        s, m = f["service"], f["mock"]
        fails = any(abs(s[k] - m[k]) > TIMING_FAIL_S + TIMING_FAIL_FACTOR * m[k] for k in ("median", "p95"))
        if fails or abs(s["median"] - m["median"]) > TIMING_REPORT_S:
            out.append(Difference("timing", measure, _ms(s), _ms(m), f["count"], fails))
    return out


def _ms(figures: dict) -> str:
    return f"median {figures['median'] * 1000:.0f} ms, p95 {figures['p95'] * 1000:.0f} ms"


def to_json(differences: list[Difference], sessions, cassettes: int) -> dict:
    return {"cassettes": cassettes, "sessions": len(sessions), "timing": timing(sessions),
            "tolerance": {"report_s": TIMING_REPORT_S, "fail_s": TIMING_FAIL_S, "fail_factor": TIMING_FAIL_FACTOR},
            "structural": sum(1 for d in differences if d.kind in STRUCTURAL),
            "failing": sum(1 for d in differences if d.fails),
            "differences": [asdict(d) for d in differences]}
