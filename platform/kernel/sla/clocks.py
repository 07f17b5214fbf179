"""Every record's SLA clock, kept up to date from the record's own history.

A record kind runs on the SLA when a module declares it (`register_sla_subjects`). Its clock
is `compute_clock` over events read from the audit trail (creation and field changes, with
their times), the levels as they are now and the calendar of the record's service unit; the
result is stored in `sla_clock` for lists, headers and the timer scan. Nothing in that row
is an input: recomputing from history always gives the same answer, so a changed level,
calendar or holiday is applied by recomputing (`recompute_all`, a queue task). The timer
scan (`scan`) tells `on_sla_event` of each warning and breach exactly once.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from openitsm.kernel.actors import Actor
from openitsm.kernel.audit.models import AuditChange, AuditEvent
from openitsm.kernel.calendar import BusinessCalendar
from openitsm.kernel.calendar import service as calendars
from openitsm.kernel.db import utcnow
from openitsm.kernel.db.session import after_commit, begin_write, flush
from openitsm.kernel.errors import NotFound, _t
from openitsm.kernel.references import RecordRef
from openitsm.kernel.sla.clock import (
    CalendarChanged,
    Clock,
    Closed,
    Event,
    Level,
    LevelSet,
    Opened,
    Policy,
    Reopened,
    Resolved,
    Responded,
    SlaOff,
    SlaOn,
    StatusChanged,
    TargetClock,
    compute_clock,
)
from openitsm.kernel.sla.models import SlaClock, SlaServiceUnitCalendar
from openitsm.kernel.sla.service import ACTIVE, levels_by_key
from openitsm.kernel.sla.subjects import SlaEvent, SlaSubject, sla_subjects
from openitsm.kernel.workflow.sla_deadlines import follow_clocks

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel

BATCH = 500
CHUNK = 5_000
# One SLA scan at a time on PostgreSQL, as the workflow's deadline scan does.
SCAN_LOCK = 0x0715_51A0


class _Calendars:
    """The calendars of one computation: service unit → key read once, each calendar built
    once. `fresh` reads them from the database rather than the process's cache, so a
    recompute after a calendar change never counts on the old one."""

    def __init__(self, session: Session, *, fresh: bool) -> None:
        self.session, self.fresh = session, fresh
        self.keys: dict[int, str] | None = None
        self.built: dict[str | None, BusinessCalendar] = {}

    def key_of(self, unit_id: Any) -> str | None:
        if unit_id is None:
            return None
        if self.keys is None:
            self.keys = {
                unit: key
                for unit, key in self.session.execute(
                    select(
                        SlaServiceUnitCalendar.service_unit_id, SlaServiceUnitCalendar.calendar_key
                    )
                )
            }
        try:
            return self.keys.get(int(unit_id))
        except (TypeError, ValueError):
            return None

    def get(self, key: str | None) -> BusinessCalendar:
        if key not in self.built:
            self.built[key] = (
                calendars._load(self.session, key)
                if self.fresh
                else calendars.calendar_for(self.session, key)
            )
        return self.built[key]


# --- events from history --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HistoryRow:
    record_id: int
    event_id: int
    at: dt.datetime
    action: str
    field: str | None
    new: Any


def read_history(
    session: Session, subject: SlaSubject, ids: Sequence[int]
) -> dict[int, list[HistoryRow]]:
    """The SLA-relevant history of records `ids`, in one query: each record's creation and
    the events that changed a tracked field, with those changes, in order."""
    if not ids:
        return {}
    statement = (
        select(
            AuditEvent.record_id,
            AuditEvent.id,
            AuditEvent.at,
            AuditEvent.action,
            AuditChange.field,
            AuditChange.new_value,
        )
        .outerjoin(
            AuditChange,
            and_(
                AuditChange.event_id == AuditEvent.id,
                AuditChange.field.in_(subject.tracked_fields),
            ),
        )
        .where(
            AuditEvent.record_kind == subject.kind,
            AuditEvent.record_id.in_(sorted(set(ids))),
            or_(AuditEvent.action != "update", AuditChange.id.is_not(None)),
        )
        .order_by(AuditEvent.record_id, AuditEvent.id, AuditChange.id)
    )
    found: dict[int, list[HistoryRow]] = {}
    for row in session.execute(statement):
        found.setdefault(row[0], []).append(HistoryRow(*row))
    return found


def events_of(
    subject: SlaSubject,
    history: Sequence[HistoryRow],
    levels: Mapping[str, Level],
    calendar_of: Callable[[Any], tuple[str | None, BusinessCalendar]],
) -> tuple[BusinessCalendar, list[Event]] | None:
    """The clock's events from one record's history and the calendar it starts on; None for
    a record without history or one that was deleted. `calendar_of(service_unit_id)` gives
    a unit's calendar key and calendar."""
    events: list[Event] = []
    calendar: BusinessCalendar | None = None
    key: str | None = None
    status: str | None = None
    responded = False
    stopping = subject.stopping_statuses
    for _event_id, group in itertools.groupby(history, key=lambda row: row.event_id):
        rows = list(group)
        at, action = rows[0].at, rows[0].action
        if action == "delete":
            return None
        changes = {row.field: row.new for row in rows if row.field is not None}
        unit_field = subject.service_unit_field
        if calendar is None:
            key, calendar = calendar_of(changes.get(unit_field) if unit_field else None)
            events.append(Opened(at))
        elif unit_field and unit_field in changes:
            new_key, new_calendar = calendar_of(changes[unit_field])
            if new_key != key:
                key = new_key
                events.append(CalendarChanged(at, new_calendar))
        if subject.off_field and subject.off_field in changes:
            events.append(SlaOff(at) if changes[subject.off_field] else SlaOn(at))
        if subject.level_field in changes:
            value = changes[subject.level_field]
            events.append(LevelSet(at, None if value is None else levels.get(str(value))))
        if subject.status_field in changes:
            new = changes[subject.status_field]
            new = None if new is None else str(new)
            if status in stopping and new not in stopping:
                events.append(Reopened(at))
            if new is not None:
                events.append(StatusChanged(at, new))
            if new in subject.resolved_statuses and status not in stopping:
                events.append(Resolved(at))
            if new in subject.closed_statuses and status not in subject.closed_statuses:
                events.append(Closed(at))
            if new in subject.responded_statuses and not responded:
                events.append(Responded(at))
                responded = True
            status = new
        if (
            subject.responded_field
            and changes.get(subject.responded_field) is not None
            and not responded
        ):
            events.append(Responded(at))
            responded = True
    if calendar is None:
        return None
    return calendar, events


