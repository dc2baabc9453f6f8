"""The page driver's idea of "the reply", on a page that plays the race a real app can show: the greeting
arrives after the send, before the user's echo, and the real reply comes later."""

from voice_harness.targets import browser
from voice_harness.drivers.app_driver import PLACEHOLDER, AppDriver
from voice_harness.timeouts import units

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


def test_a_greeting_arriving_after_the_send_is_not_taken_for_the_reply_when_it_is_named():
    naive, aware = browser.with_page(outcomes)
    assert naive == GREETING   # the race is real: without knowing the greeting, it passes for the reply
    assert aware == REPLY
