"""Running processes: start one, act on work items, read the inbox.

Every function here checks who may do it, changes one instance under its lock and writes
the transition log. Who may act on an item:

- its assignee (or a deputy acting on their behalf) completes, sends back, delegates or
  releases it;
- a candidate (a member of a candidate department, a holder of a candidate role, a named
  candidate) claims it;
- the service desk (`process.dispatch`) hands any open item to another person or group;
- a supervisor (`process.supervise`) urges any open item, and sees every instance;
- `process.jump` moves an instance from a step marked `itsm:jump` to any step;
- the starter withdraws an instance while no one else has completed a step of it.

Send back and jump end every path running in the target step's scope, parallel branches
included, and start one path again at the target: the branches are redone after the
target step, as a send back before a split means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, exists, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from openitsm.kernel.access import require
from openitsm.kernel.actors import Actor
from openitsm.kernel.db import utcnow
from openitsm.kernel.db.session import begin_write
from openitsm.kernel.errors import BadUserInput, Conflict, Forbidden, NotFound, _t
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.models import Department, Role
from openitsm.kernel.workflow.engine import Engine, check_open, definition_of, lock_instance
from openitsm.kernel.workflow.models import (
    ACTIVE,
    OPEN,
    PUBLISHED,
    RUNNING,
    WAITING,
    WITHDRAWN,
    ProcessInstance,
    ProcessVersion,
    Token,
    Transition,
    WorkItem,
    WorkItemCandidate,
)
from openitsm.kernel.workflow.service import current, get_version

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel

DISPATCH, SUPERVISE, JUMP, READ, MANAGE = (
    "process.dispatch",
    "process.supervise",
    "process.jump",
    "process.read",
    "process.manage",
)
MAX_VARIABLES_BYTES = 64 * 1024
# The record kind of instances: comments and files at any step are attached to it.
INSTANCE_KIND = "process_instance"


def engine_for(session: Session, kernel: Kernel | None, actor: Actor) -> Engine:
    services = kernel.service_actions if kernel is not None else {}
    return Engine(session, actor, kernel, services)


def acting_people(actor: Actor) -> set[int]:
    """Whose steps the actor may work on: their own, and a delegator's when a deputy."""
    return {uid for uid in (actor.user_id, actor.on_behalf_of) if uid is not None}


def _check_variables(variables: Mapping[str, Any] | None) -> dict[str, Any]:
    import json

    values = dict(variables or {})
    for key in values:
        if not isinstance(key, str) or not key or key.startswith("_") or len(key) > 100:
            raise BadUserInput(
                _t("'{key}' cannot be a process variable (1 to 100 characters, no leading _)."),
                params={"key": key},
                field="variables",
            )
    if len(json.dumps(values, default=str)) > MAX_VARIABLES_BYTES:
        raise BadUserInput(_t("Process variables are limited to 64 KB."), field="variables")
    return values


def start_process(
    session: Session,
    kernel: Kernel | None,
    actor: Actor,
    key: str,
    *,
    title: str = "",
    record_kind: str | None = None,
    record_id: int | None = None,
    variables: Mapping[str, Any] | None = None,
    version: ProcessVersion | None = None,
) -> ProcessInstance:
    """A new instance of the current version of `key` (`version`, when the caller already
    looked it up), started by `actor`."""
    engine = engine_for(session, kernel, actor)
    instance = engine.start(
        version or current(session, key),
        title=title.strip(),
        record_kind=record_kind,
        record_id=record_id,
        variables=_check_variables(variables),
        starter_id=actor.on_behalf_of or actor.user_id,
    )
    engine.end_step()
    return instance


def is_candidate(session: Session, actor: Actor, item: WorkItem) -> bool:
    return bool(
        session.scalar(
            select(
                exists().where(WorkItemCandidate.work_item_id == item.id, _candidate_match(actor))
            )
        )
    )


