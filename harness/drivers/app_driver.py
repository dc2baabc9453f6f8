"""Drives a browser app that follows the DOM contract (PROTOCOL.md section 6) through Playwright."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
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
    # Optional: a control that ends the connection and keeps the page (PROTOCOL.md section 6). "": the app has
    # none; disconnect() then uses the app's page hook if it has one, else closes the page.
    disconnect: str = ""
    # Optional: who closed the last connection, `client` or `server` (the bundled app has it). An app without it
    # is read from its event log's close line (` by=client` / ` by=server`), if it writes one.
    close_initiator: str = "close-initiator"


@dataclass(frozen=True)
class ReplyOutcome:
    reply: str | None = None     # the agent's reply text, when one came
    closed: bool = False         # the app showed `closed` before any reply
    waited_s: float = 0.0
    gave_up: str | None = None   # why no reply can come, when the caller's give_up said so first


# How disconnect() ends the connection (AppDriver.disconnect_means).
HOOK, CONTROL, PAGE_CLOSE = "hook", "control", "page"
_HAS_DISCONNECT_HOOK = "() => typeof window.voiceAgentApp?.disconnect === 'function'"

GIVE_UP_POLL_S = 0.1  # how often a reply wait asks its give_up whether a reply can still come

# The app's idle timer (PROTOCOL.md section 6): the URL parameter of the contract, in milliseconds, 0 off. The
# harness opens every app with the timer off (IDLE_OFF) unless the profile's extra_params or the test says
# otherwise: many tests wait on the proxy for 10 s and more without agent activity (function-call recovery,
# reply bounds), and an app that closed the socket then would turn their verdicts into the app's doing. A test
# that wants the timer asks for it: app.open(**idle_timer(1500)).
IDLE_PARAM = "idleTimeout"
IDLE_OFF = "0"
CLIENT, SERVER = "client", "server"   # close_initiator()
_CLOSE_BY = re.compile(r" close .*\bby=(client|server)\b")
IDLE_CLOSE_NOTE = "(idle timeout)"    # the bundled app's event log line when its idle timer closed the socket


def idle_timer(ms: int) -> dict[str, str]:
    """The URL parameters that switch the app's idle timer on with this timeout (open(**idle_timer(1500)))."""
    return {IDLE_PARAM: str(int(ms))}


