"""complaint: the complaint table and its yearly number counter

Revision ID: 920977520df5
Revises:
Create Date: 2026-11-27 21:55:09.681683
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import openitsm.kernel

revision: str = "920977520df5"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("complaint",)
depends_on: str | Sequence[str] | None = "ce10e028c51d"  # the kernel head: users, departments


def upgrade() -> None:
    op.create_table(
        "complaint_counter",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_complaint_counter")),
    )
    op.create_table(
        "complaint",
        sa.Column("number", sa.String(length=30), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "complainant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("contact_phone", sa.String(length=50), nullable=True),
        sa.Column("channel", sa.String(length=100), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("nature", sa.String(length=100), nullable=True),
        sa.Column("severity", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column(
            "department_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "assignee_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column(
            "service_unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("opened_at", openitsm.kernel.UTCDateTime(), nullable=False),
        sa.Column("routed_at", openitsm.kernel.UTCDateTime(), nullable=True),
        sa.Column("responded_at", openitsm.kernel.UTCDateTime(), nullable=True),
        sa.Column("feedback_at", openitsm.kernel.UTCDateTime(), nullable=True),
        sa.Column("closed_at", openitsm.kernel.UTCDateTime(), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("satisfaction", sa.Integer(), nullable=True),
        sa.Column("satisfaction_comment", sa.String(length=1000), nullable=True),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", openitsm.kernel.UTCDateTime(), nullable=False),
        sa.Column("updated_at", openitsm.kernel.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "custom_fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["user_account.id"],
            name=op.f("fk_complaint_assignee_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["complainant_id"],
            ["user_account.id"],
            name=op.f("fk_complaint_complainant_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["department.id"],
            name=op.f("fk_complaint_department_id_department"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["service_unit_id"],
            ["service_unit.id"],
            name=op.f("fk_complaint_service_unit_id_service_unit"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint")),
        sa.UniqueConstraint("number", name=op.f("uq_complaint_number")),
    )
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_complaint_assignee_id"), ["assignee_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaint_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaint_channel"), ["channel"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_complaint_complainant_id"), ["complainant_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_complaint_department_id"), ["department_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_complaint_nature"), ["nature"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaint_opened_at"), ["opened_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_complaint_service_unit_id"), ["service_unit_id"], unique=False
        )
        batch_op.create_index(
            "ix_complaint_severity_opened_at", ["severity", "opened_at"], unique=False
        )
        batch_op.create_index(
            "ix_complaint_status_opened_at", ["status", "opened_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.drop_index("ix_complaint_status_opened_at")
        batch_op.drop_index("ix_complaint_severity_opened_at")
        batch_op.drop_index(batch_op.f("ix_complaint_service_unit_id"))
        batch_op.drop_index(batch_op.f("ix_complaint_opened_at"))
        batch_op.drop_index(batch_op.f("ix_complaint_nature"))
        batch_op.drop_index(batch_op.f("ix_complaint_department_id"))
        batch_op.drop_index(batch_op.f("ix_complaint_complainant_id"))
        batch_op.drop_index(batch_op.f("ix_complaint_channel"))
        batch_op.drop_index(batch_op.f("ix_complaint_category"))
        batch_op.drop_index(batch_op.f("ix_complaint_assignee_id"))

    op.drop_table("complaint")
    op.drop_table("complaint_counter")
