"""Known field defects, each a small override of the reference session, switched on by --defect.

Every defect names the requirements it must turn red: the harness's own tests
run the suites against each one to prove that its checks can fail.
"""

from __future__ import annotations

from dataclasses import dataclass

from .session import Action, Session


@dataclass(frozen=True)
class Defect:
    name: str
    description: str
    breaks: tuple[str, ...]
    session_class: type[Session]


DEFECTS: dict[str, Defect] = {}


def defect(name: str, breaks: tuple[str, ...], description: str):
    def register(cls: type[Session]) -> type[Session]:
        DEFECTS[name] = Defect(name, description, breaks, cls)
        return cls
    return register


def session_class(name: str | None) -> type[Session]:
    if name is None:
        return Session
    return DEFECTS[name].session_class


@defect("premature-response-create", ("CANARY-1", "ORD-1"),
        "sends response.create right after conversation.item.create, without waiting for the "
        "upstream to confirm the user item (the field defect behind the 2.7 s close)")
class PrematureResponseCreate(Session):
    def _inject(self, text: str) -> list[Action]:
        actions = super()._inject(text)
        self._awaiting_confirmation.clear()
        return actions + self._request_response()


@defect("settings-applied-on-created", ("READY-1",),
        "sends SettingsApplied when the upstream says session.created, before the session is configured")
class SettingsAppliedOnCreated(Session):
    _created = False

    def _upstream_session_created(self, event: dict) -> list[Action]:
        self._created = True
        return self._early_ack()

    def _client_Settings(self, message: dict) -> list[Action]:
        return super()._client_Settings(message) + self._early_ack()

    def _early_ack(self) -> list[Action]:
        if not (self._created and self._unacked_settings):
            return []
        self.ready = True  # the unconfigured session is taken for a configured one
        return self._ack_settings()
