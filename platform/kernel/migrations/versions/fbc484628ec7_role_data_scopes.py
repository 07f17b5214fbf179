"""role data scopes: which rows of each record kind a role lets its holders see

Revision ID: fbc484628ec7
Revises: c3e44441d854
Create Date: 2026-11-27 09:01:01.358586
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "fbc484628ec7"
down_revision: str | Sequence[str] | None = "c3e44441d854"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "role_scope",
        sa.Column("role_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("resource", sa.String(length=100), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint(
            "scope IN ('own', 'department', 'department_subtree', 'service_units', 'all')",
            name=op.f("ck_role_scope_scope"),
        ),
        sa.ForeignKeyConstraint(
            ["role_id"], ["role.id"], name=op.f("fk_role_scope_role_id_role"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_scope")),
        sa.UniqueConstraint("role_id", "resource", name=op.f("uq_role_scope_role_id_resource")),
    )
    with op.batch_alter_table("role_scope", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_role_scope_role_id"), ["role_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("role_scope", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_role_scope_role_id"))

    op.drop_table("role_scope")
