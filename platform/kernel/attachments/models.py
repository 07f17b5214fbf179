"""The attachment table: one row per stored file, linked to a record by `(kind, id)`."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.audit import Audited
from openitsm.kernel.db import Base, IdMixin, Timestamped
from openitsm.kernel.references import RecordRef


class Attachment(IdMixin, Timestamped, Audited, Base):
    """A file attached to a record; the bytes live in the attachment store under `storage_key`.

    Not versioned: an attachment is never edited, only added and deleted.
    """

    __tablename__ = "attachment"
    __record_kind__ = "attachment"
    __table_args__ = (Index("ix_attachment_record", "record_kind", "record_id", "id"),)

    # Named apart from their columns: `Audited.record_kind()` is the model's own kind.
    target_kind: Mapped[str] = mapped_column("record_kind", String(64))
    target_id: Mapped[int] = mapped_column("record_id")
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(
        String(255), doc="Sniffed from the bytes, never taken from the client."
    )
    declared_type: Mapped[str | None] = mapped_column(
        String(255), doc="What the client claimed, kept for information only."
    )
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(200), unique=True, info={"audit": False})
    uploaded_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )

    @property
    def target(self) -> RecordRef:
        """The record this file is attached to."""
        return RecordRef(self.target_kind, self.target_id)
