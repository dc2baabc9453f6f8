"""How many pytest-xdist workers `harness run` uses: one per CPU where every worker can have its own proxy and
mock, one where it cannot, and whatever the user's pytest arguments say."""

from pathlib import Path

import pytest

from voice_harness.targets import run_config
from voice_harness.errors import UsageProblem


def config(profile="reference", **overrides):
    return run_config.build(run_config.Options(profile, reports_dir=Path("reports"), **overrides))


def test_auto_is_one_worker_per_cpu_up_to_the_cap():
    assert run_config.workers("auto", config(), [], cpus=2) == 2
    assert run_config.workers("auto", config(), [], cpus=64) == run_config.MAX_AUTO_WORKERS
    assert run_config.workers("auto", config(), [], cpus=1) == 1


def test_auto_is_serial_where_workers_would_share_a_proxy_or_the_paid_service(monkeypatch):
    assert run_config.workers("auto", config("url"), [], cpus=8) == 1
    assert run_config.workers("auto", config(proxy_url="ws://127.0.0.1:9/openai"), [], cpus=8) == 1
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-" + "k" * 40)  # only its presence matters here (a key-shaped value)
    assert run_config.workers("auto", config("real"), [], cpus=8) == 1


@pytest.mark.parametrize("args", [["--headed"], ["--pdb"], ["-k", "canary", "--trace"]])
def test_auto_is_serial_when_debugging_or_watching(args):
    assert run_config.workers("auto", config(), args, cpus=8) == 1


@pytest.mark.parametrize("args", [["-n", "3"], ["-n3"], ["-nauto"], ["--numprocesses=2"], ["-p", "no:xdist"],
                                  ["-pno:xdist"], ["--tx", "3*popen"]])
def test_pytest_arguments_that_choose_workers_win(args):
    assert run_config.workers("auto", config(), args, cpus=8) == 0
    assert run_config.workers("5", config(), args, cpus=8) == 0


def test_a_number_is_taken_as_it_is_but_not_where_workers_would_share_one_proxy():
    assert run_config.workers("3", config(), [], cpus=2) == 3
    assert run_config.workers("1", config("url"), [], cpus=2) == 1
    with pytest.raises(UsageProblem, match="a proxy already running at a URL: use --workers 1"):
        run_config.workers("2", config("url"), [], cpus=2)


def test_expressions_that_only_look_like_options_do_not_count():
    assert run_config.workers("auto", config(), ["-k", "not canary", "--no-header"], cpus=2) == 2


def test_a_distribution_mode_alone_still_gets_workers():
    assert run_config.workers("auto", config(), ["--dist", "loadfile"], cpus=2) == 2


@pytest.mark.parametrize("cpu_max, cpus", [("max 100000", 8), ("200000 100000", 2), ("50000 100000", 1)])
def test_a_container_cpu_quota_caps_the_cpus(tmp_path, cpu_max, cpus, monkeypatch):
    monkeypatch.setattr(run_config.os, "sched_getaffinity", lambda pid: set(range(8)))
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    assert run_config.available_cpus(tmp_path / "cpu.max") == cpus
    assert run_config.available_cpus(tmp_path / "absent") == 8
