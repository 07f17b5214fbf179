"""Start-up time: a fresh interpreter to a built kernel with its ASGI app (and schema).

Target: under 2 s with every installed plugin enabled. Each repetition is a new process in
a throw-away data dir; the median is reported, both from just before `import openitsm` to
`Kernel().asgi()` returning, and for the whole `python -c` process.

    openitsm bench startup [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

from bench import _common as c

TARGET_SECONDS = 2.0
PROBE = """
import json, time
t = time.perf_counter()
from openitsm.kernel import Kernel
k = Kernel()
k.asgi()
total = time.perf_counter() - t
print(json.dumps({
    "seconds": total,
    "kernel_seconds": k.startup_seconds,
    "plugins": [p.name for p in k.plugins.enabled()],
}))
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)

    print(f"machine: {c.machine()}")
    if note := c.busy_note():
        print(note)
    inside: list[float] = []
    constructor: list[float] = []
    wall: list[float] = []
    cpu: list[float] = []
    plugins: list[str] = []
    with c.temporary_site() as site:
        for _ in range(args.repeat):
            began = time.perf_counter()
            cpu_before = _children_cpu()
            completed = subprocess.run(
                [sys.executable, "-P", "-c", PROBE],
                env=site.env,
                cwd=site.root,
                capture_output=True,
                text=True,
                timeout=60,
            )
            wall.append(time.perf_counter() - began)
            cpu.append(_children_cpu() - cpu_before)
            if completed.returncode != 0:
                print(completed.stdout + completed.stderr)
                return 2
            report = json.loads(completed.stdout.strip().splitlines()[-1])
            inside.append(report["seconds"])
            constructor.append(report["kernel_seconds"])
            plugins = report["plugins"]
    median = statistics.median(inside)
    ok = median < TARGET_SECONDS
    print(f"plugins enabled ({len(plugins)}): {', '.join(plugins)}")
    print(f"repetitions: {args.repeat} fresh processes")
    print(f"  import + Kernel() + asgi():  median {median:.3f} s  (min {min(inside):.3f} s)")
    print(f"  of which Kernel() itself:    median {statistics.median(constructor):.3f} s")
    print(f"  whole `python -c` process:   median {statistics.median(wall):.3f} s")
    print(f"  its CPU time (user + sys):   median {statistics.median(cpu):.3f} s")
    print(f"start-up {median:.3f} s (target < {TARGET_SECONDS:g} s) {c.verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