# --- recomputing ----------------------------------------------------------------------


def _firing(clock: Clock, target: str, kind: str) -> dt.datetime | None:
    return next((f.at for f in clock.fire if f.target == target and f.kind == kind), None)


def _pending(target: TargetClock, warning_sent: bool, breach_sent: bool) -> list[dt.datetime]:
    """Crossings already passed that the scan has still to announce."""
    found = []
    if target.state == "breached" and target.breached_at is not None and not breach_sent:
        found.append(target.breached_at)
    if target.state == "running" and target.warning_at is not None and not warning_sent:
        found.append(target.warning_at)
    return found


def _values(clock: Clock, sent: Mapping[str, bool]) -> dict[str, Any]:
    values: dict[str, Any] = {"level": clock.level}
    pending: list[dt.datetime] = []
    for target in clock.targets:
        name = target.name
        warning_sent = sent.get(f"{name}_warning_sent", False)
        breach_sent = sent.get(f"{name}_breach_sent", False)
        values[f"{name}_state"] = target.state
        values[f"{name}_due_at"] = target.due_at
        values[f"{name}_warning_at"] = target.warning_at or _firing(clock, name, "warning")
        values[f"{name}_breached_at"] = target.breached_at
        values[f"{name}_remaining"] = target.remaining
        # A restart on reopen takes a crossing back: it may be told again when crossed again.
        if target.warning_at is None and warning_sent:
            values[f"{name}_warning_sent"] = False
        if target.breached_at is None and breach_sent:
            values[f"{name}_breach_sent"] = False
        pending.extend(_pending(target, warning_sent, breach_sent))
    if clock.next_fire is not None:
        pending.append(clock.next_fire)
    values["next_fire_at"] = min(pending) if pending else None
    return values


SENT = tuple(
    f"{target}_{flag}_sent"
    for target in ("response", "resolution")
    for flag in ("warning", "breach")
)


