"""Benchmarks: chainrule against micrograd (and hand-written floats), run by ``make bench``."""
