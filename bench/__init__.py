"""Benchmarks (make bench); not part of the test run, which only smoke-runs them on tiny sizes."""
