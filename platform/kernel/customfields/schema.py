"""Custom fields on GraphQL: their definitions, and `customFields` on every resource type.

Values travel as one JSON object keyed by field name (`{"cf_seat": "B-204"}`), read with
`customFields` and written through the resource's own create and update inputs. A field
hidden from the viewer is simply absent from the object: the JSON field as a whole is not
refused, since its other keys may be readable.
"""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy import select
from strawberry import relay
from strawberry.scalars import JSON
from strawberry.types import Info

from openitsm.kernel.access import require
from openitsm.kernel.customfields import service
from openitsm.kernel.customfields.models import CustomField
from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.nodes import ModelNode, decode_id

MANAGE = "fields.manage"


def _values(root: strawberry.Parent[Any], info: Info[Context, Any]) -> JSON:
    context = info.context
    kind = context.kernel.record_kinds.by_model.get(type(root))
    if kind is None:
        return {}  # type: ignore[return-value]
    hidden = context.hidden(kind.name)
    raw = getattr(root, "custom_fields", None) or {}
    return {  # type: ignore[return-value]
        spec.name: raw[spec.name]
        for spec in service.definitions(context.session, kind.name)
        if spec.name in raw and spec.name not in hidden
    }


def custom_fields_field() -> Any:
    """The `customFields` field for a resource type; map it to None in `__fields__`."""
    return strawberry.field(
        resolver=_values,
        description=(
            "Values of the fields an administrator added, by name (cf_…); fields hidden "
            "from you are absent. Dates are ISO 8601, money a decimal string."
        ),
    )


@strawberry.type(name="CustomFieldChoice")
class CustomFieldChoiceType:
    value: str
    labels: JSON


@strawberry.type(name="CustomField")
class CustomFieldType(ModelNode):
    __model__ = CustomField

    resource: str
    name: str
    labels: JSON
    type: str
    required: bool
    dictionary: str | None
    max_length: int | None
    help: JSON
    position: int
    listed: bool
    active: bool
    version: int

    @strawberry.field
    def choices(self, root: strawberry.Parent[CustomField]) -> list[CustomFieldChoiceType]:
        return [
            CustomFieldChoiceType(value=c["value"], labels=c.get("labels") or {})  # type: ignore[arg-type]
            for c in root.choices or ()
        ]


@strawberry.input
class CustomFieldChoiceInput:
    value: str
    labels: JSON | None = None


@strawberry.input
class DefineCustomFieldInput:
    resource: str
    name: str = strawberry.field(description="cf_… (the prefix is added when missing).")
    labels: JSON
    type: str = strawberry.field(description=", ".join(service.CUSTOM_TYPES))
    required: bool = False
    choices: list[CustomFieldChoiceInput] | None = None
    dictionary: str | None = None
    max_length: int | None = None
    help: JSON | None = None
    listed: bool = False
    position: int | None = None


@strawberry.input
class ChangeCustomFieldInput:
    labels: JSON | None = None
    required: bool | None = None
    choices: list[CustomFieldChoiceInput] | None = None
    dictionary: str | None = None
    max_length: int | None = None
    help: JSON | None = None
    listed: bool | None = None
    position: int | None = None
    active: bool | None = strawberry.field(
        default=None, description="false retires the field (values and history are kept)."
    )


def _choices(items: list[CustomFieldChoiceInput] | None) -> list[dict[str, Any]] | None:
    if items is None:
        return None
    return [{"value": item.value, "labels": item.labels or {}} for item in items]


@strawberry.type
class CustomFieldQuery:
    @strawberry.field(description="The custom fields of a resource, in their order.")
    def custom_fields(
        self, info: Info[Context, Any], resource: str, include_retired: bool = False
    ) -> list[CustomFieldType]:
        context = info.context
        context.require_actor()
        context.kernel.record_kinds.get(resource)
        statement = select(CustomField).where(CustomField.resource == resource)
        if not include_retired:
            statement = statement.where(CustomField.active.is_(True))
        statement = statement.order_by(CustomField.position, CustomField.id)
        return list(context.session.scalars(statement))  # type: ignore[arg-type]

    @strawberry.field(description="The resources that take custom fields.")
    def custom_field_resources(self, info: Info[Context, Any]) -> list[str]:
        info.context.require_actor()
        return service.resources(info.context.kernel.record_kinds)


@strawberry.type
class CustomFieldMutation:
    @strawberry.mutation(description="Add a field to a resource (needs fields.manage).")
    def define_custom_field(
        self, info: Info[Context, Any], input: DefineCustomFieldInput
    ) -> CustomFieldType:
        context = info.context
        require(context.require_actor(), MANAGE)
        return service.define(  # type: ignore[return-value]
            context.session,
            context.kernel.record_kinds,
            resource=input.resource,
            name=input.name,
            labels=input.labels or {},
            type=input.type,
            required=input.required,
            choices=_choices(input.choices) or (),
            dictionary=input.dictionary,
            max_length=input.max_length,
            help=input.help or {},
            listed=input.listed,
            position=input.position,
        )

    @strawberry.mutation(description="Change a field's labels, limits, choices, order or state.")
    def change_custom_field(
        self,
        info: Info[Context, Any],
        id: relay.GlobalID,
        version: int,
        input: ChangeCustomFieldInput,
    ) -> CustomFieldType:
        context = info.context
        require(context.require_actor(), MANAGE)
        changes = {
            "labels": input.labels,
            "required": input.required,
            "choices": _choices(input.choices),
            "dictionary": input.dictionary,
            "max_length": input.max_length,
            "help": input.help,
            "listed": input.listed,
            "position": input.position,
        }
        if input.active is not None:
            changes["active"] = input.active
        given = {key: value for key, value in changes.items() if value is not None}
        return service.change(  # type: ignore[return-value]
            context.session, decode_id(id, CustomFieldType), version, **given
        )
