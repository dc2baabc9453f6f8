"""Every key the environment holds is redacted, whatever its length; sk- keys and bearer tokens always are."""

import secrets

from voice_harness.wire.redaction import redact, secret_spans, secret_values

# Made at run time: no key-like string is committed.
LONG = "sk-proj-" + secrets.token_hex(16)


def test_a_three_character_key_is_redacted_in_a_line():
    env = {"OPENAI_API_KEY": "k3y"}
    assert redact("using key k3y for the upstream", env) == "using key [redacted] for the upstream"
    assert redact("key=k3y,", env) == "key=[redacted],"


def test_a_short_key_is_replaced_only_as_a_whole_token():
    # A one-letter key must not blank out that letter in every word: glued to letters or digits it is kept.
    env = {"OPENAI_API_KEY": "a"}
    assert redact("a cat sat", env) == "[redacted] cat sat"
    assert redact("k3yboard", {"OPENAI_API_KEY": "k3y"}) == "k3yboard"


def test_a_long_key_is_redacted_even_inside_other_text():
    env = {"OPENAI_API_KEY": LONG}
    assert redact(f"key:{LONG}!", env) == "key:[redacted]!"
    assert redact(f"x{LONG}x", env) == "x[redacted]x"


def test_the_key_is_read_from_this_processs_environment_by_default(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "k3y")
    assert redact("the key k3y") == "the key [redacted]"


def test_every_variable_named_like_a_secret_is_redacted_but_no_other():
    env = {"MY_API_KEY": "alpha1", "GITHUB_TOKEN": "beta2beta2", "app_secret": "gamma3gamma3", "HOME": "/home/me",
           "UPSTREAM_URL": "ws://u"}
    assert redact("alpha1 beta2beta2 gamma3gamma3 /home/me ws://u", env) == \
        "[redacted] [redacted] [redacted] /home/me ws://u"


def test_empty_or_blank_values_redact_nothing():
    env = {"OPENAI_API_KEY": "", "A_TOKEN": "   "}
    assert secret_values(env) == ()
    assert redact("a line with  spaces", env) == "a line with  spaces"


def test_a_key_containing_another_is_replaced_whole():
    env = {"OPENAI_API_KEY": "abcdef", "OTHER_API_KEY": "abcdef123456"}
    assert redact("abcdef123456 abcdef", env) == "[redacted] [redacted]"


def test_sk_keys_and_bearer_tokens_are_redacted_without_any_environment():
    assert redact(f"key {LONG} here", {}) == "key sk-[redacted] here"
    assert redact("Authorization: Bearer abc.def-123=", {}) == "Authorization: Bearer [redacted]"
    assert redact("authorization: bearer   tok", {}) == "authorization: bearer   [redacted]"
    assert redact("sk-abc is too short to be a key", {}) == "sk-abc is too short to be a key"


def test_secret_spans_name_what_redact_replaces():
    text = f"a {LONG} b Bearer tok c k3y"
    spans = sorted(secret_spans(text, {"OPENAI_API_KEY": "k3y"}))
    assert [text[s:e] for s, e in spans] == [LONG, "Bearer tok", "k3y"]


def test_a_short_token_or_secret_flag_is_no_secret_but_a_short_api_key_is():
    env = {"HF_HUB_DISABLE_IMPLICIT_TOKEN": "1", "APP_SECRET": "short", "OTHER_API_KEY": "k9"}
    assert set(secret_values(env)) == {"k9"}
    assert redact("index 1, short, k9", env) == "index 1, short, [redacted]"


def test_a_recorded_json_frame_stays_json_with_its_strings_redacted(monkeypatch):
    from voice_harness.wire.recording import Recorder

    monkeypatch.setenv("OPENAI_API_KEY", "123")
    frame = Recorder().text("B", "->", 1, '{"type": "x", "index": 123, "note": "key 123 here"}')
    assert frame.type == "x"
    assert frame.data == {"type": "x", "index": 123, "note": "key [redacted] here"}
