"""What a run targets and launches: profiles, the run's configuration, the proxy process and its log, the app server, the browser, pre-flight."""
