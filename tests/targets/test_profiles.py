"""Every shipped profile loads, and CLI overrides replace what they name."""

import pytest

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
