"""Benchmarks of the kernel's speed targets; results in docs/benchmarks.md.

Run them from a source checkout as `openitsm bench NAME` or `python -m bench.NAME` (not as
`python bench/NAME.py`: with bench/ first on the path, bench/graphql.py would stand in for
the graphql library itself).
"""
