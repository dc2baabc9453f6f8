pytest_plugins = ["voice_harness.plugin"]
