"""bbvars benchmarks: `python bench/run.py` (see BENCHMARKS.md)."""
