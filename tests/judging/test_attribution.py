"""Who is blamed for what ended a test: pure classification, and the verdict table's `error`."""

import pytest
from playwright.sync_api import Error as PlaywrightError, TimeoutError as PlaywrightTimeout

from voice_harness.judging import attribution, catalogue
from voice_harness.errors import EnvironmentProblem, HarnessFault
from voice_harness.judging.verdicts import CaseResult, exit_status, first_error, gating, summary, verdicts
from voice_harness.mock_upstream.scenario import ScenarioError
from voice_harness.wire.recording import Frame

CAT = catalogue.load()


@pytest.mark.parametrize("exc, party, words", [
    (EnvironmentProblem("the proxy was not ready within 20 s"), "environment", "not ready"),
    (ScenarioError("x.toml: reply_latency_ms must be an integer"), "scenario", "reply_latency_ms"),
    (HarnessFault("the mock upstream failed: TypeError"), "harness", "mock upstream failed"),
    (HarnessFault("the app did not show SettingsApplied", party="app"), "app", "SettingsApplied"),
    (PlaywrightError("Page.goto: net::ERR_UNSAFE_PORT at http://127.0.0.1:1/"), "environment", "ERR_UNSAFE_PORT"),
    (PlaywrightError("Target page, context or browser has been closed"), "harness", "driver went away"),
    (PlaywrightTimeout("Timeout 10000ms exceeded."), "app", "selectors"),
    (KeyError("session"), "harness", "KeyError"),
    (AssertionError("plain assert in a check"), "harness", "AssertionError"),
])
def test_what_ended_a_test_is_blamed_on_its_party_never_on_the_proxy(exc, party, words):
    blame = attribution.classify(exc)
    assert (blame.party, blame.outcome) == (party, "error")
    assert words in blame.reason


def test_a_dead_proxy_is_the_proxys_failure_naming_its_exit():
    blame = attribution.proxy_died("the proxy process exited with code 3 at 1.2 s after its start", "boom")
    assert (blame.party, blame.outcome) == ("proxy", "failed")
    assert "code 3" in blame.reason and "boom" in blame.reason


# ------------------------------------------------------------------ a proxy's server seen through its launcher

def sighting(code=None, alive=True, accepting=True, name="bash"):
    return attribution.ServerSighting(port=4000, launcher_pid=321, launcher_name=name, launcher_code=code,
                                      launcher_exited_at=None if code is None else 2.25, group_alive=alive,
                                      accepting=accepting)


REFUSED, RESET = attribution.Unreached(refused_at=1.04), attribution.Unreached(reset_at=0.5)


@pytest.mark.parametrize("seen, down", [
    (sighting(), False),                                          # serving
    (sighting(accepting=None), False),                            # not probed, or a probe that timed out: busy
    (sighting(accepting=False), True),                            # the launcher lingers, the port refuses
    (sighting(code=0, alive=True, accepting=True), False),        # a launcher that exited, its server serving
    (sighting(code=5, alive=True, accepting=False), True),        # a crash leaving a child that does not serve
    (sighting(code=1, alive=False, accepting=None), True),        # nothing of the group left
])
def test_the_server_is_down_when_its_group_is_gone_or_its_port_stopped_accepting(seen, down):
    assert seen.down is down


def test_a_server_that_serves_and_refused_nothing_did_not_die():
    assert attribution.server_death(sighting()) is None
    assert attribution.server_death(sighting(code=0)) is None   # a launcher that exits once its server runs


def test_a_dead_server_whose_launcher_exited_is_named_with_the_launchers_status():
    assert attribution.server_death(sighting(code=1, alive=False, accepting=None)) == \
        "the proxy process exited with code 1 at 2.2 s after its start"
    assert attribution.server_death(sighting(code=-9, alive=False, accepting=None),
                                    attribution.Unreached(refused_at=0.31)) == \
        ("the proxy process was killed by signal SIGKILL (9) at 2.2 s after its start "
         "(first refused connection 0.3 s into the test)")


def test_a_dead_server_under_a_lingering_launcher_says_what_is_known_instead_of_a_status():
    why = attribution.server_death(sighting(accepting=False), REFUSED)
    assert why == ("the proxy's server stopped accepting connections on port 4000 (first refused connection "
                   "1.0 s into the test); its launcher (pid 321, bash) is still running, so the server's exit "
                   "status is not known")


def test_a_connection_refused_during_the_test_charges_it_even_when_the_server_serves_again():
    why = attribution.server_death(sighting(accepting=True), attribution.Unreached(refused_at=0.5))
    assert why.startswith("the proxy's server refused a connection on port 4000 0.5 s into the test")
    assert "accepts connections again now" in why


