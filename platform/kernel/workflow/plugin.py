"""The workflow engine, registered like any plugin's part of the kernel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.references import RecordKind
from openitsm.kernel.workflow.models import (
    ProcessInstance,
    ProcessVersion,
    Token,
    Transition,
    WorkItem,
    WorkItemCandidate,
)
from openitsm.kernel.workflow.service import ProcessSpec

PROCESSES = Path(__file__).parent / "processes"


@hookimpl
def register_models() -> list[type]:
    return [ProcessVersion, ProcessInstance, Token, WorkItem, WorkItemCandidate, Transition]


@hookimpl
def register_graphql() -> GraphQLContribution:
    from strawberry.tools import merge_types

    from openitsm.kernel.workflow.runtime_schema import (
        TYPES,
        InstanceMoveMutation,
        WorkflowMutation,
        WorkflowQuery,
    )
    from openitsm.kernel.workflow.schema import (
        ProcessMutation,
        ProcessQuery,
        ProcessVersionType,
    )

    return GraphQLContribution(
        query=merge_types("WorkflowQuery", (ProcessQuery, WorkflowQuery)),
        mutation=merge_types(
            "WorkflowMutation", (ProcessMutation, WorkflowMutation, InstanceMoveMutation)
        ),
        types=[ProcessVersionType, *TYPES],
    )


@hookimpl
def register_record_kinds() -> list[RecordKind]:
    """Instances are records of their own, so comments and files can be added at any step;
    they are seen by their starter and participants, not by a data scope."""
    from openitsm.kernel.workflow.runtime import INSTANCE_KIND, instance_visibility

    return [
        RecordKind(
            INSTANCE_KIND,
            ProcessInstance,
            labels={"zh-CN": "流程实例", "en": "Process instance"},
            describe=lambda row: {"title": row.title or row.process_key, "status": row.state},
            url="/processes/{id}",
            visibility=instance_visibility,
            shows=("title", "process_key"),
        )
    ]


@hookimpl
def register_processes() -> list[ProcessSpec]:
    """The sample: a two-level approval with a department countersign and a deadline."""
    return [ProcessSpec(PROCESSES / "two_level_approval.bpmn")]


@hookimpl
def register_tasks() -> list[Any]:
    from openitsm.kernel.workflow.deadlines import scan_deadlines

    return [scan_deadlines]


@hookimpl
def record_timeline_entries(
    kernel: Any, session: Any, actor: Any, ref: Any, before: Any, limit: int
) -> list[Any]:
    """The steps of the processes driving the record, beside its history and comments."""
    from openitsm.kernel.workflow.runtime import timeline_entries

    return timeline_entries(session, kernel, actor, ref, before, limit)


@hookimpl(trylast=True)
def load_demo_data(session: Any, kernel: Any) -> None:
    """One request waiting for approval, so the demo's inboxes are not empty."""
    from sqlalchemy import select

    from openitsm.kernel.access.grants import actor_for_user
    from openitsm.kernel.identity.models import User
    from openitsm.kernel.workflow.models import ProcessInstance
    from openitsm.kernel.workflow.runtime import start_process

    sample = select(ProcessInstance.id).where(ProcessInstance.process_key == "two_level_approval")
    if session.scalar(sample.limit(1)) is not None:
        return
    starter = session.scalar(select(User.id).where(User.login == "enduser"))
    if starter is None:
        return
    start_process(
        session,
        kernel,
        actor_for_user(session, starter),
        "two_level_approval",
        title="申请新笔记本电脑 New laptop",
        variables={"reason": "The old one no longer starts."},
    )
