"""What is dispatched to a person — a vendor, typically — and what they do with it: the
incidents assigned to them or whose open process step is theirs (`service.dispatched_to`),
the progress they report, and their step completed through the kernel's workflow runtime.

The vendor pages on the portal (`vendor_portal.py`) call these; each function takes the
unit of work it is given (its actor is the session's), checks again and never commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import case, literal, select
from sqlalchemy.orm import Session

from openitsm.kernel import BadUserInput, require
from openitsm.kernel.access.scope import visible
from openitsm.kernel.errors import NotFound, _t
from openitsm.kernel.workflow import runtime
from openitsm.kernel.workflow.engine import definition_of
from openitsm.kernel.workflow.models import ProcessInstance, WorkItem
from openitsm.plugins.incident import service
from openitsm.plugins.incident.models import CANCELLED, CLOSED, Incident

if TYPE_CHECKING:
    from openitsm.kernel import Actor, Kernel

# The outcome a completed step is given when the work was done there. The default process
# (processes/incident.bpmn) leaves the vendor step for its end event "resolved" whatever the
# outcome; at the desk and the 2nd and 3rd lines, any outcome but "escalate"/"vendor" means
# resolved there too.
RESOLVED = "resolved"
# How the completion form names a send back: "back:<step id>".
BACK = "back:"
COMMENT_LENGTH = 2000


@dataclass(frozen=True)
class Step:
    """One of the person's open steps on an incident: the work item, its name in the
    reader's language, whether it is theirs yet (else offered, and taken on completing),
    and the steps it may be sent back to, as (step id, name)."""

    item: WorkItem
    name: str
    mine: bool
    return_targets: tuple[tuple[str, str], ...]


def portal_rows(
    session: Session, limit: int, actor: Actor, *, dispatched: bool
) -> list[tuple[Incident, bool]]:
    """The incidents `actor` follows on the portal (`service.followed_incidents`) and, with
    `dispatched`, those dispatched to them, each with whether it is dispatched: the last
    changed first, in one query under their data scope."""
    if actor.user_id is None or not actor.can(service.READ):
        return []
    followed = service.followed_condition(actor)
    if dispatched:
        mine = service.dispatched_to(actor)
        statement = select(Incident, case((mine, 1), else_=0).label("dispatched")).where(
            followed | mine
        )
    else:
        statement = select(Incident, literal(0).label("dispatched")).where(followed)
    statement = visible(statement, actor, service.INCIDENT)
    rows = session.execute(
        statement.order_by(Incident.updated_at.desc(), Incident.id.desc()).limit(limit)
    )
    return [(row[0], bool(row[1])) for row in rows]


def get_dispatched(session: Session, incident_id: int) -> Incident:
    """An incident dispatched to the session's actor that they may see, else NOT_FOUND (as
    for one that does not exist)."""
    actor = require(service.actor_of(session), service.READ)
    incident = (
        session.scalar(
            visible(
                select(Incident).where(Incident.id == incident_id, service.dispatched_to(actor)),
                actor,
                service.INCIDENT,
            )
        )
        if actor.user_id is not None
        else None
    )
    if incident is None:
        raise NotFound(
            _t("No {kind} with id {id}."),
            field="id",
            params={"kind": "incident", "id": incident_id},
        )
    return incident


def is_dispatched(session: Session, incident_id: int, actor: Actor) -> bool:
    """Whether the incident is dispatched to `actor` and within their scope (one query)."""
    if actor.user_id is None or not actor.can(service.READ):
        return False
    found = session.scalar(
        visible(
            select(Incident.id).where(Incident.id == incident_id, service.dispatched_to(actor)),
            actor,
            service.INCIDENT,
        )
    )
    return found is not None


def open_steps(session: Session, incident: Incident, actor: Actor, locale: str) -> list[Step]:
    """The actor's open steps on `incident`, oldest first: the kernel's inbox narrowed to
    the processes driving it (one query; definitions are cached per version)."""
    rows = session.execute(
        runtime.inbox_query(actor)
        .add_columns(ProcessInstance.process_version_id)
        .join(ProcessInstance, ProcessInstance.id == WorkItem.instance_id)
        .where(
            ProcessInstance.record_kind == service.INCIDENT.name,
            ProcessInstance.record_id == incident.id,
        )
        .order_by(WorkItem.id)
    ).all()
    people = runtime.acting_people(actor)
    steps = []
    for item, version_id in rows:
        definition = definition_of(session, version_id)
        node = definition.nodes[item.node_id]
        steps.append(
            Step(
                item=item,
                name=definition.node_label(item.node_id, locale),
                mine=item.assignee_id in people,
                return_targets=tuple(
                    (target, definition.node_label(target, locale))
                    for target in node.return_targets
                ),
            )
        )
    return steps


def add_progress(session: Session, incident_id: int) -> Incident:
    """Progress is reported on a dispatched incident that is neither closed nor cancelled
    (the page adds the comment and files in the same unit of work)."""
    incident = get_dispatched(session, incident_id)
    if incident.status in (CLOSED, CANCELLED):
        raise BadUserInput(
            _t("A closed or cancelled incident takes no more progress."), field="body"
        )
    return incident


def _comment(text: str | None) -> str:
    comment = (text or "").strip()
    if not comment:
        raise BadUserInput(_t("Say what was done, or why it goes back."), field="comment")
    if len(comment) > COMMENT_LENGTH:
        raise BadUserInput(
            _t("{field} is limited to {limit} characters."),
            field="comment",
            params={"field": "comment", "limit": COMMENT_LENGTH},
        )
    return comment


def finish_step(
    session: Session,
    kernel: Kernel | None,
    incident_id: int,
    item_id: int,
    result: str,
    comment: str | None,
    version: int | None = None,
) -> ProcessInstance:
    """Complete the actor's open step `item_id` on a dispatched incident through the
    kernel's workflow runtime: `resolved` completes it with the outcome `RESOLVED`,
    `back:<step>` sends the process back to one of the step's allowed return targets
    (the vendor step's is the 3rd line). An offered step is claimed first, in the same
    unit of work; `version` is the work item's, as the page showed it (CONFLICT if stale).
    The comment says what was done (or why it goes back) and stays in the process's log."""
    actor = service.actor_of(session)
    incident = get_dispatched(session, incident_id)
    steps: Sequence[Step] = open_steps(session, incident, actor, actor.locale or "en")
    step = next((s for s in steps if s.item.id == item_id), None)
    if step is None:
        raise NotFound(_t("No work item {id}."), params={"id": item_id}, field="item")
    target = result[len(BACK) :] if result.startswith(BACK) else None
    if result != RESOLVED and target not in {t for t, _ in step.return_targets}:
        raise BadUserInput(_t("Choose how the step ends."), field="result")
    text = _comment(comment)
    if not step.mine:
        runtime.claim_item(session, actor, item_id, version)
        version = None  # taking it moved the item on; the check was made on taking
    if target is not None:
        return runtime.send_back(
            session, kernel, actor, item_id, target, comment=text, version=version
        )
    return runtime.complete_item(
        session, kernel, actor, item_id, outcome=RESOLVED, comment=text, version=version
    )


__all__ = [
    "RESOLVED",
    "Step",
    "add_progress",
    "finish_step",
    "get_dispatched",
    "is_dispatched",
    "open_steps",
    "portal_rows",
]
