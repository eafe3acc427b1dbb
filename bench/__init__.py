"""Benchmarks: JSON into reports/bench/, headline figures merged into reports/bench/summary.json."""
