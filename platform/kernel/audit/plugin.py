"""The kernel's audit history, registered like any plugin."""

from __future__ import annotations

from openitsm.kernel.audit.models import AuditChange, AuditEvent
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.hookspecs import hookimpl


@hookimpl
def register_models() -> list[type]:
    return [AuditEvent, AuditChange]


@hookimpl
def register_graphql() -> GraphQLContribution:
    from openitsm.kernel.audit.schema import AuditEventType, AuditQuery

    return GraphQLContribution(query=AuditQuery, types=[AuditEventType])
