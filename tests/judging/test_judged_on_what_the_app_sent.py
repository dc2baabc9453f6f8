"""Against an app that sends its own Settings (a prompt only, whatever the URL parameters say): the checks hold
the proxy to what the app sent, and skip, naming the app and the capability, what it did not send. Never a
failure of the proxy, never a run error."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from support import harness_run
from voice_harness.targets.static_server import StaticServer

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_an_app_that_sends_only_its_own_prompt_gets_skips_naming_it_not_failures(tmp_path):
    server = StaticServer(FIXTURES / "other_app")
    try:
        done, record = harness_run(tmp_path, "--workers", "1", "--profile", str(FIXTURES / "other_app.toml"),
                                   "--app-url", server.url, "--", "--req", "CANARY-1,MAP-6,MAP-7,MAP-8")
    finally:
        server.stop()
    assert done.returncode == 0, done.stdout[-3000:]
    verdicts = {rid: record[rid]["verdict"] for rid in ("CANARY-1", "MAP-6", "MAP-7", "MAP-8")}
    # MAP-8: the app's own prompt ("other app") is in the instructions; its missing functions are a skip.
    assert verdicts == {"CANARY-1": "pass", "MAP-6": "skip", "MAP-7": "skip", "MAP-8": "pass"}, record
    assert record["MAP-7"]["reason"] == "the app sent no context: MAP-7 not exercised (app capability: context)"
    assert record["MAP-6"]["reason"].startswith("the app sent no greeting")
    skipped = {case.get("name").split("[")[0]: case.find("skipped").get("message", "")
               for case in ET.parse(tmp_path / "junit.xml").iter("testcase") if case.find("skipped") is not None}
    assert set(skipped) == {"test_a_greeting_shown_before_the_send_is_not_taken_for_the_reply",
                            "test_the_greeting_is_shown_after_settings_applied_and_never_sent_upstream",
                            "test_context_messages_become_items_in_order_before_any_response",
                            "test_the_functions_become_tools"}, skipped
    assert all("not exercised (app capability: " in message for message in skipped.values()), skipped
