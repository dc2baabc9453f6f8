"""The harness as a proxy team gets it: a wheel (and an sdist that builds the same wheel) installed into a fresh
virtual environment, run where the proxy lives. From an empty folder and from a repository whose pytest
configuration is hostile (an addopts with an unknown option, a conftest that raises; the virtual environment
inside it, as teams keep theirs), `voice-harness run -- -k canary` passes with its reports in ./reports of
the folder it ran in, and nothing is written into the install; `voice-harness init` in an empty git repository
writes its three files and passes the canary from there. A test file using the plugin's fixtures runs
through plain pytest, with no conftest.py at hand. Every command block of the install pages (README.md's "In your
proxy's repository", docs/own-proxy.md) runs in that environment, by the rules of tests/test_docs.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import test_docs
from voice_harness.tools.cli import version

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("packaging")]

ROOT = Path(__file__).resolve().parent.parent
NOT_SOURCE_TOP = {".git", ".venv", "reports", "build", "dist"}   # only at the top: harness/reports is code
NOT_SOURCE = ("*.egg-info", ".hypothesis", ".allure", "node_modules", "__pycache__", ".pytest_cache")


def not_source(folder: str, names: list[str]) -> set[str]:
    ignored = shutil.ignore_patterns(*NOT_SOURCE)(folder, names)
    return ignored | (NOT_SOURCE_TOP & set(names) if Path(folder) == ROOT else set())
HOSTILE_PYPROJECT = '[tool.pytest.ini_options]\naddopts = "--no-such-option-here"\n'
HOSTILE_CONFTEST = 'raise RuntimeError("the calling repository\'s conftest must not be loaded")\n'
# A proxy team's own check, written with the harness's fixtures; the canary's judge is the suite's own.
USER_TEST = '''
from voice_harness.suites.test_canary import run_canary


def test_our_proxy_answers_the_first_message(app, recording):
    outcome = run_canary(app, recording)
    assert outcome.reply
'''


def run(argv, cwd, timeout=600, env=None):
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env=env)
    return done


def checked(argv, cwd, timeout=600, env=None):
    done = run(argv, cwd, timeout, env)
    assert done.returncode == 0, f"{argv}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def clean_env() -> dict:
    """The caller's environment without this checkout's virtual environment and pytest settings."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER",
                        "PYTEST_XDIST_WORKER_COUNT", "PYTEST_CURRENT_TEST")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
    return env


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> dict[str, Path]:
    """The sdist, the wheel built from it, and a wheel built from the tree."""
    out = tmp_path_factory.mktemp("dist")
    # Built from a copy: setuptools leaves a build/ folder in the tree it builds.
    tree = out / "tree"
    shutil.copytree(ROOT, tree, ignore=not_source)
    checked([sys.executable, "-m", "build", "--outdir", str(out / "from-sdist"), str(tree)], out)
    checked([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out / "from-tree"), str(tree)],
            out)
    return {"sdist": next((out / "from-sdist").glob("*.tar.gz")),
            "wheel": next((out / "from-sdist").glob("*.whl")),
            "tree_wheel": next((out / "from-tree").glob("*.whl"))}


@pytest.fixture(scope="module")
def hostile_repo(tmp_path_factory, dist) -> Path:
    """A proxy's repository with a hostile pytest set-up and, inside it, a virtual environment with the wheel."""
    repo = tmp_path_factory.mktemp("proxy-repo")
    (repo / "pyproject.toml").write_text(HOSTILE_PYPROJECT)
    (repo / "conftest.py").write_text(HOSTILE_CONFTEST)
    checked([sys.executable, "-m", "venv", str(repo / ".venv")], repo)
    checked([str(repo / ".venv/bin/python"), "-m", "pip", "install", "--quiet", str(dist["wheel"])], repo,
            env=clean_env())
    return repo


def install_folder(repo: Path) -> Path:
    return next((repo / ".venv/lib").glob("python3*/site-packages"))


def test_the_sdist_builds_the_same_wheel_and_the_wheel_carries_what_a_run_needs(dist):
    names = sorted(zipfile.ZipFile(dist["wheel"]).namelist())
    assert names == sorted(zipfile.ZipFile(dist["tree_wheel"]).namelist())
    for part in ("voice_harness/suites/test_canary.py", "voice_harness/test_app/index.html",
                 "voice_harness/test_app/app.js", "voice_harness/profiles/reference.toml",
                 "voice_harness/judging/requirements.toml", "voice_harness/mock_upstream/scenarios/default.toml",
                 "voice_harness/reference_proxy/defects.toml", "voice_harness/pytest.ini",
                 "voice_harness/plugin/__init__.py", "voice_harness/wire/recording.py",
                 "voice_harness/reports/report.py", "voice_harness/test_app/pcm-worklet.js",
                 "voice_harness/docs/app-contract.md", "voice_harness/drivers/app_capabilities.toml",
                 "voice_harness/tools/app_probe.py"):
        assert part in names, part
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"voice_harness"}, tops


