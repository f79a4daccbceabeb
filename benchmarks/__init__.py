"""Benchmarks of newscrawl: run by hand, reported in benchmarks/README.md."""
