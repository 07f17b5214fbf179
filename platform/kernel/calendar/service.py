"""Business calendars as records: create, change, list; holidays and make-up working days;
the calendar a deadline counts on (`calendar_for`).

Writing needs the action `calendar.manage`; reading needs only a signed-in user. Every
refusal is a `BadUserInput` naming the field (`key`, `name`, `timeZone`, `week`,
`week.<weekday>`, `day`, `kind`, `lines`), so a page shows it next to what was typed.

`calendar_for(session, key)` is on the path of every workflow step, so the built
`BusinessCalendar` is kept in this process per database (engine) and key. A write drops
the cache of this process at once (and again when it commits); other processes reload
after at most `CACHE_SECONDS` (60 s), so a change anywhere reaches every deadline computed
a minute later at the latest.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, event, or_, select
from sqlalchemy.orm import Session

from openitsm.kernel.access.actions import require
from openitsm.kernel.actors import SYSTEM, Actor
from openitsm.kernel.calendar import (
    CALENDAR_KEY,
    STANDARD_DAY,
    BusinessCalendar,
    Interval,
    parse_duration,
)
from openitsm.kernel.calendar.models import HOLIDAY, WORKDAY, CalendarDay, CalendarRecord
from openitsm.kernel.db import check_version
from openitsm.kernel.db.session import flush
from openitsm.kernel.errors import BadUserInput, NotFound, Unauthenticated, _t

MANAGE = "calendar.manage"
KEY = CALENDAR_KEY
HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–~]\s*(\d{1,2}):(\d{2})\s*$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
KINDS = (HOLIDAY, WORKDAY)
MAX_NAME, MAX_DAY_NAME = 200, 100
MAX_IMPORT_LINES = 2_000
CACHE_SECONDS = 60.0
STANDARD_KEY = "standard"
STANDARD_NAME = "标准工作日 Standard office week"
STANDARD_ZONE = "Asia/Shanghai"

Week = dict[str, list[list[str]]]


# --- validation -----------------------------------------------------------------------


def check_key(key: str) -> str:
    key = (key or "").strip()
    if not KEY.match(key):
        raise BadUserInput(
            _t(
                "'{key}' is not a calendar key: start with a lower-case letter, then use "
                "lower-case letters, digits, '_' or '-' (at most 64)."
            ),
            field="key",
            params={"key": key},
        )
    return key


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise BadUserInput(_t("Give the calendar a name."), field="name")
    if len(name) > MAX_NAME:
        raise BadUserInput(
            _t("A calendar's name has at most {limit} characters."),
            field="name",
            params={"limit": MAX_NAME},
        )
    return name


def check_time_zone(zone: str) -> str:
    zone = (zone or "").strip()
    try:
        if not zone or zone != zone.strip("/") or ".." in zone:
            raise ValueError(zone)
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadUserInput(
            _t("'{zone}' is not a time zone; use a name like Asia/Shanghai or Europe/London."),
            field="timeZone",
            params={"zone": zone},
        ) from None
    return zone


def _clock(hours: str, minutes: str) -> str | None:
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        return None
    return f"{h:02d}:{m:02d}"


def parse_hours(text: str | Iterable[Any], weekday: int) -> list[list[str]]:
    """One weekday's working hours, checked: from text like `09:00-12:00, 13:00-18:00`, a
    list of such strings, or `[start, end]` pairs; in order, each ending after it starts
    and none overlapping. Empty: a day off."""
    field = f"week.{weekday}"
    if isinstance(text, str):
        parts: list[Any] = [p for p in re.split(r"[,，;；\n]", text) if p.strip()]
    else:
        parts = list(text)
    intervals: list[list[str]] = []
    for part in parts:
        shown = part if isinstance(part, str) else "-".join(str(p) for p in part)
        match = HOURS.match(shown)
        start = _clock(match.group(1), match.group(2)) if match else None
        end = _clock(match.group(3), match.group(4)) if match else None
        if start is None or end is None:
            raise BadUserInput(
                _t("'{text}' is not working hours like 09:00-12:00."),
                field=field,
                params={"text": shown.strip()},
            )
        if end <= start:
            raise BadUserInput(
                _t("Working hours end after they start: '{text}'."),
                field=field,
                params={"text": shown.strip()},
            )
        if intervals and start < intervals[-1][1]:
            raise BadUserInput(
                _t(
                    "Give working hours in order, without overlaps: '{text}' starts before "
                    "{previous} ends."
                ),
                field=field,
                params={"text": shown.strip(), "previous": intervals[-1][1]},
            )
        intervals.append([start, end])
    return intervals


def check_week(week: Mapping[Any, Any]) -> Week:
    """The week as stored ({"0": [["09:00", "12:00"], …]}, "0" is Monday), checked; days
    without hours are left out. Refused when no day has working time."""
    checked: Week = {}
    for raw, hours in week.items():
        text = str(raw).strip()
        if not text.isdigit() or int(text) > 6:
            raise BadUserInput(
                _t("There is no weekday {weekday}: weekdays run from 0 (Monday) to 6 (Sunday)."),
                field="week",
                params={"weekday": text},
            )
        intervals = parse_hours(hours or (), int(text))
        if intervals:
            checked[str(int(text))] = intervals
    if not checked:
        raise BadUserInput(
            _t("The week has no working time: give at least one day its working hours."),
            field="week",
        )
    return dict(sorted(checked.items()))


def format_hours(intervals: Iterable[Sequence[str]]) -> str:
    """`09:00-12:00, 13:00-18:00`: one weekday's hours as the pages show them."""
    return ", ".join(f"{start}-{end}" for start, end in intervals)