def recompute_records(
    session: Session,
    subject: SlaSubject,
    ids: Iterable[int],
    *,
    now: dt.datetime | None = None,
    fresh: bool = False,
) -> dict[int, Clock]:
    """Recompute and store the clocks of records `ids` of one kind: one query for their
    history, one for the levels, one for their stored clocks, then the writes, and one
    UPDATE moving the due times of their open process steps that count on the SLA
    (`openitsm.kernel.workflow.sla_deadlines`). A record without history (or deleted)
    loses its clock."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    now = now or utcnow()
    history = read_history(session, subject, wanted)
    levels = levels_by_key(session)
    known = _Calendars(session, fresh=fresh)

    def calendar_of(unit_id: Any) -> tuple[str | None, BusinessCalendar]:
        key = known.key_of(unit_id)
        return key, known.get(key)

    policy = Policy(subject.pause_statuses, subject.restart_on_reopen)
    clocks: dict[int, Clock] = {}
    for record_id in wanted:
        built = events_of(subject, history.get(record_id, ()), levels, calendar_of)
        if built is not None:
            clocks[record_id] = compute_clock(built[1], built[0], now, policy)
    stored = {
        row.record_id: row
        for row in session.scalars(
            select(SlaClock)
            .where(SlaClock.record_kind == subject.kind, SlaClock.record_id.in_(wanted))
            .execution_options(populate_existing=True)
        )
    }
    gone = [stored[i].id for i in wanted if i not in clocks and i in stored]
    if gone:
        session.execute(
            delete(SlaClock)
            .where(SlaClock.id.in_(gone))
            .execution_options(synchronize_session=False)
        )
    new_rows = []
    for record_id, clock in clocks.items():
        row = stored.get(record_id)
        if row is None:
            values = _values(clock, {})
            new_rows.append(
                {
                    "record_kind": subject.kind,
                    "record_id": record_id,
                    "computed_at": now,
                    **{name: False for name in SENT},
                    **values,
                }
            )
            continue
        values = _values(clock, {name: getattr(row, name) for name in SENT})
        values["computed_at"] = now
        for name, value in values.items():
            if getattr(row, name) != value:
                setattr(row, name, value)
    if new_rows:
        _insert_new(session, new_rows)
    flush(session)
    follow_clocks(session, subject.kind, wanted)  # steps whose deadline is this SLA
    return clocks


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert clocks; one that a concurrent computation inserted meanwhile is left to it."""
    dialect = session.get_bind().dialect.name
    table = SlaClock.__table__
    if dialect == "postgresql":
        statement: Any = postgresql.insert(table).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(table).on_conflict_do_nothing()
    else:  # pragma: no cover - the kernel runs on these two
        statement = table.insert()
    session.execute(statement, rows)


def recompute(
    session: Session, kind: str, record_id: int, *, now: dt.datetime | None = None
) -> Clock | None:
    """Recompute and store one record's clock; None when the record has no clock (no
    history, deleted) or its kind no SLA."""
    kernel = session.info.get("kernel")
    subject = sla_subjects(kernel).get(kind) if kernel is not None else None
    if subject is None:
        return None
    return recompute_records(session, subject, [record_id], now=now).get(record_id)


def recompute_chunk(
    session: Session,
    kind: str,
    *,
    after_id: int = 0,
    limit: int = CHUNK,
    batch: int = BATCH,
    now: dt.datetime | None = None,
) -> int | None:
    """Recompute up to `limit` still-counting clocks of `kind` (and records that have none
    yet) with ids above `after_id`, `batch` records per history query, reading calendars
    afresh. Returns the id to continue after, or None when the kind is done."""
    kernel = session.info["kernel"]
    subject = sla_subjects(kernel).get(kind)
    if subject is None:
        return None
    model = kernel.record_kinds.get(kind).model
    done = 0
    cursor = after_id
    while done < limit:
        ids = list(
            session.scalars(
                select(model.id)
                .outerjoin(
                    SlaClock,
                    and_(SlaClock.record_kind == kind, SlaClock.record_id == model.id),
                )
                .where(
                    model.id > cursor,
                    or_(
                        SlaClock.id.is_(None),
                        SlaClock.response_state.in_(ACTIVE),
                        SlaClock.resolution_state.in_(ACTIVE),
                    ),
                )
                .order_by(model.id)
                .limit(min(batch, limit - done))
            )
        )
        if not ids:
            return None
        recompute_records(session, subject, ids, now=now, fresh=True)
        cursor = ids[-1]
        done += len(ids)
    return cursor


def recompute_everything(session: Session, kind: str | None = None) -> None:
    """Recompute every still-counting clock of `kind` (every kind on the SLA when None) in
    this transaction; `recompute_all` does the same in the queue."""
    kernel = session.info["kernel"]
    for name in [kind] if kind else sorted(sla_subjects(kernel)):
        cursor: int | None = 0
        while cursor is not None:
            cursor = recompute_chunk(session, name, after_id=cursor)


def recompute_all(kernel: Kernel, kind: str | None = None, *, key: str | None = None) -> None:
    """Queue the recomputation of every still-counting clock of `kind` (every kind on the SLA
    when None): what a change of calendars, levels or service units' calendars asks for. The
    queue works through it in chunks; no page waits for it."""
    task = kernel.tasks.get("kernel.sla.recompute_clocks")
    if task is not None and sla_subjects(kernel):
        task.enqueue(kind, 0, key=key)


