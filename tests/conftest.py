"""Shared fixtures: every `kernel` test runs on SQLite and on PostgreSQL.

PostgreSQL and Redis come from OPENITSM_TEST_POSTGRES_URL and OPENITSM_TEST_REDIS_URL. When
one is unreachable, its tests are dropped with one line in the summary, except under CI
(CI=true), where a missing server is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from openitsm.kernel import Kernel
from openitsm.kernel.actors import Actor
from openitsm.kernel.testing import build_kernel, scratch_database

POSTGRES_URL = os.environ.get(
    "OPENITSM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("OPENITSM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

_reachable: dict[str, str | None] = {}


def postgres_problem() -> str | None:
    """None when PostgreSQL answers, else why not."""
    if "postgres" not in _reachable:
        try:
            engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            engine.dispose()
            _reachable["postgres"] = None
        except Exception as exc:
            _reachable["postgres"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return _reachable["postgres"]


def redis_problem() -> str | None:
    if "redis" not in _reachable:
        try:
            import redis

            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
            _reachable["redis"] = None
        except Exception as exc:
            _reachable["redis"] = f"{type(exc).__name__}: {exc}"
    return _reachable["redis"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    dropped: dict[str, list[pytest.Item]] = {"postgres": [], "redis": []}
    problems = {"postgres": postgres_problem, "redis": redis_problem}
    kept = []
    for item in items:
        needs = [name for name in dropped if item.get_closest_marker(name)]
        missing = [name for name in needs if problems[name]() is not None]
        if missing and not IN_CI:
            dropped[missing[0]].append(item)
        else:
            kept.append(item)
    if any(dropped.values()):
        items[:] = kept
        config.hook.pytest_deselected(items=[i for group in dropped.values() for i in group])
        config._openitsm_dropped = {k: (len(v), problems[k]()) for k, v in dropped.items() if v}  # type: ignore[attr-defined]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    for name, (count, problem) in getattr(config, "_openitsm_dropped", {}).items():
        url = POSTGRES_URL if name == "postgres" else REDIS_URL
        terminalreporter.write_line(
            f"SKIPPED {count} {name} tests: {url} is not reachable ({problem})", yellow=True
        )


@pytest.fixture(scope="session")
def postgres_url() -> str:
    problem = postgres_problem()
    if problem:
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is not reachable: {problem}")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_url() -> str:
    problem = redis_problem()
    if problem:
        pytest.fail(f"Redis at {REDIS_URL} is not reachable: {problem}")
    return REDIS_URL


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    postgres = lambda: request.getfixturevalue("postgres_url")  # noqa: E731
    with scratch_database(request.param, tmp_path, postgres) as url:
        yield url


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    """A migrated kernel with only the built-in kernel plugins."""
    built = build_kernel(tmp_path, database_url)
    yield built
    built.close()


@pytest.fixture
def admin(kernel: Kernel) -> Actor:
    from openitsm.kernel.identity import service

    with kernel.session() as session:
        user = service.create_user(
            session, "root", "Root Admin", password="secret-pw", superuser=True
        )
    return Actor(user_id=user.id, label=user.name, superuser=True)


@pytest.fixture
def member(kernel: Kernel) -> Actor:
    from openitsm.kernel.identity import service

    with kernel.session() as session:
        user = service.create_user(session, "member", "Plain Member", password="secret-pw")
    return Actor(user_id=user.id, label=user.name)
