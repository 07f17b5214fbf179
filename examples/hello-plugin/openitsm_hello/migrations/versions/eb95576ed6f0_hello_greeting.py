"""hello greeting: the hello_greeting table

Revision ID: eb95576ed6f0
Revises:
Create Date: 2026-11-27 07:25:49.790266
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from openitsm.kernel import UTCDateTime

revision: str = "eb95576ed6f0"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("hello",)
depends_on: str | Sequence[str] | None = "kernel"


def upgrade() -> None:
    op.create_table(
        "hello_greeting",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("times_greeted", sa.Integer(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hello_greeting")),
        sa.UniqueConstraint("name", name=op.f("uq_hello_greeting_name")),
    )


def downgrade() -> None:
    op.drop_table("hello_greeting")