def check_kind(kind: str) -> str:
    kind = (kind or "").strip().lower()
    if kind not in KINDS:
        raise BadUserInput(
            _t("A day is a holiday or a workday, not '{kind}'."),
            field="kind",
            params={"kind": kind},
        )
    return kind


def check_day_name(name: str) -> str:
    name = (name or "").strip()
    if len(name) > MAX_DAY_NAME:
        raise BadUserInput(
            _t("A day's name has at most {limit} characters."),
            field="name",
            params={"limit": MAX_DAY_NAME},
        )
    return name


def parse_day(text: str | dt.date) -> dt.date:
    if isinstance(text, dt.date):
        return text
    text = (text or "").strip()
    try:
        if not DATE.match(text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadUserInput(
            _t("'{text}' is not a date like 2027-02-10."), field="day", params={"text": text}
        ) from None


# --- reading --------------------------------------------------------------------------


def _reader(actor: Actor) -> None:
    if not actor.authenticated:
        raise Unauthenticated()


def list_calendars(session: Session, actor: Actor) -> list[CalendarRecord]:
    """Every calendar, the default first, then by key."""
    _reader(actor)
    return list(
        session.scalars(
            select(CalendarRecord).order_by(CalendarRecord.is_default.desc(), CalendarRecord.key)
        )
    )


def get_calendar(session: Session, actor: Actor, key: str) -> CalendarRecord:
    _reader(actor)
    return _get(session, key)


def _get(session: Session, key: str) -> CalendarRecord:
    found = session.scalar(select(CalendarRecord).where(CalendarRecord.key == key))
    if found is None:
        raise NotFound(
            _t("There is no business calendar '{key}'."), field="key", params={"key": key}
        )
    return found


def exists(session: Session, key: str) -> bool:
    return session.scalar(select(CalendarRecord.id).where(CalendarRecord.key == key)) is not None


def days_of(
    session: Session,
    actor: Actor,
    key: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> list[CalendarDay]:
    """The holidays and make-up working days of a calendar from `start` to `end` (both
    included; open when None), in date order."""
    _reader(actor)
    calendar = _get(session, key)
    statement = select(CalendarDay).where(CalendarDay.calendar_id == calendar.id)
    if start is not None:
        statement = statement.where(CalendarDay.day >= start)
    if end is not None:
        statement = statement.where(CalendarDay.day <= end)
    return list(session.scalars(statement.order_by(CalendarDay.day)))


# --- writing --------------------------------------------------------------------------


def create_calendar(
    session: Session,
    actor: Actor,
    *,
    key: str,
    name: str,
    time_zone: str = STANDARD_ZONE,
    week: Mapping[Any, Any] | None = None,
    is_default: bool = False,
) -> CalendarRecord:
    """A new calendar (the standard office week unless `week` is given). The first
    calendar of a site is its default whatever `is_default` says."""
    require(actor, MANAGE)
    key = check_key(key)
    values = {
        "name": check_name(name),
        "time_zone": check_time_zone(time_zone),
        "week": check_week(standard_week() if week is None else week),
    }
    if exists(session, key):
        raise BadUserInput(
            _t("There is already a calendar '{key}'."), field="key", params={"key": key}
        )
    first = session.scalar(select(CalendarRecord.id).limit(1)) is None
    if is_default and not first:
        _clear_default(session)
    record = CalendarRecord(key=key, is_default=bool(is_default or first), **values)
    session.add(record)
    _changed(session)
    flush(session)
    return record


def update_calendar(
    session: Session,
    actor: Actor,
    key: str,
    version: int,
    *,
    name: str | None = None,
    time_zone: str | None = None,
    week: Mapping[Any, Any] | None = None,
) -> CalendarRecord:
    """Change the name, time zone or week of the calendar last read at `version`; a
    CONFLICT when someone changed it since."""
    require(actor, MANAGE)
    record = _get(session, key)
    check_version(record, version, "calendar")
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = check_name(name)
    if time_zone is not None:
        values["time_zone"] = check_time_zone(time_zone)
    if week is not None:
        values["week"] = check_week(week)
    for field, value in values.items():
        if getattr(record, field) != value:
            setattr(record, field, value)
    _changed(session)
    flush(session)
    return record


def set_default(
    session: Session, actor: Actor, key: str, version: int | None = None
) -> CalendarRecord:
    """Make `key` the site's default calendar; the previous default stops being one."""
    require(actor, MANAGE)
    record = _get(session, key)
    if version is not None:
        check_version(record, version, "calendar")
    if not record.is_default:
        _clear_default(session)
        flush(session)
        record.is_default = True
        _changed(session)
        flush(session)
    return record


def _clear_default(session: Session) -> None:
    for other in session.scalars(select(CalendarRecord).where(CalendarRecord.is_default)):
        other.is_default = False


def set_day(
    session: Session,
    actor: Actor,
    key: str,
    day: dt.date | str,
    kind: str,
    name: str = "",
) -> CalendarDay:
    """Add a holiday or make-up working day, or change the one already on that date."""
    require(actor, MANAGE)
    calendar = _get(session, key)
    found = _set_day(session, calendar, parse_day(day), check_kind(kind), check_day_name(name))
    _changed(session)
    flush(session)
    return found


def _set_day(
    session: Session, calendar: CalendarRecord, day: dt.date, kind: str, name: str
) -> CalendarDay:
    found = session.scalar(
        select(CalendarDay).where(CalendarDay.calendar_id == calendar.id, CalendarDay.day == day)
    )
    if found is None:
        found = CalendarDay(calendar_id=calendar.id, day=day, kind=kind, name=name)
        session.add(found)
    else:
        if found.kind != kind:
            found.kind = kind
        if found.name != name:
            found.name = name
    return found


def remove_day(session: Session, actor: Actor, key: str, day: dt.date | str) -> None:
    require(actor, MANAGE)
    calendar = _get(session, key)
    when = parse_day(day)
    found = session.scalar(
        select(CalendarDay).where(CalendarDay.calendar_id == calendar.id, CalendarDay.day == when)
    )
    if found is None:
        raise NotFound(
            _t("{day} is neither a holiday nor a workday of this calendar."),
            field="day",
            params={"day": when.isoformat()},
        )
    session.delete(found)
    _changed(session)
    flush(session)


@dataclass(frozen=True)
class LineProblem:
    """Why one pasted line cannot be imported, as a template with its values."""

    line: int
    template: str
    params: Mapping[str, Any]

    @property
    def reason(self) -> str:
        return self.template.format(**self.params)

    def translated(self, gettext: Callable[[str], str]) -> str:
        try:
            return gettext(self.template).format(**self.params)
        except (KeyError, IndexError, ValueError):
            return self.reason


class DaysImportError(BadUserInput):
    """Pasted days with at least one bad line: `problems` names each by its number."""

    MESSAGE = _t("Nothing was imported: line {line}: {reason}{more}")
    MORE = _t(" (and {count} more bad lines)")

    def __init__(self, problems: list[LineProblem]) -> None:
        self.problems = problems
        first = problems[0]
        super().__init__(
            self.MESSAGE,
            field="lines",
            params={"line": first.line, "reason": first.reason, "more": self._more()},
            problems=[{"line": p.line, "reason": p.reason} for p in problems],
        )

    def _more(self, gettext: Callable[[str], str] = str) -> str:
        count = len(self.problems) - 1
        return gettext(self.MORE).format(count=count) if count else ""

    def translated(self, gettext: Callable[[str], str]) -> str:
        first = self.problems[0]
        try:
            return gettext(self.MESSAGE).format(
                line=first.line, reason=first.translated(gettext), more=self._more(gettext)
            )
        except (KeyError, IndexError, ValueError):
            return self.message

    def translated_problems(self, gettext: Callable[[str], str]) -> list[dict[str, Any]]:
        return [{"line": p.line, "reason": p.translated(gettext)} for p in self.problems]


def parse_day_lines(text: str) -> list[tuple[int, dt.date, str, str]]:
    """(line number, date, kind, name) of each pasted line like `2027-02-10 holiday 春节`;
    blank lines and lines starting with # are skipped. Every bad line is reported at once
    (DaysImportError)."""
    problems: list[LineProblem] = []
    parsed: list[tuple[int, dt.date, str, str]] = []
    seen: dict[dt.date, int] = {}
    lines = (text or "").splitlines()
    if len(lines) > MAX_IMPORT_LINES:
        raise BadUserInput(
            _t("Paste at most {limit} lines at once."),
            field="lines",
            params={"limit": MAX_IMPORT_LINES},
        )
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) < 2:
            problems.append(
                LineProblem(
                    number,
                    _t("'{text}' is not a day like '2027-02-10 holiday 春节'"),
                    {"text": line},
                )
            )
            continue
        try:
            day = parse_day(parts[0])
            kind = check_kind(parts[1])
            name = check_day_name(parts[2] if len(parts) > 2 else "")
        except BadUserInput as error:
            problems.append(LineProblem(number, error.template or error.message, error.params))
            continue
        if day in seen:
            problems.append(
                LineProblem(
                    number,
                    _t("{day} is listed twice (also on line {other})"),
                    {"day": day.isoformat(), "other": seen[day]},
                )
            )
            continue
        seen[day] = number
        parsed.append((number, day, kind, name))
    if problems:
        raise DaysImportError(problems)
    if not parsed:
        raise BadUserInput(
            _t("Paste at least one line like '2027-02-10 holiday 春节'."), field="lines"
        )
    return parsed


def import_days(session: Session, actor: Actor, key: str, text: str) -> list[CalendarDay]:
    """Add or change the days of pasted lines like `2027-02-10 holiday 春节` or
    `2027-02-07 workday 春节调休`; nothing is saved when any line is bad."""
    require(actor, MANAGE)
    calendar = _get(session, key)
    parsed = parse_day_lines(text)
    found = [_set_day(session, calendar, day, kind, name) for _, day, kind, name in parsed]
    _changed(session)
    flush(session)
    return found


# --- shipped data ---------------------------------------------------------------------


def standard_week() -> Week:
    return {str(day): [[f"{a:%H:%M}", f"{b:%H:%M}"] for a, b in STANDARD_DAY] for day in range(5)}


def ensure_standard(session: Session) -> bool:
    """The default calendar `standard` (Monday to Friday, 09:00–12:00 and 13:00–18:00,
    Asia/Shanghai) when the site has no calendar yet; True when it was added."""
    if session.scalar(select(CalendarRecord.id).limit(1)) is not None:
        return False
    create_calendar(
        session,
        SYSTEM,
        key=STANDARD_KEY,
        name=STANDARD_NAME,
        time_zone=STANDARD_ZONE,
        week=standard_week(),
        is_default=True,
    )
    return True


# --- the calendar deadlines count on --------------------------------------------------


def build(record: CalendarRecord, days: Iterable[CalendarDay]) -> BusinessCalendar:
    """The arithmetic of a stored calendar."""
    week: dict[int, tuple[Interval, ...]] = {}
    for weekday, hours in (record.week or {}).items():
        intervals = tuple(
            (dt.time.fromisoformat(start), dt.time.fromisoformat(end)) for start, end in hours or ()
        )
        if intervals:
            week[int(weekday)] = intervals
    holidays: set[dt.date] = set()
    workdays: set[dt.date] = set()
    for day in days:
        (holidays if day.kind == HOLIDAY else workdays).add(day.day)
    return BusinessCalendar(
        time_zone=record.time_zone,
        week=week,
        holidays=frozenset(holidays),
        workdays=frozenset(workdays),
    )


class _Cache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generation = 0
        self.by_key: dict[str | None, tuple[float, BusinessCalendar]] = {}

    def clear(self) -> None:
        with self.lock:
            self.generation += 1
            self.by_key = {}


_CACHES: weakref.WeakKeyDictionary[Engine, _Cache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _cache(session: Session) -> _Cache:
    engine = _engine(session)
    found = _CACHES.get(engine)
    if found is None:
        with _CACHES_LOCK:
            found = _CACHES.setdefault(engine, _Cache())
    return found


def _changed(session: Session) -> None:
    """A calendar changed in `session`: this process forgets its calendars now and again
    when the change commits; until then `session` reads them afresh."""
    cache = _cache(session)
    cache.clear()
    session.info["calendars_changed"] = cache


@event.listens_for(Session, "after_transaction_end")
def _forget_change(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        cache = session.info.pop("calendars_changed", None)
        if cache is not None:
            cache.clear()  # committed: others in this process read it now (or rolled back)


def calendar_for(session: Session, key: str | None = None) -> BusinessCalendar:
    """The calendar named `key` (the default one when None or unknown; the standard office
    week when the site stores none), from this process's cache when it is fresh."""
    if session.info.get("calendars_changed"):
        return _load(session, key)  # this transaction's own, uncommitted change
    cache = _cache(session)
    now = time.monotonic()
    with cache.lock:
        found = cache.by_key.get(key)
        generation = cache.generation
    if found is not None and now - found[0] < CACHE_SECONDS:
        return found[1]
    calendar = _load(session, key)
    with cache.lock:
        if cache.generation == generation:  # no write in this process meanwhile
            cache.by_key[key] = (now, calendar)
    return calendar


def _load(session: Session, key: str | None) -> BusinessCalendar:
    wanted = CalendarRecord.is_default.is_(True)
    if key is not None:
        wanted = or_(CalendarRecord.key == key, wanted)
    records = session.scalars(select(CalendarRecord).where(wanted)).all()
    record = next((r for r in records if r.key == key), None) or next(
        (r for r in records if r.is_default), None
    )
    if record is None:
        return BusinessCalendar.standard()
    days = session.scalars(select(CalendarDay).where(CalendarDay.calendar_id == record.id))
    return build(record, days)


def business_time_add(
    session: Session, key: str | None, start: dt.datetime, duration: str
) -> dt.datetime:
    """When `duration` (ISO 8601, like PT8H or P2D) of working time after `start` ends on
    calendar `key` (the default when None); an unknown key is NOT_FOUND here."""
    if key is not None:
        _get(session, key)
    if start.tzinfo is None:
        raise BadUserInput(_t("Give the start with its time zone."), field="start")
    return calendar_for(session, key).add(start.astimezone(dt.UTC), parse_duration(duration))
