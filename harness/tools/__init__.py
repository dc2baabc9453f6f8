"""The command line and its tools: run, bench, sensitivity, explore, report, setup-browser."""
