"""Cassettes on disk: what a test's leg-B frames become, read back the same, and malformed files named by line."""

import json
import re

import pytest

from voice_harness.wire import cassette
from voice_harness.wire.recording import DOWN, UP, Frame

KEY = "sk-" + "a1b2c3d4" * 4


def frames():
    return [
        Frame(100.010, "B", UP, "text", "session.update", 1, data={"type": "session.update", "session": {}}),
        Frame(100.020, "A", UP, "text", "Settings", 1, data={"type": "Settings"}),   # leg A: not in a cassette
        Frame(100.050, "B", DOWN, "text", "session.updated", 1, data={"type": "session.updated"}),
        Frame(100.300, "B", DOWN, "binary", None, 1, 3, data=b"\x00\x01\x02"),
        Frame(103.000, "B", DOWN, "close", None, 1, data={"code": 1000, "reason": "bye"}),
        Frame(101.000, "B", UP, "text", "session.update", 2, data={"type": "session.update"}),
    ]


def test_a_tests_leg_b_becomes_connections_with_times_from_the_first_open(tmp_path):
    opened = {1: (100.0, f"/v1/realtime?model=gpt-realtime&key={KEY}"), 2: (100.9, "/v1/realtime")}
    recorded = cassette.from_frames(frames(), opened, {"test": "suites/x.py::t", "verdict": "passed"})
    first, second = recorded.connections
    assert (first.number, first.opened, second.number, second.opened) == (1, 0.0, 2, pytest.approx(0.9))
    assert [(e.source, e.type) for e in first.entries] == [("client", "session.update"),
                                                          ("server", "session.updated"), ("server", None)]
    assert first.entries[2].binary == b"\x00\x01\x02"
    assert first.close == {"t": pytest.approx(3.0), "code": 1000, "reason": "bye", "by": "server"}
    assert recorded.header["model"] == "gpt-realtime" and recorded.header["cassette"] == cassette.FORMAT
    assert KEY not in first.path

    path = cassette.write(tmp_path / "c.jsonl", recorded)
    again = cassette.load(path)
    assert again.header == recorded.header
    assert [(c.number, c.opened, c.path, c.close) for c in again.connections] == \
        [(c.number, c.opened, c.path, c.close) for c in recorded.connections]
    assert [(e.t, e.source, e.event, e.binary) for e in again.connections[0].entries] == \
        [(e.t, e.source, e.event, e.binary) for e in first.entries]
    assert KEY not in path.read_text()


@pytest.mark.parametrize("text, message", [
    ("", "not a cassette"),
    ('{"cassette": 99}\n', "not a cassette"),
    ('{"cassette": 1}\nnot json\n', ":2: not JSON"),
    ('{"cassette": 1}\n{"t": 0, "conn": 1, "from": "server", "event": {}}\n', ":2: connection 1 is used before"),
    ('{"cassette": 1}\n{"conn": 1, "open": {}}\n', ':2: a line needs a numeric "t"'),
    ('{"cassette": 1}\n{"t": 0, "conn": 1, "open": {}}\n{"t": 1, "conn": 1, "what": 1}\n', ":3: a line is an open"),
])
def test_a_malformed_cassette_is_named_with_its_line(tmp_path, text, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(text)
    with pytest.raises(cassette.CassetteError, match=message):
        cassette.load(path)


OPEN = '{"t": 0, "conn": 1, "open": {}}\n'


@pytest.mark.parametrize("line, message", [
    ('{"t": 1, "conn": 1, "close": 5}', ':3: "close" must be a JSON object'),
    ('{"t": 1, "conn": 1, "close": null}', ':3: "close" must be a JSON object'),
    ('{"t": 1, "conn": 1, "from": "server", "binary": "not base64!"}', ':3: "binary" is not base64'),
    ('{"t": 1, "conn": 1, "from": "server", "binary": "AAE"}', ':3: "binary" is not base64'),
    ('{"t": 1, "conn": 1, "from": "server", "binary": 5}', ':3: "binary" is not base64'),
    ('{"t": 1, "conn": 1, "from": "server", "event": ["session.updated"]}', ':3: "event" must be a JSON object'),
    ('{"t": 1, "conn": 1, "from": "client", "event": "session.update"}', ':3: "event" must be a JSON object'),
    ('{"t": "soon", "conn": 1, "from": "server", "text": "x"}', ':3: a line needs a numeric "t"'),
    ('{"t": NaN, "conn": 1, "from": "server", "text": "x"}', ':3: a line needs a numeric "t"'),
    ('{"t": 1, "conn": 1e999, "from": "server", "text": "x"}', ':3: a line needs a numeric "t"'),
    ('{"t": 1, "conn": true, "from": "server", "text": "x"}', ':3: a line needs a numeric "t"'),
    ('{"t": 1, "conn": 1.5, "from": "server", "text": "x"}', ':3: a line needs a numeric "t"'),
    ('{"t": 1, "conn": [1], "from": "server", "text": "x"}', ':3: a line needs a numeric "t"'),
    ('{"t": 1, "conn": 1, "open": {}}', ":3: connection 1 is opened twice"),
    ("[" * 100000, ":3: not JSON"),
])
def test_every_malformed_line_is_a_cassette_error_naming_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"cassette": 1}\n' + OPEN + line + "\n")
    with pytest.raises(cassette.CassetteError, match=f"^{re.escape(str(path))}{message}"):
        cassette.load(path)