def _candidate_match(actor: Actor) -> ColumnElement[bool]:
    clauses: list[ColumnElement[bool]] = []
    people = acting_people(actor)
    if people:
        clauses.append(WorkItemCandidate.user_id.in_(people))
    if actor.department_id is not None:
        clauses.append(WorkItemCandidate.department_id == actor.department_id)
    if actor.roles:
        clauses.append(WorkItemCandidate.role_code.in_(sorted(actor.roles)))
    return or_(*clauses) if clauses else and_(WorkItemCandidate.id.is_(None))


def _require_assignee(session: Session, actor: Actor, item: WorkItem) -> None:
    if item.assignee_id is not None and item.assignee_id in acting_people(actor):
        return
    if item.assignee_id is None and is_candidate(session, actor, item):
        raise Forbidden(_t("Claim this step first; it is offered to several people."), hint="claim")
    raise Forbidden(_t("This step is not yours."))


_ITEM_TOKEN_INSTANCE = (
    select(WorkItem, Token, ProcessInstance)
    .join(Token, Token.id == WorkItem.token_id)
    .join(ProcessInstance, ProcessInstance.id == WorkItem.instance_id)
    .where(WorkItem.id == bindparam("item_id"))
    .execution_options(populate_existing=True)
)


def _locked_item(
    session: Session, item_id: int, version: int | None
) -> tuple[ProcessInstance, WorkItem, Token]:
    """The item, its instance (locked) and its token, as the last step left them."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        begin_write(session)  # holding SQLite's write lock, one read gets all three as they are
    found = session.execute(_ITEM_TOKEN_INSTANCE, {"item_id": item_id}).first()
    if found is None:
        raise NotFound(_t("No work item {id}."), params={"id": item_id}, field="id")
    item, token, instance = found
    if not sqlite:  # lock the instance row, then read what may have changed while waiting
        instance = lock_instance(session, item.instance_id)
        session.refresh(item)
        session.refresh(token)
    check_open(item)
    if version is not None and item.version != version:
        from openitsm.kernel.db import check_version

        check_version(item, version, "work item")
    return instance, item, token


def complete_item(
    session: Session,
    kernel: Kernel | None,
    actor: Actor,
    item_id: int,
    *,
    outcome: str | None = None,
    variables: Mapping[str, Any] | None = None,
    comment: str | None = None,
    next_assignee_id: int | None = None,
    version: int | None = None,
) -> ProcessInstance:
    instance, item, token = _locked_item(session, item_id, version)
    _require_assignee(session, actor, item)
    engine = engine_for(session, kernel, actor)
    engine.complete(
        instance,
        item,
        token,
        outcome=outcome.strip() if outcome else None,
        variables=_check_variables(variables),
        comment=(comment or "").strip() or None,
        next_assignee_id=next_assignee_id,
    )
    engine.end_step()
    return instance


def claim_item(
    session: Session, actor: Actor, item_id: int, version: int | None = None
) -> WorkItem:
    instance, item, _ = _locked_item(session, item_id, version)
    if item.assignee_id is not None:
        raise Conflict(_t("Someone else has taken this step already."))
    if not is_candidate(session, actor, item):
        raise Forbidden(_t("This step is not offered to you."))
    item.assignee_id = actor.on_behalf_of or actor.user_id
    engine = Engine(session, actor)
    engine.log(instance, "claim", item=item, from_node=item.node_id)
    engine.end_step()
    return item


def release_item(
    session: Session, actor: Actor, item_id: int, version: int | None = None
) -> WorkItem:
    instance, item, _ = _locked_item(session, item_id, version)
    _require_assignee(session, actor, item)
    if not session.scalar(select(exists().where(WorkItemCandidate.work_item_id == item.id))):
        raise BadUserInput(
            _t("This step was given to you by name; delegate it instead of releasing it.")
        )
    item.assignee_id = None
    engine = Engine(session, actor)
    engine.log(instance, "release", item=item, from_node=item.node_id)
    engine.end_step()
    return item


def _active_user(session: Session, user_id: int, field: str) -> User:
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise BadUserInput(_t("No active user {id}."), params={"id": user_id}, field=field)
    return user


def delegate_item(
    session: Session,
    kernel: Kernel | None,
    actor: Actor,
    item_id: int,
    to_user_id: int,
    *,
    comment: str | None = None,
    version: int | None = None,
) -> WorkItem:
    """The assignee hands their step to someone else."""
    instance, item, _ = _locked_item(session, item_id, version)
    _require_assignee(session, actor, item)
    user = _active_user(session, to_user_id, "userId")
    engine = engine_for(session, kernel, actor)
    previous = item.assignee_id
    item.assignee_id = user.id
    engine.log(
        instance,
        "delegate",
        item=item,
        from_node=item.node_id,
        comment=comment,
        details={"from": previous, "to": user.id},
    )
    engine.events.append(
        engine.event(
            "assigned", instance, work_item_id=item.id, node_id=item.node_id, user_ids=(user.id,)
        )
    )
    engine.end_step()
    return item


def dispatch_item(
    session: Session,
    kernel: Kernel | None,
    actor: Actor,
    item_id: int,
    *,
    user_id: int | None = None,
    department_code: str | None = None,
    role_code: str | None = None,
    comment: str | None = None,
    version: int | None = None,
) -> WorkItem:
    """The service desk (调度) gives an open step to a person, a department or a role."""
    require(actor, DISPATCH)
    if sum(value is not None for value in (user_id, department_code, role_code)) != 1:
        raise BadUserInput(_t("Dispatch to one person, one department or one role."), field="to")
    instance, item, _ = _locked_item(session, item_id, version)
    engine = engine_for(session, kernel, actor)
    candidates: list[WorkItemCandidate] = []
    if user_id is not None:
        item.assignee_id = _active_user(session, user_id, "userId").id
    else:
        item.assignee_id = None
        if department_code is not None:
            department = session.scalar(
                select(Department).where(Department.code == department_code)
            )
            if department is None:
                raise BadUserInput(
                    _t("No department with code '{code}'."),
                    params={"code": department_code},
                    field="departmentCode",
                )
            candidates.append(WorkItemCandidate(work_item_id=item.id, department_id=department.id))
        else:
            if session.scalar(select(Role.id).where(Role.code == role_code)) is None:
                raise BadUserInput(
                    _t("No role with code '{code}'."), params={"code": role_code}, field="roleCode"
                )
            candidates.append(WorkItemCandidate(work_item_id=item.id, role_code=role_code))
    session.execute(delete(WorkItemCandidate).where(WorkItemCandidate.work_item_id == item.id))
    session.add_all(candidates)
    flag_modified(item, "assignee_id")  # the version bumps even when only candidates change
    engine.log(
        instance,
        "dispatch",
        item=item,
        from_node=item.node_id,
        comment=comment,
        details={"user": user_id, "department": department_code, "role": role_code},
    )
    engine.events.append(
        engine.event(
            "assigned",
            instance,
            work_item_id=item.id,
            node_id=item.node_id,
            user_ids=(user_id,) if user_id else (),
            role_codes=(role_code,) if role_code else (),
            department_ids=tuple(c.department_id for c in candidates if c.department_id),
        )
    )
    engine.end_step()
    return item


def supervise_item(
    session: Session, kernel: Kernel | None, actor: Actor, item_id: int, comment: str
) -> WorkItem:
    """A supervisor urges an open step (督办); its assignee or candidates are told."""
    require(actor, SUPERVISE)
    text = (comment or "").strip()
    if not text:
        raise BadUserInput(_t("Say what you are urging."), field="comment")
    instance, item, _ = _locked_item(session, item_id, None)
    engine = engine_for(session, kernel, actor)
    item.urged += 1
    engine.log(instance, "urge", item=item, from_node=item.node_id, comment=text[:2000])
    candidates = session.scalars(
        select(WorkItemCandidate).where(WorkItemCandidate.work_item_id == item.id)
    ).all()
    engine.events.append(
        engine.event(
            "urged",
            instance,
            work_item_id=item.id,
            node_id=item.node_id,
            user_ids=(item.assignee_id,)
            if item.assignee_id
            else tuple(c.user_id for c in candidates if c.user_id),
            role_codes=tuple(c.role_code for c in candidates if c.role_code),
            department_ids=tuple(c.department_id for c in candidates if c.department_id),
            comment=text[:2000],
        )
    )
    engine.end_step()
    return item


def send_back(
    session: Session,
    kernel: Kernel | None,
    actor: Actor,
    item_id: int,
    target: str,
    *,
    comment: str | None = None,
    version: int | None = None,
) -> ProcessInstance:
    """退回: the assignee returns the process to one of the step's allowed earlier steps."""
    instance, item, _ = _locked_item(session, item_id, version)
    _require_assignee(session, actor, item)
    definition = definition_of(session, instance.process_version_id)
    node = definition.nodes[item.node_id]
    if target not in node.return_targets:
        raise BadUserInput(
            _t("Step '{node}' may send back only to: {allowed}."),
            params={"node": node.name or node.id, "allowed": ", ".join(node.return_targets) or "-"},
            field="target",
        )
    return _restart(session, kernel, actor, instance, item, target, "send_back", comment)


