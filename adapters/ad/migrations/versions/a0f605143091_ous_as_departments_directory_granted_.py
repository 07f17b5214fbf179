"""OUs as departments, directory-granted kernel roles

Replaces `ad_ou` (a record of OUs) with `ad_ou_department` (each OU's kernel department) and
`ad_user_roles` (role codes) with `ad_role_grant` (kernel roles the directory granted). The old
rows only mirrored the directory: the next sync rebuilds everything from it.

Revision ID: a0f605143091
Revises: 4094afbdad0d
Create Date: 2026-11-27 09:58:42.327392
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a0f605143091"
down_revision: str | Sequence[str] | None = "4094afbdad0d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = "d76622c1f266"  # department and role tables

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ad_ou_department",
        sa.Column("department_id", ID, nullable=False),
        sa.Column("guid", sa.String(length=64), nullable=True),
        sa.Column("dn", sa.String(length=1000), nullable=False),
        sa.Column("dn_key", sa.String(length=1000), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_ad_ou_department_department_id_department"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_ou_department")),
        sa.UniqueConstraint("department_id", name=op.f("uq_ad_ou_department_department_id")),
        sa.UniqueConstraint("guid", name=op.f("uq_ad_ou_department_guid")),
    )
    with op.batch_alter_table("ad_ou_department", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ad_ou_department_dn_key"), ["dn_key"], unique=False)

    op.create_table(
        "ad_role_grant",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("role_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"], ["role.id"], name=op.f("fk_ad_role_grant_role_id_role"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_ad_role_grant_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "role_id", name=op.f("pk_ad_role_grant")),
    )
    op.drop_table("ad_user_roles")
    op.drop_table("ad_ou")


def downgrade() -> None:
    op.create_table(
        "ad_ou",
        sa.Column("dn", sa.String(length=1000), nullable=False),
        sa.Column("parent_dn", sa.String(length=1000), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("id", ID, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_ou")),
    )
    op.create_table(
        "ad_user_roles",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("role_code", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_ad_user_roles_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "role_code", name=op.f("pk_ad_user_roles")),
    )
    op.drop_table("ad_role_grant")
    with op.batch_alter_table("ad_ou_department", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ad_ou_department_dn_key"))
    op.drop_table("ad_ou_department")
