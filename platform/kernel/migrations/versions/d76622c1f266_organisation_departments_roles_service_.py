"""organisation: departments, roles, service units

Revision ID: d76622c1f266
Revises: f044febb12a2
Create Date: 2026-11-27 08:29:31.333587
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openitsm.kernel

revision: str = "d76622c1f266"
down_revision: str | Sequence[str] | None = "f044febb12a2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "department",
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "head_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "admin_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", openitsm.kernel.UTCDateTime(), nullable=False),
        sa.Column("updated_at", openitsm.kernel.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_user_id"],
            ["user_account.id"],
            name=op.f("fk_department_admin_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["head_user_id"],
            ["user_account.id"],
            name=op.f("fk_department_head_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["department.id"],
            name=op.f("fk_department_parent_id_department"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_department")),
        sa.UniqueConstraint("code", name=op.f("uq_department_code")),
    )
    with op.batch_alter_table("department", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_department_admin_user_id"), ["admin_user_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_department_head_user_id"), ["head_user_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_department_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index("ix_department_tree", ["parent_id", "sort_order"], unique=False)

    op.create_table(
        "grants_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grants_version")),
    )
    grants_version = sa.table("grants_version", sa.column("id"), sa.column("value"))
    op.bulk_insert(grants_version, [{"id": 1, "value": 0}])
    op.create_table(
        "role",
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", openitsm.kernel.UTCDateTime(), nullable=False),
        sa.Column("updated_at", openitsm.kernel.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role")),
        sa.UniqueConstraint("code", name=op.f("uq_role_code")),
    )
    op.create_table(
        "service_unit",
        sa.Column("code", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", openitsm.kernel.UTCDateTime(), nullable=False),
        sa.Column("updated_at", openitsm.kernel.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_unit")),
        sa.UniqueConstraint("code", name=op.f("uq_service_unit_code")),
    )
    op.create_table(
        "role_action",
        sa.Column("role_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"], ["role.id"], name=op.f("fk_role_action_role_id_role"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_action")),
        sa.UniqueConstraint("role_id", "action", name=op.f("uq_role_action_role_id_action")),
    )
    with op.batch_alter_table("role_action", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_role_action_role_id"), ["role_id"], unique=False)

    op.create_table(
        "service_unit_contact",
        sa.Column(
            "service_unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("position", sa.String(length=200), nullable=True),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", openitsm.kernel.UTCDateTime(), nullable=False),
        sa.Column("updated_at", openitsm.kernel.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_unit_id"],
            ["service_unit.id"],
            name=op.f("fk_service_unit_contact_service_unit_id_service_unit"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_service_unit_contact_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_unit_contact")),
    )
    with op.batch_alter_table("service_unit_contact", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_unit_contact_service_unit_id"), ["service_unit_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_service_unit_contact_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "user_role",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("role_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["role_id"], ["role.id"], name=op.f("fk_user_role_role_id_role"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_user_role_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_role")),
        sa.UniqueConstraint("user_id", "role_id", name=op.f("uq_user_role_user_id_role_id")),
    )
    with op.batch_alter_table("user_role", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_role_role_id"), ["role_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_user_role_user_id"), ["user_id"], unique=False)

    op.create_table(
        "user_service_unit",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "service_unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_unit_id"],
            ["service_unit.id"],
            name=op.f("fk_user_service_unit_service_unit_id_service_unit"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_user_service_unit_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_service_unit")),
        sa.UniqueConstraint(
            "user_id", "service_unit_id", name=op.f("uq_user_service_unit_user_id_service_unit_id")
        ),
    )
    with op.batch_alter_table("user_service_unit", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_user_service_unit_service_unit_id"), ["service_unit_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_user_service_unit_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("employee_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("phone", sa.String(length=50), nullable=True))
        batch_op.add_column(
            sa.Column(
                "department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "manager_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_index(
            batch_op.f("ix_user_account_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_user_account_employee_id"), ["employee_id"], unique=True
        )
        batch_op.create_index(
            batch_op.f("ix_user_account_manager_id"), ["manager_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_user_account_manager_id_user_account"),
            "user_account",
            ["manager_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_user_account_department_id_department"),
            "department",
            ["department_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_user_account_department_id_department"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_user_account_manager_id_user_account"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_user_account_manager_id"))
        batch_op.drop_index(batch_op.f("ix_user_account_employee_id"))
        batch_op.drop_index(batch_op.f("ix_user_account_department_id"))
        batch_op.drop_column("manager_id")
        batch_op.drop_column("department_id")
        batch_op.drop_column("phone")
        batch_op.drop_column("employee_id")

    with op.batch_alter_table("user_service_unit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_service_unit_user_id"))
        batch_op.drop_index(batch_op.f("ix_user_service_unit_service_unit_id"))

    op.drop_table("user_service_unit")
    with op.batch_alter_table("user_role", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_role_user_id"))
        batch_op.drop_index(batch_op.f("ix_user_role_role_id"))

    op.drop_table("user_role")
    with op.batch_alter_table("service_unit_contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_unit_contact_user_id"))
        batch_op.drop_index(batch_op.f("ix_service_unit_contact_service_unit_id"))

    op.drop_table("service_unit_contact")
    with op.batch_alter_table("role_action", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_role_action_role_id"))

    op.drop_table("role_action")
    op.drop_table("service_unit")
    op.drop_table("role")
    op.drop_table("grants_version")
    with op.batch_alter_table("department", schema=None) as batch_op:
        batch_op.drop_index("ix_department_tree")
        batch_op.drop_index(batch_op.f("ix_department_parent_id"))
        batch_op.drop_index(batch_op.f("ix_department_head_user_id"))
        batch_op.drop_index(batch_op.f("ix_department_admin_user_id"))

    op.drop_table("department")
