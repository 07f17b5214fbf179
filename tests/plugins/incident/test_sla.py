"""Incidents run on the kernel's SLA: a clock from the incident's own history, paused while
waiting for the customer, shown in the detail page's header."""

from __future__ import annotations

from openitsm.kernel import RecordRef
from openitsm.kernel.sla import clocks
from openitsm.plugins.incident import service

from .conftest import World
from .test_pages import signed_in


def clock(world: World, incident_id: int):  # type: ignore[no-untyped-def]
    with world.kernel.session() as session:
        clocks.recompute(session, "incident", incident_id)
    with world.kernel.session() as session:
        return clocks.clock_of(session, world.kernel, RecordRef("incident", incident_id))


def test_an_incident_has_a_clock_that_waiting_for_the_customer_pauses(world: World) -> None:
    incident = world.create(impact="extensive", urgency="critical", group_id=None)
    assert incident.level == "p1"
    running = clock(world, incident.id)
    assert running is not None and running.level == "p1"
    assert running.resolution_state == "running" and running.resolution_due_at is not None
    page = signed_in(world, "agent").get(f"/incidents/{incident.id}").text
    assert "data-sla-clock" in page

    with world.kernel.session(world.actor("agent")) as session:
        found = service.get_incident(session, incident.id)
        service.start_work(session, found.id, found.version)
    with world.kernel.session(world.actor("agent")) as session:
        found = service.get_incident(session, incident.id)
        service.wait_for_customer(session, found.id, found.version)
    paused = clock(world, incident.id)
    assert paused is not None
    assert paused.response_state == "met"  # work started: the first response
    assert paused.resolution_state == "paused" and paused.resolution_due_at is None


def test_a_new_incidents_desk_step_is_due_at_its_sla_response_due_time(world: World) -> None:
    from sqlalchemy import select

    from openitsm.kernel.sla.models import SlaClock
    from openitsm.kernel.workflow.models import ProcessInstance, WorkItem

    incident = world.create(impact="extensive", urgency="critical", group_id=None)
    with world.kernel.session() as session:
        stored = session.scalar(
            select(SlaClock).where(
                SlaClock.record_kind == "incident", SlaClock.record_id == incident.id
            )
        )
        desk = session.scalar(
            select(WorkItem)
            .join(ProcessInstance, ProcessInstance.id == WorkItem.instance_id)
            .where(
                ProcessInstance.record_kind == "incident",
                ProcessInstance.record_id == incident.id,
                WorkItem.state == "open",
            )
        )
        assert stored is not None and stored.response_state == "running"
        assert desk is not None and desk.node_id == "desk"
        assert desk.sla_target == "response"
        assert desk.due_at == stored.response_due_at  # not the fallback's two hours
        assert desk.due_at != desk.fallback_due_at
