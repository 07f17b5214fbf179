"""module defaults given to predefined roles

Revision ID: 7c4e2b9d1f30
Revises: 5099202bc325
Create Date: 2026-11-28 01:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c4e2b9d1f30"
down_revision: str | Sequence[str] | None = "5099202bc325"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "declared_grant",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_declared_grant")),
    )


def downgrade() -> None:
    op.drop_table("declared_grant")
