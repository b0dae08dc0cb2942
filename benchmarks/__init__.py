"""Benchmarks of memory retrieval: quality on generated research histories, and speed."""
