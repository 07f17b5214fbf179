"""The SLA's queue work: recompute a record after it changed, recompute every running clock
after a change of calendars or levels (in chunks), and the timer scan every minute."""

from __future__ import annotations

from sqlalchemy.orm import Session

from openitsm.kernel.db.session import after_commit
from openitsm.kernel.queue.tasks import crontab, periodic_task, task
from openitsm.kernel.sla import clocks
from openitsm.kernel.sla.subjects import sla_subjects


@task(retries=3, retry_delay=5)
def recompute_record(session: Session, kind: str, record_id: int) -> str | None:
    """One record's clock, after the record changed (idempotent: it reads the history)."""
    clock = clocks.recompute(session, kind, record_id)
    return None if clock is None else clock.resolution.state


@task(retries=3, retry_delay=30)
def recompute_clocks(session: Session, kind: str | None, after_id: int) -> int | None:
    """A chunk of `kind`'s running clocks (every kind's, one task each, when None); queues
    the next chunk once this one committed."""
    kernel = session.info["kernel"]
    bound = kernel.tasks["kernel.sla.recompute_clocks"]
    if kind is None:
        kinds = sorted(sla_subjects(kernel))
        after_commit(session, lambda: [bound.enqueue(name, 0) for name in kinds])
        return None
    cursor = clocks.recompute_chunk(session, kind, after_id=after_id)
    if cursor is not None:
        after_commit(session, lambda: bound.enqueue(kind, cursor))
    return cursor


@periodic_task(crontab(minute="*"))
def scan_sla(session: Session) -> dict[str, int]:
    """Every minute: warnings and breaches that are due."""
    told = clocks.scan(session, session.info.get("kernel"))
    return {
        "warnings": sum(1 for event in told if event.kind == "warning"),
        "breaches": sum(1 for event in told if event.kind == "breach"),
    }
