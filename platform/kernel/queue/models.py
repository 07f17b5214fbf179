"""Receipts of idempotent task runs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from openitsm.kernel.db import Base, IdMixin, utcnow


class TaskReceipt(IdMixin, Base):
    """Written in the same transaction as a task's work: its presence means 'already done'."""

    __tablename__ = "task_receipt"
    __table_args__ = (UniqueConstraint("task", "key"),)

    task: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    done_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
