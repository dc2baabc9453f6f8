"""The page driver's idea of "the reply", on a page that plays the race a real app can show: the greeting
arrives after the send, before the user's echo, and the real reply comes later."""

import time

import pytest

from voice_harness.targets import browser
from voice_harness.drivers.app_driver import PLACEHOLDER, AppDriver, is_ignored
from voice_harness.timeouts import units

# A page in Chromium that plays its race on timers (the reply at 1.5 s): seconds a test, with the e2e tier.
BROWSER_RACE = pytest.mark.e2e
GREETING = "Welcome! How can I help?"
REPLY = "Mock reply to: hello"
# agent-response and conversation-history of the DOM contract; the greeting lands 50 ms in, the reply at 1.5 s
# (a window wide enough for a poll on a loaded machine to see the greeting).
PAGE = f"""
<div data-testid="voice-agent">
  <span data-testid="connection-status">connected</span>
  <div data-testid="agent-response">{PLACEHOLDER}</div>
  <div data-testid="conversation-history"></div>
</div>
<script>
  const q = (id) => document.querySelector(`[data-testid="${{id}}"]`);
  function assistant(text) {{
    const el = document.createElement('div');
    el.dataset.role = 'assistant';
    el.textContent = text;
    q('conversation-history').appendChild(el);
    q('agent-response').textContent = text;
  }}
  setTimeout(() => assistant({GREETING!r}), 50);
  setTimeout(() => assistant({REPLY!r}), 1500);
</script>
"""


def outcomes(page) -> tuple:
    driver = AppDriver(page, "about:blank", "ws://127.0.0.1:1/openai")
    page.set_content(PAGE)
    naive = driver.wait_for_reply(units(5), before=PLACEHOLDER)
    page.set_content(PAGE)
    aware = driver.wait_for_reply(units(5), before=PLACEHOLDER, ignore=(GREETING,))
    return naive.reply, aware.reply


@BROWSER_RACE
def test_a_greeting_arriving_after_the_send_is_not_taken_for_the_reply_when_it_is_named():
    naive, aware = browser.with_page(outcomes)
    assert naive == GREETING   # the race is real: without knowing the greeting, it passes for the reply
    assert aware == REPLY


def late_named_outcome(page):
    """The greeting's Settings is known only once the page already shows the greeting (the wait began before it
    was on the wire): the check made when the page shows a reply still names it."""
    driver = AppDriver(page, "about:blank", "ws://127.0.0.1:1/openai")
    page.set_content(PAGE)
    start = time.monotonic()
    return driver.wait_for_reply(units(5), ignore=lambda: (GREETING,) if time.monotonic() - start > 0.02 else ()).reply


@BROWSER_RACE
def test_a_greeting_named_only_after_the_wait_began_is_still_not_taken_for_the_reply():
    assert browser.with_page(late_named_outcome) == REPLY


# An earlier turn in the history; then the greeting (with the app's own role prefix) at 0.7 s, this turn's user
# echo at 1.5 s and its reply at 3 s (windows wide enough for a loaded machine).
SECOND_TURN = f"""
<div data-testid="voice-agent">
  <span data-testid="connection-status">connected</span>
  <div data-testid="agent-response">first answer</div>
  <div data-testid="conversation-history"><div data-role="assistant">assistant: {GREETING}</div><div
    data-role="user">first question</div><div data-role="assistant">first answer</div></div>
</div>
<script>
  const q = (id) => document.querySelector(`[data-testid="${{id}}"]`);
  function add(role, text) {{
    const el = document.createElement('div');
    el.dataset.role = role;
    el.textContent = text;
    q('conversation-history').appendChild(el);
    if (role === 'assistant') q('agent-response').textContent = text;
  }}
  setTimeout(() => add('assistant', 'assistant:{GREETING}'), 700);
  setTimeout(() => add('user', 'second question'), 1500);
  setTimeout(() => add('assistant', 'second answer'), 3000);
</script>
"""


def second_turn_outcomes(page) -> tuple:
    driver = AppDriver(page, "about:blank", "ws://127.0.0.1:1/openai")
    page.set_content(SECOND_TURN)
    naive = driver.wait_for_reply(units(5), before="first answer")
    page.set_content(SECOND_TURN)
    since = driver.history_length()
    aware = driver.wait_for_reply(units(5), before="first answer", since=since, ignore=(GREETING,))
    return since, naive.reply, aware.reply


@BROWSER_RACE
def test_only_entries_after_the_send_count_and_a_role_prefixed_greeting_is_still_the_greeting():
    since, naive, aware = browser.with_page(second_turn_outcomes)
    assert since >= 3
    # The race is real: the earlier turn's reply (or the greeting), before this turn's echo.
    assert naive in ("first answer", f"assistant:{GREETING}")
    assert aware == "second answer"


def test_a_greeting_is_recognised_bare_or_after_a_role_prefix_only():
    assert is_ignored("  Welcome!  ", ["Welcome!"]) and is_ignored("assistant: Welcome!", ["Welcome!"])
    assert is_ignored("Agent:Welcome!", ["Welcome!"])
    assert not is_ignored("I said: Welcome! to you", ["Welcome!"])
    assert not is_ignored("Yes. Welcome!", ["Welcome!"]) and not is_ignored("anything", [])