def test_a_reset_connection_is_no_death_while_the_server_serves():
    """A healthy proxy may reject an upgrade with a TCP reset: only a server then seen down makes it a death."""
    assert attribution.server_death(sighting(accepting=True), RESET) is None
    assert attribution.server_death(sighting(accepting=None), RESET) is None     # busy now: still no death
    assert attribution.server_death(sighting(accepting=False), RESET) == (
        "the proxy's server stopped accepting connections on port 4000 (first reset connection 0.5 s into the "
        "test); its launcher (pid 321, bash) is still running, so the server's exit status is not known")


def test_a_refusal_dates_the_death_before_a_reset_does():
    both = attribution.Unreached(refused_at=0.7, reset_at=0.2)
    assert "(first refused connection 0.7 s into the test)" in attribution.server_death(sighting(accepting=False),
                                                                                         both)


def test_a_launcher_that_backgrounded_its_server_gives_no_status_of_it():
    seen = attribution.ServerSighting(4000, 321, "bash", 0, 0.1, False, None, outlived_launcher=True)
    assert attribution.server_death(seen) == (
        "the proxy's server is gone: no process of its group is left; its launcher (pid 321, bash) had exited "
        "(code 0) while the server went on serving, so the server's exit status is not known")


def tap_close(t, reason, leg="A", code=1011):
    return Frame(t, leg, "<-", "close", None, 1, 0, {"code": code, "reason": reason})


def test_the_first_unreached_connections_are_those_the_client_tap_could_not_make():
    frames = [tap_close(10.2, "peer closed abnormally (1006)"),
              tap_close(10.3, "relay could not reach ws://127.0.0.1:4000: TimeoutError"),   # busy, not dead
              tap_close(10.4, "relay could not reach wss://api.openai.com: ConnectionRefusedError", leg="B"),
              tap_close(10.45, "relay could not reach ws://127.0.0.1:4000: ConnectionResetError"),
              tap_close(10.5, "relay could not reach ws://127.0.0.1:4000: ConnectionRefusedError"),
              tap_close(10.9, "relay could not reach ws://127.0.0.1:4000: ConnectionResetError")]
    found = attribution.first_unreached(frames, origin=10.0)
    assert (found.refused_at, found.reset_at) == (pytest.approx(0.5), pytest.approx(0.45))
    assert attribution.first_unreached(frames[:3], origin=10.0) is None
    assert attribution.first_unreached(frames[:4], origin=10.0) == attribution.Unreached(None, pytest.approx(0.45))


def test_the_client_taps_own_close_for_a_dead_proxy_is_read_as_a_refusal():
    """The real relay's words, not a copy of them: the two must not drift apart."""
    import asyncio
    import socket
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed
    from voice_harness.wire.recording import Recorder
    from voice_harness.wire.relay import Relay

    with socket.socket() as held:   # a port nobody listens on while the relay tries it
        held.bind(("127.0.0.1", 0))
        dead = held.getsockname()[1]

        async def scenario():
            recorder = Recorder()
            relay = Relay(recorder, "A", f"ws://127.0.0.1:{dead}")
            await relay.start()
            try:
                async with connect(relay.url("/openai")) as ws:
                    try:
                        await asyncio.wait_for(ws.recv(), 5)
                    except ConnectionClosed:
                        pass
            finally:
                await relay.stop()
            return recorder.since()

        frames = asyncio.run(scenario())
    assert attribution.first_unreached(frames, origin=frames[0].t) == attribution.Unreached(refused_at=0.0)


def result(nodeid, reqs, outcome="passed", reason="", party=""):
    return CaseResult(nodeid, tuple(reqs), outcome, reason, party)


def test_an_errored_test_makes_its_id_error_not_fail_and_the_run_exit_2():
    results = [result("a", ["CANARY-1"], "error", "the proxy at ws://x is unreachable", "environment"),
               result("b", ["ORD-1"])]
    table = verdicts(CAT, results)
    assert table["CANARY-1"].verdict == "error"
    assert table["CANARY-1"].reason == "environment error: the proxy at ws://x is unreachable"
    assert table["ORD-1"].verdict == "pass"
    assert summary(table)["must_error"] == 1 and summary(table)["must_failed"] == 0
    assert gating(table, strict=False)["error"] == ["CANARY-1"]
    assert exit_status(1, table, results, strict=False) == 2
    assert first_error(results).nodeid == "a"


def test_a_judged_failure_of_the_same_id_outranks_an_error_in_another_test():
    results = [result("a", ["ORD-1"], "error", "driver died", "harness"), result("b", ["ORD-1"], "failed", "early")]
    assert verdicts(CAT, results)["ORD-1"].verdict == "fail"


def test_an_error_in_teardown_outranks_the_failure_the_call_saw():
    test = result("a", ["CANARY-1"])
    test.merge_phase("failed", "the proxy closed its upstream socket 1006")
    test.merge_phase("error", "the mock upstream failed: TypeError", "harness")
    assert (test.outcome, test.party) == ("error", "harness")
