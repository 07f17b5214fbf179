"""History tables: one event per record and transaction step, one row per changed field."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openitsm.kernel.db import Base, IdMixin, utcnow


class AuditEvent(IdMixin, Base):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_record", "record_kind", "record_id", "id"),
        Index("ix_audit_event_actor", "actor_id", "id"),
    )

    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    record_kind: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[int]
    action: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None]
    actor_label: Mapped[str] = mapped_column(String(200))
    on_behalf_of_id: Mapped[int | None]
    request_id: Mapped[str | None] = mapped_column(String(64))

    changes: Mapped[list[AuditChange]] = relationship(
        back_populates="event", order_by="AuditChange.id", lazy="raise"
    )


class AuditChange(IdMixin, Base):
    __tablename__ = "audit_change"

    event_id: Mapped[int] = mapped_column(
        ForeignKey("audit_event.id", ondelete="CASCADE"), index=True
    )
    field: Mapped[str] = mapped_column(String(100))
    old_value: Mapped[Any] = mapped_column(JSON, nullable=True)
    new_value: Mapped[Any] = mapped_column(JSON, nullable=True)

    event: Mapped[AuditEvent] = relationship(back_populates="changes", lazy="raise")
