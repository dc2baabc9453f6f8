"""The CLI's usage errors: one line on stderr, exit code 2, no traceback."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from voice_harness import paths
from voice_harness.tools import cli

ROOT = Path(__file__).resolve().parents[2]


def harness(*args, timeout=60, env=None):
    """`voice-harness ARGS` (as `python -m harness` in the checkout); a run gets a reports folder of its own (never
    the developer's reports/)."""
    if args and args[0] == "run" and "--reports-dir" not in args:   # before any `--` (pytest's arguments)
        args = (args[0], "--reports-dir", tempfile.mkdtemp(prefix="harness-cli-"), *args[1:])
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=env)


def one_line_error(done):
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def test_an_unknown_profile_is_one_line_and_exit_2():
    line = one_line_error(harness("run", "--profile", "nosuchprofile"))
    assert "unknown profile 'nosuchprofile'" in line and "reference" in line


def test_an_unknown_defect_lists_the_known_ones():
    line = one_line_error(harness("run", "--defect", "nosuchdefect"))
    assert "premature-response-create" in line


def test_an_unknown_scenario_lists_the_known_ones():
    line = one_line_error(harness("run", "--scenario", "nosuchscenario"))
    assert "default" in line


def test_a_bad_option_is_one_line_and_exit_2():
    assert "unrecognized arguments" in one_line_error(harness("run", "--bogus"))


@pytest.mark.parametrize("body, key", [
    ('[proxy]\ncommand = ["x", "{port}"]\nbogus = 1\n', "proxy.bogus"),
    ('[proxy]\ncommand = ["x", "{port}", "{nope}"]\n', "{nope}"),
    ('description = "no proxy table"\n', "[proxy]"),
    ('[proxy]\ncommand = ["x"]\n', "{port}"),
])
def test_a_bad_profile_file_names_the_file_and_the_key(tmp_path, body, key):
    profile = tmp_path / "mine.toml"
    profile.write_text(body)
    line = one_line_error(harness("run", "--profile", str(profile)))
    assert str(profile) in line and key in line


@pytest.mark.e2e
def test_a_proxy_that_dies_at_start_up_is_an_environment_problem_with_its_log_tail(tmp_path):
    profile = tmp_path / "dies.toml"
    profile.write_text('[proxy]\ncommand = ["{python}", "-c", '
                       '"import sys; print(\'boom: cannot bind\'); sys.exit(3)", "{port}"]\n')
    done = harness("run", "--profile", str(profile), "--reports-dir", str(tmp_path / "reports"), timeout=120)
    assert done.returncode == 2, done.stdout[-2000:]
    assert "the proxy exited with code 3 during start-up" in done.stdout
    assert "boom: cannot bind" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_the_real_upstream_without_a_key_is_one_line_and_exit_2():
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    assert "OPENAI_API_KEY" in one_line_error(harness("run", "--upstream", "real", env=env))


def test_a_usage_error_leaves_no_conformance_record_of_an_earlier_run(tmp_path):
    (tmp_path / "conformance.json").write_text('{"stale": true}')
    one_line_error(harness("run", "--profile", "nosuchprofile", "--reports-dir", str(tmp_path)))
    assert not (tmp_path / "conformance.json").exists()


