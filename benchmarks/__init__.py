"""Reproducible measurements against baselines: one script per benchmark (each with its own CLI and
an importable `run` returning a plain dict), `run_all.py` for all of them, `report.py` for RESULTS.md."""
