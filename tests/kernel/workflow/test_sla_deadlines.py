"""Step deadlines from the SLA (`itsm:deadline="sla:response"` / `"sla:resolution"`): due when
the record's clock says, the fallback while it has none, moved when the clock is recomputed,
and anything else refused at import."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from openitsm.kernel import Kernel
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.sla import SlaSubject
from openitsm.kernel.sla.models import SlaClock
from openitsm.kernel.testing import build_kernel
from openitsm.kernel.testing.tickets import Ticket, TicketPlugin, create_tables, drop_tables
from openitsm.kernel.workflow import runtime
from openitsm.kernel.workflow.deadlines import due_times
from openitsm.kernel.workflow.definition import DefinitionError, parse_definition
from openitsm.kernel.workflow.models import WorkItem
from openitsm.kernel.workflow.sla_deadlines import follow_clocks

from .conftest import Org, flows, process, publish, task


class TicketSla:
    """Tickets on the SLA: `waiting` pauses, `in_progress` is the first response."""

    @hookimpl
    def register_sla_subjects(self) -> list[SlaSubject]:
        return [
            SlaSubject(
                "ticket",
                level_field="priority",
                status_field="status",
                pause_statuses=frozenset({"waiting"}),
                resolved_statuses=frozenset({"resolved"}),
                responded_statuses=frozenset({"in_progress"}),
            )
        ]


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    """The kernel with tickets on the SLA (the `people` fixture builds on it)."""
    built = build_kernel(
        tmp_path, database_url, plugins={"tickets": TicketPlugin(), "ticket_sla": TicketSla()}
    )
    create_tables(built.engine)
    try:
        yield built
    finally:
        drop_tables(built.engine)
        built.close()


def desk_process(key: str = "desk", response: str = 'itsm:deadlineFallback="PT2H"') -> str:
    """Answer (the response target), then fix (the resolution target, no fallback)."""
    return process(
        key,
        '<bpmn:startEvent id="s" />'
        + task("answer", 'itsm:assignee="starter"', f'itsm:deadline="sla:response" {response}')
        + task("fix", 'itsm:assignee="starter"', 'itsm:deadline="sla:resolution"')
        + '<bpmn:endEvent id="e" />'
        + flows("s", "answer", "fix", "e"),
    )


def open_ticket(kernel: Kernel, **values: Any) -> int:
    with kernel.session() as session:
        ticket = Ticket(title="Printer jam", **values)
        session.add(ticket)
        session.flush()
        return ticket.id


def change(kernel: Kernel, ticket_id: int, **values: Any) -> None:
    with kernel.session() as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        for name, value in values.items():
            setattr(ticket, name, value)


def clock(kernel: Kernel, ticket_id: int) -> SlaClock:
    with kernel.session() as session:
        row = session.scalar(
            select(SlaClock).where(
                SlaClock.record_kind == "ticket", SlaClock.record_id == ticket_id
            )
        )
        assert row is not None
        session.expunge(row)
        return row


def start(people: Org, ticket_id: int | None, key: str = "desk") -> int:
    with people.kernel.session() as session:
        return runtime.start_process(
            session,
            people.kernel,
            people.actor("rita"),
            key,
            record_kind="ticket" if ticket_id else None,
            record_id=ticket_id,
        ).id


def open_item(kernel: Kernel, instance_id: int) -> WorkItem:
    with kernel.session() as session:
        item = session.scalar(
            select(WorkItem).where(WorkItem.instance_id == instance_id, WorkItem.state == "open")
        )
        assert item is not None
        session.expunge(item)
        return item


def fallback_of(kernel: Kernel, item: WorkItem, duration: str) -> tuple[Any, Any]:
    with kernel.session() as session:
        return due_times(session, duration, item.created_at)


def complete(people: Org, item: WorkItem) -> None:
    with people.kernel.session() as session:
        runtime.complete_item(session, people.kernel, people.actor("rita"), item.id)


def test_a_step_is_due_when_the_records_sla_target_is(people: Org) -> None:
    kernel = people.kernel
    publish(kernel, desk_process())
    ticket = open_ticket(kernel, priority="p2")
    sla = clock(kernel, ticket)
    assert sla.response_state == "running" and sla.response_due_at is not None
    instance = start(people, ticket)

    answer = open_item(kernel, instance)
    assert answer.sla_target == "response"
    assert answer.due_at == sla.response_due_at
    assert answer.remind_at == sla.response_warning_at  # reminded at the SLA's warning
    assert answer.fallback_due_at == fallback_of(kernel, answer, "PT2H")[0]

    change(kernel, ticket, status="in_progress")  # the response: its target is met
    complete(people, answer)
    fix = open_item(kernel, instance)
    assert fix.node_id == "fix"
    assert fix.due_at == clock(kernel, ticket).resolution_due_at
    assert fix.due_at != answer.due_at


def test_without_a_clock_or_while_paused_the_fallback_applies(people: Org) -> None:
    kernel = people.kernel
    publish(kernel, desk_process())
    publish(kernel, desk_process("bare", response=""))

    no_record = open_item(kernel, start(people, None))
    assert (no_record.due_at, no_record.remind_at) == fallback_of(kernel, no_record, "PT2H")
    assert no_record.due_at is not None

    paused_ticket = open_ticket(kernel, priority="p2", status="waiting")
    assert clock(kernel, paused_ticket).response_state == "paused"
    paused = open_item(kernel, start(people, paused_ticket))
    assert (paused.due_at, paused.remind_at) == fallback_of(kernel, paused, "PT2H")

    # No fallback: no deadline at all, and so no reminder.
    bare = open_item(kernel, start(people, paused_ticket, "bare"))
    assert (bare.due_at, bare.remind_at, bare.sla_target) == (None, None, "response")


def test_a_recomputed_clock_moves_the_open_steps_due_time(people: Org) -> None:
    kernel = people.kernel
    publish(kernel, desk_process())
    ticket = open_ticket(kernel, priority="p4")  # response P1D
    instance = start(people, ticket)
    before = open_item(kernel, instance)
    assert before.due_at == clock(kernel, ticket).response_due_at

    change(kernel, ticket, priority="p1")  # PT30M: the queue recomputes the clock
    sla = clock(kernel, ticket)
    moved = open_item(kernel, instance)
    assert moved.due_at == sla.response_due_at and moved.due_at != before.due_at
    assert moved.remind_at == sla.response_warning_at

    change(kernel, ticket, status="waiting")  # paused: no due time, the fallback applies
    paused = open_item(kernel, instance)
    assert (paused.due_at, paused.remind_at) == fallback_of(kernel, paused, "PT2H")

    change(kernel, ticket, status="new")  # resumed: back on the clock
    resumed = open_item(kernel, instance)
    assert resumed.due_at == clock(kernel, ticket).response_due_at
    assert resumed.due_at is not None

    # Idempotent: following the same clock again changes nothing.
    with kernel.session() as session:
        assert follow_clocks(session, "ticket", [ticket, ticket]) == 1
    again = open_item(kernel, instance)
    assert (again.due_at, again.remind_at, again.version) == (
        resumed.due_at,
        resumed.remind_at,
        resumed.version,
    )


def test_a_sent_reminder_is_not_sent_again_and_fixed_deadlines_stay(people: Org) -> None:
    kernel = people.kernel
    publish(kernel, desk_process())
    fixed = process(
        "fixed",
        '<bpmn:startEvent id="s" />'
        + task("only", 'itsm:assignee="starter" itsm:deadline="PT4H"')
        + '<bpmn:endEvent id="e" />'
        + flows("s", "only", "e"),
    )
    publish(kernel, fixed)
    ticket = open_ticket(kernel, priority="p2")
    sla_item = open_item(kernel, start(people, ticket))
    fixed_item = open_item(kernel, start(people, ticket, "fixed"))
    assert fixed_item.sla_target is None
    with kernel.session() as session:  # the reminder went out
        session.get_one(WorkItem, sla_item.id).remind_at = None
    change(kernel, ticket, priority="p1")
    assert open_item(kernel, sla_item.instance_id).remind_at is None
    after = open_item(kernel, fixed_item.instance_id)
    assert (after.due_at, after.remind_at) == (fixed_item.due_at, fixed_item.remind_at)


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ('itsm:deadline="sla:reaction"', "itsm:deadline: 'sla:reaction' is not a duration"),
        ('itsm:deadline="SLA:response"', "itsm:deadline: 'SLA:response' is not a duration"),
        ('itsm:deadline="2 hours"', "itsm:deadline: '2 hours' is not a duration"),
        (
            'itsm:deadline="PT2H" itsm:deadlineFallback="PT1H"',
            "goes with an sla:response or sla:resolution",
        ),
        ('itsm:deadline="sla:response" itsm:deadlineFallback="soon"', "is not a duration"),
    ],
)
def test_other_deadlines_are_refused_at_import(attributes: str, reason: str) -> None:
    xml = process(
        "bad",
        '<bpmn:startEvent id="s" />'
        + task("late", 'itsm:assignee="starter"', attributes)
        + '<bpmn:endEvent id="e" />'
        + flows("s", "late", "e"),
    )
    with pytest.raises(DefinitionError) as refused:
        parse_definition(xml)
    assert [(p.element, reason in p.reason) for p in refused.value.problems] == [("late", True)]


def test_sla_deadlines_are_accepted_at_import() -> None:
    xml = desk_process()
    definition = parse_definition(xml)
    answer, fix = definition.nodes["answer"], definition.nodes["fix"]
    assert (answer.sla_target, answer.deadline_fallback) == ("response", "PT2H")
    assert (fix.sla_target, fix.deadline_fallback) == ("resolution", None)
