"""An app's optional capabilities (PROTOCOL.md section 6): the table (app_capabilities.toml: what each one is and
the ids with a test that needs it) and the pure decisions that say which ones an app has, from what it did.

The decisions read observations, never the app's code or what it was asked: a URL parameter is honoured when
the `Settings` the app sent on leg A carries the value it was given (and not when that value is only its own
default), the microphone when clicking its control sent audio, and so on. `voice-harness app-check` makes the
observations (harness/tools/app_check.py); this module only judges them, so it is tested without a browser.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from importlib import resources

from voice_harness.judging import app_settings
from voice_harness.wire.recording import Frame

TABLE_FILE = "app_capabilities.toml"
YES, NO, UNKNOWN = "yes", "no", "not probed"

# What the probe asks for through the URL: values no app has as its own defaults.
PROBE_GREETING = "Greetings from the harness's capability probe."
PROBE_PROMPT = "Capability probe prompt: answer in one short sentence."
PROBE_CONTEXT = ({"role": "user", "content": "Capability probe: my name is Probe."},
                 {"role": "assistant", "content": "Capability probe: hello, Probe."})
PROBE_FUNCTIONS = ({"name": "capability_probe", "description": "A function the capability probe offers",
                    "parameters": {"type": "object", "properties": {}}},)
PROBE_RATES = (16000, 24000)   # the probe asks for the first that is not the app's own rate
# What the bundled test app does not have (app-check on it agrees: tests/tools/test_app_check.py), so a run
# with it can print its capabilities without probing.
BUNDLED_APP_LACKS = ("inputRate",)


@dataclass(frozen=True)
class Capability:
    name: str                   # the key in the table (a URL parameter's own name for those)
    label: str                  # how the table prints it
    finds: str                  # what app-check looks for
    ids: tuple[str, ...]        # the ids with a test that needs it
    param: str | None = None    # the URL parameter, for the parameters


@dataclass(frozen=True)
class Finding:
    capability: Capability
    has: str                    # YES, NO or UNKNOWN
    why: str                    # what was seen

    @property
    def unlocks(self) -> str:
        return ", ".join(self.capability.ids) or "-"


def table() -> list[Capability]:
    """The capability table, in its file's order."""
    data = tomllib.loads(resources.files("voice_harness.drivers").joinpath(TABLE_FILE).read_text())
    return [Capability(name, row["label"], row["finds"], tuple(row.get("ids", ())), row.get("param"))
            for name, row in data.items()]


def by_name() -> dict[str, Capability]:
    return {c.name: c for c in table()}


def settings_of(raw: dict | None) -> app_settings.AppSettings | None:
    """A Settings message (as the app sent it) read the way the checks read it."""
    if not isinstance(raw, dict):
        return None
    return app_settings.parse(Frame(t=0.0, leg="A", arrow="->", kind="text", type="Settings", data=raw))


def probe_params(baseline: dict | None) -> dict[str, str]:
    """The URL parameters the probe opens the app with: every optional one, with values that cannot be the
    app's own (the input rate: one the app did not declare when opened without parameters)."""
    own_rate = (settings_of(baseline) or _EMPTY).input_rate
    rate = next(r for r in PROBE_RATES if r != own_rate)
    return {"greeting": PROBE_GREETING, "prompt": PROBE_PROMPT, "context": json.dumps(list(PROBE_CONTEXT)),
            "functions": json.dumps(list(PROBE_FUNCTIONS)), "inputRate": str(rate)}


def _in_order(wanted: list, got: list) -> bool:
    remaining = iter(got)
    return all(item in remaining for item in wanted)


def url_parameters(baseline: dict | None, probed: dict | None, asked: dict[str, str]) -> dict[str, tuple[str, str]]:
    """Which URL parameters the app honoured, {name: (YES|NO|UNKNOWN, what was seen)}, from the Settings it sent
    when opened without them (baseline) and with them (probed, asked: the parameters given). A value the app
    already sent without being asked proves nothing: that parameter is then not honoured."""
    before, after = settings_of(baseline), settings_of(probed)
    if after is None:
        why = "the app sent no Settings when opened with the parameters"
        return {name: (UNKNOWN, why) for name in asked}
    out: dict[str, tuple[str, str]] = {}
    for name, value in asked.items():
        if name == "greeting":
            seen, own = after.greeting == value, before is not None and before.greeting == value
            shown = after.greeting
        elif name == "prompt":
            seen, own = value in (after.prompt or ""), before is not None and value in (before.prompt or "")
            shown = after.prompt
        elif name == "context":
            want = [(m["role"], m["content"]) for m in json.loads(value)]
            seen, own = _in_order(want, list(after.context)), before is not None and _in_order(want, list(before.context))
            shown = list(after.context)
        elif name == "functions":
            want = [f["name"] for f in json.loads(value)]
            seen = set(want) <= set(after.function_names)
            own = before is not None and set(want) <= set(before.function_names)
            shown = after.function_names
        elif name == "inputRate":
            seen, own = after.input_rate == int(value), before is not None and before.input_rate == int(value)
            shown = after.input_rate
        else:
            continue
        if seen and not own:
            out[name] = (YES, f"asked {_short(value)}, sent it")
        else:
            out[name] = (NO, f"asked {_short(value)}, sent {_short(shown)}")
    return out


