"""Incident templates in GraphQL: `incidentTemplate(id:)`, `incidentTemplates`, and
`createIncidentTemplate`, `updateIncidentTemplate`, `deactivateIncidentTemplate`.
`createIncident(input: {template: ...})` (in `schema.py`) registers from one."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.types import Info

from openitsm.kernel import Connection, Context, ModelNode, SortKey, decode_id
from openitsm.kernel.errors import NotFound
from openitsm.kernel.graphql.nodes import Fields, input_values, link, prefetched
from openitsm.kernel.organisation.models import Department
from openitsm.kernel.organisation.schema import DepartmentType
from openitsm.plugins.incident import incident_templates as templates
from openitsm.plugins.incident.models import IncidentTemplate


@strawberry.type(name="IncidentTemplate", description="What a new incident starts from (事件模板).")
class IncidentTemplateType(ModelNode):
    __model__ = IncidentTemplate
    __fields__: ClassVar[Fields] = {}

    name: str
    title: str | None
    description: str | None = strawberry.field(description="Sanitised rich text (HTML).")
    category: str | None = strawberry.field(description="An incident_category item code.")
    nature: str | None = strawberry.field(description="An incident_nature item code.")
    impact: str | None = strawberry.field(description="An incident_impact item code.")
    urgency: str | None = strawberry.field(description="An incident_urgency item code.")
    active: bool = strawberry.field(description="Only active templates can be used.")
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int = strawberry.field(description="Pass it back to update or deactivate.")

    @classmethod
    def visible_rows(cls, context: Context, rows: list[Any]) -> list[Any]:
        """Those who may register incidents see the active templates; their managers all."""
        actor = context.actor
        manager = actor.can(templates.MANAGE)
        if not templates.may_use(actor):
            return [None for _ in rows]
        return [row if row is not None and (row.active or manager) else None for row in rows]

    group: DepartmentType | None = link(
        Department, "group_id", description="The assignment group it sets (a department)."
    )


@strawberry.input
class IncidentTemplateInput:
    name: str
    title: str | None = None
    description: str | None = None
    category: str | None = None
    nature: str | None = None
    impact: str | None = None
    urgency: str | None = None
    group: relay.GlobalID | None = None


@strawberry.input(description="Only the fields given change; null clears one.")
class UpdateIncidentTemplateInput:
    name: str | None = strawberry.UNSET
    title: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    category: str | None = strawberry.UNSET
    nature: str | None = strawberry.UNSET
    impact: str | None = strawberry.UNSET
    urgency: str | None = strawberry.UNSET
    group: relay.GlobalID | None = strawberry.UNSET
    active: bool | None = strawberry.field(
        default=strawberry.UNSET, description="True brings a deactivated template back."
    )


@strawberry.type
class IncidentTemplatePayload:
    template: IncidentTemplateType


def _values(input: Any) -> dict[str, Any]:
    return input_values(
        input,
        ("name", "title", "description", *templates.CODED, "active"),
        (("group", "group_id", DepartmentType),),
    )


def template_id(id: relay.GlobalID, field: str = "id") -> int:
    return decode_id(id, IncidentTemplateType, field)


@strawberry.type
class TemplateQuery:
    @strawberry.field(description="One template; null when there is none the viewer may see.")
    def incident_template(
        self, info: Info[Context, Any], id: relay.GlobalID
    ) -> IncidentTemplateType | None:
        context = info.context
        context.require_actor()
        try:
            return templates.get_template(context.session, template_id(id))  # type: ignore[return-value]
        except NotFound:
            return None

    @strawberry.field(description="The templates by name; inactive ones only for managers.")
    def incident_templates(
        self,
        info: Info[Context, Any],
        include_inactive: bool = False,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[IncidentTemplateType]:
        context = info.context
        actor = context.require_actor()
        templates.list_templates(context.session, False)  # the permission check
        statement = select(IncidentTemplate)
        if not (include_inactive and actor.can(templates.MANAGE)):
            statement = statement.where(IncidentTemplate.active.is_(True))
        return prefetched(
            info,
            IncidentTemplateType,
            context.paginate(
                statement,
                keys=[SortKey(IncidentTemplate.name)],
                tiebreak=IncidentTemplate.id,
                first=first,
                after=after,
            ),
        )


@strawberry.type
class TemplateMutation:
    @strawberry.mutation(description="A new template (needs incident.manage_templates).")
    def create_incident_template(
        self, info: Info[Context, Any], input: IncidentTemplateInput
    ) -> IncidentTemplatePayload:
        info.context.require_actor()
        template = templates.create_template(info.context.session, **_values(input))
        return IncidentTemplatePayload(template=template)  # type: ignore[arg-type]

    @strawberry.mutation(description="Fails with CONFLICT when `version` is not the latest.")
    def update_incident_template(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        version: int,
        input: UpdateIncidentTemplateInput,
    ) -> IncidentTemplatePayload:
        info.context.require_actor()
        template = templates.update_template(
            info.context.session, template_id(id), version, _values(input)
        )
        return IncidentTemplatePayload(template=template)  # type: ignore[arg-type]

    @strawberry.mutation(description="Retire a template: it can no longer be used.")
    def deactivate_incident_template(
        self, info: Info[Context, Any], id: relay.GlobalID, version: int
    ) -> IncidentTemplatePayload:
        info.context.require_actor()
        template = templates.deactivate_template(info.context.session, template_id(id), version)
        return IncidentTemplatePayload(template=template)  # type: ignore[arg-type]
