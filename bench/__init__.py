"""Benchmarks (not tests): `python -m bench.history`."""
