"""The `Settings` the app actually sent the proxy (leg A), read from a timeline: what the proxy is held to.

A check judges the proxy against this, never against the URL parameters the harness gave the app: a real app
sends its own prompt, greeting and context and may ignore those parameters (PROTOCOL.md section 5, "Judge
what went over the wire"). Pure functions of a timeline; a field the app did not send (or sent malformed)
reads as absent, so a check can say the app did not send it instead of blaming the proxy.
"""

from __future__ import annotations

from dataclasses import dataclass

from voice_harness.judging.timeline import CLIENT_TO_PROXY, Frame, Timeline


@dataclass(frozen=True)
class AppSettings:
    frame: Frame                                  # the Settings frame on leg A
    raw: dict                                     # the whole message as the app sent it
    prompt: str | None                            # agent.think.prompt
    greeting: str | None                          # agent.greeting (an empty one is none: nothing to show)
    context: tuple[tuple[str, str], ...]          # agent.context.messages as (role, content), in order
    functions: tuple[dict, ...]                   # agent.think.functions (those with a name)
    input_encoding: str | None                    # audio.input.encoding
    input_rate: int | None                        # audio.input.sample_rate

    @property
    def conn(self) -> int:
        return self.frame.conn

    @property
    def function_names(self) -> list[str]:
        return [f["name"] for f in self.functions]


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def parse(frame: Frame) -> AppSettings:
    """What one leg A Settings frame holds."""
    raw = _dict(frame.message)
    agent = _dict(raw.get("agent"))
    think = _dict(agent.get("think"))
    messages = _dict(agent.get("context")).get("messages")
    context = tuple((m["role"], m["content"]) for m in (messages if isinstance(messages, list) else [])
                    if isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str))
    functions = think.get("functions")
    named = tuple(f for f in (functions if isinstance(functions, list) else [])
                  if isinstance(f, dict) and isinstance(f.get("name"), str) and f["name"])
    audio_in = _dict(_dict(raw.get("audio")).get("input"))
    rate = audio_in.get("sample_rate")
    return AppSettings(frame=frame, raw=raw, prompt=_text(think.get("prompt")), greeting=_text(agent.get("greeting")),
                       context=context, functions=named, input_encoding=_text(audio_in.get("encoding")),
                       input_rate=rate if isinstance(rate, int) and not isinstance(rate, bool) and rate > 0 else None)


def all_sent(timeline: Timeline) -> list[AppSettings]:
    """Every Settings the app sent, in time order (a repeated one and each reconnect's included)."""
    return [parse(f) for f in timeline.select(route=CLIENT_TO_PROXY, type="Settings")]


def sent(timeline: Timeline, conn: int | None = None) -> AppSettings | None:
    """The first Settings the app sent on leg A connection `conn`, or the first of the test; None if none."""
    frame = timeline.first(route=CLIENT_TO_PROXY, type="Settings", conn=conn)
    return parse(frame) if frame is not None else None


def greetings(timeline: Timeline) -> tuple[str, ...]:
    """The greetings the app asked for in any Settings it sent: none of them is ever a reply."""
    return tuple(dict.fromkeys(s.greeting for s in all_sent(timeline) if s.greeting))


def not_replies(timeline: Timeline) -> tuple[str, ...]:
    """Assistant text the app itself sent in any of its Settings: its greetings and its assistant-role context
    messages. None of them is ever the agent's reply to a turn, whether the proxy shows it (a greeting) or echoes
    it back when the service confirms the item it made (MAP-11's matter, not a reply)."""
    texts = [text for s in all_sent(timeline)
             for text in ((s.greeting,) if s.greeting else ()) + tuple(c for r, c in s.context if r == "assistant")]
    return tuple(dict.fromkeys(t for t in texts if t.strip()))