def jump(
    session: Session,
    kernel: Kernel | None,
    actor: Actor,
    item_id: int,
    target: str,
    *,
    comment: str | None = None,
    version: int | None = None,
) -> ProcessInstance:
    """跳转: an authorised person moves the process from a step marked `itsm:jump` to any
    step of it."""
    require(actor, JUMP)
    instance, item, _ = _locked_item(session, item_id, version)
    definition = definition_of(session, instance.process_version_id)
    if not definition.nodes[item.node_id].jump:
        raise BadUserInput(
            _t("The process does not allow jumping from step '{node}'."),
            params={"node": definition.nodes[item.node_id].name or item.node_id},
            field="id",
        )
    return _restart(session, kernel, actor, instance, item, target, "jump", comment)


def _restart(
    session: Session,
    kernel: Kernel | None,
    actor: Actor,
    instance: ProcessInstance,
    item: WorkItem,
    target: str,
    action: str,
    comment: str | None,
) -> ProcessInstance:
    definition = definition_of(session, instance.process_version_id)
    engine = engine_for(session, kernel, actor)
    token = session.get(Token, item.token_id)
    assert token is not None
    engine.log(instance, action, item=item, from_node=item.node_id, to_node=target, comment=comment)
    engine.restart_at(instance, definition, token, target)
    engine.end_step()
    return instance


