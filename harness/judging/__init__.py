"""What turns a recording into verdicts, with no I/O: the catalogue, the timeline, checks, invariants, diagnosis, attribution, verdicts, metrics."""
