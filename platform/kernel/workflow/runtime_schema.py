"""Running processes on GraphQL: the inbox, instances with their log, and every step action.

A deputy acts on a delegator's items by passing `onBehalfOf` (the delegator's id): the
inbox then lists the delegator's items, and actions are recorded as "deputy on behalf of".
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from openitsm.kernel.access.delegation import acting_for
from openitsm.kernel.actors import Actor
from openitsm.kernel.graphql.connection import Connection, SortKey
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.nodes import (
    Fields,
    ModelNode,
    by_id_loader,
    decode_id,
    link,
    prefetched,
)
from openitsm.kernel.identity.models import User
from openitsm.kernel.organisation.models import Department
from openitsm.kernel.organisation.schema import DepartmentType, UserType
from openitsm.kernel.workflow import runtime
from openitsm.kernel.workflow.engine import definition_of
from openitsm.kernel.workflow.models import (
    OPEN,
    ProcessInstance,
    WorkItem,
    WorkItemCandidate,
)
from openitsm.kernel.workflow.schema import ProcessVersionType


def _actor(info: Info[Context, Any], on_behalf_of: relay.GlobalID | None) -> Actor:
    actor = info.context.require_actor()
    if on_behalf_of is None:
        return actor
    delegator = decode_id(on_behalf_of, UserType, "onBehalfOf")
    return acting_for(info.context.session, actor, delegator)


@strawberry.type(description="Who may claim an unassigned step: a department, a role or a person.")
class WorkItemCandidateType:
    role_code: str | None

    department: DepartmentType | None = link(Department, "department_id")

    user: UserType | None = link(User, "user_id")


@strawberry.type(name="WorkItem", description="A step waiting for people: a row of the inbox.")
class WorkItemType(ModelNode):
    __model__ = WorkItem

    node_id: str = strawberry.field(description="The step's id in the diagram.")
    name: str
    state: str = strawberry.field(description="open, done or cancelled.")
    outcome: str | None
    comment: str | None
    due_at: dt.datetime | None
    remind_at: dt.datetime | None
    urged: int = strawberry.field(description="How often a supervisor urged it.")
    created_at: dt.datetime
    completed_at: dt.datetime | None
    version: int

    @classmethod
    def visible_rows(cls, context: Context, rows: list[Any]) -> list[Any]:
        """Items of instances the actor may not see answer as missing."""
        session, actor = context.session, context.require_actor()
        seen: dict[int, bool] = {}
        visible = []
        for row in rows:
            if row is not None and row.instance_id not in seen:
                instance = session.get(ProcessInstance, row.instance_id)
                seen[row.instance_id] = bool(
                    instance and runtime.may_see_instance(session, actor, instance)
                )
            visible.append(row if row is not None and seen[row.instance_id] else None)
        return visible

    assignee: UserType | None = link(User, "assignee_id")

    completed_by: UserType | None = link(User, "completed_by_id")

    @strawberry.field
    async def instance(
        self, root: strawberry.Parent[WorkItem], info: Info[Context, Any]
    ) -> ProcessInstanceType:
        # Whoever may see the item (a deputy too) sees the instance it belongs to.
        loader = by_id_loader(info.context, ProcessInstance, scoped=False)
        return await loader.load(root.instance_id)  # type: ignore[no-any-return]

    @strawberry.field(description="Who may claim it while nobody has.")
    def candidates(
        self, root: strawberry.Parent[WorkItem], info: Info[Context, Any]
    ) -> list[WorkItemCandidateType]:
        return info.context.session.scalars(  # type: ignore[return-value]
            select(WorkItemCandidate).where(WorkItemCandidate.work_item_id == root.id)
        ).all()

    @strawberry.field(description="Steps this one may send the process back to (退回).")
    def return_targets(
        self, root: strawberry.Parent[WorkItem], info: Info[Context, Any]
    ) -> list[str]:
        return list(_node(info, root).return_targets)

    @strawberry.field(description="The form the step shows, if the diagram names one.")
    def form(self, root: strawberry.Parent[WorkItem], info: Info[Context, Any]) -> str | None:
        return _node(info, root).form

    @strawberry.field(description="Answered with approve or reject, counted with the others.")
    def countersign(self, root: strawberry.Parent[WorkItem], info: Info[Context, Any]) -> bool:
        return _node(info, root).countersign is not None

    @strawberry.field(description="Whoever completes it may choose the next step's assignee.")
    def choose_next(self, root: strawberry.Parent[WorkItem], info: Info[Context, Any]) -> bool:
        return _node(info, root).choose_next


def _node(info: Info[Context, Any], item: WorkItem) -> Any:
    session = info.context.session
    instance = session.get(ProcessInstance, item.instance_id)
    assert instance is not None
    return definition_of(session, instance.process_version_id).nodes[item.node_id]


@strawberry.type(name="ProcessTransition", description="One entry of an instance's log.")
class TransitionType:
    at: dt.datetime
    action: str = strawberry.field(
        description="start, assign, claim, release, complete, countersign, delegate, dispatch, "
        "urge, send_back, jump, withdraw, fallback, call, return, chain, end …"
    )
    actor_label: str
    from_node: str | None
    to_node: str | None
    outcome: str | None
    comment: str | None

    actor: UserType | None = link(User, "actor_id")

    on_behalf_of: UserType | None = link(
        User, "on_behalf_of_id", description="Whom a deputy acted for."
    )


@strawberry.type(name="ProcessStep", description="Where a step of the diagram stands.")
class StepState:
    node_id: str
    state: str = strawberry.field(description="done, active or overdue.")


@strawberry.type(name="ProcessInstance", description="One run of a process.")
class ProcessInstanceType(ModelNode):
    __model__ = ProcessInstance
    # Read from its steps and log, not from columns field rules could hide.
    __fields__: ClassVar[Fields] = {
        "log": None,
        "open_items": None,
        "steps": None,
        "can_withdraw": None,
    }

    process_key: str
    title: str
    state: str = strawberry.field(description="running, completed, withdrawn or terminated.")
    record_kind: str | None
    record_id: int | None
    end_node: str | None
    created_at: dt.datetime
    ended_at: dt.datetime | None
    version: int

    @classmethod
    def visible_rows(cls, context: Context, rows: list[Any]) -> list[Any]:
        actor, session = context.require_actor(), context.session
        return [
            row if row is not None and runtime.may_see_instance(session, actor, row) else None
            for row in rows
        ]

    @strawberry.field(description="What steps decided and forms filled in.")
    def variables(self, root: strawberry.Parent[ProcessInstance]) -> JSON:
        return {k: v for k, v in (root.variables or {}).items() if not k.startswith("_")}  # type: ignore[return-value]

    starter: UserType | None = link(User, "starter_id")

    @strawberry.field
    def process_version(
        self, root: strawberry.Parent[ProcessInstance], info: Info[Context, Any]
    ) -> ProcessVersionType:
        from openitsm.kernel.workflow.models import ProcessVersion

        return info.context.session.get(ProcessVersion, root.process_version_id)  # type: ignore[return-value]

    @strawberry.field(description="The log, oldest first: who did what, where.")
    def log(
        self, root: strawberry.Parent[ProcessInstance], info: Info[Context, Any]
    ) -> list[TransitionType]:
        return runtime.instance_log(info.context.session, root.id)  # type: ignore[return-value]

    @strawberry.field(description="Steps waiting for people now.")
    def open_items(
        self, root: strawberry.Parent[ProcessInstance], info: Info[Context, Any]
    ) -> list[WorkItemType]:
        return runtime.running_items(info.context.session, root.id)  # type: ignore[return-value]

    @strawberry.field(description="Done, active and overdue steps, to colour the diagram.")
    def steps(
        self, root: strawberry.Parent[ProcessInstance], info: Info[Context, Any]
    ) -> list[StepState]:
        states = runtime.step_states(info.context.session, root)
        return [StepState(node_id=node, state=state) for node, state in states.items()]

    @strawberry.field(description="Whether you may withdraw it now (撤销).")
    def can_withdraw(
        self, root: strawberry.Parent[ProcessInstance], info: Info[Context, Any]
    ) -> bool:
        return runtime.may_withdraw(info.context.session, info.context.require_actor(), root)


@strawberry.type
class WorkflowQuery:
    @strawberry.field(
        description="Your open steps: assigned to you, or offered to you and not yet claimed; "
        "most urgent first. With onBehalfOf, those of someone you stand in for."
    )
    def inbox(
        self,
        info: Info[Context, Any],
        first: int | None = None,
        after: str | None = None,
        on_behalf_of: relay.GlobalID | None = None,
    ) -> Connection[WorkItemType]:
        actor = _actor(info, on_behalf_of)
        return prefetched(
            info,
            WorkItemType,
            info.context.paginate(
                runtime.inbox_query(actor),
                keys=[SortKey(WorkItem.due_at)],
                tiebreak=WorkItem.id,
                first=first,
                after=after,
            ),
        )

    @strawberry.field(
        description="Instances you may see (all of them with process.read or "
        "process.supervise), newest first; `key` and `state` filter."
    )
    def process_instances(
        self,
        info: Info[Context, Any],
        key: str | None = None,
        state: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ProcessInstanceType]:
        actor = info.context.require_actor()
        query = select(ProcessInstance).where(runtime.instance_visibility(actor))
        if key:
            query = query.where(ProcessInstance.process_key == key)
        if state:
            query = query.where(ProcessInstance.state == state)
        return _newest_first(info, query, first, after)

    @strawberry.field(
        description="Instances you started (items I registered), newest first; `state` filters."
    )
    def my_processes(
        self,
        info: Info[Context, Any],
        state: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ProcessInstanceType]:
        actor = info.context.require_actor()
        query = select(ProcessInstance).where(ProcessInstance.starter_id == actor.user_id)
        if state:
            query = query.where(ProcessInstance.state == state)
        return _newest_first(info, query, first, after)


@strawberry.input
class CompleteWorkItemInput:
    id: relay.GlobalID
    outcome: str | None = strawberry.field(
        default=None, description="approve or reject on decisions; countersigns require one."
    )
    variables: JSON | None = strawberry.field(
        default=None, description="Form values; conditions read them as form.<name>."
    )
    comment: str | None = None
    next_assignee: relay.GlobalID | None = strawberry.field(
        default=None, description="Where the step allows it: who does the next step."
    )
    version: int | None = strawberry.field(
        default=None, description="The item's version you saw: a stale one is a CONFLICT."
    )
    on_behalf_of: relay.GlobalID | None = None


@strawberry.type
class WorkflowMutation:
    @strawberry.mutation(description="Start the current version of a process.")
    def start_process(
        self,
        info: Info[Context, Any],
        key: str,
        title: str = "",
        variables: JSON | None = None,
    ) -> ProcessInstanceType:
        context = info.context
        return runtime.start_process(  # type: ignore[return-value]
            context.session,
            context.kernel,
            context.require_actor(),
            key,
            title=title,
            variables=_mapping(variables),
        )

    @strawberry.mutation(description="Complete a step; the process moves on.")
    def complete_work_item(
        self, info: Info[Context, Any], input: CompleteWorkItemInput
    ) -> ProcessInstanceType:
        context = info.context
        return runtime.complete_item(  # type: ignore[return-value]
            context.session,
            context.kernel,
            _actor(info, input.on_behalf_of),
            decode_id(input.id, WorkItemType),
            outcome=input.outcome,
            variables=_mapping(input.variables),
            comment=input.comment,
            next_assignee_id=(
                decode_id(input.next_assignee, UserType, "nextAssignee")
                if input.next_assignee
                else None
            ),
            version=input.version,
        )

    @strawberry.mutation(description="Take a step offered to your department, role or you.")
    def claim_work_item(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        version: int | None = None,
        on_behalf_of: relay.GlobalID | None = None,
    ) -> WorkItemType:
        return runtime.claim_item(  # type: ignore[return-value]
            info.context.session,
            _actor(info, on_behalf_of),
            decode_id(id, WorkItemType),
            version,
        )

    @strawberry.mutation(description="Give a claimed step back to its candidates.")
    def release_work_item(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        version: int | None = None,
        on_behalf_of: relay.GlobalID | None = None,
    ) -> WorkItemType:
        return runtime.release_item(  # type: ignore[return-value]
            info.context.session,
            _actor(info, on_behalf_of),
            decode_id(id, WorkItemType),
            version,
        )

    @strawberry.mutation(description="Hand your step to someone else.")
    def delegate_work_item(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        to: relay.GlobalID,
        comment: str | None = None,
        version: int | None = None,
        on_behalf_of: relay.GlobalID | None = None,
    ) -> WorkItemType:
        return runtime.delegate_item(  # type: ignore[return-value]
            info.context.session,
            info.context.kernel,
            _actor(info, on_behalf_of),
            decode_id(id, WorkItemType),
            decode_id(to, UserType, "to"),
            comment=comment,
            version=version,
        )

    @strawberry.mutation(
        description="调度: give any open step to one person, department or role (process.dispatch)."
    )
    def dispatch_work_item(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        user: relay.GlobalID | None = None,
        department_code: str | None = None,
        role_code: str | None = None,
        comment: str | None = None,
        version: int | None = None,
    ) -> WorkItemType:
        return runtime.dispatch_item(  # type: ignore[return-value]
            info.context.session,
            info.context.kernel,
            info.context.require_actor(),
            decode_id(id, WorkItemType),
            user_id=decode_id(user, UserType, "user") if user else None,
            department_code=department_code,
            role_code=role_code,
            comment=comment,
            version=version,
        )

    @strawberry.mutation(
        description="督办: urge an open step; its people are told (process.supervise)."
    )
    def supervise_work_item(
        self, info: Info[Context, Any], id: relay.GlobalID, comment: str
    ) -> WorkItemType:
        return runtime.supervise_item(  # type: ignore[return-value]
            info.context.session,
            info.context.kernel,
            info.context.require_actor(),
            decode_id(id, WorkItemType),
            comment,
        )

    @strawberry.mutation(description="退回: send the process back to an allowed earlier step.")
    def send_back_work_item(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        target: str,
        comment: str | None = None,
        version: int | None = None,
        on_behalf_of: relay.GlobalID | None = None,
    ) -> ProcessInstanceType:
        return runtime.send_back(  # type: ignore[return-value]
            info.context.session,
            info.context.kernel,
            _actor(info, on_behalf_of),
            decode_id(id, WorkItemType),
            target,
            comment=comment,
            version=version,
        )

    @strawberry.mutation(
        description="跳转: move the process from a step that allows it to another step "
        "(process.jump)."
    )
    def jump_work_item(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        target: str,
        comment: str | None = None,
        version: int | None = None,
    ) -> ProcessInstanceType:
        return runtime.jump(  # type: ignore[return-value]
            info.context.session,
            info.context.kernel,
            info.context.require_actor(),
            decode_id(id, WorkItemType),
            target,
            comment=comment,
            version=version,
        )

    @strawberry.mutation(
        description="撤销: the starter withdraws a process no one else has acted on yet."
    )
    def withdraw_process(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        comment: str | None = None,
        on_behalf_of: relay.GlobalID | None = None,
    ) -> ProcessInstanceType:
        return runtime.withdraw(  # type: ignore[return-value]
            info.context.session,
            info.context.kernel,
            _actor(info, on_behalf_of),
            decode_id(id, ProcessInstanceType),
            comment=comment,
        )


@strawberry.type
class RefusedMove:
    instance_id: relay.GlobalID
    missing_steps: list[str] = strawberry.field(
        description="The steps it stands on that the target version lacks."
    )


@strawberry.type
class MovedInstances:
    moved: int = strawberry.field(description="How many running instances moved.")
    refused: list[RefusedMove] = strawberry.field(description="Those that stayed, and why.")


@strawberry.type
class InstanceMoveMutation:
    @strawberry.mutation(
        description="Move the running instances of one version of a process to another "
        "published version; an instance moves only when the steps it stands on exist there "
        "(process.manage)."
    )
    def move_process_instances(
        self, info: Info[Context, Any], key: str, from_number: int, to_number: int
    ) -> MovedInstances:
        context = info.context
        result = runtime.move_instances(
            context.session, context.kernel, context.require_actor(), key, from_number, to_number
        )
        return MovedInstances(
            moved=len(result.moved),
            refused=[
                RefusedMove(
                    instance_id=relay.GlobalID("ProcessInstance", str(instance_id)),
                    missing_steps=missing,
                )
                for instance_id, missing in result.refused.items()
            ],
        )


def _mapping(value: Any) -> dict[str, Any] | None:
    from openitsm.kernel.errors import BadUserInput, _t

    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadUserInput(_t("Variables are a JSON object."), field="variables")
    return value


def _newest_first(
    info: Info[Context, Any], query: Any, first: int | None, after: str | None
) -> Connection[ProcessInstanceType]:
    return prefetched(  # type: ignore[no-any-return]
        info,
        ProcessInstanceType,
        info.context.paginate(
            query,
            keys=[SortKey(ProcessInstance.created_at, descending=True)],
            tiebreak=ProcessInstance.id,
            first=first,
            after=after,
        ),
    )


TYPES = (WorkItemType, ProcessInstanceType)
__all__ = ["OPEN", "TYPES", "WorkflowMutation", "WorkflowQuery"]
