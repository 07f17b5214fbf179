"""Resident memory of one idle web process after it has served a few requests.

Target: under 150 MB RSS. Measures `openitsm serve` as shipped (one worker, SQLite) and, for
comparison, plain `uvicorn --factory openitsm.kernel.asgi:create_app`; each serves /healthz
and an authenticated GraphQL query, rests for a moment, and its VmRSS (plus that of any
child process) is read from /proc.

    openitsm bench memory
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from bench import _common as c

TARGET_MB = 150.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        listing = task / "children"
        if listing.exists():
            found.extend(int(n) for n in listing.read_text().split())
    return found + [g for child in found for g in children(child)]


def openitsm_command() -> list[str]:
    beside = Path(sys.executable).with_name("openitsm")
    found = str(beside) if beside.exists() else shutil.which("openitsm")
    if found is None:
        raise RuntimeError("the `openitsm` command is not installed in this environment")
    return [found]


def measure(command: list[str], site: c.Site, token: str) -> tuple[float, list[float], float]:
    """(RSS of the process, RSS of each child, seconds until /healthz answered)."""
    port = c.free_port()
    server = c.start([*command, "--port", str(port)], site)
    try:
        ready = c.wait_until_up(server, port)
        for _ in range(3):
            c.request(port, "GET", "/healthz")
            viewer = c.graphql(port, "{ viewer { login } }", token)
            assert viewer == {"data": {"viewer": {"login": c.BENCH_LOGIN}}}, viewer
        time.sleep(1)
        return rss_mb(server.pid), [rss_mb(pid) for pid in children(server.pid)], ready
    finally:
        c.stop(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)

    print(f"machine: {c.machine()}")
    if note := c.busy_note():
        print(note)
    commands = {
        "openitsm serve": [*openitsm_command(), "serve", "--host", c.HOST, "--workers", "1"],
        "uvicorn create_app": [
            sys.executable,
            "-P",
            "-m",
            "uvicorn",
            "--factory",
            "openitsm.kernel.asgi:create_app",
            "--host",
            c.HOST,
            "--workers",
            "1",
            "--log-level",
            "warning",
        ],
    }
    results: dict[str, float] = {}
    with c.temporary_site() as site:
        token = c.prepare_site(site)
        for name, command in commands.items():
            own, extra, ready = measure(command, site, token)
            total = own + sum(extra)
            results[name] = total
            detail = f" (+{len(extra)} child processes: {sum(extra):.1f} MB)" if extra else ""
            print(f"  {name:<20} {own:6.1f} MB RSS{detail}; answered /healthz after {ready:.2f} s")
    served = results["openitsm serve"]
    ok = served < TARGET_MB
    print(f"idle web process {served:.1f} MB (target < {TARGET_MB:g} MB) {c.verdict(ok)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
