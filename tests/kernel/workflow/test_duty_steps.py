"""Steps for the on-duty group: `itsm:candidateDuty` offers a step to whoever is on duty
when it opens, `duty.<rota>` gives them to an assignee rule, and nobody on duty falls back."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from openitsm.kernel.actors import SYSTEM
from openitsm.kernel.db.session import count_statements
from openitsm.kernel.errors import Forbidden
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.organisation import duty
from openitsm.kernel.workflow import runtime
from openitsm.kernel.workflow.definition import parse_definition
from openitsm.kernel.workflow.models import ProcessInstance, Transition, WorkItem, WorkItemCandidate
from openitsm.kernel.workflow.participants import expression_names

from .conftest import Org, flows, process, publish, task

HOUR = dt.timedelta(hours=1)


def on_duty(people: Org, *shifts: tuple[str, dt.datetime, dt.datetime], key: str = "desk") -> int:
    """A rota `key` with these shifts; returns its id."""
    with people.kernel.session() as session:
        rota = duty.create_rota(session, SYSTEM, key=key, name=key.title())
        for login, start, end in shifts:
            duty.add_shift(session, SYSTEM, rota.id, people.ids[login], start, end)
        return rota.id


def one_step(people: Org, who: str, extra: str = 'itsm:fallbackGroup="supervisor"') -> None:
    publish(
        people.kernel,
        process(
            "night_call",
            '<bpmn:startEvent id="s" />'
            + task("answer", who, extra)
            + '<bpmn:endEvent id="e" />'
            + flows("s", "answer", "e"),
        ),
    )


def start(people: Org) -> int:
    with people.kernel.session() as session:
        return runtime.start_process(
            session, people.kernel, people.actor("rita"), "night_call", title="Printer on fire"
        ).id


def the_item(people: Org, instance: int) -> tuple[WorkItem, list[Any]]:
    """The open item and its candidates as (user id, role code) pairs."""
    with people.kernel.session() as session:
        item = session.scalars(
            select(WorkItem).where(WorkItem.instance_id == instance, WorkItem.state == "open")
        ).one()
        candidates = [
            (c.user_id, c.role_code)
            for c in session.scalars(
                select(WorkItemCandidate)
                .where(WorkItemCandidate.work_item_id == item.id)
                .order_by(WorkItemCandidate.id)
            )
        ]
        session.expunge(item)
        return item, candidates


def inbox_of(people: Org, login: str) -> list[int]:
    with people.kernel.session() as session:
        return [i.instance_id for i in runtime.inbox(session, people.actor(login))]


def test_candidate_duty_is_a_valid_way_to_say_who_does_a_step() -> None:
    head = (
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:itsm="https://openitsm.org/schema/bpmn" id="d"><bpmn:process id="p">'
    )
    body = '<bpmn:startEvent id="s" />{task}<bpmn:endEvent id="e" />' + flows("s", "t", "e")
    tail = "</bpmn:process></bpmn:definitions>"
    ok = parse_definition(
        head
        + body.format(task='<bpmn:userTask id="t" itsm:candidateDuty="desk, night_desk" />')
        + tail
    )
    assert ok.nodes["t"].candidate_duty == ("desk", "night_desk")
    with pytest.raises(Exception) as refused:
        parse_definition(
            head
            + body.format(task='<bpmn:userTask id="t" itsm:candidateDuty="Night-Desk" />')
            + tail
        )
    assert [p.reason for p in refused.value.problems] == [  # type: ignore[attr-defined]
        "itsm:candidateDuty: 'Night-Desk' is not a rota key"
    ]


def test_the_step_is_offered_to_exactly_the_people_on_duty_and_they_claim_it(
    people: Org,
) -> None:
    now = dt.datetime.now(dt.UTC)
    ids = people.ids
    on_duty(
        people,
        ("ian", now - HOUR, now + HOUR),
        ("ina", now - 2 * HOUR, now + 2 * HOUR),
        ("ike", now + HOUR, now + 9 * HOUR),  # later tonight
        ("otto", now - 9 * HOUR, now - HOUR),  # this morning
    )
    with people.kernel.session() as session:  # on another rota at the same time
        other = duty.create_rota(session, SYSTEM, key="weekend", name="Weekend")
        duty.add_shift(session, SYSTEM, other.id, ids["sally"], now - HOUR, now + HOUR)
    one_step(people, 'itsm:candidateDuty="desk"')
    instance = start(people)
    item, candidates = the_item(people, instance)
    assert item.assignee_id is None
    assert sorted(candidates) == sorted([(ids["ina"], None), (ids["ian"], None)])
    assert inbox_of(people, "ian") == [instance] and inbox_of(people, "ina") == [instance]
    for login in ("ike", "otto", "sally", "rita"):
        assert inbox_of(people, login) == []
    with pytest.raises(Forbidden), people.kernel.session() as session:
        runtime.claim_item(session, people.actor("otto"), item.id)
    with people.kernel.session() as session:
        runtime.claim_item(session, people.actor("ina"), item.id)
    with people.kernel.session() as session:
        runtime.complete_item(session, people.kernel, people.actor("ina"), item.id)
        assert session.get(ProcessInstance, instance).state == "completed"  # type: ignore[union-attr]


def test_an_assignee_rule_reads_who_is_on_duty(people: Org) -> None:
    now = dt.datetime.now(dt.UTC)
    on_duty(people, ("ian", now - HOUR, now + HOUR))
    on_duty(people, ("ian", now - HOUR, now + HOUR), ("ike", now, now + HOUR), key="night")
    one_step(people, "itsm:assignee=\"duty.desk if form.urgent else duty['night']\"")
    with people.kernel.session() as session:
        urgent = runtime.start_process(
            session, people.kernel, people.actor("rita"), "night_call", variables={"urgent": True}
        ).id
        later = runtime.start_process(
            session, people.kernel, people.actor("rita"), "night_call", variables={"urgent": False}
        ).id
    item, candidates = the_item(people, urgent)
    assert (item.assignee_id, candidates) == (people.ids["ian"], [])  # one person: assigned
    item, candidates = the_item(people, later)
    assert item.assignee_id is None
    assert sorted(candidates) == sorted([(people.ids["ian"], None), (people.ids["ike"], None)])


def test_duty_is_looked_up_only_when_used_and_in_one_statement(people: Org) -> None:
    now = dt.datetime.now(dt.UTC)
    on_duty(people, ("ian", now - HOUR, now + HOUR), ("ina", now - HOUR, now + HOUR))
    with people.kernel.session() as session:
        instance = ProcessInstance(id=0, variables={}, starter_id=None)
        assert "duty" not in expression_names(session, None, instance, {"form"})
        names = expression_names(session, None, instance, {"duty"}, now)
        with count_statements(session.get_bind()) as log:  # type: ignore[arg-type]
            found = [person.login for person in names["duty"].desk]
            again = names["duty"]["desk"]
        assert found == ["ian", "ina"] and len(again) == 2
        assert log.count == 1
        assert names["duty"].unknown == []


class Listener:
    def __init__(self) -> None:
        self.heard: list[Any] = []

    @hookimpl
    def on_workflow_event(self, event: Any) -> None:
        self.heard.append(event)


@pytest.mark.parametrize(
    "who", ['itsm:candidateDuty="desk"', 'itsm:assignee="duty.desk"', 'itsm:candidateDuty="nope"']
)
def test_nobody_on_duty_sends_the_step_to_the_fallback_group_and_tells_the_owner(
    people: Org, who: str
) -> None:
    now = dt.datetime.now(dt.UTC)
    on_duty(people, ("ian", now + HOUR, now + 2 * HOUR))  # not yet
    listener = Listener()
    people.kernel.plugins.pm.register(listener, name="listener")
    one_step(people, who)
    instance = start(people)
    item, candidates = the_item(people, instance)
    assert (item.assignee_id, candidates) == (None, [(None, "supervisor")])
    assert inbox_of(people, "sam") == [instance] and inbox_of(people, "ian") == []
    with people.kernel.session() as session:
        logged = session.scalars(
            select(Transition).where(
                Transition.instance_id == instance, Transition.action == "fallback"
            )
        ).one()
        assert logged.details["roles"] == ["supervisor"]
    told = [e for e in listener.heard if e.kind == "fallback"]
    assert len(told) == 1 and told[0].role_codes == ("administrator",)
    rota = who.split('"')[1].removeprefix("duty.")
    assert (
        told[0].comment is not None and f"Nobody is on duty on the rota {rota}" in told[0].comment
    )


def test_an_inactive_rota_has_nobody_on_duty_for_a_step(people: Org) -> None:
    now = dt.datetime.now(dt.UTC)
    rota = on_duty(people, ("ian", now - HOUR, now + HOUR))
    with people.kernel.session() as session:
        found = duty.get_rota(session, SYSTEM, rota)
        duty.update_rota(session, SYSTEM, rota, found.version, {"active": False})
    one_step(people, 'itsm:candidateDuty="desk"')
    _, candidates = the_item(people, start(people))
    assert candidates == [(None, "supervisor")]
