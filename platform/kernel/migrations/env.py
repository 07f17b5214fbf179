"""Alembic environment: the metadata and connection come from the running kernel."""

from __future__ import annotations

from typing import Any

from alembic import context
from openitsm.kernel.db import Base

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


def run() -> None:
    with kernel.engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            include_object=include_object,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            transaction_per_migration=False,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run()
