"""Helpers for testing OpenITSM and its plugins: kernels on a scratch database, GraphQL calls.

Plugin authors use them as the kernel's own tests do::

    from openitsm.kernel.testing import build_kernel, gql
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa

from openitsm.kernel.actors import Actor
from openitsm.kernel.app import Kernel
from openitsm.kernel.db.session import count_statements
from openitsm.kernel.settings import Settings

__all__ = [
    "actor_of",
    "build_kernel",
    "count_statements",
    "error_codes",
    "gql",
    "make_settings",
    "postgres_schema",
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
    from openitsm.kernel.dictionaries.service import sync_declared
    from openitsm.kernel.organisation.service import sync_kernel_roles

    if plugins and "modules" not in overrides:
        overrides["modules"] = list(plugins)
    if plugin_settings:
        overrides["plugins"] = plugin_settings
    kernel = Kernel(make_settings(tmp_path, database_url, **overrides), extra_plugins=plugins)
    if migrate:
        migrations.upgrade(kernel)
        with kernel.session() as session:
            sync_declared(session, kernel.dictionary_specs)
            sync_kernel_roles(session, kernel)
    return kernel


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
def scratch_database(kind: str, folder: Path, postgres_url: Callable[[], str]) -> Iterator[str]:
    """An empty database of `kind` ("sqlite" or "postgresql"): a file in `folder`, or a new
    schema on the server `postgres_url()` names (asked only when one is needed)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'openitsm.db'}"
        return
    with postgres_schema(postgres_url()) as url:
        yield url


def actor_of(kernel: Kernel, user_id: int) -> Actor:
    """The user as an actor with their current grants, read in a session of its own."""
    from openitsm.kernel.access.grants import actor_for_user

    with kernel.session() as session:
        return actor_for_user(session, user_id)
