"""The feature-minimal variant: a correct proxy for text and audio turns that lacks every optional feature.

No greeting, no context messages, no function calls. The harness runs its suites against it so that a check
cannot pass only because the proxy has a feature that provokes its situation: each defect class of the core
must be visible through text turns and audio alone. Everything else (readiness, ordering, errors, lifecycle)
is the reference's.
"""

from __future__ import annotations

from voice_harness.reference_proxy.session import Action, Log, Session, ToUpstream


class MinimalSession(Session):
    def _client_Settings(self, message: dict) -> list[Action]:
        actions = super()._client_Settings(message)
        self._greeting = None
        self._context = []
        for action in actions:
            if isinstance(action, ToUpstream) and action.event["type"] == "session.update":
                action.event["session"].pop("tools", None)
        return actions

    def _client_FunctionCallResponse(self, message: dict) -> list[Action]:
        # A known message type, so not an Error (CLI-2); there is no function call it could answer.
        return [Log("FunctionCallResponse dropped: this proxy does not support function calls")]

    def _upstream_response_function_call_arguments_done(self, event: dict) -> list[Action]:
        return [Log(f"function call {event.get('name')!r} not passed on: this proxy does not support function calls")]
