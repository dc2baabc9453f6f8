"""voice-harness drift --cassettes DIR: does the mock still answer as the real service did?

Plays every cassette's client events into the mock's engine and compares its answers with the service's
(mock_upstream.drift); writes reports/drift.json and reports/drift.md, one row per difference. Exit 0 when
no row fails (notes, such as the `openai` models' rows or a p95 of too few samples, do not), 1 otherwise, 2 for
bad input or a report that cannot be written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from voice_harness import paths
from voice_harness.mock_upstream import scenario as scenarios
from voice_harness.wire import cassette


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cassettes", default=str(paths.default_reports() / "cassettes"),
                        help="a cassette or a folder of them (default: reports/cassettes, a real-mode run's)")
    parser.add_argument("--reports-dir", default=str(paths.default_reports()),
                        help="where drift.json and drift.md go (default ./reports)")


def scenario_of(recorded: cassette.Cassette) -> scenarios.Scenario:
    """The scenario the cassette's test ran under (the tap played its rules on the service), else the default."""
    where = f"{recorded.path}: header"
    if isinstance(recorded.header.get("scenario_data"), dict):
        return scenarios.from_dict(recorded.header["scenario_data"], where)
    name = recorded.header.get("scenario")
    return scenarios.load(name) if isinstance(name, str) and name in scenarios.names() else scenarios.load("default")


def markdown(record: dict) -> str:
    lines = ["# Drift: the mock against the recorded service",
             "",
             f"{record['cassettes']} cassettes, {record['sessions']} sessions; {record['structural']} structural "
             f"differences, {record['failing']} failing.",
             "",
             "| kind | what | the service | the mock | sessions | fails |",
             "|---|---|---|---|---|---|"]
    for d in record["differences"]:
        lines.append(f"| {d['kind']} | {d['what']} | {d['service']} | {d['mock']} | {d['sessions']} | "
                     f"{'yes' if d['fails'] else 'no'} |")
    if not record["differences"]:
        lines.append("| | no difference | | | | |")
    lines += ["", "| timing | service median | service p95 | mock median | mock p95 | n |", "|---|---|---|---|---|---|"]
    for measure, f in record["timing"].items():
        lines.append(f"| {measure} | {f['service']['median'] * 1000:.0f} ms | {f['service']['p95'] * 1000:.0f} ms | "
                     f"{f['mock']['median'] * 1000:.0f} ms | {f['mock']['p95'] * 1000:.0f} ms | {f['count']} |")
    lines += ["", tolerance(record["tolerance"])]
    return "\n".join(lines) + "\n"


def tolerance(tol: dict) -> str:
    return (f"A timing difference is reported past {tol['report_s'] * 1000:.0f} ms between the medians, or past "
            f"the failing tolerance, and fails past {tol['fail_s'] * 1000:.0f} ms plus {tol['fail_factor']:g} "
            f"times the mock's value: the median always, the p95 only from {tol['p95_min_samples']} samples on "
            f"(each side); below that a p95 difference is reported, not failing.")


def write_reports(out: Path, record: dict) -> None:
    """drift.json and drift.md into the folder out (made if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "drift.json").write_text(json.dumps(record, indent=2) + "\n")
    (out / "drift.md").write_text(markdown(record))


def main(args: argparse.Namespace) -> int:
    # The comparison runs the mock's engine, whose event models cost every command line half a second to import:
    # imported here, when the command is drift, not when the parser is built.
    from voice_harness.mock_upstream import drift

    try:
        found = cassette.load_all(Path(args.cassettes))
        recorded = list(found.values())
        sessions = drift.pairs(recorded, scenario_of)
    except (cassette.CassetteError, scenarios.ScenarioError) as exc:
        print(f"harness: drift: {exc}", file=sys.stderr)
        return 2
    if not sessions:
        print(f"harness: drift: the cassettes in {args.cassettes} hold no upstream session", file=sys.stderr)
        return 2
    differences = drift.compare(sessions)
    record = drift.to_json(differences, sessions, len(recorded))
    out = Path(args.reports_dir)
    try:
        write_reports(out, record)
    except OSError as exc:
        print(f"harness: drift: cannot write the report: {exc.filename or out}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    for d in differences:
        print(f"{'FAIL' if d.fails else 'note'}  {d.kind}: {d.what}: service {d.service}, mock {d.mock} "
              f"({d.sessions} sessions)")
    print(f"drift: {len(sessions)} sessions, {record['structural']} structural differences, "
          f"{record['failing']} failing; {out / 'drift.md'}")
    return 1 if record["failing"] else 0
