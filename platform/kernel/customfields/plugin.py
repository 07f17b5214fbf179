"""Custom fields, registered like any plugin's part of the kernel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openitsm.kernel.customfields.models import CustomField
from openitsm.kernel.graphql.contribution import GraphQLContribution
from openitsm.kernel.hookspecs import hookimpl

if TYPE_CHECKING:
    from openitsm.kernel.app import Kernel

# (resource, name, labels, type, extra settings) defined by `openitsm demo`.
DEMO_FIELDS: tuple[tuple[str, str, dict[str, str], str, dict[str, Any]], ...] = (
    ("user", "seat", {"zh-CN": "工位", "en": "Seat"}, "text", {"listed": True}),
    (
        "service_unit",
        "tier",
        {"zh-CN": "服务等级", "en": "Support tier"},
        "choice",
        {
            "listed": True,
            "choices": [
                {"value": "gold", "labels": {"zh-CN": "金牌", "en": "Gold"}},
                {"value": "silver", "labels": {"zh-CN": "银牌", "en": "Silver"}},
            ],
        },
    ),
    ("service_unit", "contract_end", {"zh-CN": "合同到期", "en": "Contract end"}, "date", {}),
)
DEMO_VALUES = {
    ("user", "agent"): {"cf_seat": "3F-A12"},
    ("user", "engineer"): {"cf_seat": "3F-B07"},
    ("service_unit", "acme"): {"cf_tier": "gold", "cf_contract_end": "2027-12-31"},
    ("service_unit", "globex"): {"cf_tier": "silver", "cf_contract_end": "2027-06-30"},
}


@hookimpl
def register_models() -> list[type]:
    return [CustomField]


@hookimpl
def register_graphql() -> GraphQLContribution:
    from openitsm.kernel.customfields.schema import (
        CustomFieldMutation,
        CustomFieldQuery,
        CustomFieldType,
    )

    return GraphQLContribution(
        query=CustomFieldQuery, mutation=CustomFieldMutation, types=[CustomFieldType]
    )


@hookimpl(trylast=True)
def load_demo_data(session: Session, kernel: Kernel) -> None:
    """A few fields an administrator might add, with values, the first time only."""
    from openitsm.kernel.customfields import service
    from openitsm.kernel.identity.models import User
    from openitsm.kernel.organisation.models import ServiceUnit

    if session.scalar(select(CustomField.id).limit(1)) is not None:
        return
    for resource, name, labels, type, extra in DEMO_FIELDS:
        service.define(
            session, kernel.record_kinds, resource=resource, name=name, labels=labels, type=type,
            **extra,
        )  # fmt: skip
    models = {"user": (User, User.login), "service_unit": (ServiceUnit, ServiceUnit.code)}
    for (resource, key), values in DEMO_VALUES.items():
        model, column = models[resource]
        record = session.scalar(select(model).where(column == key))
        if record is not None:
            service.apply_values(session, record, resource, values)
