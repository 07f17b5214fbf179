"""Alembic environment: the metadata and connection come from the running kernel."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context

from openitsm.kernel.db import Base, UTCDateTime

config = context.config
kernel = config.attributes["kernel"]
only_branch = config.attributes.get("only_branch")


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    if type_ != "table":
        table = getattr(obj, "table", None)
        name = getattr(table, "name", name)
    owner = _branch_owning(name)
    if owner is None:
        # A table in the database that no enabled plugin models: leave it alone.
        return False
    return only_branch is None or owner == only_branch


def _branch_owning(table: str | None) -> str | None:
    plugin = kernel.model_owners.get(table or "")
    if plugin is None:
        return None
    return "kernel" if plugin.startswith("kernel.") else plugin


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Write the kernel's column types through the public API plugins import from."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("import openitsm.kernel")
        return "openitsm.kernel.UTCDateTime()"
    return False


def run() -> None:
    with kernel.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            _sqlite_foreign_keys(connection, enforce=False)
        try:
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                include_object=include_object,
                render_item=render_item,
                render_as_batch=sqlite,
                compare_type=True,
                # Our SQLite engine opens real transactions, so its DDL rolls back too:
                # a failing revision leaves the database exactly as it was.
                transactional_ddl=True,
                transaction_per_migration=False,
            )
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    _check_sqlite_foreign_keys(connection)
            connection.commit()
        finally:
            if sqlite:
                if connection.in_transaction():
                    connection.rollback()
                _sqlite_foreign_keys(connection, enforce=True)


def _sqlite_foreign_keys(connection: Any, *, enforce: bool) -> None:
    """Batch migrations copy and drop tables; enforced foreign keys would make a drop cascade
    into, or be refused by, the rows pointing at it. SQLite ignores this pragma inside a
    transaction, so it goes straight to the driver, before any statement begins one."""
    connection.connection.driver_connection.execute(
        f"PRAGMA foreign_keys={'ON' if enforce else 'OFF'}"
    )


def _check_sqlite_foreign_keys(connection: Any) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"migrations left rows with dangling foreign keys: {broken[:5]}")


run()
