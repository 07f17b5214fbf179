"""Stored business calendars: validation, permission, the one default, importing days, the
in-process cache behind `calendar_for`, and the GraphQL API."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from openitsm.kernel import Kernel
from openitsm.kernel.access import action_registry
from openitsm.kernel.actors import ANONYMOUS, Actor
from openitsm.kernel.calendar import BusinessCalendar, parse_duration
from openitsm.kernel.calendar import service as calendars
from openitsm.kernel.calendar.models import CalendarDay, CalendarRecord
from openitsm.kernel.errors import BadUserInput, Conflict, Forbidden, NotFound, Unauthenticated
from openitsm.kernel.organisation import service as org
from openitsm.kernel.organisation.models import RoleAction
from openitsm.kernel.testing import actor_of, count_statements, error_codes, gql

SHANGHAI = ZoneInfo("Asia/Shanghai")
EVERY_DAY = {str(d): "09:00-17:00" for d in range(7)}


def local(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=SHANGHAI)


@pytest.fixture
def manager(kernel: Kernel) -> Actor:
    """A user whose role grants calendar.manage (and nothing else)."""
    with kernel.session() as session:
        user = org.create_user(session, login="cal", name="Calendar Keeper")
        role = org.create_role(
            session,
            action_registry(kernel),
            code="calendar_keeper",
            labels={"en": "Calendar keeper"},
            actions=["calendar.manage"],
        )
        org.grant_role(session, user.id, role.id)
    return actor_of(kernel, user.id)


@pytest.fixture
def plain(kernel: Kernel) -> Actor:
    with kernel.session() as session:
        user = org.create_user(session, login="plain", name="Plain User")
    return actor_of(kernel, user.id)


def refusal(call: object, *args: object, **kwargs: object) -> BadUserInput:
    with pytest.raises(BadUserInput) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return caught.value


def test_migrate_ships_the_standard_calendar_as_the_default(kernel: Kernel) -> None:
    with kernel.session() as session:
        [standard] = calendars.list_calendars(session, Actor(user_id=1, label="x"))
        assert (standard.key, standard.time_zone, standard.is_default) == (
            "standard",
            "Asia/Shanghai",
            True,
        )
        assert standard.week == {str(d): [["09:00", "12:00"], ["13:00", "18:00"]] for d in range(5)}
        assert calendars.ensure_standard(session) is False  # never a second time
        stored = calendars.calendar_for(session)
    friday_five = local(2027, 3, 5, 17)
    assert stored.add(friday_five, parse_duration("PT8H")) == BusinessCalendar.standard().add(
        friday_five, parse_duration("PT8H")
    )


def test_the_administrator_role_grants_calendar_manage(kernel: Kernel) -> None:
    with kernel.session() as session:
        role = org.role_by_code(session, "administrator")
        granted = session.scalars(select(RoleAction.action).where(RoleAction.role_id == role.id))
        assert "calendar.manage" in set(granted)
    assert "calendar.manage" in action_registry(kernel)


def test_changing_calendars_needs_calendar_manage_and_reading_a_signed_in_user(
    kernel: Kernel, manager: Actor, plain: Actor
) -> None:
    with kernel.session() as session:
        with pytest.raises(Forbidden):
            calendars.create_calendar(session, plain, key="abroad", name="Abroad")
        with pytest.raises(Forbidden):
            calendars.set_day(session, plain, "standard", "2027-02-10", "holiday")
        with pytest.raises(Forbidden):
            calendars.set_default(session, plain, "standard")
        with pytest.raises(Unauthenticated):
            calendars.list_calendars(session, ANONYMOUS)
        assert [c.key for c in calendars.list_calendars(session, plain)] == ["standard"]
        created = calendars.create_calendar(session, manager, key="abroad", name="Abroad")
        assert created.is_default is False
    with kernel.session() as session:
        assert session.scalar(select(CalendarRecord.key).where(CalendarRecord.key == "abroad"))


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"key": "Bad Key"}, "key", "not a calendar key"),
        ({"key": "standard"}, "key", "already a calendar"),
        ({"name": "  "}, "name", "Give the calendar a name"),
        ({"time_zone": "Mars/Olympus"}, "timeZone", "not a time zone"),
        ({"time_zone": "../etc/passwd"}, "timeZone", "not a time zone"),
        ({"week": {"0": "9-12"}}, "week.0", "not working hours"),
        ({"week": {"1": "25:00-26:00"}}, "week.1", "not working hours"),
        ({"week": {"2": "12:00-09:00"}}, "week.2", "end after they start"),
        ({"week": {"3": "13:00-18:00, 09:00-12:00"}}, "week.3", "in order"),
        ({"week": {"4": "09:00-13:00, 12:00-18:00"}}, "week.4", "without overlaps"),
        ({"week": {"7": "09:00-12:00"}}, "week", "no weekday 7"),
        ({"week": {str(d): "" for d in range(7)}}, "week", "no working time"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    kernel: Kernel, manager: Actor, changes: dict, field: str, words: str
) -> None:
    values = {"key": "abroad", "name": "Abroad", "time_zone": "Europe/Berlin", **changes}
    with kernel.session() as session:
        error = refusal(calendars.create_calendar, session, manager, **values)
    assert error.extensions["field"] == field
    assert words in error.message
    assert error.template is not None  # translatable on the pages
    with kernel.session() as session:
        assert (
            session.scalar(select(CalendarRecord.id).where(CalendarRecord.key == "abroad")) is None
        )


def test_a_valid_week_is_stored_normalised(kernel: Kernel, manager: Actor) -> None:
    with kernel.session() as session:
        row = calendars.create_calendar(
            session,
            manager,
            key="weekend-desk",
            name="Weekend desk",
            time_zone="Europe/London",
            week={5: "8:00-12:30，13:30-20:00", "6": [["10:00", "16:00"]], "0": ""},
        )
        assert row.week == {
            "5": [["08:00", "12:30"], ["13:30", "20:00"]],
            "6": [["10:00", "16:00"]],
        }
        built = calendars.calendar_for(session, "weekend-desk")
    assert built.time_zone == "Europe/London"
    # A Friday afternoon in London: the clock starts on Saturday at 08:00.
    start = dt.datetime(2027, 3, 5, 15, tzinfo=dt.UTC)
    assert built.add(start, parse_duration("PT1H")) == dt.datetime(2027, 3, 6, 9, tzinfo=dt.UTC)


def test_update_checks_the_version(kernel: Kernel, manager: Actor) -> None:
    with kernel.session() as session:
        row = calendars.create_calendar(session, manager, key="abroad", name="Abroad")
        version = row.version
    with kernel.session() as session:
        calendars.update_calendar(session, manager, "abroad", version, name="Abroad (EU)")
    with kernel.session() as session, pytest.raises(Conflict):
        calendars.update_calendar(session, manager, "abroad", version, name="Stale")
    with kernel.session() as session:
        assert calendars.get_calendar(session, manager, "abroad").name == "Abroad (EU)"
        with pytest.raises(NotFound):
            calendars.get_calendar(session, manager, "nowhere")


def test_exactly_one_calendar_is_the_default(kernel: Kernel, manager: Actor) -> None:
    with kernel.session() as session:
        calendars.create_calendar(session, manager, key="abroad", name="Abroad")
        calendars.create_calendar(
            session, manager, key="desk", name="Desk", week=EVERY_DAY, is_default=True
        )
    with kernel.session() as session:
        defaults = session.scalars(select(CalendarRecord.key).where(CalendarRecord.is_default))
        assert list(defaults) == ["desk"]
        calendars.set_default(session, manager, "abroad")
    with kernel.session() as session:
        defaults = session.scalars(select(CalendarRecord.key).where(CalendarRecord.is_default))
        assert list(defaults) == ["abroad"]
        listed = [c.key for c in calendars.list_calendars(session, manager)]
        assert listed == ["abroad", "desk", "standard"]  # the default first


def test_days_are_added_changed_and_removed(kernel: Kernel, manager: Actor) -> None:
    with kernel.session() as session:
        calendars.set_day(session, manager, "standard", "2027-10-01", "holiday", "国庆节")
        calendars.set_day(session, manager, "standard", dt.date(2027, 10, 1), "workday", "x")
        calendars.set_day(session, manager, "standard", "2026-12-31", "holiday")
    with kernel.session() as session:
        days = calendars.days_of(
            session, manager, "standard", dt.date(2027, 1, 1), dt.date(2027, 12, 31)
        )
        assert [(d.day, d.kind, d.name) for d in days] == [(dt.date(2027, 10, 1), "workday", "x")]
        error = refusal(calendars.set_day, session, manager, "standard", "2027-13-01", "holiday")
        assert error.extensions["field"] == "day"
        error = refusal(calendars.set_day, session, manager, "standard", "2027-10-02", "party")
        assert error.extensions["field"] == "kind"
        calendars.remove_day(session, manager, "standard", "2027-10-01")
        with pytest.raises(NotFound):
            calendars.remove_day(session, manager, "standard", "2027-10-01")
    with kernel.session() as session:
        assert [d.day for d in calendars.days_of(session, manager, "standard")] == [
            dt.date(2026, 12, 31)
        ]


def test_an_import_with_a_bad_line_saves_nothing_and_names_every_bad_line(
    kernel: Kernel, manager: Actor
) -> None:
    pasted = "\n".join(
        [
            "# 2027 春节",
            "2027-02-10 holiday 春节",
            "2027-02-30 holiday 不存在",
            "",
            "2027-02-07 workday 春节调休",
            "2027-02-11 vacation",
            "2027-02-10 holiday again",
        ]
    )
    with kernel.session() as session, pytest.raises(calendars.DaysImportError) as caught:
        calendars.import_days(session, manager, "standard", pasted)
    assert [(p.line, p.reason) for p in caught.value.problems] == [
        (3, "'2027-02-30' is not a date like 2027-02-10."),
        (6, "A day is a holiday or a workday, not 'vacation'."),
        (7, "2027-02-10 is listed twice (also on line 2)"),
    ]
    assert caught.value.extensions["problems"][0] == {
        "line": 3,
        "reason": "'2027-02-30' is not a date like 2027-02-10.",
    }
    with kernel.session() as session:
        assert session.scalar(select(CalendarDay.id)) is None
        rows = calendars.import_days(
            session,
            manager,
            "standard",
            "2027-02-10 holiday 春节\n2027-02-07 workday 春节调休\n",
        )
        assert [(r.day.isoformat(), r.kind, r.name) for r in rows] == [
            ("2027-02-10", "holiday", "春节"),
            ("2027-02-07", "workday", "春节调休"),
        ]
    with kernel.session() as session:
        built = calendars.calendar_for(session)
    assert built.holidays == frozenset({dt.date(2027, 2, 10)})
    assert built.workdays == frozenset({dt.date(2027, 2, 7)})
    # Tuesday 17:00 + 2h: Wednesday the 10th is a holiday, so Thursday 10:00.
    assert built.add(local(2027, 2, 9, 17), parse_duration("PT2H")) == local(2027, 2, 11, 10)


def test_calendar_for_is_cached_and_a_write_drops_the_cache(
    kernel: Kernel, manager: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    holiday = dt.date(2027, 5, 3)
    with kernel.session() as session:
        assert holiday not in calendars.calendar_for(session).holidays
        with count_statements(kernel.engine) as log:
            calendars.calendar_for(session)
            calendars.calendar_for(session, None)
        assert log.count == 0  # cached: no statement per step
    with kernel.session() as session:
        calendars.set_day(session, manager, "standard", holiday, "holiday", "劳动节")
        # This transaction sees its own change at once.
        assert holiday in calendars.calendar_for(session).holidays
    with kernel.session() as session:
        assert holiday in calendars.calendar_for(session).holidays  # dropped on commit

    # Another process writing: this process's copy is kept, for at most CACHE_SECONDS.
    with kernel.session() as session:
        session.execute(update(CalendarDay).values(kind="workday"))
    with kernel.session() as session:
        assert holiday in calendars.calendar_for(session).holidays
    later = calendars.time.monotonic() + calendars.CACHE_SECONDS + 1
    monkeypatch.setattr(calendars.time, "monotonic", lambda: later)
    with kernel.session() as session:
        built = calendars.calendar_for(session)
    assert holiday not in built.holidays and holiday in built.workdays


def test_a_rolled_back_change_is_not_cached(kernel: Kernel, manager: Actor) -> None:
    with pytest.raises(RuntimeError), kernel.session() as session:
        calendars.set_day(session, manager, "standard", "2027-05-04", "holiday")
        assert dt.date(2027, 5, 4) in calendars.calendar_for(session).holidays
        raise RuntimeError("rolled back")
    with kernel.session() as session:
        assert dt.date(2027, 5, 4) not in calendars.calendar_for(session).holidays


def test_unknown_keys_fall_back_to_the_default_and_no_calendar_to_the_standard_week(
    kernel: Kernel, manager: Actor
) -> None:
    with kernel.session() as session:
        calendars.create_calendar(session, manager, key="desk", name="Desk", week=EVERY_DAY)
    with kernel.session() as session:
        assert calendars.calendar_for(session, "desk").week[6]
        assert 6 not in calendars.calendar_for(session, "nowhere").week  # the default
        session.execute(CalendarRecord.__table__.delete())
        calendars._changed(session)
    with kernel.session() as session:
        assert calendars.calendar_for(session) == BusinessCalendar.standard()


# --- GraphQL ----------------------------------------------------------------------------

CREATE = """mutation($input: CreateBusinessCalendarInput!) {
  createBusinessCalendar(input: $input) { key name timeZone isDefault version
    week { weekday hours } } }"""


def test_graphql_reads_previews_and_changes_calendars(
    kernel: Kernel, manager: Actor, plain: Actor
) -> None:
    created = gql(
        kernel,
        CREATE,
        {
            "input": {
                "key": "desk",
                "name": "Service desk",
                "timeZone": "Asia/Shanghai",
                "week": [{"weekday": d, "hours": ["08:00-20:00"]} for d in range(7)],
            }
        },
        manager,
    )
    assert "errors" not in created, created
    desk = created["data"]["createBusinessCalendar"]
    assert desk["isDefault"] is False
    assert desk["week"][6] == {"weekday": 6, "hours": ["08:00-20:00"]}

    imported = gql(
        kernel,
        'mutation { importBusinessCalendarDays(key: "desk", lines: '
        '"2027-02-10 holiday 春节\\n2027-02-13 workday 调休") { day kind name } }',
        actor=manager,
    )
    assert imported["data"]["importBusinessCalendarDays"][0] == {
        "day": "2027-02-10",
        "kind": "holiday",
        "name": "春节",
    }
    read = gql(
        kernel,
        '{ businessCalendars { key isDefault } businessCalendar(key: "desk") { name '
        'days(start: "2027-02-11", end: "2027-12-31") { day kind } } '
        'businessTimeAdd(calendar: "desk", start: "2027-02-09T19:00:00+08:00", '
        'duration: "PT2H") }',
        actor=plain,
    )
    assert "errors" not in read, read
    assert read["data"]["businessCalendars"] == [
        {"key": "standard", "isDefault": True},
        {"key": "desk", "isDefault": False},
    ]
    assert read["data"]["businessCalendar"]["days"] == [{"day": "2027-02-13", "kind": "workday"}]
    # 19:00 on the 9th: one hour left that day, the 10th is a holiday, 09:00 on the 11th.
    assert read["data"]["businessTimeAdd"] == "2027-02-11T01:00:00+00:00"

    removed = gql(
        kernel,
        'mutation { removeBusinessCalendarDay(key: "desk", day: "2027-02-10") }',
        actor=manager,
    )
    assert removed["data"] == {"removeBusinessCalendarDay": "2027-02-10"}
    made = gql(
        kernel,
        'mutation { setDefaultBusinessCalendar(key: "desk") { key isDefault } }',
        actor=manager,
    )
    assert made["data"]["setDefaultBusinessCalendar"] == {"key": "desk", "isDefault": True}
    updated = gql(
        kernel,
        'mutation($v: Int!) { updateBusinessCalendar(input: {key: "desk", version: $v, '
        'timeZone: "Europe/Berlin"}) { timeZone version } }',
        {"v": desk["version"] + 1},  # the default switch bumped it
        manager,
    )
    assert "errors" not in updated, updated
    assert updated["data"]["updateBusinessCalendar"]["timeZone"] == "Europe/Berlin"


def test_graphql_refusals_carry_codes_and_fields(
    kernel: Kernel, manager: Actor, plain: Actor
) -> None:
    assert error_codes(gql(kernel, "{ businessCalendars { key } }")) == ["UNAUTHENTICATED"]
    forbidden = gql(kernel, CREATE, {"input": {"key": "x", "name": "X"}}, plain)
    assert error_codes(forbidden) == ["FORBIDDEN"]
    bad = gql(
        kernel, CREATE, {"input": {"key": "x", "name": "X", "timeZone": "Nowhere/Land"}}, manager
    )
    assert error_codes(bad) == ["BAD_USER_INPUT"]
    assert bad["errors"][0]["extensions"]["field"] == "timeZone"
    missing = gql(kernel, '{ businessCalendar(key: "nowhere") { key } }', actor=plain)
    assert error_codes(missing) == ["NOT_FOUND"]
    stale = gql(
        kernel,
        'mutation { updateBusinessCalendar(input: {key: "standard", version: 99, name: "S"}) '
        "{ key } }",
        actor=manager,
    )
    assert error_codes(stale) == ["CONFLICT"]
    bad_lines = gql(
        kernel,
        'mutation { importBusinessCalendarDays(key: "standard", lines: "2027-02-10 holiday\\n'
        'nonsense") { day } }',
        actor=manager,
    )
    assert error_codes(bad_lines) == ["BAD_USER_INPUT"]
    assert bad_lines["errors"][0]["extensions"]["problems"] == [
        {"line": 2, "reason": "'nonsense' is not a day like '2027-02-10 holiday 春节'"}
    ]
    preview = gql(kernel, '{ businessTimeAdd(duration: "P1M") }', actor=plain)
    assert error_codes(preview) == ["BAD_USER_INPUT"]
    with kernel.session() as session:
        assert session.scalar(select(CalendarDay.id)) is None


def test_demo_data_adds_example_holidays_once(kernel: Kernel, manager: Actor) -> None:
    from openitsm.kernel.calendar import plugin

    with kernel.session() as session:
        plugin.load_demo_data(session, kernel)
    with kernel.session() as session:
        plugin.load_demo_data(session, kernel)  # run again: nothing is added twice
        listed = calendars.days_of(session, manager, "standard")
    assert len(listed) == len(plugin.DEMO_DAYS.splitlines())
    assert (listed[0].day, listed[0].kind) == (dt.date(2027, 2, 6), "holiday")
    with kernel.session() as session:
        built = calendars.calendar_for(session)
    # Friday 5 February 2027, 17:00: the festival week is off, Sunday the 7th is worked.
    assert built.add(local(2027, 2, 5, 17), parse_duration("PT2H")) == local(2027, 2, 7, 10)
