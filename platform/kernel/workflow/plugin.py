"""The workflow engine, registered like any plugin's part of the kernel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.hookspecs import hookimpl
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

    from openitsm.kernel.workflow.runtime_schema import TYPES, WorkflowMutation, WorkflowQuery
    from openitsm.kernel.workflow.schema import (
        ProcessMutation,
        ProcessQuery,
        ProcessVersionType,
    )

    return GraphQLContribution(
        query=merge_types("WorkflowQuery", (ProcessQuery, WorkflowQuery)),
        mutation=merge_types("WorkflowMutation", (ProcessMutation, WorkflowMutation)),
        types=[ProcessVersionType, *TYPES],
    )


@hookimpl
def register_processes() -> list[ProcessSpec]:
    """The sample: a two-level approval with a department countersign and a deadline."""
    return [ProcessSpec(PROCESSES / "two_level_approval.bpmn")]


@hookimpl
def register_tasks() -> list[Any]:
    from openitsm.kernel.workflow.deadlines import scan_deadlines

    return [scan_deadlines]
