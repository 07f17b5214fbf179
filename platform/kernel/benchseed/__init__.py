"""Benchmark sites: `openitsm bench seed` and what modules use in `seed_bench_data`.

from openitsm.kernel.benchseed import BenchScale, BenchSite
"""

from openitsm.kernel.benchseed.site import BenchScale, BenchSite, Person, weighted

__all__ = ["BenchScale", "BenchSite", "Person", "weighted"]
