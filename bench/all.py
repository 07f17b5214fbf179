"""Run every benchmark (start-up, memory, GraphQL throughput, access rules, Excel export);
fail if any misses its target.

openitsm bench all
"""

from __future__ import annotations

import runpy
import sys

BENCHMARKS = ("startup", "memory", "graphql", "permissions", "export", "pages", "workflow")


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"== {name} ==", flush=True)
        module = runpy.run_module(f"bench.{name}", run_name=f"openitsm_bench_{name}")
        if module["main"]([]) != 0:
            failed.append(name)
        print(flush=True)
    print("all targets met" if not failed else f"missed targets: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
