"""Stored process definitions: one row per version of a process, immutable once published."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.audit import Audited
from openitsm.kernel.db import Base, IdMixin, Timestamped, UTCDateTime, Versioned

DRAFT, PUBLISHED = "draft", "published"


class ProcessVersion(IdMixin, Timestamped, Versioned, Audited, Base):
    """Version `number` of a process (`key` is the BPMN process id). A draft may be replaced
    (`version` guards against two people replacing it at once); a published version never
    changes, and running instances stay on the version they began with."""

    __tablename__ = "wf_process_version"
    __record_kind__ = "process_version"
    __table_args__ = (
        UniqueConstraint("key", "number"),
        Index("ix_wf_process_version_key_state", "key", "state", "number"),
    )

    key: Mapped[str] = mapped_column(String(100))
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default=DRAFT)
    xml: Mapped[str] = mapped_column(Text, info={"audit": False})
    checksum: Mapped[str] = mapped_column(String(64))
    # Where it came from: "upload", or "plugin:<name>" for a process a module ships.
    source: Mapped[str] = mapped_column(String(120), default="upload")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    published_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