@pytest.mark.parametrize("opening, message", [('{"t": 0, "conn": 1, "open": null}', ':2: "open" must be a JSON object'),
                                              ('{"t": 0, "conn": 1, "open": 5}', ':2: "open" must be a JSON object')])
def test_an_open_that_is_not_an_object_is_named(tmp_path, opening, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"cassette": 1}\n' + opening + "\n")
    with pytest.raises(cassette.CassetteError, match=f"^{re.escape(str(path))}{message}"):
        cassette.load(path)


def test_a_file_that_is_not_utf8_or_names_no_string_test_is_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"cassette": 1}\n' + OPEN.encode() + b'{"t": 1, "conn": 1, "from": "server", "text": "\xff"}\n')
    with pytest.raises(cassette.CassetteError, match=f"^{re.escape(str(path))}:3: not UTF-8"):
        cassette.load(path)
    path.write_text('{"cassette": 1, "test": ["suites/t.py::a"]}\n')
    with pytest.raises(cassette.CassetteError, match=f'^{re.escape(str(path))}:1: the header\'s "test" is not a'):
        cassette.load_all(path)


def test_a_binary_frame_reads_back(tmp_path):
    path = tmp_path / "ok.jsonl"
    path.write_text('{"cassette": 1}\n' + OPEN + '{"t": 1, "conn": 1, "from": "server", "binary": "AAEC"}\n')
    assert cassette.load(path).connections[0].entries[0].binary == b"\x00\x01\x02"


def test_two_cassettes_of_one_test_are_an_error_naming_both_files(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps({"cassette": 1, "test": "suites/t.py::same"}) + "\n")
    with pytest.raises(cassette.CassetteError) as raised:
        cassette.load_all(tmp_path)
    assert str(raised.value) == f"{tmp_path / 'a.jsonl'} and {tmp_path / 'b.jsonl'}: both are cassettes of the " \
                                f"test suites/t.py::same"


def test_a_folder_gives_its_cassettes_by_test_and_an_empty_one_is_an_error(tmp_path):
    with pytest.raises(cassette.CassetteError, match="no cassettes"):
        cassette.load_all(tmp_path)
    for name in ("a", "b"):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps({"cassette": 1, "test": f"suites/t.py::{name}"}) + "\n")
    assert sorted(cassette.load_all(tmp_path)) == ["suites/t.py::a", "suites/t.py::b"]
    with pytest.raises(cassette.CassetteError, match="no such file"):
        cassette.load_all(tmp_path / "missing")
