"""Duty rotas (值班): who is on duty for a team, shift by shift.

A rota (the service desk's night duty, weekend duty) is a list of shifts; a shift puts one
person on duty from `starts_at` until, not including, `ends_at`, so one shift may end exactly
when the next begins. Process steps name a rota by its key (`itsm:candidateDuty="desk"`,
`duty.desk` in an assignee rule) and reach whoever is on duty at that moment.

Managing rotas and shifts needs `duty.manage`; reading a rota needs `org.read` (or
`duty.manage`), or being on it. Every rule is checked here, whatever the caller.

    create_rota(session, actor, key="desk", name="Service desk duty")
    add_shift_series(session, actor, rota.id, [ann, bob], dt.date(2026, 3, 2),
                     dt.date(2026, 3, 8), dt.time(18), dt.time(8, 30), "Asia/Shanghai")
    on_duty(session, "desk")            # [user ids], one statement
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, Select, exists, select
from sqlalchemy.orm import Session

from openitsm.kernel.access.actions import require
from openitsm.kernel.actors import Actor
from openitsm.kernel.db import check_version, utcnow
from openitsm.kernel.db.session import begin_write, flush
from openitsm.kernel.errors import BadUserInput, Forbidden, NotFound, Unauthenticated, _t
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.duty_models import DutyRota, DutyShift
from openitsm.kernel.organisation.models import Department

MANAGE = "duty.manage"
READ = "org.read"
# Lower-case letters, digits and '_', so that an assignee rule can write `duty.<key>`.
KEY = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_NAME = 200
MAX_SHIFT = dt.timedelta(days=31)
MAX_SERIES_DAYS = 366
MAX_PEOPLE = 100


# --- checks ---------------------------------------------------------------------------


def _signed_in(actor: Actor) -> None:
    if not actor.authenticated:
        raise Unauthenticated()


def _manage(session: Session, actor: Actor) -> None:
    """Require `duty.manage` and hold the write lock (SQLite) before anything is read."""
    require(actor, MANAGE)
    begin_write(session)


def _key(key: str) -> str:
    key = (key or "").strip()
    if not KEY.match(key):
        raise BadUserInput(
            _t(
                "A rota key is 1 to 64 lower-case letters, digits or '_', starting with a letter "
                "(processes name it as duty.{example})."
            ),
            field="key",
            params={"example": "desk"},
        )
    return key


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME:
        raise BadUserInput(
            _t("A name is 1 to {limit} characters."), field="name", params={"limit": MAX_NAME}
        )
    return name


def _department(session: Session, department_id: int | None) -> int | None:
    if department_id is None:
        return None
    if session.get(Department, department_id) is None:
        raise NotFound(
            _t("No department with id {id}."), field="department", params={"id": department_id}
        )
    return department_id


def _aware(value: dt.datetime, field: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise BadUserInput(_t("Give the time with its time zone (ISO 8601)."), field=field)
    return value.astimezone(dt.UTC)


def _period(starts_at: dt.datetime, ends_at: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    starts_at = _aware(starts_at, "startsAt")
    ends_at = _aware(ends_at, "endsAt")
    if ends_at <= starts_at:
        raise BadUserInput(_t("A shift must end after it starts."), field="endsAt")
    if ends_at - starts_at > MAX_SHIFT:
        raise BadUserInput(
            _t("A shift lasts at most {days} days."),
            field="endsAt",
            params={"days": MAX_SHIFT.days},
        )
    return starts_at, ends_at


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _active_users(session: Session, user_ids: Sequence[int], field: str) -> dict[int, User]:
    """The users by id; an unknown or inactive one is refused, naming them."""
    wanted = list(dict.fromkeys(user_ids))
    found = {u.id: u for u in session.scalars(select(User).where(User.id.in_(wanted)))}
    for user_id in wanted:
        user = found.get(user_id)
        if user is None:
            raise NotFound(_t("No user with id {id}."), field=field, params={"id": user_id})
        if not user.active:
            raise BadUserInput(
                _t("{name} is not an active user; only active users can be put on duty."),
                field=field,
                params={"name": user.name},
            )
    return found


def _locked_rota(session: Session, rota_id: int) -> DutyRota:
    """The rota, its row locked (PostgreSQL) so shift changes of one rota take turns."""
    rota = session.scalars(select(DutyRota).where(DutyRota.id == rota_id).with_for_update()).first()
    if rota is None:
        raise NotFound(_t("No duty rota with id {id}."), field="rota", params={"id": rota_id})
    return rota


def _overlap_check(
    session: Session,
    rota: DutyRota,
    planned: Sequence[tuple[int, dt.datetime, dt.datetime]],
    users: Mapping[int, User],
    field: str,
) -> None:
    """Refuse when a person would have two overlapping shifts on the rota: with a stored
    shift, or with another of `planned` (one query for all of them)."""
    if not planned:
        return
    first = min(start for _, start, _ in planned)
    last = max(end for _, _, end in planned)
    stored = session.execute(
        select(DutyShift.user_id, DutyShift.starts_at, DutyShift.ends_at).where(
            DutyShift.rota_id == rota.id,
            DutyShift.user_id.in_({user_id for user_id, _, _ in planned}),
            DutyShift.starts_at < last,
            DutyShift.ends_at > first,
        )
    ).all()
    taken: dict[int, list[tuple[dt.datetime, dt.datetime]]] = {}
    for user_id, starts_at, ends_at in stored:
        taken.setdefault(user_id, []).append((starts_at, ends_at))
    for user_id, starts_at, ends_at in planned:
        for other_start, other_end in taken.get(user_id, []):
            if other_start < ends_at and other_end > starts_at:
                raise BadUserInput(
                    _t(
                        "{name} is already on duty on this rota from {starts} to {ends}; a "
                        "person's shifts on one rota may not overlap."
                    ),
                    field=field,
                    params={
                        "name": users[user_id].name,
                        "starts": _when(other_start),
                        "ends": _when(other_end),
                    },
                )
        taken.setdefault(user_id, []).append((starts_at, ends_at))


# --- reading --------------------------------------------------------------------------


def _is_on(rota_id: Any, user_id: int | None) -> ColumnElement[bool]:
    return exists().where(DutyShift.rota_id == rota_id, DutyShift.user_id == (user_id or -1))


def reads_all(actor: Actor) -> bool:
    """Whether `actor` sees every rota (else only those they have shifts on)."""
    return actor.can(READ) or actor.can(MANAGE)


def visible_rotas(actor: Actor) -> Select[tuple[DutyRota]]:
    """The rotas `actor` may read: all with `org.read` or `duty.manage`, else their own."""
    statement = select(DutyRota)
    if reads_all(actor):
        return statement
    return statement.where(_is_on(DutyRota.id, actor.user_id))


def may_read(session: Session, actor: Actor, rota: DutyRota) -> bool:
    if reads_all(actor):
        return True
    return bool(actor.user_id) and bool(session.scalar(select(_is_on(rota.id, actor.user_id))))


def list_rotas(session: Session, actor: Actor, *, include_inactive: bool = True) -> list[DutyRota]:
    """The rotas the actor may read, by name."""
    _signed_in(actor)
    statement = visible_rotas(actor)
    if not include_inactive:
        statement = statement.where(DutyRota.active.is_(True))
    return list(session.scalars(statement.order_by(DutyRota.name, DutyRota.id)))


def get_rota(session: Session, actor: Actor, key_or_id: str | int) -> DutyRota:
    """One rota by key (or id); NOT_FOUND when it does not exist or the actor may not read it."""
    _signed_in(actor)
    if isinstance(key_or_id, int):
        rota = session.get(DutyRota, key_or_id)
    else:
        rota = session.scalar(select(DutyRota).where(DutyRota.key == key_or_id))
    if rota is None or not may_read(session, actor, rota):
        raise NotFound(_t("No duty rota '{rota}'."), field="rota", params={"rota": str(key_or_id)})
    return rota


def shifts_between(
    session: Session, rota_id: int, starts: dt.datetime, ends: dt.datetime
) -> list[DutyShift]:
    """The rota's shifts overlapping `[starts, ends)`, by start (read the rota first)."""
    return list(
        session.scalars(
            select(DutyShift)
            .where(
                DutyShift.rota_id == rota_id,
                DutyShift.starts_at < _aware(ends, "until"),
                DutyShift.ends_at > _aware(starts, "from"),
            )
            .order_by(DutyShift.starts_at, DutyShift.user_id, DutyShift.id)
        )
    )


