"""The workflow's events reach people through the notification service: the assignee, the
candidates of a department or role, the urged, the owner roles of a step that found nobody."""

from __future__ import annotations

from sqlalchemy import select

from openitsm.kernel import Kernel
from openitsm.kernel.identity.models import User
from openitsm.kernel.notifications.models import Notification
from openitsm.kernel.organisation import service as org
from openitsm.kernel.workflow import runtime
from openitsm.kernel.workflow.models import WorkItem

from .conftest import Org


def told(kernel: Kernel, event: str) -> dict[int, Notification]:
    with kernel.session() as session:
        rows = session.scalars(select(Notification).where(Notification.event == event))
        return {row.user_id: row for row in rows}


def start(people: Org, login: str = "rita") -> int:
    with people.kernel.session() as session:
        instance = runtime.start_process(
            session, people.kernel, people.actor(login), "two_level_approval", title="New laptop"
        )
        return instance.id


def open_item(kernel: Kernel, instance_id: int) -> int:
    with kernel.session() as session:
        found = session.scalar(
            select(WorkItem.id).where(WorkItem.instance_id == instance_id, WorkItem.state == "open")
        )
        assert found is not None
        return found


def test_the_assignee_is_told_with_a_link_to_the_instance(people: Org) -> None:
    kernel, ids = people.kernel, people.ids
    with kernel.session() as session:
        session.get(User, ids["sally"]).locale = "en"  # type: ignore[union-attr]
    instance = start(people)
    assigned = told(kernel, "workflow.assigned")
    assert set(assigned) == {ids["sally"]}  # the head of rita's department
    note = assigned[ids["sally"]]
    assert note.subject.startswith("To do: ") and "New laptop" in note.subject
    assert note.url == f"/processes/{instance}"
    assert (note.record_kind, note.record_id) == ("process_instance", instance)
    assert f"/processes/{instance}" in note.body_text


def test_candidates_are_offered_the_step_and_the_urged_are_told(people: Org) -> None:
    kernel, ids = people.kernel, people.ids
    instance = start(people)
    item = open_item(kernel, instance)
    with kernel.session() as session:
        runtime.dispatch_item(session, kernel, people.actor("dora"), item, department_code="it")
    offered = told(kernel, "workflow.offered")
    assert set(offered) == {ids["ivan"], ids["ian"], ids["ina"], ids["ike"]}
    assert offered[ids["ian"]].subject.startswith("待认领")  # the site's language by default
    with kernel.session() as session:
        runtime.supervise_item(session, kernel, people.actor("sam"), item, "Please hurry")
    urged = told(kernel, "workflow.urged")
    assert set(urged) == {ids["ivan"], ids["ian"], ids["ina"], ids["ike"]}
    assert "Please hurry" in urged[ids["ina"]].body_text and "Sam" in urged[ids["ina"]].body_text


def test_the_owner_role_hears_of_a_step_that_found_nobody(people: Org) -> None:
    kernel, ids = people.kernel, people.ids
    with kernel.session() as session:
        admin = org.create_user(session, login="ada", name="Ada")
        org.grant_role(session, admin.id, org.role_by_code(session, "administrator").id)
        ids["ada"] = admin.id
    start(people, login="sam")  # sam has no department, so no head to approve
    fallback = told(kernel, "workflow.fallback")
    assert ids["ada"] in fallback
    assert ids["rita"] not in fallback and ids["sally"] not in fallback
