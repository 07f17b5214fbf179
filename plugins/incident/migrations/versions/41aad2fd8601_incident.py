"""incident: the incident table and its yearly number counter

Revision ID: 41aad2fd8601
Revises:
Create Date: 2026-11-27 19:48:07.892594
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import openitsm.kernel

revision: str = "41aad2fd8601"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("incident",)
depends_on: str | Sequence[str] | None = "d76622c1f266"  # the department and service_unit tables


def upgrade() -> None:
    op.create_table(
        "incident_counter",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_incident_counter")),
    )
    op.create_table(
        "incident",
        sa.Column("number", sa.String(length=30), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("caller_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("contact_phone", sa.String(length=50), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("nature", sa.String(length=100), nullable=True),
        sa.Column("impact", sa.String(length=100), nullable=True),
        sa.Column("urgency", sa.String(length=100), nullable=True),
        sa.Column("level", sa.String(length=30), nullable=True),
        sa.Column("level_reason", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column(
            "assignee_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "service_unit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("parent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("opened_at", openitsm.kernel.UTCDateTime(), nullable=False),
        sa.Column("responded_at", openitsm.kernel.UTCDateTime(), nullable=True),
        sa.Column("resolved_at", openitsm.kernel.UTCDateTime(), nullable=True),
        sa.Column("closed_at", openitsm.kernel.UTCDateTime(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("cost", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("work_hours", sa.Numeric(precision=8, scale=2), nullable=True),
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
            name=op.f("fk_incident_assignee_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["caller_id"],
            ["user_account.id"],
            name=op.f("fk_incident_caller_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["department.id"],
            name=op.f("fk_incident_group_id_department"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["incident.id"],
            name=op.f("fk_incident_parent_id_incident"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["service_unit_id"],
            ["service_unit.id"],
            name=op.f("fk_incident_service_unit_id_service_unit"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
        sa.UniqueConstraint("number", name=op.f("uq_incident_number")),
    )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_assignee_id"), ["assignee_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_caller_id"), ["caller_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_group_id"), ["group_id"], unique=False)
        batch_op.create_index("ix_incident_level_opened_at", ["level", "opened_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_opened_at"), ["opened_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_incident_service_unit_id"), ["service_unit_id"], unique=False
        )
        batch_op.create_index("ix_incident_status_opened_at", ["status", "opened_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_status_opened_at")
        batch_op.drop_index(batch_op.f("ix_incident_service_unit_id"))
        batch_op.drop_index(batch_op.f("ix_incident_parent_id"))
        batch_op.drop_index(batch_op.f("ix_incident_opened_at"))
        batch_op.drop_index("ix_incident_level_opened_at")
        batch_op.drop_index(batch_op.f("ix_incident_group_id"))
        batch_op.drop_index(batch_op.f("ix_incident_category"))
        batch_op.drop_index(batch_op.f("ix_incident_caller_id"))
        batch_op.drop_index(batch_op.f("ix_incident_assignee_id"))

    op.drop_table("incident")
    op.drop_table("incident_counter")