def on_duty_select(rota_keys: str | Sequence[str], at: dt.datetime, *columns: Any) -> Select[Any]:
    """`columns` of the active users on duty on the active rota(s) `rota_keys` at `at`,
    earliest shift first: one statement over the rota-period index."""
    keys = [rota_keys] if isinstance(rota_keys, str) else list(rota_keys)
    return (
        select(*columns)
        .select_from(DutyShift)
        .join(DutyRota, DutyRota.id == DutyShift.rota_id)
        .join(User, User.id == DutyShift.user_id)
        .where(
            DutyRota.key.in_(keys),
            DutyRota.active.is_(True),
            DutyShift.starts_at <= at,
            DutyShift.ends_at > at,
            User.active.is_(True),
        )
        .order_by(DutyShift.starts_at, User.id)
    )


def on_duty(session: Session, rota_key: str, at: dt.datetime | None = None) -> list[int]:
    """The active users on duty on rota `rota_key` at `at` (now by default), by user id.

    An unknown or inactive rota has nobody on duty. This serves the workflow engine, which
    asks on behalf of a process, so it checks no reader.
    """
    at = _aware(at, "at") if at is not None else utcnow()
    return list(dict.fromkeys(session.scalars(on_duty_select(rota_key, at, User.id))))


def on_duty_by_rota(
    session: Session, rota_ids: Sequence[int], at: dt.datetime | None = None
) -> dict[int, list[tuple[int, str]]]:
    """{rota id: [(user id, name)]} of who is on duty at `at` on these rotas, in one query."""
    at = _aware(at, "at") if at is not None else utcnow()
    found: dict[int, list[tuple[int, str]]] = {rota_id: [] for rota_id in rota_ids}
    if not rota_ids:
        return found
    rows = session.execute(
        select(DutyShift.rota_id, User.id, User.name)
        .join(User, User.id == DutyShift.user_id)
        .where(
            DutyShift.rota_id.in_(list(rota_ids)),
            DutyShift.starts_at <= at,
            DutyShift.ends_at > at,
            User.active.is_(True),
        )
        .order_by(DutyShift.starts_at, User.id)
    ).all()
    for rota_id, user_id, name in rows:
        if all(user_id != seen for seen, _ in found[rota_id]):
            found[rota_id].append((user_id, name))
    return found


