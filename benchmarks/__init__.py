"""Benchmarks and reference implementations of the project, called by tools/bench_*.py."""
