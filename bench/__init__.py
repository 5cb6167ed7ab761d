"""Benchmarks: each prints its figures and compares side by side in one run (not tests)."""
