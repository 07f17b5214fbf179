"""The workflow engine, registered like any plugin's part of the kernel."""

from __future__ import annotations

from pathlib import Path

from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.hookspecs import hookimpl
from openitsm.kernel.workflow.models import ProcessVersion
from openitsm.kernel.workflow.service import ProcessSpec

PROCESSES = Path(__file__).parent / "processes"


@hookimpl
def register_models() -> list[type]:
    return [ProcessVersion]


@hookimpl
def register_graphql() -> GraphQLContribution:
    from openitsm.kernel.workflow.schema import (
        ProcessMutation,
        ProcessQuery,
        ProcessVersionType,
    )

    return GraphQLContribution(
        query=ProcessQuery, mutation=ProcessMutation, types=[ProcessVersionType]
    )


@hookimpl
def register_processes() -> list[ProcessSpec]:
    """The sample: a two-level approval with a department countersign and a deadline."""
    return [ProcessSpec(PROCESSES / "two_level_approval.bpmn")]