def may_withdraw(session: Session, actor: Actor, instance: ProcessInstance) -> bool:
    """The starter may withdraw while running and no one else has completed a step."""
    if instance.state != RUNNING or instance.starter_id not in acting_people(actor):
        return False
    others = session.scalar(
        select(
            exists().where(
                Transition.instance_id == instance.id,
                Transition.action == "complete",
                or_(Transition.actor_id.is_(None), Transition.actor_id != instance.starter_id),
            )
        )
    )
    return not others


def withdraw(
    session: Session,
    kernel: Kernel | None,
    actor: Actor,
    instance_id: int,
    *,
    comment: str | None = None,
) -> ProcessInstance:
    """撤销: the starter takes the instance back; every open step is cancelled."""
    instance = lock_instance(session, instance_id)
    if instance.starter_id not in acting_people(actor):
        raise Forbidden(_t("Only the person who started a process may withdraw it."))
    if not may_withdraw(session, actor, instance):
        raise BadUserInput(
            _t("This process can no longer be withdrawn: someone has already acted on it."),
        )
    engine = engine_for(session, kernel, actor)
    engine.log(instance, "withdraw", comment=comment)
    engine.finish(instance, WITHDRAWN, None)
    engine.end_step()
    return instance


def instance_visibility(actor: Actor) -> ColumnElement[bool]:
    """The instances the actor may see, as one condition on `wf_instance`: supervisors and
    process readers see every instance; others those they started or have, or had, a step
    of. It is also what their comments and files are visible by."""
    if actor.can(SUPERVISE) or actor.can(READ):
        return true()
    people = sorted(acting_people(actor))
    mine = or_(
        WorkItem.assignee_id.in_(people),
        WorkItem.completed_by_id.in_(people),
        exists().where(WorkItemCandidate.work_item_id == WorkItem.id, _candidate_match(actor)),
    )
    return or_(
        ProcessInstance.starter_id.in_(people),
        exists().where(WorkItem.instance_id == ProcessInstance.id, mine),
    )


