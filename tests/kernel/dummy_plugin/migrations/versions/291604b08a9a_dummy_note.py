"""dummy note

Revision ID: 291604b08a9a
Revises:
Create Date: 2026-11-27 07:26:02.672976
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "291604b08a9a"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("dummy",)
depends_on: str | Sequence[str] | None = "kernel"


def upgrade() -> None:
    op.create_table(
        "dummy_note",
        sa.Column("text", sa.String(length=200), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dummy_note")),
    )


def downgrade() -> None:
    op.drop_table("dummy_note")