@pytest.mark.parametrize("where", ["empty folder", "hostile repository"])
def test_voice_harness_run_passes_the_canary_where_the_proxy_lives(where, hostile_repo, tmp_path):
    cwd = tmp_path if where == "empty folder" else hostile_repo
    site = install_folder(hostile_repo)
    before = snapshot(site / "voice_harness"), sorted(p.name for p in site.iterdir())
    done = run([str(hostile_repo / ".venv/bin/voice-harness"), "run", "--workers", "1", "--", "-k", "canary"], cwd,
               env=clean_env())
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert (cwd / "reports/conformance.json").is_file() and (cwd / "reports/junit.xml").is_file()
    assert '"CANARY-1"' in (cwd / "reports/conformance.json").read_text()
    assert (snapshot(site / "voice_harness"), sorted(p.name for p in site.iterdir())) == before
    assert not (cwd / ".pytest_cache").exists()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to make the proxy's repository")
def test_init_in_an_empty_git_repository_writes_the_three_files_and_the_canary_passes_from_there(hostile_repo,
                                                                                                 tmp_path):
    repo = tmp_path / "proxy"
    repo.mkdir()
    checked(["git", "init", "-q"], repo)
    init = [str(hostile_repo / ".venv/bin/voice-harness"), "init", "--proxy-cmd",
            "PYTHONUNBUFFERED=1 {python} -m voice_harness.reference_proxy --port {port} --upstream-url {upstream_url}"]
    done = run(init, repo, env=clean_env())
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "the canary passed. next: voice-harness run --profile voice-harness.toml" in done.stdout
    assert '"CANARY-1"' in (repo / "reports/conformance.json").read_text()
    assert (repo / "voice-harness.toml").is_file() and (repo / ".github/workflows/voice-harness.yml").is_file()
    assert (repo / ".gitignore").read_text() == "reports/\n"
    again = run(init, repo, env=clean_env())   # never overwrites without --force
    assert again.returncode == 2 and "voice-harness.toml exists" in again.stderr, again.stderr


def test_version_and_the_pytest11_entry_point(hostile_repo, tmp_path):
    done = checked([str(hostile_repo / ".venv/bin/voice-harness"), "--version"], tmp_path, env=clean_env())
    assert done.stdout.strip() == f"voice-harness {version()}"
    shown = checked([str(hostile_repo / ".venv/bin/python"), "-m", "pip", "show", "--verbose", "voice-proxy-harness"],
                    tmp_path, env=clean_env()).stdout
    entry_points = shown.split("Entry-points:", 1)[1]
    assert "[pytest11]" in entry_points and "voice_harness.plugin = voice_harness.plugin" in entry_points


def test_a_test_file_elsewhere_uses_the_plugins_fixtures_through_plain_pytest(hostile_repo, tmp_path):
    (tmp_path / "test_our_proxy.py").write_text(USER_TEST)
    done = run([str(hostile_repo / ".venv/bin/python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "test_our_proxy.py"], tmp_path, env=clean_env())
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout


def test_a_pytest_run_that_uses_none_of_the_harness_is_untouched(hostile_repo, tmp_path):
    (tmp_path / "test_plain.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    done = run([str(hostile_repo / ".venv/bin/python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "test_plain.py"], tmp_path, env=clean_env())
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr
    assert "conformance" not in done.stdout and not (tmp_path / "reports").exists()


@pytest.mark.parametrize("page,heading", test_docs.INSTALL_PAGES, ids=[p for p, _ in test_docs.INSTALL_PAGES])
def test_every_command_block_of_the_install_pages_runs_against_the_wheel(page, heading, dist, hostile_repo,
                                                                         tmp_path):
    venv = hostile_repo / ".venv"
    stand_ins = tmp_path / "stand-ins"
    stand_ins.mkdir()
    for name in test_docs.STAND_IN_NAMES:
        (stand_ins / name).write_text(test_docs.STAND_IN.format(python=venv / "bin/python"))
        (stand_ins / name).chmod(0o755)
    folder = tmp_path / "proxy-repo"   # the page's commands run where a proxy team runs them: its repository
    folder.mkdir()
    env = clean_env()
    env.update(PATH=os.pathsep.join([str(stand_ins), str(venv / "bin"), env["PATH"]]), VIRTUAL_ENV=str(venv),
               VOICE_HARNESS_NO_DOWNLOAD="1")
    ran = []
    for block in test_docs.install_blocks(page, heading):
        if block.skip is not None:
            test_docs.skip_reason(block)
        elif block.lang == "python":
            (folder / test_docs.file_of(block)).write_text(block.text + "\n")
        else:
            done = run(["bash", "-c", test_docs.script(block, dist["wheel"])], folder, timeout=900, env=env)
            assert done.returncode == 0, (f"{page} line {block.line}: exit {done.returncode}\n{block.text}\n"
                                          f"{done.stdout[-4000:]}\n{done.stderr[-3000:]}")
            ran.append(done.stdout)
    assert ran
    if page == "README.md":
        # The plain-pytest example, last, ran the user's test against the target it names, and cleared what the
        # page's `voice-harness run` had left in reports/ (its test has no requirement: no conformance.json).
        assert "1 passed" in ran[-1] and "no target given" not in ran[-1], ran[-1][-3000:]
        assert not (folder / "reports/conformance.json").exists()
    else:
        assert '"CANARY-1"' in (folder / "reports/conformance.json").read_text()
