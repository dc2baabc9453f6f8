"""The bundled target profiles (TOML), as package data: `voice-harness profile list` names them."""