def test_version_and_usage_name_the_command_as_it_was_called():
    from voice_harness.tools.cli import version

    done = harness("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"python -m harness {version()}"
    script = Path(sys.executable).with_name("voice-harness")
    if script.is_file():   # the console script of the installed package
        done = subprocess.run([str(script), "run", "--bogus"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
        assert one_line_error(done).endswith("(see voice-harness --help)")


def test_reports_go_to_the_current_directory_and_the_tool_cache_to_the_users_cache(tmp_path, monkeypatch):
    done = subprocess.run([sys.executable, "-m", "voice_harness", "run", "--profile", "nosuchprofile"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    one_line_error(done)
    assert (tmp_path / "reports" / ".run.lock").is_file()   # this run's folder, where it was run
    from voice_harness import paths
    monkeypatch.setenv("VOICE_HARNESS_CACHE", str(tmp_path / "cache"))
    assert paths.cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("VOICE_HARNESS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.cache_dir() == tmp_path / "xdg" / "voice-harness"


def test_profile_lists_the_bundled_ones_and_shows_one_to_start_from():
    listed = harness("profile", "list")
    assert listed.returncode == 0 and "reference" in listed.stdout.split()
    shown = harness("profile", "show", "reference")
    assert shown.returncode == 0 and shown.stdout == (ROOT / "profiles" / "reference.toml").read_text()
    assert "profile show takes one of" in one_line_error(harness("profile", "show", "nope"))


def in_process(capsys, *args) -> tuple[int, str, str]:
    """cli.main(args) in this process (no subprocess: the unit tier stays fast): exit status, stdout, stderr."""
    from voice_harness.tools import cli

    try:
        code = cli.main(list(args))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, said", [
    (("run", "--shard", "3/2"), "--shard takes K/N with 1 <= K <= N"),
    (("run", "--shard", "two"), "--shard takes K/N"),
    (("sensitivity", "--shard", "0/4"), "K/N with 1 <= K <= N"),
    (("sensitivity", "--shard", "1/4", "--docs", "docs/sensitivity.md"), "give it to no shard"),
])
def test_a_bad_shard_is_one_line_and_exit_2(capsys, tmp_path, args, said):
    code, _, err = in_process(capsys, *args, "--reports-dir", str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and said in err, err
    assert list(tmp_path.iterdir()) == []   # refused before the run claimed its folder


def test_a_merge_of_a_folder_without_shards_is_one_line_and_exit_2(capsys, tmp_path):
    code, _, err = in_process(capsys, "report", "--merge", str(tmp_path), "--reports-dir", str(tmp_path / "out"))
    assert code == 2 and err.count("\n") == 1 and "holds no shard" in err
    assert not (tmp_path / "out").exists()


def test_the_help_lists_every_command_from_the_parser_and_the_readme_documents_each(capsys):
    from voice_harness.tools import cli

    names = cli.commands()
    assert {"run", "report", "sensitivity", "bench", "explore"} <= set(names)
    code, out, _ = in_process(capsys, "--help")
    assert code == 0 and " ".join(out.split("commands:", 1)[1].split()) == ", ".join(names)
    readme = (ROOT / "README.md").read_text()
    assert [n for n in names if f"voice-harness {n}" not in readme] == []
    # The module's docstring keeps no list of its own that could go stale.
    assert "run, bench" not in cli.__doc__


def test_no_command_module_imports_the_cli_back():
    import ast

    offenders = []
    for path in sorted((ROOT / "harness").rglob("*.py")):
        if path.name == "__main__.py" or path.parent.name == "tools" and path.name == "cli.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "voice_harness.tools.cli" or \
                    isinstance(node, ast.ImportFrom) and node.module == "voice_harness.tools" and \
                    any(a.name == "cli" for a in node.names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_test_files_after_the_separator_select_in_the_bundled_suites_instead_of_adding_to_them():
    suites = paths.bundled("suites")
    chosen, rest = cli._selection(["suites/test_voice.py", "-k", "test_x.py", "test_canary.py::test_y", "-q"], suites)
    assert chosen == [str(suites / "test_voice.py"), str(suites / "test_canary.py") + "::test_y"]
    assert rest == ["-k", "test_x.py", "-q"]
    assert cli._selection(["-k", "canary"], suites) == ([], ["-k", "canary"])
    # An option's value is never the selection; a test it names is found in the suites too.
    assert cli._selection(["--deselect", "test_voice.py::test_x", "--junit-xml", "out.py"], suites) == (
        [], ["--deselect", str(suites / "test_voice.py") + "::test_x", "--junit-xml", "out.py"])


def test_a_test_file_not_in_the_suites_is_one_line_and_exit_2():
    line = one_line_error(harness("run", "--", "suites/test_nope.py"))
    assert "no such test file" in line and "test_voice.py" in line


def test_the_command_line_starts_without_importing_the_event_models():
    """The openai package's Realtime models take half a second to import; every command (and every usage error)
    would pay it. Only what validates or answers events imports them, when it runs."""
    done = subprocess.run([sys.executable, "-c", "import sys; from voice_harness.tools import cli; cli._parser(); "
                           "print(sorted(m for m in sys.modules if m.split('.')[0] == 'openai'))"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def test_a_run_started_as_python_m_harness_prints_no_assertion_rewrite_warning():
    """`make conformance` runs `python -m harness run`: pytest would warn in every such run that the already
    imported checkout folder cannot be rewritten, a warning that asks nothing of anybody."""
    done = harness("run", "--", "--collect-only", "-q")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "PytestAssertRewriteWarning" not in done.stdout + done.stderr, done.stdout[-2000:]


def test_a_run_started_by_a_command_that_checked_the_browser_does_not_look_for_it_again(tmp_path):
    """A matrix's defect runs (about a hundred in make test) inherit the matrix's check instead of each starting
    Playwright's driver to find the browser; a run on its own still looks, and says what is wrong."""
    env = {**os.environ, "CHROMIUM_PATH": str(tmp_path / "no-such-chromium")}
    env.pop("VOICE_HARNESS_BROWSER_CHECKED", None)
    alone = harness("run", "--", "--collect-only", "-q", env=env)
    assert alone.returncode == 2 and "CHROMIUM_PATH=" in alone.stderr, alone.stderr
    vouched = harness("run", "--", "--collect-only", "-q", env={**env, "VOICE_HARNESS_BROWSER_CHECKED": "-"})
    assert vouched.returncode == 0, vouched.stderr[-2000:]
