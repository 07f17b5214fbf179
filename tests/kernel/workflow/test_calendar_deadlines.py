"""Deadlines on stored business calendars: a process's `itsm:calendar`, a step's own, the
site's default, and publishing refused for a calendar that does not exist."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from openitsm.kernel import Kernel
from openitsm.kernel.actors import SYSTEM
from openitsm.kernel.calendar import service as calendars
from openitsm.kernel.db import utcnow
from openitsm.kernel.errors import BadUserInput
from openitsm.kernel.workflow import runtime
from openitsm.kernel.workflow import service as definitions
from openitsm.kernel.workflow.definition import DefinitionError, parse_definition
from openitsm.kernel.workflow.models import Token, WorkItem

from .conftest import Org, flows, process, publish, task

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOLIDAYS = 10
TIMER = (
    '<bpmn:boundaryEvent id="late" attachedToRef="first"><bpmn:timerEventDefinition>'
    "<bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition>"
    '</bpmn:boundaryEvent><bpmn:endEvent id="timed_out" />'
    '<bpmn:sequenceFlow id="late_out" sourceRef="late" targetRef="timed_out" />'
)


def today() -> dt.date:
    return utcnow().astimezone(SHANGHAI).date()


def after_the_holidays() -> dt.datetime:
    """One working hour into the first day after the festival: 10:00 that day."""
    return dt.datetime.combine(today() + dt.timedelta(days=HOLIDAYS), dt.time(10), SHANGHAI)


@pytest.fixture
def festival(kernel: Kernel) -> str:
    """`festival`: every day 09:00–17:00 but the next ten days are holidays; `always`: every
    day 00:00–23:59, no holidays."""
    lines = "\n".join(f"{today() + dt.timedelta(days=n)} holiday 节日" for n in range(HOLIDAYS))
    with kernel.session() as session:
        calendars.create_calendar(
            session,
            SYSTEM,
            key="festival",
            name="Festival",
            week={d: "09:00-17:00" for d in range(7)},
        )
        calendars.import_days(session, SYSTEM, "festival", lines)
        calendars.create_calendar(
            session, SYSTEM, key="always", name="Always", week={d: "00:00-23:59" for d in range(7)}
        )
    return "festival"


def two_steps(key: str, process_calendar: str = "", second_calendar: str = "") -> str:
    attributes = f'itsm:calendar="{process_calendar}"' if process_calendar else ""
    second = f'itsm:calendar="{second_calendar}"' if second_calendar else ""
    return process(
        key,
        '<bpmn:startEvent id="s" />'
        + task("first", 'itsm:assignee="starter" itsm:deadline="PT1H"')
        + task("second", 'itsm:assignee="starter" itsm:deadline="PT1H"', second)
        + '<bpmn:endEvent id="e" />'
        + TIMER
        + flows("s", "first", "second", "e"),
        attributes,
    )


def open_item(kernel: Kernel, instance_id: int) -> WorkItem:
    with kernel.session() as session:
        item = session.scalar(
            select(WorkItem).where(WorkItem.instance_id == instance_id, WorkItem.state == "open")
        )
        assert item is not None
        session.expunge(item)
        return item


def test_a_process_calendar_moves_the_deadline_past_its_holidays(
    people: Org, festival: str
) -> None:
    kernel = people.kernel
    publish(kernel, two_steps("festive", process_calendar=festival, second_calendar="always"))
    with kernel.session() as session:
        instance = runtime.start_process(session, kernel, people.actor("rita"), "festive").id
        token = session.scalar(
            select(Token).where(Token.instance_id == instance, Token.node_id == "first")
        )
        assert token is not None and token.due_at is not None
        timer_due = token.due_at
    first = open_item(kernel, instance)
    assert first.due_at == after_the_holidays()
    assert first.remind_at == after_the_holidays() - dt.timedelta(minutes=15)
    assert timer_due == after_the_holidays()  # the boundary timer counts on it too

    # The second step names its own calendar, which has no holidays: due within the hour.
    with kernel.session() as session:
        runtime.complete_item(session, kernel, people.actor("rita"), first.id)
    second = open_item(kernel, instance)
    assert second.node_id == "second" and second.due_at is not None
    assert second.due_at - utcnow() <= dt.timedelta(hours=1, minutes=5)


def test_steps_without_a_calendar_follow_the_default_which_an_administrator_switches(
    people: Org, festival: str
) -> None:
    kernel = people.kernel
    publish(kernel, two_steps("plain"))
    with kernel.session() as session:
        instance = runtime.start_process(session, kernel, people.actor("rita"), "plain").id
    standard_due = open_item(kernel, instance).due_at
    assert standard_due is not None and standard_due < after_the_holidays()
    with kernel.session() as session:
        calendars.set_default(session, SYSTEM, festival)
    with kernel.session() as session:
        instance = runtime.start_process(session, kernel, people.actor("rita"), "plain").id
    assert open_item(kernel, instance).due_at == after_the_holidays()


def test_publishing_refuses_a_process_naming_an_unknown_calendar(people: Org) -> None:
    kernel = people.kernel
    xml = two_steps("gone", process_calendar="festival")
    with kernel.session() as session:
        row, _ = definitions.import_definition(session, xml)
        with pytest.raises(BadUserInput) as refused:
            definitions.publish(session, row.key, row.number, row.version)
    assert refused.value.extensions["field"] == "calendar"
    assert refused.value.message == (
        "gone names the business calendar 'festival', which does not exist; create it first "
        "or name another one."
    )


def test_publishing_refuses_a_step_naming_an_unknown_calendar(people: Org, festival: str) -> None:
    kernel = people.kernel
    with kernel.session() as session:
        row, _ = definitions.import_definition(
            session, two_steps("typo", process_calendar=festival, second_calendar="festivl")
        )
        with pytest.raises(BadUserInput) as refused:
            definitions.publish(session, row.key, row.number, row.version)
        assert refused.value.extensions["element"] == "second"
        assert "'festivl'" in refused.value.message
    with kernel.session() as session:
        assert definitions.versions(session, "typo")[0].state == "draft"
    publish(kernel, two_steps("fine", process_calendar=festival, second_calendar="always"))


def test_the_calendar_attribute_is_checked_and_read() -> None:
    definition = parse_definition(two_steps("read", "festival", "always"))
    assert definition.calendar == "festival"
    assert definition.nodes["second"].calendar == "always"
    assert definition.calendar_of("second") == "always"
    assert definition.calendar_of("first") == "festival"
    assert parse_definition(two_steps("none")).calendar_of("first") is None
    with pytest.raises(DefinitionError) as bad:
        parse_definition(two_steps("bad", "Bad Key"))
    assert [(p.element, p.reason) for p in bad.value.problems] == [
        ("bad", "itsm:calendar: 'Bad Key' is not a calendar key")
    ]
    service = process(
        "svc",
        '<bpmn:startEvent id="s" /><bpmn:serviceTask id="run" itsm:action="x.y" '
        'itsm:calendar="festival" /><bpmn:endEvent id="e" />' + flows("s", "run", "e"),
    )
    with pytest.raises(DefinitionError) as wrong_place:
        parse_definition(service)
    assert wrong_place.value.problems[0].reason == "a serviceTask has no attribute itsm:calendar"
