"""The comment table: one row per comment on a record, linked by `(kind, id)`."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.audit import Audited
from openitsm.kernel.db import Base, IdMixin
from openitsm.kernel.db.base import Versioned, utcnow
from openitsm.kernel.references import RecordRef


class Comment(IdMixin, Versioned, Audited, Base):
    """A comment on a record. Removing one keeps the row as a tombstone (no body,
    `removed_at` set), so the timeline still says that something was said and withdrawn."""

    __tablename__ = "comment"
    __record_kind__ = "comment"
    __table_args__ = (Index("ix_comment_record", "record_kind", "record_id", "created_at"),)

    # Named apart from their columns: `Audited.record_kind()` is the model's own kind.
    target_kind: Mapped[str] = mapped_column("record_kind", String(64))
    target_id: Mapped[int] = mapped_column("record_id")
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text, doc="Sanitised HTML; empty once removed.")
    internal: Mapped[bool] = mapped_column(
        default=False, doc="Seen only by holders of `comment.internal`."
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[dt.datetime | None]
    removed_at: Mapped[dt.datetime | None]

    @property
    def target(self) -> RecordRef:
        """The record commented on."""
        return RecordRef(self.target_kind, self.target_id)

    @property
    def removed(self) -> bool:
        return self.removed_at is not None
