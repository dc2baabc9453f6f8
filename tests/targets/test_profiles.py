"""Every shipped profile loads, and CLI overrides replace what they name."""

import pytest

from voice_harness.errors import UsageProblem
from voice_harness.targets import profiles


@pytest.mark.parametrize("name", profiles.names())
def test_every_shipped_profile_loads(name):
    assert profiles.load(name).name == name


def test_overrides_replace_the_proxy_the_app_and_the_upstream():
    changed = profiles.with_overrides(profiles.load("reference"), proxy_url="ws://127.0.0.1:9/openai",
                                      app_url="http://127.0.0.1:8/", upstream="real")
    assert (changed.proxy.url, changed.proxy.command, changed.app.url, changed.upstream.mode) == (
        "ws://127.0.0.1:9/openai", (), "http://127.0.0.1:8/", "real")
    assert not changed.can_switch_defects


def test_a_proxy_command_override_is_split_like_a_shell_would():
    changed = profiles.with_overrides(profiles.load("reference"), proxy_cmd="node 'my proxy.js' --port {port}")
    assert changed.proxy.command == ("node", "my proxy.js", "--port", "{port}")


def test_the_command_profile_templates_the_environment():
    spec = profiles.load("command").proxy
    assert spec.environment(1234, "ws://u", None) == {"UPSTREAM_URL": "ws://u"}


def test_a_proxy_command_override_keeps_the_profiles_readiness_settings(tmp_path):
    profile = tmp_path / "mine.toml"
    profile.write_text('[proxy]\ncommand = ["{python}", "mine.py", "--port", "{port}"]\n'
                       'defect_args = ["--defect", "{defect}"]\n'
                       'ready_log = "listening on \\\\d+"\nready_timeout_s = 42\n')
    loaded = profiles.load(str(profile))
    assert (loaded.proxy.ready_log, loaded.proxy.ready_timeout_s) == (r"listening on \d+", 42.0)
    changed = profiles.with_overrides(loaded, proxy_cmd="node server.js --port {port}")
    assert changed.proxy.command == ("node", "server.js", "--port", "{port}")
    assert (changed.proxy.ready_log, changed.proxy.ready_timeout_s) == (r"listening on \d+", 42.0)
    # The profile's defect arguments belong to its own command: the user's command gets none.
    assert changed.proxy.defect_args == () and not changed.can_switch_defects


def test_a_proxy_command_override_of_a_profile_without_ready_log_keeps_the_tcp_probe():
    changed = profiles.with_overrides(profiles.load("reference"), proxy_cmd="node server.js --port {port}")
    base = profiles.load("reference").proxy
    assert (changed.proxy.ready_log, changed.proxy.ready_timeout_s) == (None, base.ready_timeout_s)


def _profile(tmp_path, text: str):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return profiles.load(str(path))


def test_port_may_be_given_in_the_environment_only(tmp_path):
    spec = _profile(tmp_path, '[proxy]\ncommand = ["node", "run.js"]\n[proxy.env]\nPORT = "{port}"\n'
                              'UPSTREAM = "{upstream_url}"\n').proxy
    assert spec.environment(1234, "ws://u", None) == {"PORT": "1234", "UPSTREAM": "ws://u"}


def test_a_profile_that_uses_port_nowhere_is_refused_with_both_places_named(tmp_path):
    with pytest.raises(UsageProblem, match=r"proxy.command or proxy.env must use \{port\}"):
        _profile(tmp_path, '[proxy]\ncommand = ["node", "run.js"]\n[proxy.env]\nUPSTREAM = "{upstream_url}"\n')


def test_cwd_is_relative_to_the_profiles_folder(tmp_path):
    (tmp_path / "packages" / "proxy").mkdir(parents=True)
    spec = _profile(tmp_path, '[proxy]\ncommand = ["./run", "{port}"]\ncwd = "packages/proxy"\n').proxy
    assert spec.cwd == (tmp_path / "packages" / "proxy").resolve()


def test_a_cwd_that_is_no_folder_is_refused(tmp_path):
    with pytest.raises(UsageProblem, match="proxy.cwd 'nowhere' is not a folder"):
        _profile(tmp_path, '[proxy]\ncommand = ["./run", "{port}"]\ncwd = "nowhere"\n')


def test_an_assignment_as_the_profiles_program_points_to_proxy_env(tmp_path):
    with pytest.raises(UsageProblem, match=r"put it in \[proxy.env\]"):
        _profile(tmp_path, '[proxy]\ncommand = ["PORT={port}", "node", "run.js"]\n')


def test_leading_assignments_of_a_proxy_command_are_its_environment():
    changed = profiles.with_overrides(profiles.load("reference"),
                                      proxy_cmd="OPENAI_PROXY_PORT={port} URL='{upstream_url}' npx tsx run.ts")
    assert changed.proxy.command == ("npx", "tsx", "run.ts")
    assert changed.proxy.environment(1234, "ws://u", None) == {"PYTHONUNBUFFERED": "1", "OPENAI_PROXY_PORT": "1234",
                                                                "URL": "ws://u"}


def test_a_proxy_command_of_assignments_only_is_refused():
    with pytest.raises(UsageProblem, match="names no program"):
        profiles.with_overrides(profiles.load("reference"), proxy_cmd="PORT={port}")


def test_a_proxy_command_override_keeps_the_profiles_cwd(tmp_path):
    (tmp_path / "proxy").mkdir()
    loaded = _profile(tmp_path, '[proxy]\ncommand = ["./run", "{port}"]\ncwd = "proxy"\n')
    changed = profiles.with_overrides(loaded, proxy_cmd="PORT={port} ./other")
    assert changed.proxy.cwd == (tmp_path / "proxy").resolve()
