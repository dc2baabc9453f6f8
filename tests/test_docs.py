"""The docs link only to files that exist (pages, images, scripts): a renamed file must not leave a dead link. They
are written for an installed harness: `voice-harness ...`, the checkout's `python -m harness` only in the README's
developers' sections. The command blocks of the install pages (README.md's "In your proxy's repository", and
docs/own-proxy.md) are read here; tests/test_packaging.py runs them in a fresh virtual environment with the wheel,
by these rules:

- every ```sh block runs, in order, in one fresh folder per page, with `bash -euo pipefail` (a failing command
  fails the test); a ```python block whose first line is `# NAME.py` is written there as that file first;
- `node` and `npx` are stand-ins on PATH (STAND_IN): they start the bundled reference proxy on the port and
  upstream that the command gives by flags (`--port`, `--upstream`) or by environment (`PORT`,
  `OPENAI_PROXY_PORT`; `OPENAI_REALTIME_URL`, `UPSTREAM_URL`, `UPSTREAM`), ignoring the script they are given;
- placeholders (PLACEHOLDERS) are replaced: `/path/to/voice-proxy-harness` is the wheel;
- `voice-harness run` is cut to the canary, serially (PRELUDE: `--workers 1`, and `-k canary` for pytest);
- a block that cannot run here says so, and why, on the line before its fence:
  `<!-- docs-test: skip (needs your proxy's secrets) -->`; a skip without a reason is an error."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
INSTALL_SECTION = "In your proxy's repository"
INSTALL_PAGES = (("README.md", INSTALL_SECTION), ("docs/own-proxy.md", None))
# The README's sections for the harness's own developers: the checkout's commands live there.
DEVELOPER_SECTIONS = ("Developing the harness (a checkout)", "Layout")
CHECKOUT_FORM = re.compile(r"python -m harness\b|\.venv/bin/python -m harness\b")
# Pages other helpers own for now, still in the checkout form (issue 22 leaves them to their authors).
NOT_YET: set[str] = set()   # every page gives the installed form
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b(.*?)-->")
FENCE = re.compile(r"^```(\w*)\s*$")
PLACEHOLDERS = {"/path/to/voice-proxy-harness": "{wheel}"}
PRELUDE = r'''set -euo pipefail
voice-harness() {   # a run is cut to the canary, serially: the docs test checks the command, not the suites
  if [ "${1:-}" = run ]; then
    shift
    case " $* " in
      *" -- "*) command voice-harness run --workers 1 "$@" -k canary ;;
      *) command voice-harness run --workers 1 "$@" -- -k canary ;;
    esac
  else
    command voice-harness "$@"
  fi
}
'''
STAND_IN = '''#!{python}
"""A stand-in for node and npx in the docs test: the reference proxy, on the port and upstream the command gives by
flags or by environment, as a Node proxy would take them; the script it is given is ignored."""
import os
import sys

args = sys.argv[1:]


def flag(*names):
    for name in names:
        if name in args[:-1]:
            return args[args.index(name) + 1]
    return None


def env(*names):
    return next((os.environ[name] for name in names if os.environ.get(name)), None)


port = flag("--port") or env("PORT", "OPENAI_PROXY_PORT")
upstream = flag("--upstream", "--upstream-url") or env("OPENAI_REALTIME_URL", "UPSTREAM_URL", "UPSTREAM")
if not port or not upstream:
    sys.exit(f"docs stand-in: no port or upstream in {{args}} or the environment")
os.execv(sys.executable, [sys.executable, "-m", "voice_harness.reference_proxy", "--port", port,
                          "--upstream-url", upstream])
'''
STAND_IN_NAMES = ("node", "npx")


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int            # the fence's line number (1-based)
    skip: str | None     # the skip marker's text after "skip" (its reason, in parentheses), or None


def section(text: str, heading: str | None) -> str:
    """The text under a `## heading` up to the next `## ` heading (all of it for None), with the lines before it
    blanked so that line numbers stay the page's."""
    if heading is None:
        return text
    lines = text.split("\n")
    start = lines.index(f"## {heading}")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join([""] * start + lines[start:end])


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a markdown text, each with the skip marker on the nearest non-blank line before it."""
    found, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = SKIP.search(before)
        found.append(Block(fence.group(1), "\n".join(lines[i + 1:end]), i + 1,
                           marker.group(1).strip() if marker else None))
        i = end + 1
    return found


def install_blocks(page: str, heading: str | None) -> list[Block]:
    return [b for b in blocks(section((ROOT / page).read_text(), heading)) if b.lang in ("sh", "python")]


def skip_reason(block: Block) -> str:
    """The reason a skipped block gives; AssertionError when it gives none."""
    reason = re.fullmatch(r"\((.+)\)", block.skip or "")
    assert reason and reason.group(1).strip(), f"line {block.line}: a docs-test skip says why, in parentheses"
    return reason.group(1).strip()


def file_of(block: Block) -> str | None:
    """The file a python block is (its first line `# NAME.py`), or None."""
    first = re.fullmatch(r"#\s*([\w.-]+\.py)", block.text.split("\n", 1)[0].strip())
    return first.group(1) if first else None


def script(block: Block, wheel: Path) -> str:
    """A sh block as the docs test runs it."""
    text = block.text
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value.format(wheel=wheel))
    return PRELUDE + text + "\n"


# (not named `page`: that is pytest-playwright's fixture, and parametrizing it reorders the whole session)
@pytest.mark.parametrize("doc", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_of_a_page_resolves(doc):
    targets = [t for t in LINK.findall(doc.read_text()) if "://" not in t and not t.startswith("mailto:")]
    missing = [t for t in targets if not (doc.parent / t).exists()]
    assert missing == [], f"{doc.name} links to missing files: {missing}"


def test_the_report_reading_guide_shows_screenshots_the_tooling_made():
    guide = (ROOT / "docs" / "reading-a-report.md").read_text()
    images = re.findall(r"!\[[^]]*\]\((img/[^)]+\.png)\)", guide)
    assert len(images) >= 3
    assert "docs/make_screenshots.py" in guide


@pytest.mark.parametrize("doc", [p for p in PAGES if p.name not in NOT_YET], ids=lambda p: str(p.relative_to(ROOT)))
def test_a_page_gives_the_installed_command_form(doc):
    text = doc.read_text()
    if doc.name == "README.md":
        for heading in DEVELOPER_SECTIONS:
            kept = section(text, heading)
            text = text.replace(kept.lstrip("\n"), "")
    lines = [f"{n}: {line.strip()}" for n, line in enumerate(text.split("\n"), 1) if CHECKOUT_FORM.search(line)]
    assert lines == [], f"{doc.name} gives the checkout's form where `voice-harness` works installed: {lines}"


@pytest.mark.parametrize("page,heading", INSTALL_PAGES)
def test_every_command_block_of_an_install_page_runs_or_says_why_not(page, heading):
    found = install_blocks(page, heading)
    assert [b for b in found if b.lang == "sh" and b.skip is None], f"{page}: no command block to run"
    for block in found:
        if block.skip is not None:
            skip_reason(block)
        elif block.lang == "python":
            assert file_of(block), f"{page} line {block.line}: a python block starts with `# NAME.py`"
        else:
            assert "<" not in block.text.replace("<!--", ""), f"{page} line {block.line}: an unreplaced placeholder"


def test_the_install_section_sets_up_browser_and_speech_and_its_pytest_example_names_its_target():
    commands = "\n".join(b.text for b in install_blocks("README.md", INSTALL_SECTION) if b.lang == "sh")
    assert "voice-harness setup-browser" in commands and "voice-harness setup-speech" in commands
    pytest_lines = [line for line in commands.split("\n") if line.startswith("pytest ")]
    assert pytest_lines and all(re.search(r"--(proxy-cmd|proxy-url|profile)\b", line) for line in pytest_lines)
    files = [file_of(b) for b in install_blocks("README.md", INSTALL_SECTION) if b.lang == "python"]
    assert all(any(name in line for name in files) for line in pytest_lines), (pytest_lines, files)


def test_a_skip_marker_without_a_reason_is_refused():
    marked = blocks("<!-- docs-test: skip -->\n```sh\nnode server.js\n```\n"
                    "<!-- docs-test: skip (needs your proxy) -->\n\n```sh\nnpx tsx run.ts\n```\n")
    with pytest.raises(AssertionError, match="says why"):
        skip_reason(marked[0])
    assert skip_reason(marked[1]) == "needs your proxy" and marked[1].line == 7


def test_the_app_contract_ships_in_the_package_and_the_readme_links_it():
    assert (ROOT / "docs" / "__init__.py").is_file()
    assert "(docs/app-contract.md)" in (ROOT / "README.md").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"voice_harness.docs" = ["app-contract.md"]' in pyproject   # the wheel's content: test_packaging
