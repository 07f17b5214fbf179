"""The SLA clock, worked out by hand on a real calendar: every rule of openitsm.kernel.sla,
then the bugs peers carry (each test fails on the naive implementation named in it).

The calendar: Monday to Friday 09:00–12:00 and 13:00–18:00, Asia/Shanghai; Friday 1 October
2027 is a holiday and Saturday 9 October a make-up working day. Monday 27 September 2027
starts the week most examples use.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from openitsm.kernel.calendar import BusinessCalendar
from openitsm.kernel.sla import (
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
    compute_clock,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOLIDAY = dt.date(2027, 10, 1)
MAKE_UP = dt.date(2027, 10, 9)
CALENDAR = BusinessCalendar.standard(holidays=[HOLIDAY], workdays=[MAKE_UP])
WAITING = "waiting_for_customer"
POLICY = Policy(pause_statuses=frozenset({WAITING}))
HOUR = 3600

P1 = Level.of("P1", response="PT1H", resolution="PT8H", warning_share=0.75)
P3 = Level.of("P3", response="PT4H", resolution="P2D")  # P2D: two 8-hour working days
SHORT = Level.of("short", response="PT1H", resolution="PT4H")


def t(day: int, hour: int, minute: int = 0, month: int = 9) -> dt.datetime:
    """A local instant in September (or `month`) 2027."""
    return dt.datetime(2027, month, day, hour, minute, tzinfo=SHANGHAI)


def clock(events: list[Event], now: dt.datetime, policy: Policy = POLICY) -> Clock:
    return compute_clock(events, CALENDAR, now, policy)


def opened(at: dt.datetime, level: Level | None = P1) -> list[Event]:
    return [Opened(at), LevelSet(at, level)]


# --- counting working time -------------------------------------------------------------------


def test_a_running_clock_counts_working_hours_only() -> None:
    result = clock(opened(t(27, 16)), now=t(28, 10))  # Mon 16:00 → Tue 10:00
    resolution = result.resolution
    assert resolution.state == "running"
    assert resolution.elapsed == 3 * HOUR  # 16–18 and 09–10
    assert resolution.remaining == 5 * HOUR
    assert resolution.due_at == t(28, 16)  # 10–12, lunch, 13–16
    assert resolution.warning_at is None
    assert [(f.kind, f.target, f.at) for f in result.fire] == [
        ("warning", "resolution", t(28, 14)),  # 75 %: six working hours in
        ("breach", "resolution", t(28, 16)),
    ]
    response = result.response
    assert response.state == "breached"
    assert response.breached_at == response.due_at == t(27, 17)
    assert response.warning_at == t(27, 16, 45)


def test_lunch_breaks_holidays_weekends_and_make_up_days() -> None:
    # Thursday 17:00 + 8 h: 1 h on Thursday, the holiday, the weekend, then Monday to 17:00.
    assert clock(opened(t(30, 17)), t(30, 17)).resolution.due_at == t(4, 17, month=10)
    # Friday 8 October 17:00 + 8 h: the make-up Saturday works Monday's hours.
    assert clock(opened(t(8, 17, month=10)), t(8, 17, month=10)).resolution.due_at == t(
        9, 17, month=10
    )
    # An interval's end counts: 09:00 + PT3H is 12:00, not 13:00.
    three = Level.of("three", resolution="PT3H")
    assert clock(opened(t(27, 9), three), t(27, 9)).resolution.due_at == t(27, 12)


def test_time_between_events_outside_working_hours_counts_nothing() -> None:
    result = clock(opened(t(25, 10)), now=t(26, 23))  # Saturday to Sunday night
    assert (result.resolution.elapsed, result.resolution.state) == (0, "running")
    assert result.resolution.due_at == t(27, 18)


# --- pauses --------------------------------------------------------------------------------


def pause_monday_to_tuesday() -> list[Event]:
    return [
        *opened(t(27, 9)),
        Responded(t(27, 9, 30)),
        StatusChanged(t(27, 11), WAITING),
        StatusChanged(t(28, 14), "in_progress"),
    ]


def test_a_pause_stops_the_clock_and_a_resume_continues_where_it_stopped() -> None:
    events = pause_monday_to_tuesday()
    during = clock(events, now=t(28, 10)).resolution
    assert (during.state, during.elapsed, during.due_at) == ("paused", 2 * HOUR, None)
    assert during.paused == 1 * HOUR + 5 * HOUR + 1 * HOUR  # Mon 11–12, 13–18, Tue 09–10
    after = clock(events, now=t(28, 15))
    assert after.resolution.state == "running"
    assert after.resolution.elapsed == 3 * HOUR  # 2 h before the pause, 14–15 after it
    assert after.resolution.paused == 10 * HOUR  # … and Tue 10–12, 13–14: never lost
    assert after.resolution.due_at == t(29, 11)  # 5 h left: Tue 15–18, Wed 09–11
    assert after.response.state == "met"
    assert after.response.met_at == t(27, 9, 30)
    assert after.response.due_at == t(27, 10)  # when it would have fallen due


def test_only_the_configured_statuses_pause() -> None:
    events = pause_monday_to_tuesday()
    unpaused = clock(events, now=t(28, 10), policy=Policy())
    assert unpaused.resolution.state == "breached"
    assert unpaused.resolution.breached_at == t(27, 18)
    assert unpaused.resolution.paused == 0


# --- level changes -------------------------------------------------------------------------


def test_a_level_change_keeps_the_elapsed_time_and_measures_it_against_the_new_target() -> None:
    events = [*opened(t(27, 9), P3), LevelSet(t(27, 15), P1)]
    result = clock(events, now=t(27, 16)).resolution
    assert result.elapsed == 6 * HOUR  # counted from the opening, not from the change
    assert result.target == 8 * HOUR
    assert result.due_at == t(27, 18)  # not 15:00 + 8 h


def test_a_level_lowered_below_the_elapsed_time_breaches_at_the_change() -> None:
    events = [*opened(t(27, 9), P3), LevelSet(t(27, 15), SHORT)]
    result = clock(events, now=t(27, 16)).resolution
    assert (result.state, result.breached_at, result.due_at) == ("breached", t(27, 15), t(27, 15))
    assert result.remaining == -2 * HOUR


def test_a_breach_stays_a_breach_when_the_level_is_raised() -> None:
    events = [*opened(t(27, 9), SHORT), LevelSet(t(28, 9), P3)]
    result = clock(events, now=t(28, 10)).resolution
    assert (result.state, result.breached_at) == ("breached", t(27, 14))
    assert result.remaining == 7 * HOUR


def test_a_level_set_after_the_opening_counts_from_the_opening() -> None:
    events = [*opened(t(27, 9), None), LevelSet(t(27, 11), P1)]
    result = clock(events, now=t(27, 11))
    assert result.response.state == "breached"
    assert result.response.breached_at == t(27, 11)
    assert result.resolution.elapsed == 2 * HOUR


def test_without_a_level_or_a_target_the_clock_is_off() -> None:
    result = clock(opened(t(27, 9), None), now=t(27, 12))
    assert result.level is None
    assert [target.state for target in result.targets] == ["off", "off"]
    assert result.resolution.elapsed == 3 * HOUR  # counted, ready for a level
    only_resolution = Level.of("no-response", resolution="PT8H")
    result = clock(opened(t(27, 9), only_resolution), now=t(27, 12))
    assert (result.response.state, result.response.due_at) == ("off", None)
    assert result.resolution.state == "running"


# --- resolution, response, reopening -------------------------------------------------------


@pytest.mark.parametrize(
    ("resolved", "state", "breached_at"),
    [
        (t(27, 17), "met", None),
        (t(27, 18), "met", None),  # at the very due instant
        (t(27, 20), "breached", t(27, 18)),  # after it, if outside working hours
        (t(28, 10), "breached", t(27, 18)),
    ],
)
def test_resolving_stops_the_clock_met_or_breached_at_the_due_instant(
    resolved: dt.datetime, state: str, breached_at: dt.datetime | None
) -> None:
    result = clock([*opened(t(27, 9)), Resolved(resolved)], now=t(30, 12)).resolution
    assert (result.state, result.breached_at, result.stopped_at) == (state, breached_at, resolved)
    assert result.met_at == (resolved if state == "met" else None)
    assert result.due_at == t(27, 18)
    assert clock([*opened(t(27, 9)), Resolved(resolved)], t(30, 12)).fire == ()


def test_the_response_target_is_met_by_the_first_response_or_by_the_resolution() -> None:
    events = [*opened(t(27, 9)), Responded(t(27, 9, 40)), Responded(t(27, 11))]
    assert clock(events, t(27, 12)).response.met_at == t(27, 9, 40)
    by_resolution = clock([*opened(t(27, 9)), Resolved(t(27, 9, 20))], t(27, 12)).response
    assert (by_resolution.state, by_resolution.met_at) == ("met", t(27, 9, 20))
    closed = clock([*opened(t(27, 9)), Closed(t(27, 9, 20))], t(27, 12))
    assert [target.state for target in closed.targets] == ["met", "met"]


def test_reopening_continues_with_the_elapsed_time_it_had_when_resolved() -> None:
    events = [*opened(t(27, 9)), Responded(t(27, 9)), Resolved(t(27, 14)), Reopened(t(29, 10))]
    resolved = clock(events, now=t(28, 12)).resolution
    assert (resolved.state, resolved.elapsed, resolved.met_at) == ("met", 4 * HOUR, t(27, 14))
    reopened = clock(events, now=t(29, 11))
    assert reopened.resolution.state == "running"
    assert reopened.resolution.elapsed == 5 * HOUR
    assert reopened.resolution.met_at is None
    assert reopened.resolution.due_at == t(29, 15)  # 4 h left from 10:00, lunch between
    assert reopened.response.state == "met"  # the response target never reopens


def test_restart_on_reopen_measures_the_reopened_record_afresh() -> None:
    events = [*opened(t(27, 9)), Resolved(t(28, 10)), Reopened(t(29, 10))]
    assert clock(events, now=t(28, 12)).resolution.breached_at == t(27, 18)
    again = clock(events, now=t(29, 11), policy=Policy(restart_on_reopen=True)).resolution
    assert (again.state, again.elapsed, again.breached_at) == ("running", HOUR, None)
    assert again.due_at == t(30, 10)
    kept = clock(events, now=t(29, 11)).resolution
    assert (kept.state, kept.breached_at) == ("breached", t(27, 18))


def test_switching_the_sla_off_stops_everything_and_on_continues() -> None:
    events = [*opened(t(27, 9)), SlaOff(t(27, 11)), SlaOn(t(28, 9))]
    off = clock(events, now=t(27, 20))
    assert [(x.state, x.due_at) for x in off.targets] == [("off", None), ("off", None)]
    assert off.fire == ()
    assert off.resolution.elapsed == 2 * HOUR
    on = clock(events, now=t(28, 10)).resolution
    assert (on.state, on.elapsed, on.due_at) == ("running", 3 * HOUR, t(28, 16))


# --- warnings, fire moments, inputs --------------------------------------------------------


def test_a_warning_lead_warns_that_long_before_the_due_time() -> None:
    lead = Level.of("lead", resolution="PT8H", warning_lead="PT1H30M")
    result = clock(opened(t(27, 9), lead), now=t(27, 17)).resolution
    assert result.warning_at == t(27, 16, 30)
    both = Level.of("both", resolution="PT8H", warning_share=0.5, warning_lead="PT1H")
    assert clock(opened(t(27, 9), both), now=t(27, 9)).fire[0].at == t(27, 14)  # the earlier


def test_each_fire_moment_is_where_a_recomputation_finds_the_crossing() -> None:
    events = pause_monday_to_tuesday()
    result = clock(events, now=t(28, 15))
    assert [f.kind for f in result.fire] == ["warning", "breach"]
    warning, breach = result.fire
    assert clock(events, warning.at).resolution.warning_at == warning.at
    just_before = clock(events, breach.at - dt.timedelta(seconds=1)).resolution
    assert (just_before.state, just_before.remaining) == ("running", 1)
    at_breach = clock(events, breach.at).resolution
    assert (at_breach.state, at_breach.breached_at) == ("breached", breach.at)
    assert clock(events, breach.at).fire == ()


def test_history_is_replayed_in_time_order_and_the_future_is_ignored() -> None:
    events = pause_monday_to_tuesday()
    reference = clock(events, now=t(28, 15))
    assert clock(list(reversed(events)), now=t(28, 15)) == reference
    assert clock([*events, Resolved(t(28, 16))], now=t(28, 15)) == reference
    with pytest.raises(ValueError, match="no time zone"):
        clock([Opened(dt.datetime(2027, 9, 27, 9))], now=t(28, 15))
    assert [x.state for x in clock([], now=t(28, 15)).targets] == ["off", "off"]


def test_recomputing_with_another_calendar_and_changing_calendars_midway() -> None:
    every_day = BusinessCalendar(week={day: ((dt.time(0), dt.time(23, 59)),) for day in range(7)})
    events = opened(t(27, 16))
    assert compute_clock(events, every_day, t(27, 16), POLICY).resolution.due_at == t(28, 0, 1)
    moved = [*events, CalendarChanged(t(27, 17), every_day)]
    result = compute_clock(moved, CALENDAR, t(27, 19), POLICY).resolution
    assert result.elapsed == 3 * HOUR  # 16–17 on the office week, 17–19 on every day
    assert result.due_at == t(28, 0, 1)  # the day ends at 23:59 on that calendar


def test_days_in_targets_count_days_of_the_calendar() -> None:
    result = clock(opened(t(27, 9), P3), now=t(27, 9)).resolution
    assert result.target == 16 * HOUR
    assert result.due_at == t(28, 18)


# --- the bugs peers carry ------------------------------------------------------------------


def test_peer_bug_pause_time_lost_when_the_sla_level_changes() -> None:
    """Recomputing the due time from the opening on a level change (as if the pause never
    happened) breaches at Monday 18:00; the pause must still count as paused."""
    events = [
        *opened(t(27, 9), P3),
        StatusChanged(t(27, 10), WAITING),
        LevelSet(t(27, 15), P1),  # during the pause
        StatusChanged(t(28, 10), "in_progress"),
    ]
    result = clock(events, now=t(28, 11)).resolution
    assert result.state == "running"
    assert result.breached_at is None
    assert result.elapsed == 2 * HOUR  # Mon 09–10, Tue 10–11
    assert result.paused == 8 * HOUR
    assert result.due_at == t(28, 18)  # 6 h left from Tue 11:00
    changed_after = [*events[:3], events[4], LevelSet(t(28, 11), P1)]
    assert clock(changed_after, now=t(28, 11)).resolution == result


def test_peer_bug_breach_while_paused() -> None:
    """A scan that compares a stored due time with the clock breaches at Monday 18:00 although
    the record has waited for the customer since 17:00."""
    events = [*opened(t(27, 9)), StatusChanged(t(27, 17), WAITING)]
    for now in (t(27, 18), t(27, 20), t(28, 17), t(4, 12, month=10)):
        result = clock(events, now)
        assert result.resolution.state == "paused"
        assert result.resolution.breached_at is None
        assert result.resolution.due_at is None
        assert not [f for f in result.fire if f.target == "resolution"]
    resumed = clock([*events, StatusChanged(t(29, 9), "in_progress")], t(29, 9, 30))
    assert resumed.resolution.due_at == t(29, 10)  # the due time moved by the pause


def test_peer_bug_a_paused_clock_still_ticking() -> None:
    events = [*opened(t(27, 9)), StatusChanged(t(27, 10), WAITING)]
    seen = [clock(events, now).resolution for now in (t(27, 11), t(27, 17), t(29, 12))]
    assert [result.elapsed for result in seen] == [HOUR, HOUR, HOUR]
    assert [result.remaining for result in seen] == [7 * HOUR] * 3
    assert [result.paused for result in seen] == [HOUR, 6 * HOUR, 18 * HOUR]


def test_peer_bug_escalation_after_the_sla_was_switched_off() -> None:
    """A timer scheduled while the SLA was on must not find anything to fire once it is off:
    the recomputed clock has no fire moment, no due time, no breach — even long after."""
    events = opened(t(27, 9))
    scheduled = clock(events, now=t(27, 10)).fire
    assert [(f.kind, f.target, f.at) for f in scheduled] == [
        ("warning", "resolution", t(27, 16)),
        ("breach", "resolution", t(27, 18)),
    ]
    switched_off = [*events, SlaOff(t(27, 10))]
    for firing in scheduled:
        later = clock(switched_off, now=firing.at)
        assert later.fire == ()
        assert all(x.state == "off" and x.due_at is None for x in later.targets)
        assert later.resolution.breached_at is None
    assert clock(switched_off, now=t(30, 12, month=12)).fire == ()


def test_peer_bug_instant_breach_on_reopen() -> None:
    """Counting from the opening (or through the resolved weeks) breaches the moment a record
    resolved in time is reopened; it must continue with the time it had left."""
    events = [
        *opened(t(27, 9)),
        Responded(t(27, 9, 10)),
        Resolved(t(27, 13)),
        Reopened(t(18, 9, month=10)),
    ]
    result = clock(events, now=t(18, 9, 1, month=10)).resolution
    assert result.state == "running"
    assert result.breached_at is None
    assert result.elapsed == 3 * HOUR + 60
    assert result.due_at == t(18, 15, month=10)  # 5 h from 09:00, an hour's lunch


def test_the_example_in_docs_sla_md() -> None:
    p2 = Level.of("P2", response="PT1H", resolution="PT8H", warning_share=0.75)
    p1 = Level.of("P1", response="PT30M", resolution="PT4H", warning_share=0.75)
    events: list[Event] = [
        *opened(t(27, 9), p2),
        Responded(t(27, 9, 30)),
        StatusChanged(t(27, 11), WAITING),
        StatusChanged(t(28, 14), "in_progress"),
        LevelSet(t(28, 15), p1),
        Resolved(t(28, 17)),
        Reopened(t(29, 10)),
    ]

    def seen(now: dt.datetime) -> tuple:
        result = clock(events, now).resolution
        return result.state, result.due_at, result.elapsed

    assert seen(t(27, 9)) == ("running", t(27, 18), 0)
    response = clock(events, t(27, 9, 30)).response
    assert (response.state, response.due_at) == ("met", t(27, 10))
    assert seen(t(27, 11)) == ("paused", None, 2 * HOUR)
    assert seen(t(27, 18)) == ("paused", None, 2 * HOUR)
    assert clock(events, t(27, 18)).fire == ()
    assert clock(events, t(28, 14)).resolution.paused == 10 * HOUR
    assert seen(t(28, 15)) == ("running", t(28, 16), 3 * HOUR)
    assert clock(events, t(28, 16)).resolution.breached_at == t(28, 16)
    late = clock(events, t(28, 17)).resolution
    assert (late.state, late.breached_at, late.stopped_at) == ("breached", t(28, 16), t(28, 17))
    assert seen(t(29, 10)) == ("breached", t(28, 16), 5 * HOUR)
    assert seen(t(29, 11)) == ("breached", t(28, 16), 6 * HOUR)
