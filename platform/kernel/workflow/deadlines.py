"""Step deadlines in business time: when an item is due and when its assignee is reminded.

A step's `itsm:deadline` counts working time on a business calendar (the step's
`itsm:calendar`, else its process's, else the site's default; see docs/calendars.md); the
reminder goes out when three quarters of it have passed. Timer boundary events count working time
too unless `itsm:businessTime="false"`. A worker scans every minute (`scan`): it reminds,
escalates at the deadline (`itsm:escalation`: notify, reassign to the fallback group, or
the boundary path) and fires timer boundary events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.orm import Session

from openitsm.kernel.actors import SYSTEM
from openitsm.kernel.calendar import BusinessCalendar, Duration, parse_duration
from openitsm.kernel.calendar.service import calendar_for
from openitsm.kernel.db import utcnow
from openitsm.kernel.db.session import begin_write
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.models import Department
from openitsm.kernel.queue.tasks import crontab, periodic_task
from openitsm.kernel.workflow.engine import Engine, definition_of, lock_instance
from openitsm.kernel.workflow.models import (
    OPEN,
    RUNNING,
    WAITING,
    ProcessInstance,
    Token,
    WorkItem,
    WorkItemCandidate,
)
from openitsm.kernel.workflow.participants import DEFAULT_OWNER_ROLE

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel

REMIND_AT_SHARE = 0.75
# One scan at a time on PostgreSQL (SQLite's write lock already gives that): two scans
# locking each other's instances and items in opposite orders could otherwise deadlock.
SCAN_LOCK = 0x0715_5CA1


def site_calendar(session: Session, key: str | None = None) -> BusinessCalendar:
    """The calendar deadlines count on: the stored one named `key`, else the site's default
    (the standard office week while the site stores none). Cached in the process."""
    return calendar_for(session, key)


def due_times(
    session: Session, deadline: str | None, now: dt.datetime, calendar_key: str | None = None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(due, remind) for a step starting `now`, or (None, None) without a deadline."""
    if not deadline:
        return None, None
    calendar = site_calendar(session, calendar_key)
    duration = parse_duration(deadline)
    due = calendar.add(now, duration)
    seconds = duration.in_seconds(calendar.day_seconds)
    remind = calendar.add(now, Duration(0, int(seconds * REMIND_AT_SHARE)))
    return due, remind


def timer_due(
    session: Session,
    duration_text: str,
    now: dt.datetime,
    *,
    business_time: bool,
    calendar_key: str | None = None,
) -> dt.datetime:
    duration = parse_duration(duration_text)
    if not business_time:
        return now + duration.clock()
    return site_calendar(session, calendar_key).add(now, duration)


@dataclass(frozen=True)
class ScanResult:
    reminded: int = 0
    escalated: int = 0
    fired: int = 0


def scan(
    session: Session, kernel: Kernel | None, now: dt.datetime | None = None, *, batch: int = 1000
) -> ScanResult:
    """Remind, escalate and fire timers that are due; what a worker runs every minute.

    Each item or token is claimed by one conditional UPDATE (or under its instance's lock),
    so several workers scanning at once, or a scan racing a person completing the step,
    act on it exactly once. At most `batch` of each are handled per run; the next run takes
    the rest.
    """
    now = now or utcnow()
    begin_write(session)
    if session.get_bind().dialect.name == "postgresql" and not session.scalar(
        select(func.pg_try_advisory_xact_lock(SCAN_LOCK))
    ):
        return ScanResult()  # another worker is scanning right now; the next minute comes
    engine = Engine(session, SYSTEM, kernel, kernel.service_actions if kernel else {}, now)
    # Timers first: each waits for its instance's lock before touching the instance's
    # items, as a person's step does. Claiming items first and then waiting for an
    # instance whose step holds that lock and wants one of those items would deadlock.
    fired = 0
    for token_id in session.scalars(
        select(Token.id)
        .where(Token.state == WAITING, Token.due_at <= now)
        .order_by(Token.due_at)
        .limit(batch)
    ).all():
        fired += fire_timer(engine, token_id)
    reminded = _remind(session, engine, now, batch)
    escalated = _escalate(session, engine, now, batch)
    engine.end_step()
    return ScanResult(reminded, escalated, fired)


@periodic_task(crontab(minute="*"))
def scan_deadlines(session: Session) -> dict[str, int]:
    """Every minute: reminders, escalations and timer boundary events that are due."""
    result = scan(session, session.info.get("kernel"))
    return {"reminded": result.reminded, "escalated": result.escalated, "fired": result.fired}


