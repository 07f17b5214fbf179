"""Requests/s of an authenticated GraphQL query against a plain JSON route, same server.

Target: `{ viewer { login } }` with `Authorization: Bearer <token>` (the session is looked
up in the database on every request) reaches at least 0.2x the requests/s of a bare
Starlette route returning `{"ok": true}`, served by the same single uvicorn process.

    openitsm bench graphql [--seconds 10] [--warmup 2] [--connections 4] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys

from bench import _common as c

TARGET_RATIO = 0.2
QUERY = "{ viewer { login } }"


def targets(token: str) -> list[c.Target]:
    body = json.dumps({"query": QUERY})
    json_header = {"Content-Type": "application/json"}
    return [
        c.Target("plain Starlette route", "/bench/plain"),
        c.Target(
            "GraphQL, authenticated",
            "/graphql",
            "POST",
            body,
            {**json_header, "Authorization": f"Bearer {token}"},
        ),
        c.Target("GraphQL, anonymous", "/graphql", "POST", body, json_header),
        c.Target("plain strawberry (context)", "/bench/strawberry", "POST", body, json_header),
    ]


def check_responses(port: int, token: str) -> None:
    """Load numbers mean nothing unless each endpoint really answers what it should."""
    status, body = c.request(port, "GET", "/bench/plain")
    assert status == 200 and json.loads(body) == {"ok": True}, (status, body)
    signed_in = c.graphql(port, QUERY, token)
    assert signed_in == {"data": {"viewer": {"login": c.BENCH_LOGIN}}}, signed_in
    anonymous = c.graphql(port, QUERY)
    assert anonymous == {"data": {"viewer": None}}, anonymous
    status, body = c.request(
        port,
        "POST",
        "/bench/strawberry",
        json.dumps({"query": QUERY}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200 and json.loads(body)["data"] == {"viewer": {"login": "bench"}}, body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="Measured run per endpoint.")
    parser.add_argument("--warmup", type=float, default=2, help="Unmeasured run before each.")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads.")
    args = parser.parse_args(argv)

    tool = "wrk" if c.wrk_available() else "a Python load generator"
    print(f"machine: {c.machine()}")
    if note := c.busy_note():
        print(note)
    print("columns: requests/s, latency, server CPU time per request")
    print(
        f"load: {tool}, {args.threads} thread(s), {args.connections} connections, "
        f"{args.warmup:g} s warm-up + {args.seconds:g} s per endpoint; "
        "server: uvicorn, 1 worker, SQLite"
    )
    if not c.wrk_available():
        print(
            "note: wrk is not installed (Debian: apt-get install wrk); the Python load "
            "generator competes with the server for CPU, so numbers are lower and noisier"
        )
    with c.temporary_site() as site:
        token = c.prepare_site(site)
        port = c.free_port()
        server = c.start([sys.executable, "-P", str(c.BENCH_DIR / "_server.py"), str(port)], site)
        try:
            c.wait_until_up(server, port)
            check_responses(port, token)
            results: dict[str, c.LoadResult] = {}
            cpu_us: dict[str, float] = {}
            for target in targets(token):
                c.run_load(port, target, args.warmup, args.connections, args.threads)
                cpu_before = c.cpu_seconds(server.pid)
                result = c.run_load(port, target, args.seconds, args.connections, args.threads)
                served = result.requests_per_second * args.seconds
                cpu_us[target.name] = (c.cpu_seconds(server.pid) - cpu_before) / served * 1e6
                results[target.name] = result
                print(
                    f"  {target.name:<28} {_describe(result)}   {cpu_us[target.name]:5.0f} us CPU"
                )
                if result.errors:
                    print(f"    {result.errors} failed requests")
        finally:
            c.stop(server)
    plain = results["plain Starlette route"].requests_per_second
    ratio = results["GraphQL, authenticated"].requests_per_second / plain
    failed = sum(r.errors for r in results.values())
    ok = ratio >= TARGET_RATIO and not failed
    print(
        f"authenticated GraphQL / plain route: {ratio:.3f}x "
        f"(target >= {TARGET_RATIO}x) {c.verdict(ok)}"
    )
    for name in ("GraphQL, anonymous", "plain strawberry (context)"):
        print(f"  {name} / plain route: {results[name].requests_per_second / plain:.3f}x")
    # Server CPU per request hardly depends on what else the machine runs; its inverse
    # ratio is what the requests/s ratio tends to on an idle machine.
    by_cpu = cpu_us["plain Starlette route"] / cpu_us["GraphQL, authenticated"]
    print(f"  same ratio by server CPU per request: {by_cpu:.3f}x (less sensitive to load)")
    return 0 if ok else 1


def _describe(result: c.LoadResult) -> str:
    text = f"{result.requests_per_second:9.1f} req/s"
    if result.p50_ms is not None and result.p99_ms is not None:
        text += f"   p50 {result.p50_ms:6.2f} ms   p99 {result.p99_ms:6.2f} ms"
    return text


if __name__ == "__main__":
    sys.exit(main())