# --- the timer scan -------------------------------------------------------------------


def _mark(session: Session, clock_id: int, flag: str) -> bool:
    """Set one sent flag unless it is set already: True for the one run that set it."""
    column = getattr(SlaClock, flag)
    result = session.execute(
        update(SlaClock)
        .where(SlaClock.id == clock_id, column.is_(False))
        .values({flag: True})
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def scan(
    session: Session, kernel: Kernel | None, now: dt.datetime | None = None, *, batch: int = BATCH
) -> list[SlaEvent]:
    """Warnings and breaches that are due; what a worker runs every minute.

    Clocks whose `next_fire_at` has passed are claimed by one conditional UPDATE (a
    concurrent scan's UPDATE finds them no longer due), recomputed from history, and every
    warning or breach newly crossed is marked sent (again conditionally) and told to
    `on_sla_event` after the commit. A switched-off, paused or met clock is not running, so
    nothing of it is told."""
    now = now or utcnow()
    begin_write(session)
    if session.get_bind().dialect.name == "postgresql" and not session.scalar(
        select(func.pg_try_advisory_xact_lock(SCAN_LOCK))
    ):
        return []  # another worker is scanning right now; the next minute comes
    due = SlaClock.next_fire_at <= now
    chosen = select(SlaClock.id).where(due).order_by(SlaClock.next_fire_at).limit(batch)
    claimed = session.execute(
        update(SlaClock)
        .where(SlaClock.id.in_(chosen.scalar_subquery()), due)
        .values(next_fire_at=None)
        .returning(SlaClock.id, SlaClock.record_kind, SlaClock.record_id)
        .execution_options(synchronize_session=False)
    ).all()
    subjects = sla_subjects(kernel) if kernel is not None else {}
    told: list[SlaEvent] = []
    by_kind: dict[str, list[int]] = {}
    for _clock_id, kind, record_id in claimed:
        by_kind.setdefault(kind, []).append(record_id)
    for kind, ids in sorted(by_kind.items()):
        subject = subjects.get(kind)
        if subject is None:
            continue  # its module is disabled: the clock stays unclaimed-for until it returns
        clocks = recompute_records(session, subject, ids, now=now)
        rows = session.scalars(
            select(SlaClock)
            .where(SlaClock.record_kind == kind, SlaClock.record_id.in_(sorted(clocks)))
            .execution_options(populate_existing=True)
        ).all()
        for row in rows:
            clock = clocks[row.record_id]
            told.extend(_announce(session, row, clock))
            session.execute(
                update(SlaClock)
                .where(SlaClock.id == row.id)
                .values(next_fire_at=clock.next_fire)
                .execution_options(synchronize_session=False)
            )
    if told and kernel is not None:
        events = list(told)

        def tell() -> None:
            import logging

            for event in events:
                try:
                    kernel.hook.on_sla_event(event=event, kernel=kernel)
                except Exception:
                    logging.getLogger("openitsm.sla").exception("on_sla_event failed for %s", event)

        after_commit(session, tell)
    return told


def _announce(session: Session, row: SlaClock, clock: Clock) -> list[SlaEvent]:
    found = []
    ref = RecordRef(row.record_kind, row.record_id)
    for target in clock.targets:
        name = target.name
        if target.state == "breached" and target.breached_at is not None:
            if not getattr(row, f"{name}_breach_sent") and _mark(
                session, row.id, f"{name}_breach_sent"
            ):
                found.append(
                    SlaEvent("breach", ref, name, target.breached_at, target.due_at, clock.level)
                )
            _mark(session, row.id, f"{name}_warning_sent")  # a breach says more than a warning
        elif (
            target.state == "running"
            and target.warning_at is not None
            and not getattr(row, f"{name}_warning_sent")
            and _mark(session, row.id, f"{name}_warning_sent")
        ):
            found.append(
                SlaEvent("warning", ref, name, target.warning_at, target.due_at, clock.level)
            )
    return found


# --- reading a record's clock ---------------------------------------------------------


def clock_of(
    session: Session, kernel: Kernel, ref: RecordRef, actor: Actor | None = None
) -> SlaClock | None:
    """The stored clock of a record; with `actor`, None for a record the actor cannot see."""
    if actor is not None and not kernel.record_kinds.exists(session, ref, actor):
        raise NotFound(_t("There is no such record."), field="record")
    return session.scalar(
        select(SlaClock).where(SlaClock.record_kind == ref.kind, SlaClock.record_id == ref.id)
    )
