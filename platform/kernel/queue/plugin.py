"""The kernel's queue bookkeeping: receipts of idempotent runs and their clean-up."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy.orm import Session

from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.queue.models import OutboxEvent, TaskReceipt
from openitsm.kernel.queue.tasks import Task, crontab, periodic_task

RECEIPT_DAYS = 30


@periodic_task(crontab(minute="17", hour="3"))
def purge_task_receipts(session: Session) -> int:
    """Receipts only guard against duplicates in flight; a month is far beyond any retry."""
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=RECEIPT_DAYS)
    result = session.execute(delete(TaskReceipt).where(TaskReceipt.done_at < cutoff))
    return result.rowcount  # type: ignore[attr-defined]


@hookimpl
def register_models() -> list[type]:
    return [TaskReceipt, OutboxEvent]


@hookimpl
def register_tasks() -> list[Task]:
    return [purge_task_receipts]
