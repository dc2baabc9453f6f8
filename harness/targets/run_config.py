"""What one run targets: the profile, the base scenario, the defect, the gate, where reports go."""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from voice_harness.judging import catalogue
from voice_harness.mock_upstream import scenario as scenarios
from voice_harness.targets import defect_registry, profiles
from voice_harness import options
from voice_harness.errors import UsageProblem
from voice_harness.wire import cassette
from voice_harness.wire.redaction import KEY_ENV

# Variants of the reference proxy (python -m reference_proxy --variant NAME): minimal ignores greeting, context
# and functions, so the sensitivity matrix can show that no core defect hides behind an optional feature.
VARIANTS = options.VARIANTS


@dataclass(frozen=True)
class RunConfig:
    profile: profiles.Profile
    scenario: scenarios.Scenario
    scenario_name: str | None
    defect: str | None
    strict: bool
    reports_dir: Path
    variant: str | None = None     # the reference proxy's variant (minimal), through the profile's variant_args
    replay_speed: float = 1.0      # --upstream replay:PATH: recorded delays divided by this
    cassettes: dict = field(default_factory=dict)   # --upstream replay:PATH: the cassettes, by test

    @property
    def replay(self) -> bool:
        return self.profile.upstream.mode == profiles.REPLAY

    @property
    def real_upstream(self) -> bool:
        return self.profile.upstream.mode == "real"

    def describe(self) -> dict:
        upstream = self.profile.upstream
        return {"profile": self.profile.name,
                "upstream": f"replay:{upstream.replay}" if self.replay else upstream.mode,
                "proxy": self.profile.proxy.url or "started by the profile's command",
                "app": self.profile.app.url or "bundled", "scenario": self.scenario_name, "defect": self.defect,
                "variant": self.variant, "strict": self.strict}


@dataclass(frozen=True)
class Options:
    """The user's choices a run configuration is built from: each field is the harness option of the same dest
    (voice_harness.options), read by name from pytest's options or the CLI's arguments, so adding one is a field
    here (and its Option there); its default is the option's."""

    profile: str = "reference"
    scenario: str | None = None
    defect: str | None = None
    harness_strict: bool = False
    reports_dir: Path = Path("reports")
    proxy_cmd: str | None = None
    proxy_url: str | None = None
    app_url: str | None = None
    upstream: str | None = None
    variant: str | None = None
    replay_speed: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "reports_dir", Path(self.reports_dir))

    @classmethod
    def from_values(cls, value, **given) -> Options:
        """Every field from value(option) (an options.Option: its dest names the field), except those given."""
        by_dest = {option.dest: option for option in options.OPTIONS}
        return cls(**{f.name: given[f.name] if f.name in given else value(by_dest[f.name])
                      for f in dataclasses.fields(cls)})

    @classmethod
    def from_pytest(cls, config, **given) -> Options:
        """From a pytest config with the harness's options (the plugin's); the reports go to reports/ in the
        directory pytest was called from unless --reports-dir says where."""
        given.setdefault("reports_dir", config.getoption("--reports-dir") or config.invocation_params.dir / "reports")
        return cls.from_values(lambda option: config.getoption(option.name), **given)

    @classmethod
    def from_args(cls, namespace, **given) -> Options:
        """From the CLI's parsed arguments (options.add_to_cli); an option the command does not offer keeps its
        default."""
        return cls.from_values(lambda option: getattr(namespace, option.dest, option.default), **given)


def build(choices: Options) -> RunConfig:
    """Resolve the user's choices; a bad one raises UsageProblem with one line saying what to do."""
    loaded = profiles.with_overrides(profiles.load(choices.profile), choices.proxy_cmd, choices.proxy_url,
                                     choices.app_url, choices.upstream)
    if loaded.upstream.mode == "real":
        loaded = _real_key(loaded)
    try:
        base = scenarios.load(choices.scenario) if choices.scenario else scenarios.load("default")
    except scenarios.ScenarioError as exc:
        raise UsageProblem(str(exc)) from None
    unknown = sorted(set(base.expect) - set(catalogue.load()))
    if unknown:
        raise UsageProblem(f"scenario {base.name!r}: expect names an unknown requirement id {unknown[0]!r} "
                           f"(ids are defined in harness/judging/requirements.toml)")
    _check_switch("defect", choices.defect, sorted(defect_registry.load()), loaded.can_switch_defects, loaded.name)
    _check_switch("variant", choices.variant, VARIANTS, loaded.can_switch_variants, loaded.name)
    speed, cassettes = _replay(loaded, choices.replay_speed)
    return RunConfig(loaded, base, choices.scenario, choices.defect, choices.harness_strict, choices.reports_dir,
                     choices.variant, speed, cassettes)


# Values people put where a key goes when they have none (a whole-value match: a real key is long and random).
_PLACEHOLDER_KEY = re.compile(r"(sk-)?(dummy|test|fake|mock|placeholder|changeme|example|none|null|secret|"
                              r"your[-_ ]?(api[-_ ]?)?key.*|x+|\.+|<.*>|\$\{.*\}|\{.*\})", re.IGNORECASE)