def _short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return repr(text if len(text) <= 48 else text[:45] + "...")


def decide(observations: dict) -> list[Finding]:
    """Every capability of the table, decided from app-check's observations (a dict, as the probe writes it:
    baseline, probed, asked, microphone, mic_early, disconnect, played, idle). A capability the probe could not
    look at is UNKNOWN, with the reason."""
    params = url_parameters(observations.get("baseline"), observations.get("probed"), observations.get("asked", {}))
    findings = []
    for capability in table():
        if capability.param == "micEarly":
            has, why = _mic_early(observations.get("mic_early"))
        elif capability.param is not None:
            has, why = params.get(capability.param, (UNKNOWN, "not asked"))
        elif capability.name == "microphone":
            has, why = _microphone(observations.get("microphone"))
        elif capability.name == "disconnect":
            has, why = _disconnect(observations.get("disconnect"))
        elif capability.name == "played":
            has, why = _element(observations.get("played"), "the counter")
        elif capability.name == "idle":
            has, why = _idle(observations.get("idle"))
        else:
            has, why = UNKNOWN, "no probe for it"
        findings.append(Finding(capability, has, why))
    return findings


def _microphone(seen: dict | None) -> tuple[str, str]:
    if not seen:
        return UNKNOWN, "not probed"
    if not seen.get("control"):
        return NO, "no microphone control on the page"
    frames = int(seen.get("frames", 0))
    return (YES, f"{frames} audio frames after the click") if frames else (NO, "the control sent no audio")


def _mic_early(seen: dict | None) -> tuple[str, str]:
    if not seen:
        return UNKNOWN, "not probed (it needs the microphone)"
    early = int(seen.get("early_frames", 0))
    return (YES, f"{early} audio frames before SettingsApplied") if early else \
        (NO, "no audio before SettingsApplied")


def _disconnect(means: str | None) -> tuple[str, str]:
    if means is None:
        return UNKNOWN, "not probed"
    if means in ("hook", "control"):
        return YES, f"the app's {means} closed the connection"
    return NO, "none: the harness closes the page to disconnect"


def _element(present: bool | None, what: str) -> tuple[str, str]:
    if present is None:
        return UNKNOWN, "not probed"
    return (YES, f"{what} is on the page") if present else (NO, f"{what} is not on the page")


def idle_probe_ms(wait_s: float) -> int:
    """The idleTimeout the idle probe asks for: half its wait, so an app that honours the parameter closes well
    within it (and an app with a fixed timer of about 10 s still closes within the default 12 s wait)."""
    return max(1, int(wait_s * 1000 / 2))


def _idle(seen: dict | None) -> tuple[str, str]:
    if not seen:
        return UNKNOWN, "not probed"
    asked = f" (asked idleTimeout={seen['asked_ms']} ms)" if seen.get("asked_ms") is not None else ""
    if seen.get("closed_after_s") is not None:
        return YES, f"the app closed the idle connection after {seen['closed_after_s']:.1f} s{asked}"
    return NO, f"no close from the app in {seen.get('waited_s', 0):.0f} s of silence{asked}"


def rows(findings: list[Finding]) -> list[str]:
    """The printed table: capability, yes/no, the ids it unlocks, what was seen."""
    width = max(len(f.capability.label) for f in findings)
    lines = [f"{'capability':<{width}}  has         ids it unlocks"]
    for f in findings:
        lines.append(f"{f.capability.label:<{width}}  {f.has:<10}  {f.unlocks}  ({f.why})")
    return lines


def one_line(findings: list[Finding]) -> str:
    """The capabilities as one line, for the start of a run."""
    return "; ".join(f"{f.capability.label}: {f.has}" for f in findings)


def not_exercised(findings: list[Finding]) -> list[str]:
    """The ids a missing capability keeps some test of from being exercised, each with the capability."""
    out: dict[str, list[str]] = {}
    for f in findings:
        if f.has == NO:
            for rid in f.capability.ids:
                out.setdefault(rid, []).append(f.capability.label)
    return [f"{rid} ({', '.join(caps)})" for rid, caps in out.items()]


def profile_line(app) -> str:
    """What a run can say of its app's capabilities without opening it (printed at the start of a run; app is
    the profile's AppSpec): the bundled app's are known (BUNDLED_APP_LACKS); another app's microphone and
    disconnect control come from its profile, and `app-check` probes the rest."""
    if app.url is None:
        lacks = ", ".join(by_name()[name].label for name in BUNDLED_APP_LACKS)
        return f"app capabilities: the bundled test app has every optional one but: {lacks}"
    microphone = f"control {app.selectors.microphone!r}" if app.selectors.microphone else "none (voice tests skipped)"
    disconnect = f"control {app.selectors.disconnect!r}" if app.selectors.disconnect else \
        "none named (the page's hook if it has one, else the page is closed)"
    return (f"app capabilities (from the profile, not probed): microphone {microphone}; disconnect {disconnect}; "
            f"`app-check --app-url {app.url}` finds the rest")


class _Empty:
    input_rate = None


_EMPTY = _Empty()
