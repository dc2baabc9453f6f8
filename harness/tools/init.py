"""voice-harness init: in a proxy's repository, write what a team needs to run the harness (a commented profile, a
workflow that runs the GitHub Action, a `reports/` line in .gitignore), run the canary once, and print the next
command.

What the files say is a function of the options alone (`Plan` -> `profile_text`, `workflow_text`,
`gitignore_text`), tested without I/O; `main` does the rest: what exists, the one prompt, the writes, the run."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from voice_harness.errors import EnvironmentProblem, UsageProblem
from voice_harness.targets import profiles
from voice_harness.targets.run_config import is_placeholder_key
from voice_harness.wire.redaction import SECRET_SUFFIXES

DEFAULT_PROFILE = "voice-harness.toml"
WORKFLOW = Path(".github") / "workflows" / "voice-harness.yml"
GITIGNORE = ".gitignore"
REPORTS_LINE = "reports/"
# No tag of the harness's repository is known to the package: the placeholder makes the workflow's `uses:` line
# one to edit (init says so), never a guess at someone's account.
DEFAULT_ACTION = "your-org/voice-proxy-harness@v1"   # a placeholder: your fork or mirror of the harness, your tag
# The action's inputs the workflow may set beyond the basic ones; tests/tools/test_init.py checks every one is in
# action.yml. Without setup-command the workflow says in a comment where the proxy's dependencies get installed;
# without drift-fails the nightly runs no drift check (a finding would fail the job for the mock's sake).
ACTION_INPUTS = frozenset({"setup-command", "working-directory", "drift-fails"})
CANARY = ("--req", "CANARY-1")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN_YAML = re.compile(r"[A-Za-z0-9_.<][A-Za-z0-9_./@<>:+-]*")


@dataclass(frozen=True)
class Plan:
    """What init writes, every path already relative to where it is used."""
    command: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None                   # proxy.cwd, relative to the profile's folder
    app_url: str | None = None
    profile: str = DEFAULT_PROFILE           # the profile's path relative to the repository's root (the workspace)
    action: str = DEFAULT_ACTION             # what the workflow's `uses:` names
    setup_command: str | None = None         # installs the proxy's dependencies (e.g. npm ci), run before the harness
    working_directory: str | None = None     # where setup_command runs, relative to the root
    inputs: frozenset[str] = ACTION_INPUTS   # the optional inputs action.yml has
    secrets: tuple[str, ...] = ()            # variables left out of the profile: the proxy gets them from its environment


# ---- pure: the options -> the plan -> the texts

def parse_env(items: list[str]) -> dict[str, str]:
    """--env NAME=VALUE, repeatable; a later NAME wins."""
    env: dict[str, str] = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not _NAME.fullmatch(name):
            raise UsageProblem(f"--env takes NAME=VALUE (a variable name, then =), not {item!r}")
        env[name] = value
    return env


def plan(proxy_cmd: str, env_items: list[str], cwd: str | None = None, app_url: str | None = None,
         profile: str = DEFAULT_PROFILE, action: str = DEFAULT_ACTION, setup_command: str | None = None,
         working_directory: str | None = None, inputs: frozenset[str] = ACTION_INPUTS) -> Plan:
    """--proxy-cmd split as `voice-harness run` splits it (leading NAME=value words are its environment), then
    --env over those."""
    assignments, command = profiles.split_command(proxy_cmd)
    env = {**assignments, **parse_env(env_items)}
    if "{port}" not in " ".join([*command, *env.values()]):
        raise UsageProblem(f"--proxy-cmd {proxy_cmd!r} does not use {{port}}: give the proxy the port the harness "
                           f"picks, as a flag (--port {{port}}) or a variable (PORT={{port}} before the command)")
    if not profile.endswith(".toml"):
        raise UsageProblem(f"--profile {profile!r}: a profile is a .toml file")
    # A profile is committed: a key given on the command line stays out of it (the proxy inherits it from the
    # environment it runs in, a CI secret in the workflow).
    secrets = tuple(sorted(name for name, value in env.items() if is_secret(name, value)))
    env = {name: value for name, value in env.items() if name not in secrets}
    return Plan(tuple(command), env, cwd, app_url, profile, action, setup_command, working_directory, inputs, secrets)


def is_secret(name: str, value: str) -> bool:
    """A variable that holds a key: named as one (redaction's suffixes), or with a value shaped like an OpenAI key;
    a placeholder (sk-dummy, for a proxy that wants some key against the mock) is no secret and stays."""
    return (name.upper().endswith(SECRET_SUFFIXES) or value.startswith("sk-")) and not is_placeholder_key(value)


def _toml(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's; DEL is the one control character JSON leaves bare)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _yaml(text: str) -> str:
    """A YAML scalar: plain when nothing in it can be read as YAML syntax, else double-quoted (JSON's form)."""
    return text if _PLAIN_YAML.fullmatch(text) and text.lower() not in ("true", "false", "null", "yes", "no", "on",
                                                                          "off") else json.dumps(text)


def profile_text(p: Plan) -> str:
    command = ", ".join(_toml(part) for part in p.command)
    lines = [
        "# The conformance harness's profile for this proxy, written by `voice-harness init`; edit it freely (every",
        "# field: the harness's docs, profiles-and-scenarios.md). Used by the workflow and on the command line:",
        f"#   voice-harness run --profile {p.profile}                    # every suite, the mock upstream",
        f"#   voice-harness run --profile {p.profile} -- --req CANARY-1  # the canary only",
        f"#   voice-harness run --profile {p.profile} --upstream real    # the real API: OPENAI_API_KEY set",
        "description = \"this repository's proxy (written by voice-harness init)\"",
        "",
        "[proxy]",
        "# {port}: a free port the harness picks; {upstream_url}: the mock's (in real mode the recording tap's) ws://",
        "# URL; {python}: the harness's own interpreter. Each may be used in the command or in [proxy.env].",
        f"command = [{command}]",
        "# The folder the command runs in, relative to this file's folder (a proxy in a sub-package).",
        f"cwd = {_toml(p.cwd)}" if p.cwd else "# cwd = \"packages/proxy\"",
        "# The path the proxy serves the component protocol at.",
        "path = \"/openai\"",
        "# Ready when a TCP connect to {port} succeeds, within ready_timeout_s; or when the proxy's output matches",
        "# ready_log (a regex).",
        "# ready_log = \"listening on\"",
        "ready_timeout_s = 30",
        "",
        "# The proxy's environment; values may use the same placeholders. In real mode the key comes from your",
        "# environment (a CI secret), never from this file: an OPENAI_API_KEY here serves mock runs only.",
        "[proxy.env]",
        *(f"{name} = {_toml(value)}" for name, value in p.env.items()),
        *(f"# {name}: not written here (a secret): the proxy gets it from the environment it runs in" for name in
          p.secrets),
    ]
    if p.app_url:
        lines += ["", "# Your app instead of the bundled test app (its contract: app-contract.md).",
                  "[app]", f"url = {_toml(p.app_url)}"]
    else:
        lines += ["", "# Your own app instead of the bundled test app (its contract: app-contract.md):",
                  "# [app]", "# url = \"http://127.0.0.1:5173/\""]
    return "\n".join(lines) + "\n"


def _uses(p: Plan, name: str, *, real: bool = False, setup: bool = True, extra: tuple[str, ...] = ()) -> list[str]:
    """One step that runs the action: its `with:` inputs, and the key from the secrets for the real upstream."""
    lines = [f"      - name: {name}", f"        uses: {_yaml(p.action)}"]
    if real:
        lines += ["        env:", "          OPENAI_API_KEY: ${{ secrets.OPENAI_API_KEY }}"]
    lines += ["        with:", f"          profile: {_yaml(p.profile)}"]
    if setup:
        lines += _setup_inputs(p)
    if real:
        lines.append("          upstream: real")
    return lines + [f"          {line}" for line in extra]


def _setup_inputs(p: Plan) -> list[str]:
    """setup-command and working-directory: set when given and the action has them, else a comment to fill in."""
    lines = []
    for key, value, example in (("setup-command", p.setup_command, "npm ci"),
                                ("working-directory", p.working_directory, "packages/proxy")):
        if value and key in p.inputs:
            lines.append(f"          {key}: {_yaml(value)}")
        elif key in p.inputs:
            lines.append(f"          # {key}: {example}")
    if "setup-command" not in p.inputs:
        lines.append(f"          # your proxy's dependencies: install them in a step before this one (run: "
                     f"{p.setup_command or 'npm ci'})")
    return lines


_TOOLCHAIN = [
    "      - uses: actions/checkout@v4",
    "      # Your proxy's own toolchain, if it needs one, for example:",
    "      # - uses: actions/setup-node@v4",
    "      #   with:",
    "      #     node-version: 20",
]


def workflow_text(p: Plan) -> str:
    placeholder = p.action == DEFAULT_ACTION
    lines = [
        "# The voice-agent proxy conformance harness in this repository's CI, written by `voice-harness init`, through",
        "# its GitHub Action (inputs, caching and recipes: the harness's docs/github-action.md). The proxy is the one",
        f"# {p.profile} describes. Pull requests: every suite against the harness's mock upstream (no key, nothing",
        "# leaves the runner). Nightly: the real OpenAI Realtime API, with the key from the OPENAI_API_KEY secret.",
        "# A tag v*: the release gate (every MUST requirement, a complete run, then the canary against the real API).",
    ]
    if placeholder:
        lines += [
            "# `uses:` names the action: your-org/voice-proxy-harness@v1 is a placeholder; write your fork or mirror of",
            "# the harness's repository and one of its tags (or a commit SHA); or the folder of a copy of its action.yml in",
            "# this repository (./.github/actions/voice-harness), with harness-version: the harness to install (the",
            "# URL of a release wheel).",
        ]
    lines += [
        "name: voice-harness",
        "on:",
        "  pull_request:",
        "  push:",
        "    tags: [\"v*\"]",
        "  schedule:",
        "    - cron: \"23 4 * * *\"        # nightly, against the real API",
        "  workflow_dispatch:",
        "jobs:",
        "  mock:",
        "    if: github.event_name == 'pull_request' || github.event_name == 'workflow_dispatch'",
        "    runs-on: ubuntu-latest",
        "    timeout-minutes: 30",
        "    steps:",
        *_TOOLCHAIN,
        *_uses(p, "Conformance against the mock upstream"),
        "  nightly:",
        "    # The real API through the recording tap: CANARY-1 and the checks that only read the timeline (tests",
        "    # that script the upstream are skipped with the reason).",
        "    if: github.event_name == 'schedule'",
        "    runs-on: ubuntu-latest",
        "    timeout-minutes: 45",
        "    steps:",
        *_TOOLCHAIN,
        *_uses(p, "Conformance against the real API", real=True, extra=(
            *(("drift: \"true\"    # the mock against the service's answers: a finding is a warning, about the mock",)
              if "drift-fails" in p.inputs else ()),
            "artifact-name: conformance-reports-real")),
        "  release-gate:",
        "    # No release unless every MUST requirement passed in a complete run (a partial run is no verdict).",
        "    if: github.ref_type == 'tag'",
        "    runs-on: ubuntu-latest",
        "    timeout-minutes: 60",
        "    steps:",
        *_TOOLCHAIN,
        *_uses(p, "Every MUST requirement against the mock upstream",
               extra=("args: --require-complete", "artifact-name: release-gate-reports")),
        *_uses(p, "The canary against the real API", real=True, setup=False,
               extra=("reports-dir: reports/real", "args: --req CANARY-1",
                      "artifact-name: release-gate-real-canary-reports")),
    ]
    return "\n".join(lines) + "\n"


def gitignore_text(existing: str | None) -> str | None:
    """The .gitignore with a `reports/` line: None when it already ignores reports/ at any depth."""
    if existing is None:
        return f"{REPORTS_LINE}\n"
    if any(line.strip() in ("reports", "reports/", "/reports", "/reports/", "**/reports", "**/reports/")
           for line in existing.splitlines()):
        return None
    return existing + ("" if not existing or existing.endswith("\n") else "\n") + f"{REPORTS_LINE}\n"


def canary_args(profile: str) -> list[str]:
    return ["run", "--profile", profile, "--", *CANARY]


def next_lines(program: str, profile: str, code: int | None, placeholder_action: bool) -> list[str]:
    """What to do after init: by the canary's exit code (None: it was not run)."""
    canary = f"{program} {' '.join(canary_args(profile))}"
    full = f"{program} run --profile {profile}"
    if code is None:
        lines = [f"next: {canary}"]
    elif code == 0:
        lines = [f"the canary passed. next: {full}    # every suite against the mock (the voice tests need "
                 f"`{program} setup-speech` once)"]
    elif code == 1:
        lines = ["the canary failed against your proxy: reports/conformance.md and reports/logs/ say why.",
                 f"next, after a fix: {canary}"]
    else:
        lines = ["the canary could not judge your proxy (exit 2): the harness's line above says why.",
                 f"next, after a fix: {canary}"]
    lines.append(f"then commit {profile}, {WORKFLOW.as_posix()} and {GITIGNORE}"
                 + (" (first write your fork of the action and its tag in the workflow's `uses:` lines)" if placeholder_action else ""))
    return lines


# ---- I/O

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--proxy-cmd", help="the command that starts your proxy, as for `run` (leading NAME=value "
                                            "words are its environment); asked for when left out at a terminal")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable of the proxy (repeatable); may use {port} and {upstream_url}")
    parser.add_argument("--cwd", help="the folder the proxy's command runs in (a sub-package); in CI, the "
                                      "action's working-directory")
    parser.add_argument("--app-url", help="your app instead of the bundled test app")
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help=f"the profile to write (default {DEFAULT_PROFILE})")
    parser.add_argument("--action", default=DEFAULT_ACTION,
                        help="what the workflow's `uses:` names: OWNER/voice-proxy-harness@TAG, or the folder of a "
                             "copy of action.yml (default: a placeholder to edit)")
    parser.add_argument("--setup-command", help="what installs your proxy's dependencies in CI (e.g. 'npm ci')")
    parser.add_argument("--force", action="store_true", help="overwrite the profile and the workflow if they exist")
    parser.add_argument("--no-run", action="store_true", help="write the files, do not run the canary")


def repository_root(start: Path) -> Path:
    """The nearest folder with a .git (the workspace in CI), else the start folder."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def _relative(path: Path, to: Path) -> str:
    return Path(os.path.relpath(path.resolve(), to.resolve())).as_posix()


def check_profile(text: str, target: Path) -> None:
    """The profile loads and validates as `run` will load it: a file beside the target (proxy.cwd is relative to
    the profile's folder), removed after; a problem names the target, not the temporary file."""
    with tempfile.NamedTemporaryFile("w", suffix=".toml", dir=target.parent, delete=False) as fh:
        fh.write(text)
    try:
        profiles.load(fh.name)
    except UsageProblem as exc:
        raise UsageProblem(str(exc).replace(fh.name, str(target))) from None
    finally:
        os.unlink(fh.name)


def _ask_command(args) -> str:
    if args.proxy_cmd is not None:
        return args.proxy_cmd
    if not sys.stdin.isatty():
        raise UsageProblem("init needs --proxy-cmd CMD when its input is not a terminal (for example "
                           "--proxy-cmd 'PORT={port} UPSTREAM_URL={upstream_url} node server.js')")
    try:
        answer = input("The command that starts your proxy, with {port} (and {upstream_url}) where they go,\n"
                       "for example: PORT={port} UPSTREAM_URL={upstream_url} node server.js\n> ").strip()
    except EOFError:
        answer = ""
    if not answer:
        raise UsageProblem("init needs the command that starts your proxy (--proxy-cmd CMD)")
    return answer


def _run_canary(program_argv: list[str]) -> int:
    return subprocess.call([sys.executable, "-m", "voice_harness", *program_argv])


def main(args, program: str = "voice-harness", run=_run_canary) -> int:
    here = Path.cwd()
    root = repository_root(here)
    profile_path = here / args.profile
    try:
        if not args.force:   # every target is checked before any is written
            existing = [path for path in (profile_path, root / WORKFLOW) if path.exists()]
            if existing:
                raise UsageProblem(f"{_relative(existing[0], here)} exists; nothing was written (--force overwrites "
                                   f"{' and '.join(_relative(p, here) for p in existing)})")
        if not profile_path.parent.is_dir():
            raise UsageProblem(f"--profile {args.profile}: no folder {profile_path.parent}")
        cwd = None
        if args.cwd is not None:
            if not (here / args.cwd).is_dir():
                raise UsageProblem(f"--cwd {args.cwd!r} is not a folder (looked for {(here / args.cwd).resolve()})")
            cwd = _relative(here / args.cwd, profile_path.parent)
        the_plan = plan(_ask_command(args), args.env, cwd, args.app_url, _relative(profile_path, root), args.action,
                        args.setup_command, _relative(here / args.cwd, root) if args.cwd is not None else None)
        texts = {profile_path: profile_text(the_plan), root / WORKFLOW: workflow_text(the_plan)}
        check_profile(texts[profile_path], profile_path)
        for name in the_plan.secrets:
            print(f"harness: {name} is left out of {args.profile} (a secret, and the profile is committed): set it "
                  f"in your environment, and as a secret in CI")
        ignore_file = root / GITIGNORE
        ignore = gitignore_text(ignore_file.read_text() if ignore_file.exists() else None)
        if ignore is not None:
            texts[ignore_file] = ignore
        for path, text in texts.items():   # every check is done: from here, only writes
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"harness: wrote {_relative(path, here)}")
    except (UsageProblem, EnvironmentProblem) as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 2
    profile_arg = _relative(profile_path, here)
    code = None
    if not args.no_run:
        print(f"harness: running the canary: {program} {' '.join(canary_args(profile_arg))}", flush=True)
        code = run(canary_args(profile_arg))
    for line in next_lines(program, profile_arg, code, args.action == DEFAULT_ACTION):
        print(f"harness: {line}")
    return 0 if code is None else code
