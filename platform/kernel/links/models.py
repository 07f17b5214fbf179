"""The `record_link` table: one row per directed link between two records."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.db import Base, IdMixin
from openitsm.kernel.db.base import utcnow
from openitsm.kernel.references import RecordRef


class RecordLink(IdMixin, Base):
    """`source` stands in `relation` to `target` (`INC-1 duplicate_of INC-2`).

    Links are created and removed, never edited, so they carry no version. A symmetric
    relation (`related`) is still stored once; reads look at both directions.
    """

    __tablename__ = "record_link"
    __table_args__ = (
        # Named by hand: the conventional name would pass PostgreSQL's 63 characters.
        UniqueConstraint(
            "source_kind",
            "source_id",
            "target_kind",
            "target_id",
            "relation",
            name="uq_record_link",
        ),
        Index("ix_record_link_target", "target_kind", "target_id"),
    )

    source_kind: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[int]
    target_kind: Mapped[str] = mapped_column(String(64))
    target_id: Mapped[int]
    relation: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )

    @property
    def source(self) -> RecordRef:
        return RecordRef(self.source_kind, self.source_id)

    @property
    def target(self) -> RecordRef:
        return RecordRef(self.target_kind, self.target_id)
