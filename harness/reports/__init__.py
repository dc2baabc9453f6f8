"""What a run leaves for people: conformance.json and .md, the timeline view, the single-file HTML report."""
