"""Deadlines in business time: reminders, escalations and timer boundary events, fired once
however many workers scan, and never both fired and completed."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from openitsm.kernel.calendar import BusinessCalendar, parse_duration
from openitsm.kernel.errors import BadUserInput, Conflict
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.workflow import runtime
from openitsm.kernel.workflow.deadlines import scan
from openitsm.kernel.workflow.models import ProcessInstance, Token, WorkItem

from .conftest import Org, flows, process, publish, task
from .test_concurrency import race

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=SHANGHAI)


def test_business_time_skips_nights_lunch_weekends_and_holidays() -> None:
    calendar = BusinessCalendar.standard()
    friday_five = local(2026, 11, 27, 17)
    assert calendar.add(friday_five, parse_duration("PT8H")) == local(2026, 11, 30, 17)
    assert calendar.add(local(2026, 11, 30, 11, 30), parse_duration("PT1H")) == local(
        2026, 11, 30, 13, 30
    )  # the lunch break does not count
    assert calendar.add(local(2026, 11, 30, 9), parse_duration("P1D")) == local(2026, 11, 30, 18)
    assert calendar.add(local(2026, 11, 28, 3), parse_duration("PT1H")) == local(
        2026, 11, 30, 10
    )  # Saturday night: the clock starts on Monday morning
    # A holiday Monday is skipped; a make-up Saturday (调休) counts as a working day.
    with_holiday = BusinessCalendar.standard(
        holidays=[dt.date(2026, 11, 30)], workdays=[dt.date(2026, 11, 28)]
    )
    assert with_holiday.add(friday_five, parse_duration("PT2H")) == local(2026, 11, 28, 10)
    assert with_holiday.add(friday_five, parse_duration("PT10H")) == local(2026, 12, 1, 10)
    with pytest.raises(BadUserInput):
        parse_duration("P1M")


class Heard:
    def __init__(self) -> None:
        self.events: list[Any] = []

    @hookimpl
    def on_workflow_event(self, event: Any) -> None:
        self.events.append(event)

    def kinds(self, kind: str) -> list[Any]:
        return [event for event in self.events if event.kind == kind]


def listen(people: Org) -> Heard:
    heard = Heard()
    people.kernel.plugins.pm.register(heard, name="heard")
    return heard


def start(people: Org, key: str = "two_level_approval") -> tuple[int, int]:
    with people.kernel.session() as session:
        instance = runtime.start_process(session, people.kernel, people.actor("rita"), key)
        item = session.scalar(select(WorkItem.id).where(WorkItem.instance_id == instance.id))
        assert item is not None
        return instance.id, item


def run_scan(people: Org, at: dt.datetime) -> Any:
    with people.kernel.session() as session:
        return scan(session, people.kernel, at)


def test_reminders_then_escalation_are_sent_once(people: Org) -> None:
    heard = listen(people)
    instance, item = start(people)
    with people.kernel.session() as session:
        found = session.get(WorkItem, item)
        assert found is not None and found.due_at is not None and found.remind_at is not None
        due, remind = found.due_at, found.remind_at
    assert remind < due
    assert run_scan(people, remind - dt.timedelta(minutes=1)).reminded == 0
    assert run_scan(people, remind).reminded == 1
    assert run_scan(people, remind).reminded == 0  # once
    [reminder] = heard.kinds("reminded")
    assert reminder.user_ids == (people.ids["sally"],)
    result = run_scan(people, due + dt.timedelta(seconds=1))
    assert (result.reminded, result.escalated) == (0, 1)
    assert run_scan(people, due + dt.timedelta(hours=1)).escalated == 0
    [escalation] = heard.kinds("escalated")
    assert escalation.role_codes == ("administrator",)  # the process owner
    assert people.ids["sally"] in escalation.user_ids
    with people.kernel.session() as session:
        assert [t.action for t in runtime.instance_log(session, instance)].count("escalate") == 1


def test_the_boundary_timer_takes_its_path_once(people: Org) -> None:
    kernel = people.kernel
    instance, item = start(people)
    with kernel.session() as session:
        runtime.complete_item(session, kernel, people.actor("sally"), item, outcome="approve")
        token = session.scalar(
            select(Token).where(Token.instance_id == instance, Token.state == "waiting")
        )
        assert token is not None and token.node_id == "it_countersign"
        assert token.due_at is not None
        due = token.due_at
    assert run_scan(people, due - dt.timedelta(seconds=1)).fired == 0
    assert run_scan(people, due).fired == 1
    assert run_scan(people, due + dt.timedelta(days=1)).fired == 0
    with kernel.session() as session:
        items = session.scalars(
            select(WorkItem).where(WorkItem.instance_id == instance).order_by(WorkItem.id)
        ).all()
        assert {i.state for i in items if i.node_id == "it_countersign"} == {"cancelled"}
        [open_item] = [i for i in items if i.state == "open"]
        assert open_item.node_id == "supervisor_decides"
        assert [i.id for i in runtime.inbox(session, people.actor("sam"))] == [open_item.id]


def test_reassign_escalation_offers_the_step_to_the_fallback_group(people: Org) -> None:
    heard = listen(people)
    publish(
        people.kernel,
        process(
            "slow",
            '<bpmn:startEvent id="s" />'
            + task(
                "fix",
                "itsm:assignee=\"'ian'\"",
                'itsm:deadline="PT2H" itsm:escalation="reassign" '
                'itsm:fallbackGroup="service_desk_agent"',
            )
            + '<bpmn:endEvent id="e" />'
            + flows("s", "fix", "e"),
        ),
    )
    _, item = start(people, "slow")
    with people.kernel.session() as session:
        found = session.get(WorkItem, item)
        assert found is not None and found.due_at is not None
        due = found.due_at
    assert run_scan(people, due).escalated == 1
    with people.kernel.session() as session:
        assert runtime.inbox(session, people.actor("ian")) == []
        assert [i.id for i in runtime.inbox(session, people.actor("dora"))] == [item]
    assert heard.kinds("escalated")[0].role_codes == ("service_desk_agent",)


def test_a_timer_racing_a_completion_gives_one_outcome(people: Org) -> None:
    kernel = people.kernel
    for _ in range(3):
        instance, item = start(people)
        with kernel.session() as session:
            runtime.complete_item(session, kernel, people.actor("sally"), item, outcome="approve")
            token = session.scalar(
                select(Token).where(Token.instance_id == instance, Token.state == "waiting")
            )
            assert token is not None and token.due_at is not None
            due = token.due_at
            signer = session.scalar(
                select(WorkItem.id).where(
                    WorkItem.instance_id == instance,
                    WorkItem.assignee_id == people.ids["ike"],
                    WorkItem.state == "open",
                )
            )
            assert signer is not None

        def veto(item_id: int = signer) -> str:
            with kernel.session() as session:
                runtime.complete_item(
                    session, kernel, people.actor("ike"), item_id, outcome="reject"
                )
            return "vetoed"

        def fire(at: dt.datetime = due) -> str:
            return f"fired {run_scan(people, at).fired}"

        results = race(veto, fire)
        with kernel.session() as session:
            found = session.get(ProcessInstance, instance)
            assert found is not None
            if results[0] == "vetoed":  # the veto ended it; the timer found nothing to do
                assert results[1] == "fired 0"
                assert (found.state, found.end_node) == ("completed", "rejected")
            else:  # the timer won; the veto came too late
                assert isinstance(results[0], Conflict) and results[1] == "fired 1"
                assert found.state == "running"
                open_nodes = session.scalars(
                    select(WorkItem.node_id).where(
                        WorkItem.instance_id == instance, WorkItem.state == "open"
                    )
                ).all()
                assert open_nodes == ["supervisor_decides"]


def test_the_scan_is_a_periodic_task(people: Org) -> None:
    assert "kernel.workflow.scan_deadlines" in people.kernel.tasks
