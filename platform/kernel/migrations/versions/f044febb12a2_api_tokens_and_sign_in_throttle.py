"""api tokens and sign-in throttle

Revision ID: f044febb12a2
Revises: f6875c901126
Create Date: 2026-11-27 08:29:20.745162
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openitsm.kernel.db

revision: str = "f044febb12a2"
down_revision: str | Sequence[str] | None = "f6875c901126"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_throttle",
        sa.Column("login", sa.String(length=150), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column(
            "last_failure_at", openitsm.kernel.db.base.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "locked_until", openitsm.kernel.db.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("login", name=op.f("pk_sign_in_throttle")),
    )
    op.create_table(
        "api_token",
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("expires_at", openitsm.kernel.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", openitsm.kernel.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "last_used_at", openitsm.kernel.db.base.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", openitsm.kernel.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "created_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_api_token_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))

    op.drop_table("api_token")
    op.drop_table("sign_in_throttle")
