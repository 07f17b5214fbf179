"""Server time of the web pages: the workbench and a 50-row list over a million rows.

Targets: p95 server time under 50 ms for the workbench and for a 50-row page of the users
list over a table of 1,000,000 users (first page, a page deep in the list, sorted by name);
every page's HTML under 100 KB; the same number of SQL statements for a 10-row page as for
a 50-row one.

Server time is measured inside the process, around the ASGI application (from the request
reaching the app to the last byte of the response), on a throw-away SQLite site; requests
are sent in-process (no sockets), one at a time.

    openitsm bench pages [--rows 1000000] [--requests 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_P95_MS = 50.0
TARGET_HTML_BYTES = 100_000
BATCH = 50_000


def build_site(root: Path, rows: int) -> tuple[Any, str]:
    """A migrated kernel with `rows` users spread over twenty departments, and a signed-in
    administrator's session cookie value."""
    from sqlalchemy import insert

    from openitsm.kernel.access import action_registry
    from openitsm.kernel.collation import stored_sort_key
    from openitsm.kernel.identity import service as identity
    from openitsm.kernel.identity.models import User
    from openitsm.kernel.organisation import service
    from openitsm.kernel.testing import build_kernel

    kernel = build_kernel(root, f"sqlite:///{root / 'openitsm.db'}")
    with kernel.session() as session:
        departments = [
            service.create_department(session, code=f"d{n:02}", name=f"Department {n:02}").id
            for n in range(20)
        ]
        admin = identity.create_user(session, "admin", "Admin", password="bench-password")
        role = service.create_role(
            session,
            action_registry(kernel),
            code="bench_admin",
            labels={"en": "Bench admin"},
            actions=["org.read", "org.manage", "list.export"],
        )
        service.grant_role(session, admin.id, role.id)
        token = identity.open_session(session, admin, user_agent="openitsm-bench")
    started = time.perf_counter()
    with kernel.engine.begin() as connection:
        for first in range(0, rows, BATCH):
            connection.execute(
                insert(User),
                [
                    {
                        "login": f"user{n:07}",
                        "name": f"Person {(n * 7919) % rows:07}",
                        "sort_name": stored_sort_key(f"Person {(n * 7919) % rows:07}"),
                        "email": f"user{n}@example.test",
                        "employee_id": f"E{n:07}",
                        "phone": f"+86 10 {n:08}",
                        "department_id": departments[n % len(departments)],
                        "active": n % 10 != 0,
                        "is_superuser": False,
                        "time_zone": "Asia/Shanghai",
                        "version": 1,
                    }
                    for n in range(first, min(first + BATCH, rows))
                ],
            )
    print(f"inserted {rows:,} users in {time.perf_counter() - started:.1f} s")
    from itsdangerous import URLSafeSerializer

    cookie = URLSafeSerializer(kernel.settings.secret(), salt="openitsm.session").dumps(token)
    return kernel, cookie


class ServerTimer:
    """ASGI middleware recording each request's time inside the application."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seconds: list[float] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            self.seconds.append(time.perf_counter() - started)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="openitsm bench pages", description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)

    from starlette.testclient import TestClient

    from openitsm.kernel.db import count_statements

    print(f"pages: {args.rows:,} users, {args.requests} requests per page, SQLite, in-process")
    with tempfile.TemporaryDirectory(prefix="openitsm-bench-pages-") as folder:
        kernel, cookie = build_site(Path(folder), args.rows)
        timer = ServerTimer(kernel.asgi())
        client = TestClient(timer, headers={"accept-language": "zh-CN"})
        client.cookies.set("openitsm_session", cookie)
        first = client.get("/admin/users")
        assert first.status_code == 200, first.text[:500]
        cursor = first.text.split("after=", 1)[1].split('"', 1)[0].replace("&amp;", "&")
        pages = {
            "workbench /": "/",
            "users, first page": "/admin/users",
            "users, next page": f"/admin/users?after={cursor}",
            "users by name": "/admin/users?sort=name",
            "users, inactive only": "/admin/users?active=0",
        }
        failed = False
        for name, path in pages.items():
            answer = client.get(path)
            assert answer.status_code == 200 and "<html" in answer.text, (path, answer.status_code)
            timer.seconds.clear()
            for _ in range(args.requests):
                client.get(path)
            p50 = statistics.median(timer.seconds) * 1000
            p95 = percentile(timer.seconds, 0.95) * 1000
            size = len(answer.content)
            ok = p95 < TARGET_P95_MS and size < TARGET_HTML_BYTES
            failed |= not ok
            print(
                f"  {name:<22} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   "
                f"HTML {size / 1024:5.1f} KB   {'PASS' if ok else 'FAIL'}"
            )
        counts = []
        for rows_path in ("/admin/users?q=user000000", "/admin/users"):
            with count_statements(kernel.engine) as log:
                client.get(rows_path)
            counts.append(log.count)
        same = counts[0] == counts[1]
        failed |= not same
        print(
            f"statements, 10-row vs 50-row users page: {counts[0]} vs {counts[1]} "
            f"{'PASS' if same else 'FAIL'}"
        )
        print(f"targets: p95 < {TARGET_P95_MS:.0f} ms, HTML < {TARGET_HTML_BYTES // 1000} KB")
        kernel.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
