"""The blind spots of CLI-1, CLI-2 and MAP-3 (issue 19), each shown by the reference proxy: a KeepAlive or an
unknown message forwarded upstream as a binary frame holding its JSON turns exactly its id red (the Error that the
upstream's own error becomes is not the proxy's answer); a correct proxy that trims an item's content parts and
joins them with newlines keeps MAP-3 green; a proxy that sends every event upstream as a binary frame of its JSON
fails WIRE-2 alone, every other check reading each frame as the message it holds (never a run error)."""

import pytest

from support import harness_run

pytestmark = pytest.mark.e2e

# The tests of both CLI ids, and the WIRE-3 test whose client sends a KeepAlive and an unknown message too: a
# forwarded copy is CLI-1's or CLI-2's, never WIRE-3's (WIRE-3 judges text events; the binary frame is WIRE-2's).
CLIENT_INPUT = "CLI-1,CLI-2,WIRE-3"


def red(record) -> set[str]:
    return {rid for rid, entry in record.items() if entry["verdict"] == "fail"}


@pytest.mark.parametrize("defect, req, why", [
    pytest.param("keepalive-as-binary-upstream", "CLI-1", "KeepAlive upstream as a binary frame",
                 id="keepalive-as-binary-upstream"),
    pytest.param("forward-unknown-as-binary", "CLI-2", "upstream as a binary frame", id="forward-unknown-as-binary"),
])
def test_a_client_message_forwarded_as_a_binary_frame_turns_exactly_its_id_red(tmp_path, defect, req, why):
    done, record = harness_run(tmp_path, "--workers", "1", "--defect", defect, "--", "--req", CLIENT_INPUT)
    assert red(record) == {req}, done.stdout[-3000:]
    assert why in record[req]["reason"], record[req]
    assert {rid: record[rid]["verdict"] for rid in CLIENT_INPUT.split(",") if rid != req} == \
        {rid: "pass" for rid in CLIENT_INPUT.split(",") if rid != req}, done.stdout[-3000:]
    assert done.returncode == 1, done.stdout[-3000:]


def test_a_proxy_that_trims_the_parts_and_joins_them_with_newlines_passes_map_3(tmp_path):
    done, record = harness_run(tmp_path, "--workers", "1", "--defect", "trim-and-newline-join-parts", "--",
                               "--req", "MAP-3")
    assert record["MAP-3"]["verdict"] == "pass", done.stdout[-3000:]
    assert red(record) == set(), done.stdout[-3000:]


# The ids whose checks read a leg B message the proxy sent (its session.update, items, appends, response.create):
# each must judge the JSON in a binary frame as that message, not stop on the bytes (a run error).
READ_UPSTREAM = "WIRE-2,WIRE-3,READY-3,READY-4,MAP-5,MAP-8,ORD-3,ORD-5,LIFE-3,CLI-2"


def test_a_proxy_that_sends_every_event_upstream_as_a_binary_frame_fails_wire_2_and_nothing_else(tmp_path):
    done, record = harness_run(tmp_path, "--workers", "1", "--defect", "all-events-as-binary-upstream", "--",
                               "--req", READ_UPSTREAM)
    assert red(record) == {"WIRE-2"}, done.stdout[-3000:]
    assert "binary frame" in record["WIRE-2"]["reason"], record["WIRE-2"]
    assert {rid: record[rid]["verdict"] for rid in READ_UPSTREAM.split(",") if rid != "WIRE-2"} == \
        {rid: "pass" for rid in READ_UPSTREAM.split(",") if rid != "WIRE-2"}, done.stdout[-3000:]
    assert done.returncode == 1, done.stdout[-3000:]   # the proxy's fail, not a harness error (2)