MIN_KEY_CHARS = 20


def is_placeholder_key(value: str) -> bool:
    """A value people put where a key goes when they have none (sk-dummy, your-key, <OPENAI_API_KEY>, too short)."""
    return len(value) < MIN_KEY_CHARS or bool(_PLACEHOLDER_KEY.fullmatch(value.strip()))


def _real_key(profile: profiles.Profile) -> profiles.Profile:
    """Real mode: the key comes from the environment (a CI secret), always over a profile's proxy.env, and must be
    a key, not a placeholder; the profile without an OPENAI_API_KEY of its own."""
    key = os.environ.get(KEY_ENV, "")
    if not key:
        raise UsageProblem(f"the real upstream needs {KEY_ENV} in the environment "
                           f"(export it, or run against the mock: --upstream mock)")
    if is_placeholder_key(key):
        raise UsageProblem(f"{KEY_ENV} in the environment is a placeholder, not a key ({len(key)} characters): "
                           f"set the real key (a CI secret) for real mode, or run against the mock: --upstream mock")
    env = {name: value for name, value in profile.proxy.env.items() if name != KEY_ENV}
    return dataclasses.replace(profile, proxy=dataclasses.replace(profile.proxy, env=env))


def _replay(profile: profiles.Profile, speed: str | None) -> tuple[float, dict]:
    """--upstream replay:PATH: its cassettes (read now: a malformed one is a usage error) and the speed."""
    if profile.upstream.mode != profiles.REPLAY:
        if speed is not None:
            raise UsageProblem("--replay-speed applies to --upstream replay:PATH only")
        return 1.0, {}
    try:
        value = float(speed) if speed is not None else 1.0
    except ValueError:
        value = 0.0
    if not 0.01 <= value <= 100:
        raise UsageProblem(f"--replay-speed must be a number from 0.01 to 100, not {speed!r}")
    try:
        return value, cassette.load_all(profile.upstream.replay)
    except cassette.CassetteError as exc:
        raise UsageProblem(f"--upstream replay: {exc}") from None


def _check_switch(kind: str, value: str | None, known, profile_can: bool, profile: str) -> None:
    """A --defect or --variant names a known one, and the profile starts a proxy it can be passed to."""
    if value is None:
        return
    if value not in known:
        raise UsageProblem(f"unknown {kind} {value!r}: use one of {', '.join(known)}")
    if not profile_can:
        raise UsageProblem(f"profile {profile!r} starts no proxy with proxy.{kind}_args, so --{kind} cannot be "
                           f"applied")


# On the 2-core development machine, more workers than cores made the passing suite slower (47 s with 2,
# 53 s with 3 or 4); each worker starts its own browser, proxy and mock, so past a few the start-up outweighs
# what is left to share out among 60 tests.
MAX_AUTO_WORKERS = 4
_SERIAL_ONLY = ("--pdb", "--trace", "--headed")   # a debugger or a watched browser wants one test at a time


def _chooses_workers(pytest_args: list[str]) -> bool:
    """The pytest arguments already say how many workers (-n, --tx) or that xdist is off (-p no:xdist).
    --dist and the like only shape the distribution: workers are still added for them."""
    return any(a in ("-n", "--numprocesses", "--tx", "no:xdist", "-pno:xdist")
               or a.startswith(("--numprocesses=", "--tx="))
               or (a.startswith("-n") and a[2:].isalnum()) for a in pytest_args)


def workers(requested: str, config: RunConfig, pytest_args: list[str], cpus: int) -> int:
    """pytest-xdist workers for the run, 1 meaning serial (0: the pytest arguments decide). `auto`: one per CPU
    up to MAX_AUTO_WORKERS, except where every worker cannot have a proxy and a mock of its own (a proxy
    already running at a URL, a mock on a fixed port), with the real upstream (one session at a time against
    the paid service) and when debugging or watching the browser."""
    if _chooses_workers(pytest_args):
        return 0
    shared = ("a proxy already running at a URL" if config.profile.proxy.url else
              f"a mock upstream on the fixed port {config.profile.upstream.port}" if config.profile.upstream.port
              else None)
    if requested != "auto":
        count = int(requested)
        if count > 1 and shared:
            raise UsageProblem(f"--workers {count} needs a proxy and a mock per worker, but profile "
                               f"{config.profile.name!r} tests {shared}: use --workers 1")
        return count
    if shared or config.real_upstream or any(a in _SERIAL_ONLY for a in pytest_args):
        return 1
    return max(1, min(cpus, MAX_AUTO_WORKERS))


def available_cpus(cgroup_cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPUs this process may use: its affinity, and a container's CPU quota where one is set."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        count = os.cpu_count() or 1
    try:
        quota, period = cgroup_cpu_max.read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass  # no cgroup v2 quota here
    return count
