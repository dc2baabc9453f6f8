"""MAP-11: the items the proxy made itself (context, greeting) are not echoed back to the client as
`ConversationText` when the service confirms them; a greeting is shown once per connection.

Judged against the `Settings` the app actually sent (app_settings), per client connection. Pure, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voice_harness.judging import app_settings
from voice_harness.judging.sessions import Violation, at, frames_of, item_text, upstream_connections
from voice_harness.judging.timeline import (CLIENT_TO_PROXY, PROXY_TO_CLIENT, PROXY_TO_UPSTREAM, UPSTREAM_TO_PROXY,
                                            Frame, Timeline)
from voice_harness.judging.turns import CONFIRMATIONS


@dataclass
class Echoes:
    """What MAP-11 needs and found: the context items the proxy made and the service confirmed (the situation),
    the ConversationText that echoed one of them, and each greeting shown more than once on its connection."""

    confirmed: list[tuple[Frame, Frame]] = field(default_factory=list)   # (the proxy's item, its confirmation)
    echoed: list[tuple[Frame, Frame]] = field(default_factory=list)      # (the proxy's item, the echo to the client)
    repeated_greetings: list[Frame] = field(default_factory=list)        # the second showing of a greeting

    @property
    def provoked(self) -> bool:
        return bool(self.confirmed)

    def violation(self, timeline: Timeline) -> Violation | None:
        if self.echoed:
            item, echo = self.echoed[0]
            return Violation("MAP-11", f"{at(timeline, echo)} echoed the context item the proxy made itself "
                                       f"({at(timeline, item)}): {item_text(item)!r}", (item, echo))
        if self.repeated_greetings:
            again = self.repeated_greetings[0]
            return Violation("MAP-11", f"the greeting was shown again ({at(timeline, again)}) on the same connection",
                             (again,))
        return None


def echoes(timeline: Timeline) -> Echoes:
    found = Echoes()
    for conn in upstream_connections(timeline):
        settings = app_settings.sent(timeline, conn)
        if settings is None:
            continue
        frames = frames_of(timeline, conn)
        typed = {(f.message or {}).get("content") for f in frames
                 if f.route == CLIENT_TO_PROXY and f.type == "InjectUserMessage"}
        shown = [f for f in frames if f.route == PROXY_TO_CLIENT and f.type == "ConversationText"]
        for role, content in settings.context:
            item = next((f for f in frames if f.route == PROXY_TO_UPSTREAM and f.type == "conversation.item.create"
                         and f.role == role and item_text(f) == content), None)
            if item is None:
                continue
            confirmation = next((f for f in frames if f.route == UPSTREAM_TO_PROXY and f.type in CONFIRMATIONS
                                 and f.t > item.t and item.item_id is not None and f.item_id == item.item_id), None)
            if confirmation is not None:
                found.confirmed.append((item, confirmation))
            # A typed turn's echo is MAP-2's; the greeting shown again (apps send their history back as context,
            # greeting included) is judged as a repeated greeting below, not as an echoed item.
            echo = next((f for f in shown if f.t > item.t and (f.message or {}).get("content") == content
                         and not (f.role == "user" and content in typed)
                         and not (f.role == "assistant" and content == settings.greeting)), None)
            if echo is not None:
                found.echoed.append((item, echo))
        if settings.greeting:
            greetings = [f for f in shown if f.role == "assistant" and (f.message or {}).get("content") == settings.greeting]
            found.repeated_greetings.extend(greetings[1:2])
    return found
