"""An assignee rule that gives a department (`record.department`, `starter.department`) offers
the step to that department as a candidate, like `itsm:candidateDepartments`: one item any
member claims, not one per member; an empty department falls back like any empty rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from openitsm.kernel import Kernel
from openitsm.kernel.errors import Conflict, Forbidden
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.organisation import service as org
from openitsm.kernel.testing import build_kernel
from openitsm.kernel.workflow import runtime
from openitsm.kernel.workflow.models import Transition, WorkItem, WorkItemCandidate
from openitsm.kernel.workflow.participants import department_view, user_view

from .conftest import Org, flows, process, publish, task


class Cases:
    """Records of the kind `case`, each naming a department and maybe an assignee (by id)."""

    records: ClassVar[dict[int, tuple[int | None, int | None]]] = {}

    @hookimpl
    def workflow_record(self, session: Session, kind: str, record_id: int) -> Any:
        if kind != "case":
            return None
        department_id, assignee_id = self.records[record_id]
        return {
            "department": department_view(session, department_id),
            "assignee": user_view(session, assignee_id),
        }


@pytest.fixture
def kernel(tmp_path: Path, database_url: str) -> Iterator[Kernel]:
    """The `people` organisation's kernel, with the module whose records name departments."""
    Cases.records.clear()
    built = build_kernel(tmp_path, database_url, plugins={"cases": Cases()})
    yield built
    built.close()


def one_step(people: Org, rule: str, extra: str = "") -> None:
    publish(
        people.kernel,
        process(
            "handle_case",
            '<bpmn:startEvent id="s" />'
            + task(
                "handle",
                f'itsm:assignee="{rule}"',
                f'itsm:fallbackGroup="service_desk_agent" {extra}',
            )
            + '<bpmn:endEvent id="e" />'
            + flows("s", "handle", "e"),
        ),
    )


def start(people: Org, record_id: int, department: str | None, assignee: str | None = None) -> int:
    Cases.records[record_id] = (
        people.ids[department] if department else None,
        people.ids[assignee] if assignee else None,
    )
    with people.kernel.session() as session:
        return runtime.start_process(
            session,
            people.kernel,
            people.actor("rita"),
            "handle_case",
            record_kind="case",
            record_id=record_id,
        ).id


def items(people: Org, instance: int) -> list[tuple[int, int | None, set[Any]]]:
    """(id, assignee, candidates as (user, role, department)) of the instance's open items."""
    with people.kernel.session() as session:
        found = []
        for item in session.scalars(
            select(WorkItem)
            .where(WorkItem.instance_id == instance, WorkItem.state == "open")
            .order_by(WorkItem.id)
        ):
            candidates = {
                (c.user_id, c.role_code, c.department_id)
                for c in session.scalars(
                    select(WorkItemCandidate).where(WorkItemCandidate.work_item_id == item.id)
                )
            }
            found.append((item.id, item.assignee_id, candidates))
        return found


def inbox_of(people: Org, login: str) -> list[int]:
    with people.kernel.session() as session:
        return [item.instance_id for item in runtime.inbox(session, people.actor(login))]


def test_the_records_department_is_offered_the_step_and_a_member_claims_it(people: Org) -> None:
    one_step(people, "record.assignee or record.department")
    instance = start(people, 1, "it")
    [(item, assignee, candidates)] = items(people, instance)
    assert (assignee, candidates) == (None, {(None, None, people.ids["it"])})
    for member in ("ivan", "ian", "ina", "ike"):
        assert inbox_of(people, member) == [instance]
    assert inbox_of(people, "rita") == [] and inbox_of(people, "dora") == []
    with pytest.raises(Forbidden), people.kernel.session() as session:
        runtime.claim_item(session, people.actor("otto"), item)  # not a member
    with people.kernel.session() as session:
        runtime.claim_item(session, people.actor("ina"), item)
    with pytest.raises(Conflict), people.kernel.session() as session:
        runtime.claim_item(session, people.actor("ian"), item)
    assert inbox_of(people, "ian") == []
    with people.kernel.session() as session:
        runtime.complete_item(session, people.kernel, people.actor("ina"), item)
    assert items(people, instance) == []
    # the record's assignee, when it has one, gets the step itself
    named = start(people, 2, "it", assignee="otto")
    assert [(a, c) for _, a, c in items(people, named)] == [(people.ids["otto"], set())]


def test_people_and_departments_from_one_rule_are_offered_it_together(people: Org) -> None:
    one_step(people, "[starter, record.department, starter.department]")
    instance = start(people, 1, "it")
    [(_, assignee, candidates)] = items(people, instance)
    assert assignee is None
    assert candidates == {
        (people.ids["rita"], None, None),
        (None, None, people.ids["it"]),
        (None, None, people.ids["sales"]),
    }
    assert inbox_of(people, "sally") == [instance] and inbox_of(people, "ike") == [instance]


def test_an_empty_department_falls_back_like_any_empty_rule(people: Org) -> None:
    with people.kernel.session() as session:
        people.ids["empty"] = org.create_department(session, code="empty", name="Nobody").id
    one_step(people, "record.assignee or record.department")
    instance = start(people, 1, "empty")
    [(_, assignee, candidates)] = items(people, instance)
    assert (assignee, candidates) == (None, {(None, "service_desk_agent", None)})
    assert inbox_of(people, "dora") == [instance]
    with people.kernel.session() as session:
        logged = session.scalars(
            select(Transition).where(
                Transition.instance_id == instance, Transition.action == "fallback"
            )
        ).one()
    assert logged.details["roles"] == ["service_desk_agent"]
    assert "empty" in logged.details["problem"]
    # no department at all: the rule gives nothing, and falls back the same way
    nothing = start(people, 2, None)
    assert [c for _, _, c in items(people, nothing)] == [{(None, "service_desk_agent", None)}]


def test_a_countersign_counts_the_departments_members_or_the_department(people: Org) -> None:
    one_step(people, "record.department", 'itsm:countersign="all"')
    each = start(people, 1, "it")
    signers = {assignee for _, assignee, _ in items(people, each)}
    assert signers == {people.ids[login] for login in ("ivan", "ian", "ina", "ike")}
    one_step(people, "record.department", 'itsm:countersign="all/department"')
    whole = start(people, 2, "it")
    [(_, assignee, candidates)] = items(people, whole)
    assert (assignee, candidates) == (None, {(None, None, people.ids["it"])})
