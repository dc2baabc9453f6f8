"""Real mode takes the OpenAI key from the environment (a CI secret), always over a profile's proxy.env, and a
placeholder there is a usage error (exit 2) with the reason, never a run against the service with a dummy key."""

import secrets

import pytest

from voice_harness.errors import UsageProblem
from voice_harness.targets import run_config

REAL_KEY = "sk-proj-" + secrets.token_urlsafe(48)


def _profile(tmp_path, env: str = "") -> str:
    path = tmp_path / "mine.toml"
    path.write_text('[proxy]\ncommand = ["node", "run.js", "{port}"]\n[upstream]\nmode = "real"\n'
                    + (f"[proxy.env]\n{env}\n" if env else ""))
    return str(path)


def test_the_environments_key_wins_over_the_profiles(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", REAL_KEY)
    config = run_config.build(run_config.Options(_profile(tmp_path, 'OPENAI_API_KEY = "sk-dummy"\nPORT = "{port}"'),
                                                 reports_dir=tmp_path / "reports"))
    assert config.profile.proxy.environment(1, "ws://u", None) == {"PORT": "1"}


@pytest.mark.parametrize("placeholder", ["sk-dummy", "dummy", "your-api-key-here", "sk-" + "x" * 24,
                                         "<OPENAI_API_KEY>", "${OPENAI_API_KEY}", "short"])
def test_a_placeholder_key_is_a_usage_error_that_does_not_show_the_value(tmp_path, monkeypatch, placeholder):
    monkeypatch.setenv("OPENAI_API_KEY", placeholder)
    with pytest.raises(UsageProblem, match="is a placeholder, not a key") as caught:
        run_config.build(run_config.Options(_profile(tmp_path), reports_dir=tmp_path / "reports"))
    assert placeholder not in str(caught.value)


def test_no_key_in_the_environment_is_a_usage_error_even_with_one_in_the_profile(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UsageProblem, match="needs OPENAI_API_KEY in the environment"):
        run_config.build(run_config.Options(_profile(tmp_path, f'OPENAI_API_KEY = "{REAL_KEY}"'),
                                            reports_dir=tmp_path / "r"))


def test_the_mock_keeps_the_profiles_key(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", REAL_KEY)
    path = tmp_path / "mock.toml"
    path.write_text('[proxy]\ncommand = ["node", "run.js", "{port}"]\n[proxy.env]\nOPENAI_API_KEY = "sk-dummy"\n')
    config = run_config.build(run_config.Options(str(path), reports_dir=tmp_path / "reports"))
    assert config.profile.proxy.environment(1, "ws://u", None) == {"OPENAI_API_KEY": "sk-dummy"}