# Resolves to {reply} once an assistant message follows the last user entry (or agent-response
# changed from what it showed before the send), to {closed} when the app shows `closed`. Texts in
# `ignore` (the assistant text the app itself sent in its Settings: its greeting, which may still be on its
# way at the send, and its assistant context, which a proxy may echo back) never count as the reply, shown bare or after a role prefix ("assistant: ..."; the text format is the app's business).
_IS_IGNORED_JS = """(text, ignore) => {
  const t = text.trim();
  const prefixed = (g) => t.endsWith(g) && /^[A-Za-z ]{0,20}:\\s*$/.test(t.slice(0, t.length - g.length));
  return ignore.some((g) => t === g || prefixed(g));
}"""
# Only history entries added since the send (`since`: how many there were then) count: an earlier turn's
# reply is no answer to this one, also before this turn's user echo has arrived.
_REPLY_OR_CLOSE = """({history, response, status, before, ignore, since}) => {
  const q = (id) => document.querySelector(`[data-testid="${id}"]`);
  const counts = (text) => !(""" + _IS_IGNORED_JS + """)(text, ignore);
  const entries = [...(q(history)?.children ?? [])].slice(since);
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


_ROLE_PREFIX = re.compile(r"[A-Za-z ]{0,20}:\s*")


def is_ignored(text: str, ignore: Iterable[str]) -> bool:
    """The text is one of `ignore`, bare or after a role prefix (as _IS_IGNORED_JS decides in the page)."""
    shown = text.strip()
    return any(shown == g or (shown.endswith(g) and _ROLE_PREFIX.fullmatch(shown[:len(shown) - len(g)]))
               for g in (t.strip() for t in ignore) if g)


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

    def url(self, **params: str) -> str:
        """The app's URL with the proxy endpoint and extra URL parameters. Its idle timer is off unless the
        profile's extra_params or params set IDLE_PARAM (idle_timer())."""
        query = urlencode({IDLE_PARAM: IDLE_OFF, **self.extra_params, self.endpoint_param: self.proxy_endpoint,
                           **params})
        joiner = "&" if "?" in self.app_url else "?"
        return f"{self.app_url}{joiner}{query}"

    def open(self, **params: str) -> None:
        """Load the app (url(**params)) and wait until it is ready."""
        self.page.goto(self.url(**params), timeout=units(15) * 1000)
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

    def history_length(self) -> int:
        """How many entries the conversation history shows now (a reply wait's `since`)."""
        return self.page.evaluate("(id) => document.querySelector(`[data-testid=\"${id}\"]`)?.children.length ?? 0",
                                  self.s.history)

    def wait_for_reply(self, timeout_s: float, before: str = PLACEHOLDER,
                       ignore: tuple[str, ...] | Callable[[], tuple[str, ...]] = (),
                       give_up: Callable[[], str | None] | None = None, since: int = 0) -> ReplyOutcome:
        """Wait for an agent reply after the last send, not one of the `ignore` texts, among the history entries
        after the first `since` (history_length() before the send); return early when the app shows
        `closed`, or when give_up (asked every GIVE_UP_POLL_S) says why no reply can come.
        `ignore` may be a function (the greeting and assistant context the app's Settings sent, read from the
        recording): it is asked again every GIVE_UP_POLL_S and once more when the page shows a reply, so a
        greeting whose Settings went out after the wait began is still never taken for the reply (the Settings
        is on the wire before the greeting it asks for can reach the page)."""
        start = time.monotonic()
        deadline = start + timeout_s
        current = ignore if callable(ignore) else (lambda: ignore)
        polls = give_up is not None or callable(ignore)
        arg = {"history": self.s.history, "response": self.s.agent_response, "status": self.s.status,
               "before": before, "since": since}
        value, why = {}, None
        while not value and why is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            texts = [t.strip() for t in current()]
            handle = self.wait_until(_REPLY_OR_CLOSE, {**arg, "ignore": texts},
                                     min(remaining, GIVE_UP_POLL_S) if polls else remaining)
            value = handle.json_value() if handle is not None else {}
            if value.get("reply") is not None and is_ignored(value["reply"], current()):
                value = {}   # the greeting, named only now: wait on with it ignored
            why = give_up() if not value and give_up else None
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
        """Start the microphone (the browser's capture plays the test's WAV); the monotonic time of the click.
        Each speak() is a capture of its own: speak(), stop_speaking(), speak() again sends the WAV twice on one
        connection (the bundled app opens a new capture and worklet each time; Chromium's fake device plays the
        file from its start for each capture)."""
        started = time.monotonic()
        self.by(self.s.microphone).click()
        return started

    def stop_speaking(self) -> None:
        """Stop the microphone (a click on its control; a start still in progress is stopped once done)."""
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

    # ------------------------------------------------------------ optional capabilities (PROTOCOL.md section 6)

    def close_initiator(self) -> str | None:
        """Who closed the app's last connection, as the app saw it: CLIENT (the app itself: its idle timer, a
        disconnect) or SERVER; None before any close (while a connection is open, for an app with the element),
        or when the app shows neither (no close-initiator element and no ` close ... by=` line in its event log).
        The recording says the same from the wire (which side sent the close frame first); this is the app's own
        account, for a failure report in the browser's words."""
        if self.s.close_initiator and self.by(self.s.close_initiator).count() > 0:
            shown = self.text(self.s.close_initiator)
            return shown if shown in (CLIENT, SERVER) else None
        closes = _CLOSE_BY.findall(self.event_log())
        return closes[-1] if closes else None

    def closed_by_idle_timer(self) -> bool:
        """The app's event log says its idle timer closed the connection (the bundled app's wording)."""
        return IDLE_CLOSE_NOTE in self.event_log()

    def has_played_counter(self) -> bool:
        """The app shows how many reply audio chunks finished playing (an optional element)."""
        return bool(self.s.audio_played) and self.by(self.s.audio_played).count() > 0

    def disconnect_means(self) -> str:
        """How disconnect() will end the connection: `hook` (the page's window.voiceAgentApp.disconnect, which the
        bundled app has), `control` (the profile's disconnect selector, on the page), else `page` (the page is
        closed: the only client-side close every app has)."""
        if self.page.is_closed():
            return PAGE_CLOSE
        if self.page.evaluate(_HAS_DISCONNECT_HOOK):
            return HOOK
        if self.s.disconnect and self.by(self.s.disconnect).count() > 0:
            return CONTROL
        return PAGE_CLOSE

    def disconnect(self) -> str:
        """End the app's connection from the client side, by the first means the app offers (disconnect_means);
        the means used. After `page` the page is gone: reopen() gives the app a new page in the same browser
        context (its storage kept, as a returning user's)."""
        means = self.disconnect_means()
        if means == HOOK:
            self.page.evaluate("() => window.voiceAgentApp.disconnect()")
        elif means == CONTROL:
            self.by(self.s.disconnect).click()
        elif not self.page.is_closed():
            self.page.close()   # the browser closes the page's sockets (close code 1001, going away)
        return means

    def reopen(self, **params: str) -> None:
        """open() again; on a new page of the same browser context if disconnect() closed the page."""
        if self.page.is_closed():
            self.page = self.page.context.new_page()
        self.open(**params)
