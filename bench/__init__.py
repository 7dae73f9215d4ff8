"""subkit's benchmarks: ``python -m bench`` (or ``make bench``) runs them all.

Each benchmark measures subkit next to a baseline doing the same work by hand, in the same
process and the same run, so a ratio is not thrown off by a busy machine. Timings live here,
never in the tests.
"""
