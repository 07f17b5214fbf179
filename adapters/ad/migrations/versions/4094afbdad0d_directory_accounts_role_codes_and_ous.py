"""directory accounts, role codes and OUs

Revision ID: 4094afbdad0d
Revises:
Create Date: 2026-11-27 08:29:52.063037
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openitsm.kernel

revision: str = "4094afbdad0d"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("ad",)
depends_on: str | Sequence[str] | None = "kernel"


def upgrade() -> None:

    op.create_table(
        "ad_ou",
        sa.Column("dn", sa.String(length=1000), nullable=False),
        sa.Column("parent_dn", sa.String(length=1000), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_ou")),
    )
    op.create_table(
        "ad_sync_state",
        sa.Column("started_at", openitsm.kernel.UTCDateTime(), nullable=True),
        sa.Column("finished_at", openitsm.kernel.UTCDateTime(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_sync_state")),
    )
    op.create_table(
        "ad_account",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("dn", sa.String(length=1000), nullable=False),
        sa.Column("dn_key", sa.String(length=1000), nullable=False),
        sa.Column("guid", sa.String(length=64), nullable=True),
        sa.Column("employee_id", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("synced_at", openitsm.kernel.UTCDateTime(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_ad_account_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_account")),
        sa.UniqueConstraint("guid", name=op.f("uq_ad_account_guid")),
        sa.UniqueConstraint("user_id", name=op.f("uq_ad_account_user_id")),
    )
    with op.batch_alter_table("ad_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ad_account_dn_key"), ["dn_key"], unique=False)

    op.create_table(
        "ad_user_roles",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("role_code", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_ad_user_roles_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "role_code", name=op.f("pk_ad_user_roles")),
    )


def downgrade() -> None:

    op.drop_table("ad_user_roles")
    with op.batch_alter_table("ad_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ad_account_dn_key"))

    op.drop_table("ad_account")
    op.drop_table("ad_sync_state")
    op.drop_table("ad_ou")