def _claim(
    session: Session, due: ColumnElement[bool], values: dict[str, Any], batch: int
) -> list[Any]:
    """Mark up to `batch` open items matching `due` and return them; a concurrent scan's
    UPDATE finds them no longer matching and claims nothing."""
    chosen = select(WorkItem.id).where(WorkItem.state == OPEN, due).limit(batch)
    return list(
        session.execute(
            update(WorkItem)
            .where(WorkItem.id.in_(chosen.scalar_subquery()), WorkItem.state == OPEN, due)
            .values(**values)
            .returning(WorkItem.id, WorkItem.instance_id, WorkItem.node_id, WorkItem.assignee_id)
            .execution_options(synchronize_session=False)
        ).all()
    )


def _instances(session: Session, ids: Iterable[int]) -> dict[int, ProcessInstance]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {
        row.id: row
        for row in session.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(wanted)))
    }


def _remind(session: Session, engine: Engine, now: dt.datetime, batch: int) -> int:
    rows = _claim(session, WorkItem.remind_at <= now, {"remind_at": None}, batch)
    instances = _instances(session, (row.instance_id for row in rows))
    for item_id, instance_id, node_id, assignee_id in rows:
        engine.events.append(
            engine.event(
                "reminded",
                instances[instance_id],
                work_item_id=item_id,
                node_id=node_id,
                user_ids=(assignee_id,) if assignee_id else (),
            )
        )
    return len(rows)


def _escalate(session: Session, engine: Engine, now: dt.datetime, batch: int) -> int:
    rows = _claim(
        session,
        and_(WorkItem.due_at <= now, WorkItem.escalated_at.is_(None)),
        {"escalated_at": now},
        batch,
    )
    instances = _instances(session, (row.instance_id for row in rows))
    for item_id, instance_id, node_id, assignee_id in rows:
        instance = instances[instance_id]
        definition = definition_of(session, instance.process_version_id)
        node = definition.nodes[node_id]
        owners = (definition.owner or DEFAULT_OWNER_ROLE,)
        if node.escalation == "boundary":
            continue  # the timer boundary event takes the path (fire_timer)
        if node.escalation == "reassign":
            roles = (node.fallback_group,) if node.fallback_group else owners
            session.execute(
                delete(WorkItemCandidate).where(WorkItemCandidate.work_item_id == item_id)
            )
            session.add_all(WorkItemCandidate(work_item_id=item_id, role_code=r) for r in roles)
            session.execute(
                update(WorkItem)
                .where(WorkItem.id == item_id)
                .values(assignee_id=None, version=WorkItem.version + 1)
                .execution_options(synchronize_session=False)
            )
            engine.log(instance, "escalate", from_node=node_id, details={"to_roles": list(roles)})
            engine.events.append(
                engine.event(
                    "escalated", instance, work_item_id=item_id, node_id=node_id, role_codes=roles
                )
            )
            continue
        engine.log(instance, "escalate", from_node=node_id, details={"notified": list(owners)})
        heads = _head_of(session, assignee_id)
        engine.events.append(
            engine.event(
                "escalated",
                instance,
                work_item_id=item_id,
                node_id=node_id,
                user_ids=tuple(u for u in (assignee_id, heads) if u),
                role_codes=owners,
            )
        )
    return len(rows)


def _head_of(session: Session, user_id: int | None) -> int | None:
    if user_id is None:
        return None
    return session.scalar(
        select(Department.head_user_id)
        .join(User, User.department_id == Department.id)
        .where(User.id == user_id)
    )


def fire_timer(engine: Engine, token_id: int) -> int:
    """Take the boundary path of a token whose timer is due; 0 when it no longer is (the
    step was completed meanwhile, or another worker fired it)."""
    session = engine.session
    instance_id = session.scalar(select(Token.instance_id).where(Token.id == token_id))
    if instance_id is None:
        return 0
    instance = lock_instance(session, instance_id)
    token = session.get(Token, token_id, populate_existing=True)
    now = engine.now
    if (
        instance.state != RUNNING
        or token is None
        or token.state != WAITING
        or token.due_at is None
        or token.due_at > now
    ):
        return 0
    definition = definition_of(session, instance.process_version_id)
    started = token.entered_at or token.created_at
    calendar_key = definition.calendar_of(token.node_id)
    timers = sorted(
        (
            timer_due(
                session,
                b.timer,
                started,
                business_time=b.business_time,
                calendar_key=calendar_key,
            ),
            b.id,
        )
        for b in definition.boundaries(token.node_id)
        if b.timer
    )
    due = [boundary_id for at, boundary_id in timers if at <= now]
    if not due:
        token.due_at = timers[0][0] if timers else None
        return 0
    boundary = definition.nodes[due[0]]
    later = [at for at, boundary_id in timers if at > now]
    engine.log(instance, "timer", from_node=token.node_id, to_node=boundary.id)
    path = definition.outgoing(boundary.id)[0]
    if boundary.cancel_activity:
        engine.interrupt(instance, token)
        engine.run(instance, definition, [engine.follow(token, path)])
    else:
        token.due_at = min(later) if later else None
        branch = engine.new_token(instance, boundary.id, token.scope_token_id)
        engine.run(instance, definition, [engine.follow(branch, path)])
    return 1