def upcoming_shifts(
    session: Session,
    actor: Actor,
    user_id: int | None = None,
    *,
    at: dt.datetime | None = None,
    limit: int = 20,
) -> list[DutyShift]:
    """A person's shifts (the actor's own by default) not yet over at `at`, soonest first,
    on the rotas the actor may read; another person's need `org.read`."""
    _signed_in(actor)
    user_id = actor.user_id if user_id is None else user_id
    if user_id is None:
        return []
    if user_id != actor.user_id and not reads_all(actor):
        raise Forbidden(_t("You may see only your own shifts."))
    at = _aware(at, "at") if at is not None else utcnow()
    return list(
        session.scalars(
            select(DutyShift)
            .where(DutyShift.user_id == user_id, DutyShift.ends_at > at)
            .order_by(DutyShift.starts_at, DutyShift.id)
            .limit(max(1, min(limit, 200)))
        )
    )


# --- writing --------------------------------------------------------------------------


def create_rota(
    session: Session,
    actor: Actor,
    *,
    key: str,
    name: str,
    department_id: int | None = None,
    active: bool = True,
) -> DutyRota:
    """A new rota; its key is how processes name it and never changes."""
    _manage(session, actor)
    key = _key(key)
    name = _name(name)
    if session.scalar(select(DutyRota.id).where(DutyRota.key == key)) is not None:
        raise BadUserInput(_t("The rota key '{key}' is taken."), field="key", params={"key": key})
    rota = DutyRota(
        key=key, name=name, department_id=_department(session, department_id), active=active
    )
    session.add(rota)
    flush(session)
    return rota


def update_rota(
    session: Session, actor: Actor, rota_id: int, version: int, changes: Mapping[str, Any]
) -> DutyRota:
    """Change `name`, `department_id` (None clears it) or `active`, from `version`."""
    _manage(session, actor)
    unknown = sorted(set(changes) - {"name", "department_id", "active"})
    if unknown:
        raise BadUserInput(
            _t("A rota's {field} cannot be changed (processes name it by its key)."),
            field=unknown[0],
            params={"field": unknown[0]},
        )
    rota = _locked_rota(session, rota_id)
    check_version(rota, version, "duty rota")
    if changes.get("name") is not None:
        rota.name = _name(changes["name"])
    if "department_id" in changes:
        rota.department_id = _department(session, changes["department_id"])
    if changes.get("active") is not None:
        rota.active = bool(changes["active"])
    flush(session)
    return rota


