"""Benchmarks of the shapes in shared/BENCH.md: ``python -m bench [W1 W2 ...]``."""
