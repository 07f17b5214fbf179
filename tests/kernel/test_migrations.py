"""Migrations: one Alembic branch per plugin, applied, removed and checked against the models."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from openitsm.kernel import Base, ConfigurationError, Kernel, MigrationBranch, hookimpl, migrations
from openitsm.kernel.testing import build_kernel

DUMMY_REVISION = "291604b08a9a"
BROKEN_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "b0b0b0b0b0b0"
down_revision = None
branch_labels = ("broken",)
depends_on = "kernel"


def upgrade():
    op.create_table("broken_half", sa.Column("id", sa.Integer, primary_key=True))
    raise RuntimeError("broken revision gave up half way")


def downgrade():
    op.drop_table("broken_half")
"""


def tables(kernel: Kernel) -> set[str]:
    return set(sa.inspect(kernel.engine).get_table_names())


def test_every_migration_applies_to_an_empty_database(
    tmp_path: Path, database_url: str, dummy_plugin: ModuleType
) -> None:
    kernel = build_kernel(tmp_path, database_url, plugins={"dummy": dummy_plugin})
    try:
        assert migrations.current(kernel) == migrations.heads(kernel)
        assert DUMMY_REVISION in migrations.current(kernel)
        assert migrations.pending_migrations(kernel) == []
        assert set(kernel.model_owners) <= tables(kernel)
    finally:
        kernel.close()


def test_hook_register_migrations(
    tmp_path: Path, database_url: str, dummy_plugin: ModuleType
) -> None:
    kernel = build_kernel(tmp_path, database_url, plugins={"dummy": dummy_plugin})
    try:
        assert [b.label for b in kernel.migration_branches] == ["kernel", "dummy"]
        kernel_tables = {t for t, owner in kernel.model_owners.items() if owner != "dummy"}
        assert "dummy_note" in tables(kernel)

        migrations.downgrade(kernel, "dummy@base")
        assert "dummy_note" not in tables(kernel)
        assert kernel_tables <= tables(kernel)  # the kernel's tables are left intact
        assert DUMMY_REVISION not in migrations.current(kernel)
        assert migrations.pending_migrations(kernel) == [f"dummy@{DUMMY_REVISION}"]

        migrations.upgrade(kernel)
        assert "dummy_note" in tables(kernel)
        assert migrations.pending_migrations(kernel) == []
    finally:
        kernel.close()


def test_downgrade_to_base_removes_every_table(
    tmp_path: Path, database_url: str, dummy_plugin: ModuleType
) -> None:
    kernel = build_kernel(tmp_path, database_url, plugins={"dummy": dummy_plugin})
    try:
        migrations.downgrade(kernel, "base")
        assert tables(kernel) <= {"alembic_version"}
        assert migrations.current(kernel) == set()
    finally:
        kernel.close()


def test_models_and_migrations_do_not_drift(
    tmp_path: Path, database_url: str, dummy_plugin: ModuleType
) -> None:
    """Autogenerate against the migrated database finds nothing: the revisions match the models."""
    kernel = build_kernel(tmp_path, database_url, plugins={"dummy": dummy_plugin})
    owned = set(kernel.model_owners)

    def include_object(obj: Any, name: str | None, type_: str, *_: Any) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in owned

    try:
        with kernel.engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"include_object": include_object, "compare_type": True}
            )
            diff = compare_metadata(context, Base.metadata)
    finally:
        kernel.close()
    assert diff == []


class BrokenPlugin:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @hookimpl
    def register_migrations(self) -> MigrationBranch:
        return MigrationBranch("broken", self.folder)


def test_failed_migration_leaves_nothing_half_written(tmp_path: Path, database_url: str) -> None:
    versions = tmp_path / "broken_versions"
    versions.mkdir()
    (versions / "b0b0b0b0b0b0_broken.py").write_text(BROKEN_REVISION)
    kernel = build_kernel(
        tmp_path, database_url, plugins={"broken": BrokenPlugin(versions)}, migrate=False
    )
    try:
        with pytest.raises(ConfigurationError) as raised:
            migrations.upgrade(kernel)
        assert "broken revision gave up half way" in str(raised.value)
        assert "rolled back" in str(raised.value)
        # One transaction for the whole upgrade: neither the broken table nor the kernel's.
        assert tables(kernel) <= {"alembic_version"}
        assert migrations.current(kernel) == set()
    finally:
        kernel.close()


def test_missing_migrations_folder_is_a_startup_error(tmp_path: Path) -> None:
    kernel = build_kernel(
        tmp_path,
        f"sqlite:///{tmp_path / 'unused.db'}",
        plugins={"broken": BrokenPlugin(tmp_path / "nowhere")},
        migrate=False,
    )
    with pytest.raises(ConfigurationError, match=r"'broken'.*nowhere.*does not exist"):
        migrations.upgrade(kernel)