def add_shift(
    session: Session,
    actor: Actor,
    rota_id: int,
    user_id: int,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
) -> DutyShift:
    """Put an active user on duty on the rota for `[starts_at, ends_at)`."""
    _manage(session, actor)
    starts_at, ends_at = _period(starts_at, ends_at)
    rota = _locked_rota(session, rota_id)
    users = _active_users(session, [user_id], "user")
    _overlap_check(session, rota, [(user_id, starts_at, ends_at)], users, "startsAt")
    shift = DutyShift(rota_id=rota.id, user_id=user_id, starts_at=starts_at, ends_at=ends_at)
    session.add(shift)
    flush(session)
    return shift


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadUserInput(
            _t("'{zone}' is not a time zone (use a name like Asia/Shanghai)."),
            field="timeZone",
            params={"zone": name},
        ) from None


def series_periods(
    first_day: dt.date,
    last_day: dt.date,
    starts: dt.time,
    ends: dt.time,
    time_zone: str,
) -> list[tuple[dt.datetime, dt.datetime]]:
    """One `[start, end)` per day from `first_day` to `last_day` (both included), in UTC:
    the window `starts`–`ends` in `time_zone`, ending the next day when `ends` is not after
    `starts` (18:00–08:30 is a night shift)."""
    if last_day < first_day:
        raise BadUserInput(_t("The last day comes on or after the first day."), field="lastDay")
    days = (last_day - first_day).days + 1
    if days > MAX_SERIES_DAYS:
        raise BadUserInput(
            _t("A series covers at most {days} days."),
            field="lastDay",
            params={"days": MAX_SERIES_DAYS},
        )
    zone = _zone(time_zone)
    overnight = ends <= starts
    periods = []
    for offset in range(days):
        day = first_day + dt.timedelta(days=offset)
        end_day = day + dt.timedelta(days=1) if overnight else day
        start = dt.datetime.combine(day, starts, tzinfo=zone).astimezone(dt.UTC)
        end = dt.datetime.combine(end_day, ends, tzinfo=zone).astimezone(dt.UTC)
        periods.append((start, end))
    return periods


def add_shift_series(
    session: Session,
    actor: Actor,
    rota_id: int,
    user_ids: Sequence[int],
    first_day: dt.date,
    last_day: dt.date,
    starts: dt.time,
    ends: dt.time,
    time_zone: str,
) -> list[DutyShift]:
    """People taking turns day by day: on each day from `first_day` to `last_day` the next
    of `user_ids` (in order, starting again after the last) is on duty from `starts` to
    `ends` in `time_zone`; a window ending at or before its start ends the next day.

    Every shift is checked before any is written, so a refused series changes nothing.
    """
    _manage(session, actor)
    people = list(user_ids)
    if not people:
        raise BadUserInput(_t("Choose at least one person."), field="people")
    if len(people) > MAX_PEOPLE:
        raise BadUserInput(
            _t("A series takes at most {limit} people."),
            field="people",
            params={"limit": MAX_PEOPLE},
        )
    periods = series_periods(first_day, last_day, starts, ends, time_zone)
    rota = _locked_rota(session, rota_id)
    users = _active_users(session, people, "people")
    planned = [
        (people[index % len(people)], start, end) for index, (start, end) in enumerate(periods)
    ]
    _overlap_check(session, rota, planned, users, "firstDay")
    shifts = [
        DutyShift(rota_id=rota.id, user_id=user_id, starts_at=start, ends_at=end)
        for user_id, start, end in planned
    ]
    session.add_all(shifts)
    flush(session)
    return shifts


def remove_shift(session: Session, actor: Actor, shift_id: int) -> DutyShift:
    """Take a shift off its rota; returns the removed shift (detached from the session)."""
    _manage(session, actor)
    shift = session.get(DutyShift, shift_id)
    if shift is None:
        raise NotFound(_t("No duty shift with id {id}."), field="id", params={"id": shift_id})
    _locked_rota(session, shift.rota_id)
    session.delete(shift)
    flush(session)
    return shift
