"""attachments: files on any record (kind, id)

Revision ID: f6875c901126
Revises: 9da2941a6fd1
Create Date: 2026-11-27 07:27:47.937456
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openitsm.kernel.db

revision: str = "f6875c901126"
down_revision: str | Sequence[str] | None = "9da2941a6fd1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attachment",
        sa.Column("record_kind", sa.String(length=64), nullable=False),
        sa.Column(
            "record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("declared_type", sa.String(length=255), nullable=True),
        sa.Column("size", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column(
            "uploaded_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", openitsm.kernel.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", openitsm.kernel.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["user_account.id"],
            name=op.f("fk_attachment_uploaded_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachment")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_attachment_storage_key")),
    )
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.create_index(
            "ix_attachment_record", ["record_kind", "record_id", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("attachment", schema=None) as batch_op:
        batch_op.drop_index("ix_attachment_record")

    op.drop_table("attachment")
