"""delegations

Revision ID: c3e44441d854
Revises: d76622c1f266
Create Date: 2026-11-27 09:00:29.761457
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openitsm.kernel

revision: str = "c3e44441d854"
down_revision: str | Sequence[str] | None = "d76622c1f266"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delegation",
        sa.Column(
            "delegator_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "deputy_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("starts_at", openitsm.kernel.UTCDateTime(), nullable=False),
        sa.Column("ends_at", openitsm.kernel.UTCDateTime(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("revoked_at", openitsm.kernel.UTCDateTime(), nullable=True),
        sa.Column(
            "created_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", openitsm.kernel.UTCDateTime(), nullable=False),
        sa.Column("updated_at", openitsm.kernel.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_delegation_created_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["delegator_id"],
            ["user_account.id"],
            name=op.f("fk_delegation_delegator_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deputy_id"],
            ["user_account.id"],
            name=op.f("fk_delegation_deputy_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delegation")),
    )
    with op.batch_alter_table("delegation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_delegation_delegator_period", ["delegator_id", "starts_at", "ends_at"], unique=False
        )
        batch_op.create_index(
            "ix_delegation_deputy_period", ["deputy_id", "starts_at", "ends_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("delegation", schema=None) as batch_op:
        batch_op.drop_index("ix_delegation_deputy_period")
        batch_op.drop_index("ix_delegation_delegator_period")

    op.drop_table("delegation")
