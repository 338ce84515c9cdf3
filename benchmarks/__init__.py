"""Benchmarks of lossdoctor: ``python -m benchmarks.<name>``; results go to ``benchmarks/RESULTS.md``."""
