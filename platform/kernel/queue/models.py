"""Receipts of idempotent task runs, and the outbox of events waiting to be relayed."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import JSON, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.db import Base, IdMixin, utcnow


class TaskReceipt(IdMixin, Base):
    """Written in the same transaction as a task's work: its presence means 'already done'."""

    __tablename__ = "task_receipt"
    __table_args__ = (UniqueConstraint("task", "key"),)

    task: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    done_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class OutboxEvent(IdMixin, Base):
    """An event written in the transaction that caused it, relayed to its listeners after
    commit: nothing is announced that was rolled back, nothing lost if the process dies
    between commit and hand-off."""

    __tablename__ = "event_outbox"
    # Ids key the work listeners queue, so SQLite must never reuse a deleted row's id.
    __table_args__: ClassVar[dict[str, Any]] = {"sqlite_autoincrement": True}

    topic: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # When a relay may tell it: now, or after a lease or a retry's back-off.
    available_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