def may_see_instance(session: Session, actor: Actor, instance: ProcessInstance) -> bool:
    if actor.can(SUPERVISE) or actor.can(READ) or instance.starter_id in acting_people(actor):
        return True
    seen = exists().where(ProcessInstance.id == instance.id, instance_visibility(actor))
    return bool(session.scalar(select(seen)))


def inbox_query(actor: Actor) -> Any:
    """Open items assigned to the actor, or offered to them and not yet claimed."""
    people = sorted(acting_people(actor))
    offered = exists().where(WorkItemCandidate.work_item_id == WorkItem.id, _candidate_match(actor))
    return select(WorkItem).where(
        WorkItem.state == OPEN,
        or_(WorkItem.assignee_id.in_(people), and_(WorkItem.assignee_id.is_(None), offered)),
    )


def inbox(
    session: Session, actor: Actor, *, limit: int = 20, after: int | None = None
) -> Sequence[WorkItem]:
    """The actor's open items, most urgent first (due first, undated last, then oldest);
    `after` is the id of the last item of the previous page."""
    query = inbox_query(actor)
    previous = session.get(WorkItem, after) if after else None
    if previous is not None:
        no_due = WorkItem.due_at.is_(None)
        if previous.due_at is None:
            query = query.where(no_due, WorkItem.id > previous.id)
        else:
            query = query.where(
                or_(
                    no_due,
                    WorkItem.due_at > previous.due_at,
                    and_(WorkItem.due_at == previous.due_at, WorkItem.id > previous.id),
                )
            )
    return session.scalars(
        query.order_by(WorkItem.due_at.is_(None), WorkItem.due_at, WorkItem.id).limit(limit)
    ).all()


def started_by(session: Session, actor: Actor, *, limit: int = 20) -> Sequence[ProcessInstance]:
    """What the actor started (items I registered), newest first."""
    return session.scalars(
        select(ProcessInstance)
        .where(ProcessInstance.starter_id.in_(sorted(acting_people(actor))))
        .order_by(ProcessInstance.id.desc())
        .limit(limit)
    ).all()


TIMELINE_ACTIONS = (
    "start", "complete", "countersign", "claim", "delegate", "dispatch", "urge", "send_back",
    "jump", "withdraw", "escalate", "timer", "fallback", "end",
)  # fmt: skip


STEP_TONES = {"send_back": "warning", "escalate": "warning", "withdraw": "danger", "end": "success"}


