"""The harness's options, declared once: the pytest plugin adds them all; `harness run` offers the target ones
under the same names (one spelling differs: pytest owns --strict) and passes them on to pytest unchanged."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

VARIANTS = ("minimal",)   # of the reference proxy (python -m reference_proxy --variant NAME)


@dataclass(frozen=True)
class Option:
    name: str                             # the pytest option
    help: str
    default: Any = None
    choices: tuple[str, ...] | None = None
    flag: bool = False                    # takes no value
    cli: str | None = ""                  # the CLI's spelling: "" the same, None not on the CLI

    @property
    def dest(self) -> str:
        return self.name.removeprefix("--").replace("-", "_")

    def kwargs(self) -> dict:
        if self.flag:
            return {"action": "store_true", "help": self.help}
        return {"default": self.default, "help": self.help, **({"choices": self.choices} if self.choices else {})}


OPTIONS = (
    Option("--profile", "target profile: a name in profiles/ or a path to a .toml file", default="reference"),
    Option("--scenario", "mock upstream scenario for tests that do not set their own"),
    Option("--defect", "switch on a known defect of the reference proxy (only for a profile that starts it, "
                       "through its proxy.defect_args: not for your own proxy)"),
    Option("--variant", "a variant of the reference proxy: minimal (no greeting, context or functions)",
           choices=VARIANTS),
    Option("--harness-strict", "SHOULD failures fail the run too", flag=True, cli="--strict"),
    Option("--require-complete", "a partial run (not every id judged: narrowed, skipped, decided by the scenario) "
                                 "fails too (exit 1): for a release gate", flag=True),
    Option("--reports-dir", "where the run's reports go (default: reports/ in the current directory)"),
    Option("--proxy-cmd", "start the proxy with this command; needs {port}, may use {upstream_url} and {python}; "
                          "leading NAME=value words set its environment, as in a shell"),
    Option("--proxy-url", "test the proxy already running at this ws:// URL"),
    Option("--app-url", "drive the app served at this URL instead of the bundled one (selectors from the profile)"),
    Option("--upstream", "mock; real (the OpenAI Realtime API through the recording tap, a cassette per test under "
                         "reports/cassettes/); or replay:PATH (recorded cassettes served as the upstream, no key)"),
    Option("--replay-speed", "with --upstream replay:PATH, play recorded delays this many times faster "
                             "(default 1: as recorded)"),
    Option("--timelines", "HTML timelines of both legs under reports/timelines/: for failed tests, or all",
           default="failed", choices=("failed", "all")),
    Option("--req", "run only the tests of these requirement ids (comma-separated)", cli=None),
    Option("--shard", "run only the K-th of N parts of the selected tests (K/N: node ids sorted, dealt "
                      "round-robin) and write shard.json for `voice-harness report --merge`"),
    Option("--browser-context", "shared: the browser tests of a worker share a browser context, each on a fresh "
                                "page, its cookies, cache and site data cleared after each test (fast); test: a "
                                "context of each test's own", default="shared",
           choices=("shared", "test")),
    Option("--harness-trace", "keep a Playwright trace (actions, console) of each browser test that fails in setup "
                              "or call", default="off", choices=("off", "failed"), cli=None),
)


def add_to_pytest(group) -> None:
    for option in OPTIONS:
        group.addoption(option.name, **option.kwargs())


def add_to_cli(parser: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
    """The target options on the CLI's `run`; `defaults` overrides a default by dest (the reports folder)."""
    for option in OPTIONS:
        if option.cli is None:
            continue
        kwargs = option.kwargs()
        if option.dest in defaults:
            kwargs["default"] = defaults[option.dest]
        parser.add_argument(option.cli or option.name, dest=option.dest, **kwargs)


def to_pytest(namespace: argparse.Namespace, skip: tuple[str, ...] = ()) -> list[str]:
    """The CLI's target options as pytest arguments: those given a value other than their default."""
    args = []
    for option in OPTIONS:
        if option.cli is None or option.name in skip:
            continue
        value = getattr(namespace, option.dest, None)
        if option.flag:
            args += [option.name] if value else []
        elif value is not None and value != option.default:
            args.append(f"{option.name}={value}")
    return args


def given_defaults() -> list[tuple[str, Any]]:
    """Each option's dest and default: an option whose value differs was given (the plugin's "asked")."""
    return [(option.dest, option.default) for option in OPTIONS]
