"""The sync itself: plan (pure: existing + desired -> operations), fingerprints, the engine and applier (HTTP, bounded
concurrency), the result and its JSON report; `check` reads the same target without writing."""
