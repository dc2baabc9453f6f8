"""The project's documentation. The folder is also the package voice_harness.docs so that the page written for
app authors (app-contract.md) ships in the wheel and an installed harness can point to it (paths.bundled)."""
