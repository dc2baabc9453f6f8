"""The blind spots of CLI-1, CLI-2 and MAP-3 (issue 19), each shown by the reference proxy: a KeepAlive or an
unknown message forwarded upstream as a binary frame holding its JSON turns exactly its id red (the Error that the
upstream's own error becomes is not the proxy's answer); a correct proxy that trims an item's content parts and
joins them with newlines keeps MAP-3 green."""

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
