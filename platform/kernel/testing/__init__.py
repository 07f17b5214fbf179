"""Helpers for testing OpenITSM and its plugins: kernels on a scratch database, GraphQL calls.

Plugin authors use them as the kernel's own tests do::

    from openitsm.kernel.testing import build_kernel, gql
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import sqlalchemy as sa
from argon2 import PasswordHasher, profiles

from openitsm.kernel.actors import Actor
from openitsm.kernel.app import Kernel
from openitsm.kernel.db.session import count_statements
from openitsm.kernel.identity.service import use_password_hasher
from openitsm.kernel.settings import Settings

# Tests sign in thousands of times; argon2's default cost is for production.
use_password_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))

__all__ = [
    "actor_of",
    "build_kernel",
    "count_statements",
    "error_codes",
    "gql",
    "make_settings",
    "postgres_database",
    "postgres_schema",
    "run_coroutine",
    "scratch_database",
]


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database": {"url": database_url, "pool_size": 5},
        "queue": {"immediate": True},
        "modules": [],
    }
    values.update(overrides)
    return Settings.model_validate(values)


def build_kernel(
    tmp_path: Path,
    database_url: str,
    *,
    plugins: dict[str, ModuleType | object] | None = None,
    plugin_settings: dict[str, dict[str, Any]] | None = None,
    migrate: bool = True,
    **overrides: Any,
) -> Kernel:
    """A kernel on `database_url` with `plugins` enabled; migrated unless told otherwise.

    `plugin_settings` fills the `[plugins.<name>]` tables; other keywords override settings
    (`graphql={"max_depth": 3}`).
    """
    from openitsm.kernel import migrations

    if plugins and "modules" not in overrides:
        overrides["modules"] = list(plugins)
    if plugin_settings:
        overrides["plugins"] = plugin_settings
    template = _template_for(database_url, plugins, overrides) if migrate else None
    if template is not None and template.restore():
        return Kernel(make_settings(tmp_path, database_url, **overrides), extra_plugins=plugins)
    kernel = Kernel(make_settings(tmp_path, database_url, **overrides), extra_plugins=plugins)
    if migrate:
        migrations.upgrade(kernel)
        migrations.sync_shipped_data(kernel)
        if template is not None:
            kernel.close()
            template.save()
    return kernel


# Migrating every revision costs more than most tests, so the first kernel of a process for a
# set of plugin classes and settings is kept as a template that later fresh databases copy:
# a file on SQLite, a template database on PostgreSQL (where the role may create databases).
_TEMPLATE_FOLDER = Path(tempfile.mkdtemp(prefix="openitsm-test-templates-"))
atexit.register(shutil.rmtree, _TEMPLATE_FOLDER, True)
_TEMPLATE_PLUGIN_TYPES: list[type] = []  # kept alive, so no later class reuses an id in a key
_POSTGRES_TEMPLATES: set[tuple[str, str]] = set()  # (server URL, template database)
_SCRATCH_PREFIX = "openitsm_t_"
_EMPTY_SCRATCH_DATABASES: set[str] = set()  # made by postgres_database, no kernel built yet


def _template_key(plugins: dict[str, Any] | None, overrides: dict[str, Any]) -> str:
    parts = [repr(sorted(overrides.items()))]
    for name, plugin in sorted((plugins or {}).items()):
        kind = plugin if isinstance(plugin, ModuleType) else type(plugin)
        if not isinstance(kind, ModuleType) and kind not in _TEMPLATE_PLUGIN_TYPES:
            _TEMPLATE_PLUGIN_TYPES.append(kind)
        parts.append(f"{name}:{id(kind)}")
    return hashlib.sha256(",".join(parts).encode()).hexdigest()[:16]


class _SqliteTemplate:
    def __init__(self, target: Path, key: str) -> None:
        self.target, self.file = target, _TEMPLATE_FOLDER / f"{key}.db"

    def restore(self) -> bool:
        if not self.file.exists():
            return False
        shutil.copyfile(self.file, self.target)
        return True

    def save(self) -> None:
        url = f"sqlite:///{self.target}"
        engine = sa.create_engine(url)
        with engine.connect() as connection:  # everything into the main file, none in the WAL
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        shutil.copyfile(self.target, self.file)


class _PostgresTemplate:
    def __init__(self, url: sa.URL, key: str) -> None:
        self.server = url.set(database="postgres").render_as_string(hide_password=False)
        self.target = url.database or ""
        self.name = f"openitsm_tpl_{os.getpid()}_{key}"

    def restore(self) -> bool:
        if (self.server, self.name) not in _POSTGRES_TEMPLATES:
            return False
        with _admin(self.server).connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE "{self.target}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{self.target}" TEMPLATE "{self.name}"')
        return True

    def save(self) -> None:
        with _admin(self.server).connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{self.name}" TEMPLATE "{self.target}"')
        _POSTGRES_TEMPLATES.add((self.server, self.name))


def _template_for(
    database_url: str, plugins: dict[str, Any] | None, overrides: dict[str, Any]
) -> _SqliteTemplate | _PostgresTemplate | None:
    """A template for a fresh scratch database, else None (any other database migrates)."""
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        target = Path(url.database or "")
        if not url.database or target.exists():
            return None
        return _SqliteTemplate(target, _template_key(plugins, overrides))
    if url.get_backend_name() == "postgresql" and url.database in _EMPTY_SCRATCH_DATABASES:
        _EMPTY_SCRATCH_DATABASES.discard(url.database)
        return _PostgresTemplate(url, _template_key(plugins, overrides))
    return None


_ADMIN_ENGINES: dict[str, sa.Engine] = {}


def _admin(server_url: str) -> sa.Engine:
    if server_url not in _ADMIN_ENGINES:
        _ADMIN_ENGINES[server_url] = sa.create_engine(
            server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
    return _ADMIN_ENGINES[server_url]


@atexit.register
def _drop_postgres_templates() -> None:
    for server, name in _POSTGRES_TEMPLATES:
        with contextlib.suppress(sa.exc.SQLAlchemyError), _admin(server).connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def gql(
    kernel: Kernel, query: str, variables: dict[str, Any] | None = None, actor: Actor | None = None
) -> dict[str, Any]:
    """Run one GraphQL operation as `actor` through the same path as /graphql."""
    from openitsm.kernel.actors import ANONYMOUS
    from openitsm.kernel.graphql.view import execute

    return execute(kernel, query, variables or {}, actor=actor or ANONYMOUS)


def error_codes(result: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in result.get("errors", [])]


@contextlib.contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A URL whose search_path is a new, empty PostgreSQL schema, dropped afterwards: a
    scratch database per test without the rights to create databases."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base_url)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextlib.contextmanager
def postgres_database(base_url: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database on `base_url`'s server, dropped afterwards
    (the role needs CREATEDB). Kernels built on it copy a migrated template."""
    url = sa.engine.make_url(base_url)
    server = url.set(database="postgres").render_as_string(hide_password=False)
    name = f"{_SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}"
    with _admin(server).connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    _EMPTY_SCRATCH_DATABASES.add(name)
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        _EMPTY_SCRATCH_DATABASES.discard(name)
        with _admin(server).connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def may_create_databases(base_url: str) -> bool:
    engine = sa.create_engine(base_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return bool(
                connection.scalar(
                    sa.text(
                        "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user"
                    )
                )
            )
    finally:
        engine.dispose()


@contextlib.contextmanager
def scratch_database(kind: str, folder: Path, postgres_url: Callable[[], str]) -> Iterator[str]:
    """An empty database of `kind` ("sqlite" or "postgresql"): a file in `folder`, or on the
    server `postgres_url()` names (asked only when one is needed) a new database, or a new
    schema where the role may not create databases."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'openitsm.db'}"
        return
    base_url = postgres_url()
    if base_url not in _MAY_CREATE_DATABASES:
        _MAY_CREATE_DATABASES[base_url] = may_create_databases(base_url)
    scratch = postgres_database if _MAY_CREATE_DATABASES[base_url] else postgres_schema
    with scratch(base_url) as url:
        yield url


_MAY_CREATE_DATABASES: dict[str, bool] = {}


def actor_of(kernel: Kernel, user_id: int) -> Actor:
    """The user as an actor with their current grants, read in a session of its own."""
    from openitsm.kernel.access.grants import actor_for_user

    with kernel.session() as session:
        return actor_for_user(session, user_id)


T = TypeVar("T")


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to its end on an event loop of its own, in a thread of its own: a
    test may run where an earlier one (a sync browser session) holds this thread's loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
