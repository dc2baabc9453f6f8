"""Drives a browser app that follows the DOM contract (PROTOCOL.md section 6) through Playwright."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from voice_harness.timeouts import units

PLACEHOLDER = "(Waiting for agent response...)"


@dataclass(frozen=True)
class Selectors:
    """data-testid values of the DOM contract; a profile may rename them for another app."""

    root: str = "voice-agent"
    status: str = "connection-status"
    settings_applied: str = "has-sent-settings"
    text_input: str = "text-input"
    send: str = "send-button"
    agent_response: str = "agent-response"
    history: str = "conversation-history"
    greeting: str = "greeting-sent"
    error_count: str = "agent-error-count"
    recoverable_error_count: str = "recoverable-agent-error-count"
    audio_chunks: str = "agent-audio-chunks-received"
    audio_played: str = "agent-audio-chunks-played"
    microphone: str = "microphone-button"   # "": the app has no microphone control (the voice tests skip)
    event_log: str = "event-log"


@dataclass(frozen=True)
class ReplyOutcome:
    reply: str | None = None     # the agent's reply text, when one came
    closed: bool = False         # the app showed `closed` before any reply
    waited_s: float = 0.0
    gave_up: str | None = None   # why no reply can come, when the caller's give_up said so first


GIVE_UP_POLL_S = 0.1  # how often a reply wait asks its give_up whether a reply can still come


# Resolves to {reply} once an assistant message follows the last user entry (or agent-response
# changed from what it showed before the send), to {closed} when the app shows `closed`. Texts in
# `ignore` (a configured greeting, which may still be on its way at the send) never count as the reply.
_REPLY_OR_CLOSE = """({history, response, status, before, ignore}) => {
  const q = (id) => document.querySelector(`[data-testid="${id}"]`);
  const counts = (text) => !ignore.includes(text.trim());
  const entries = [...(q(history)?.children ?? [])];
  let lastUser = -1;
  entries.forEach((el, i) => { if (el.dataset.role === 'user') lastUser = i; });
  if (lastUser >= 0) {
    const replies = entries.slice(lastUser + 1)
      .filter((el) => el.dataset.role === 'assistant' && counts(el.textContent));
    if (replies.length) return {reply: replies[replies.length - 1].textContent};
  } else {
    const text = q(response)?.textContent ?? '';
    if (text !== before && text !== '""" + PLACEHOLDER + """' && counts(text)) return {reply: text};
  }
  if ((q(status)?.textContent ?? '').trim() === 'closed') return {closed: true};
  return false;
}"""


class AppDriver:
    def __init__(self, page: Page, app_url: str, proxy_endpoint: str, selectors: Selectors = Selectors(),
                 endpoint_param: str = "proxyEndpoint", extra_params: dict[str, str] | None = None,
                 recorded: bool = True):
        self.page, self.app_url, self.proxy_endpoint, self.s = page, app_url, proxy_endpoint, selectors
        self.recorded = recorded   # the app's connection goes through the client tap (leg A is on the timeline)
        self.endpoint_param = endpoint_param
        self.extra_params = {"connectionMode": "proxy"} if extra_params is None else extra_params

    def by(self, testid: str):
        return self.page.get_by_test_id(testid)

    def text(self, testid: str) -> str:
        return (self.by(testid).text_content(timeout=units(5) * 1000) or "").strip()

    def open(self, **params: str) -> None:
        """Load the app with the proxy endpoint (and extra URL parameters) and wait until it is ready."""
        query = urlencode({**self.extra_params, self.endpoint_param: self.proxy_endpoint, **params})
        joiner = "&" if "?" in self.app_url else "?"
        self.page.goto(f"{self.app_url}{joiner}{query}", timeout=units(15) * 1000)
        self.by(self.s.root).wait_for(state="attached", timeout=units(10) * 1000)

    def connect(self, timeout_s: float | None = None) -> str:
        """Open the connection by focusing the input and wait: `ready` once the app shows SettingsApplied,
        `closed` if this attempt closed first, `timeout` if neither happened within timeout_s."""
        self.by(self.s.text_input).focus()
        handle = self.wait_until(
            """({ready, log}) => {
                const q = (id) => document.querySelector(`[data-testid="${id}"]`)?.textContent ?? '';
                if (q(ready).trim() === 'true') return 'ready';
                // The status alone can flash `connected`; the log tells whether this attempt closed.
                if (/ close /.test(q(log))) return 'closed';
                return false;
            }""",
            {"ready": self.s.settings_applied, "log": self.s.event_log}, timeout_s or units(10))
        return handle.json_value() if handle is not None else "timeout"

    def send(self, text: str) -> float:
        """Type and send a user message; the monotonic time of the click."""
        self.by(self.s.text_input).fill(text)
        sent_at = time.monotonic()
        self.by(self.s.send).click()
        return sent_at

    def wait_until(self, predicate_js: str, arg, timeout_s: float):
        """Wait until the page-side predicate returns something truthy; its handle, or None on timeout."""
        try:
            return self.page.wait_for_function(predicate_js, arg=arg, timeout=timeout_s * 1000, polling=10)
        except PlaywrightTimeoutError:
            return None

    def wait_for_reply(self, timeout_s: float, before: str = PLACEHOLDER, ignore: tuple[str, ...] = (),
                       give_up: Callable[[], str | None] | None = None) -> ReplyOutcome:
        """Wait for an agent reply after the last send, not one of the `ignore` texts; return early when the
        app shows `closed`, or when give_up (asked every GIVE_UP_POLL_S) says why no reply can come."""
        start = time.monotonic()
        deadline = start + timeout_s
        arg = {"history": self.s.history, "response": self.s.agent_response, "status": self.s.status,
               "before": before, "ignore": [t.strip() for t in ignore]}
        handle, why = None, None
        while handle is None and why is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            handle = self.wait_until(_REPLY_OR_CLOSE, arg, min(remaining, GIVE_UP_POLL_S) if give_up else remaining)
            why = give_up() if handle is None and give_up else None
        value = handle.json_value() if handle is not None else {}
        return ReplyOutcome(reply=value.get("reply"), closed=bool(value.get("closed")),
                            waited_s=time.monotonic() - start, gave_up=why)

    def wait_for_text(self, testid: str, value: str, timeout_s: float) -> bool:
        """True once the element's text is value; False if it is not within the timeout."""
        return self.wait_until(
            "([id, value]) => document.querySelector(`[data-testid=\"${id}\"]`)?.textContent.trim() === value",
            [testid, value], timeout_s) is not None

    def has_microphone(self) -> bool:
        return bool(self.s.microphone) and self.by(self.s.microphone).count() > 0

    def speak(self) -> float:
        """Start the microphone (the browser's capture plays the test's WAV); the monotonic time of the click."""
        started = time.monotonic()
        self.by(self.s.microphone).click()
        return started

    def stop_speaking(self) -> None:
        self.by(self.s.microphone).click()

    def audio_counts(self) -> tuple[int, int]:
        """Reply audio chunks (received, finished playing)."""
        return int(self.text(self.s.audio_chunks) or 0), int(self.text(self.s.audio_played) or 0)

    def error_count(self) -> int:
        return int(self.text(self.s.error_count) or 0)

    def history(self) -> list[tuple[str, str]]:
        entries = self.by(self.s.history).locator("[data-role]")
        return [(e.get_attribute("data-role") or "", (e.text_content() or "").strip()) for e in entries.all()]

    def event_log(self) -> str:
        return self.text(self.s.event_log)