def timeline_entries(
    session: Session,
    kernel: Kernel,
    actor: Actor,
    ref: Any,
    before: Any,
    limit: int,
) -> list[Any]:
    """The process steps of the instances driving `ref`, for its record page's timeline;
    for an instance itself (`process_instance`), its own steps."""
    from openitsm.kernel.hookspecs import TimelineEntry

    if ref.kind not in kernel.record_kinds or not kernel.record_kinds.exists(session, ref, actor):
        return []
    if ref.kind == INSTANCE_KIND:
        driving: ColumnElement[bool] = Transition.instance_id == ref.id
    else:
        driving = and_(ProcessInstance.record_kind == ref.kind, ProcessInstance.record_id == ref.id)
    query = (
        select(Transition, ProcessInstance.process_version_id, ProcessInstance.title, User.name)
        .join(ProcessInstance, ProcessInstance.id == Transition.instance_id)
        .outerjoin(User, User.id == Transition.on_behalf_of_id)
        .where(driving, Transition.action.in_(TIMELINE_ACTIONS))
        .order_by(Transition.at.desc(), Transition.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(Transition.at < before)
    rows = session.execute(query).all()
    names: dict[tuple[int, str], str] = {}
    for entry, version_id, *_ in rows:
        for node_id in (entry.from_node, entry.to_node):
            if node_id and (version_id, node_id) not in names:
                definition = definition_of(session, version_id)
                names[(version_id, node_id)] = definition.node_label(node_id, actor.locale)
    found = []
    for entry, version_id, title, delegator in rows:
        step = entry.from_node or entry.to_node
        moved = entry.from_node and entry.to_node and entry.from_node != entry.to_node
        found.append(
            TimelineEntry(
                at=entry.at,
                kind="step",
                actor_label=entry.actor_label,
                title=names.get((version_id, step or ""), title) if step else title,
                body="",
                url=f"/processes/{entry.instance_id}",
                tone=STEP_TONES.get(entry.action, "info"),
                key=f"step:{entry.id}",
                data={
                    "action": entry.action,
                    "outcome": entry.outcome,
                    "comment": entry.comment,
                    "on_behalf_of_id": entry.on_behalf_of_id,
                    "on_behalf_of": delegator,
                    "target": names.get((version_id, entry.to_node or "")) if moved else None,
                    "process": title,
                },
            )
        )
    return found


def instance_log(session: Session, instance_id: int) -> Sequence[Transition]:
    return session.scalars(
        select(Transition).where(Transition.instance_id == instance_id).order_by(Transition.id)
    ).all()


def running_items(session: Session, instance_id: int) -> Sequence[WorkItem]:
    return session.scalars(
        select(WorkItem)
        .where(WorkItem.instance_id == instance_id, WorkItem.state == OPEN)
        .order_by(WorkItem.id)
    ).all()


def step_states(session: Session, instance: ProcessInstance) -> dict[str, str]:
    """{node id: done, active or overdue} for the instance page's diagram."""
    states: dict[str, str] = {}
    passed = session.execute(
        select(Transition.action, Transition.from_node, Transition.to_node).where(
            Transition.instance_id == instance.id
        )
    ).all()
    for action, from_node, to_node in passed:
        if action in ("complete", "countersign", "leave", "end", "return") and from_node:
            states[from_node] = "done"
        elif action == "service" and to_node:
            states[to_node] = "done"
    for node_id in session.scalars(
        select(Token.node_id).where(
            Token.instance_id == instance.id, Token.state.in_((ACTIVE, WAITING))
        )
    ):
        states[node_id] = "active"
    now = utcnow()
    for node_id, due_at in session.execute(
        select(WorkItem.node_id, WorkItem.due_at).where(
            WorkItem.instance_id == instance.id, WorkItem.state == OPEN
        )
    ):
        if due_at is not None and due_at < now:
            states[node_id] = "overdue"
    return states


@dataclass(frozen=True)
class MoveResult:
    moved: list[int]
    refused: dict[int, list[str]]  # instance id: the steps it stands on that the target lacks


def move_instances(
    session: Session,
    kernel: Kernel | None,
    actor: Actor,
    key: str,
    from_number: int,
    to_number: int,
) -> MoveResult:
    """Move the running instances of version `from_number` of a process to the published
    version `to_number`. An instance moves only when every step it stands on exists in the
    target as the same kind of element; the others stay, and are named with those steps."""
    require(actor, MANAGE)
    source, target = (get_version(session, key, n) for n in (from_number, to_number))
    if target.state != PUBLISHED:
        raise BadUserInput(
            _t("Version {number} of '{key}' is not published."),
            params={"key": key, "number": to_number},
            field="toNumber",
        )
    begin_write(session)
    old, new = definition_of(session, source.id), definition_of(session, target.id)
    moved: list[int] = []
    refused: dict[int, list[str]] = {}
    engine = engine_for(session, kernel, actor)
    ids = session.scalars(
        select(ProcessInstance.id)
        .where(ProcessInstance.process_version_id == source.id, ProcessInstance.state == RUNNING)
        .order_by(ProcessInstance.id)
    ).all()
    for instance_id in ids:
        instance = lock_instance(session, instance_id)
        standing = session.scalars(
            select(Token.node_id).where(
                Token.instance_id == instance.id, Token.state.in_((ACTIVE, WAITING))
            )
        ).all()
        missing = sorted(
            {
                node_id
                for node_id in standing
                if node_id not in new.nodes or new.nodes[node_id].kind != old.nodes[node_id].kind
            }
        )
        if missing:
            refused[instance.id] = missing
            continue
        instance.process_version_id = target.id
        engine.log(instance, "migrate", details={"from": from_number, "to": to_number})
        moved.append(instance.id)
    engine.end_step()
    return MoveResult(moved, refused)
