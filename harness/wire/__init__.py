"""The wire recording shared by the mock upstream and the harness: frame records on one clock, the recording relay, the loopback listener, redaction. No pytest here."""
