"""The complaint process: shipped and published, started for each new complaint, routed by
category to the responsible department (a department step: any member claims it; the
assignee, when there is one, gets it), reviewed by the desk (who may send it back), and
supervised through the kernel's workflow."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from openitsm.kernel.workflow import runtime
from openitsm.kernel.workflow import service as workflow
from openitsm.kernel.workflow.models import (
    ProcessInstance,
    ProcessVersion,
    Transition,
    WorkItem,
    WorkItemCandidate,
)
from openitsm.plugins.complaint import service

from .conftest import World


def open_items(world: World, complaint_id: int) -> list[WorkItem]:
    with world.kernel.session() as session:
        instance = session.scalar(
            select(ProcessInstance).where(
                ProcessInstance.record_kind == "complaint",
                ProcessInstance.record_id == complaint_id,
            )
        )
        assert instance is not None and instance.process_key == "complaint"
        return list(
            session.scalars(
                select(WorkItem)
                .where(WorkItem.instance_id == instance.id, WorkItem.state == "open")
                .order_by(WorkItem.id)
            )
        )


def candidates(world: World, item_id: int) -> set[tuple[int | None, str | None, int | None]]:
    with world.kernel.session() as session:
        rows = session.scalars(
            select(WorkItemCandidate).where(WorkItemCandidate.work_item_id == item_id)
        )
        return {(c.user_id, c.role_code, c.department_id) for c in rows}


def test_the_shipped_process_is_published_and_passes_the_kernels_checks(
    process_world: World,
) -> None:
    world = process_world
    with world.kernel.session() as session:
        states = session.scalars(
            select(ProcessVersion.state).where(ProcessVersion.key == "complaint")
        ).all()
        assert states == ["published"]
    xml = Path(service.__file__).parent / "processes" / "complaint.bpmn"
    with world.kernel.session() as session:
        version, definition = workflow.import_definition(session, xml.read_bytes())
        workflow.publish(session, version.key, version.number, version.version)
    assert definition.name == "投诉处理"
    assert definition.node_label("department_handling", "en") == "Responsible department handles it"
    assert definition.node_label("department_handling", "zh-CN") == "责任部门处理"
    assert definition.nodes["desk_review"].return_targets == ("department_handling",)
    assert all(
        definition.nodes[step].deadline
        for step in ("desk_routing", "department_handling", "desk_review", "callback")
    )


def test_a_category_with_a_department_goes_straight_to_the_department(
    process_world: World,
) -> None:
    world = process_world
    billing = world.create(category="billing")  # routed to finance, whose only member is clerk
    [item] = open_items(world, billing.id)
    assert (item.node_id, item.assignee_id) == ("department_handling", None)
    assert candidates(world, item.id) == {(None, None, world.departments["finance"])}
    assert item.due_at is not None
    with world.kernel.session() as session:
        runtime.claim_item(session, world.actor("clerk"), item.id)
    ops = world.create(department_id=world.departments["ops"])
    [offered] = open_items(world, ops.id)
    assert offered.node_id == "department_handling" and offered.assignee_id is None
    assert candidates(world, offered.id) == {(None, None, world.departments["ops"])}
    with world.kernel.session() as session:  # one item for the department, in each inbox
        for login in ("engineer", "engineer2"):
            assert [i.id for i in runtime.inbox(session, world.actor(login))] == [offered.id]
        assert [i.id for i in runtime.inbox(session, world.actor("clerk"))] == [item.id]
    with world.kernel.session() as session:
        runtime.claim_item(session, world.actor("engineer2"), offered.id)
    with world.kernel.session() as session:
        claimed = session.get(WorkItem, offered.id)
        assert claimed is not None and claimed.assignee_id == world.users["engineer2"]
        assert runtime.inbox(session, world.actor("engineer")) == []
    named = world.create(
        department_id=world.departments["ops"], assignee_id=world.users["engineer"]
    )
    [given] = open_items(world, named.id)
    assert given.assignee_id == world.users["engineer"]  # the assignee gets it, nobody else


def test_the_desk_routes_what_no_category_decides_then_reviews(process_world: World) -> None:
    world = process_world
    complaint = world.create(category="resolution")
    [routing] = open_items(world, complaint.id)
    assert routing.node_id == "desk_routing"
    assert candidates(world, routing.id) == {(None, "service_desk_agent", None)}
    agent = world.actor("agent")
    with world.kernel.session(agent) as session:
        service.assign(session, complaint.id, department_id=world.departments["ops"])
        runtime.claim_item(session, agent, routing.id)
        runtime.complete_item(session, world.kernel, agent, routing.id)
    [handling] = open_items(world, complaint.id)
    assert handling.node_id == "department_handling"
    assert candidates(world, handling.id) == {(None, None, world.departments["ops"])}
    engineer = world.actor("engineer")
    with world.kernel.session(engineer) as session:
        runtime.claim_item(session, engineer, handling.id)
        service.give_feedback(session, complaint.id, feedback="<p>Replaced the toner</p>")
        runtime.complete_item(session, world.kernel, engineer, handling.id)
    [review] = open_items(world, complaint.id)
    assert review.node_id == "desk_review"
    with world.kernel.session(agent) as session:
        runtime.claim_item(session, agent, review.id)
        runtime.send_back(
            session, world.kernel, agent, review.id, "department_handling", comment="Not enough"
        )
    [again] = open_items(world, complaint.id)
    assert again.node_id == "department_handling"
    assert candidates(world, again.id) == {(None, None, world.departments["ops"])}


def test_an_unstaffed_department_falls_back_to_the_desk(process_world: World) -> None:
    world = process_world
    with world.kernel.session() as session:
        from openitsm.kernel.organisation import service as organisation

        empty = organisation.create_department(session, code="empty", name="Nobody here")
    complaint = world.create(department_id=empty.id)
    [item] = open_items(world, complaint.id)
    assert item.node_id == "department_handling"
    assert candidates(world, item.id) == {(None, "service_desk_agent", None)}


def test_supervisors_urge_a_step_through_the_workflow(process_world: World) -> None:
    world = process_world
    complaint = world.create(category="billing")
    [item] = open_items(world, complaint.id)
    with world.kernel.session() as session:
        runtime.supervise_item(
            session, world.kernel, world.actor("supervisor"), item.id, "The customer called again"
        )
    with world.kernel.session() as session:
        urged = session.get(WorkItem, item.id)
        assert urged is not None and urged.urged == 1
        logged = session.scalars(
            select(Transition.comment).where(
                Transition.instance_id == item.instance_id, Transition.action == "urge"
            )
        ).all()
        assert logged == ["The customer called again"]
