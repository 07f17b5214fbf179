"""The SLA on GraphQL: levels and each record kind's matrix (read by any signed-in user,
changed with `sla.manage`), and a record's computed clock (for those who may see the
record). Refusals carry `extensions.code` and `field`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from openitsm.kernel.graphql.context import Context
from openitsm.kernel.graphql.types import RecordReferenceInput
from openitsm.kernel.sla import clocks, service
from openitsm.kernel.sla.models import SlaClock, SlaLevel, SlaRule


@strawberry.type(name="SlaLevel", description="An SLA level: targets in business time.")
class SlaLevelType:
    key: str
    labels: JSON = strawberry.field(description='Names by locale: {"zh-CN": …, "en": …}.')
    label: str = strawberry.field(description="The name in the viewer's language.")
    response: str | None = strawberry.field(description="ISO 8601 business time, like PT1H.")
    resolution: str | None = strawberry.field(description="ISO 8601 business time, like P1D.")
    warning_share: float | None = strawberry.field(description="Warn after this share (0.8).")
    warning_lead: str | None = strawberry.field(description="Or this long before the end.")
    active: bool
    position: int
    version: int

    @classmethod
    def of(cls, row: SlaLevel, locale: str) -> SlaLevelType:
        return cls(
            key=row.key,
            labels=JSON(dict(row.labels or {})),
            label=row.label(locale),
            response=row.response,
            resolution=row.resolution,
            warning_share=row.warning_share,
            warning_lead=row.warning_lead,
            active=row.active,
            position=row.position,
            version=row.version,
        )


@strawberry.type(name="SlaRule", description="One row of a record kind's SLA matrix.")
class SlaRuleType:
    id: int
    record_kind: str
    level: str
    category: str | None
    impact: str | None
    urgency: str | None
    service_unit: str | None = strawberry.field(description="A service unit's code.")
    ci_importance: str | None
    position: int
    version: int

    @classmethod
    def of(cls, row: SlaRule) -> SlaRuleType:
        return cls(
            id=row.id,
            record_kind=row.kind,
            level=row.level,
            category=row.category,
            impact=row.impact,
            urgency=row.urgency,
            service_unit=row.service_unit,
            ci_importance=row.ci_importance,
            position=row.position,
            version=row.version,
        )


@strawberry.type(name="SlaTarget", description="One target of a record's SLA clock.")
class SlaTargetType:
    state: str = strawberry.field(description="running, paused, met, breached or off.")
    due_at: dt.datetime | None = strawberry.field(description="None while paused or off.")
    warning_at: dt.datetime | None
    breached_at: dt.datetime | None
    remaining_seconds: int | None = strawberry.field(
        description="Business seconds left when computed; negative once overdue."
    )

    @classmethod
    def of(cls, row: SlaClock, name: str) -> SlaTargetType:
        return cls(
            state=getattr(row, f"{name}_state"),
            due_at=getattr(row, f"{name}_due_at"),
            warning_at=getattr(row, f"{name}_warning_at"),
            breached_at=getattr(row, f"{name}_breached_at"),
            remaining_seconds=getattr(row, f"{name}_remaining"),
        )


@strawberry.type(name="SlaClock", description="A record's SLA clock as last computed.")
class SlaClockType:
    kind: str
    record_id: int
    level: str | None
    response: SlaTargetType
    resolution: SlaTargetType
    next_fire_at: dt.datetime | None
    computed_at: dt.datetime

    @classmethod
    def of(cls, row: SlaClock) -> SlaClockType:
        return cls(
            kind=row.record_kind,
            record_id=row.record_id,
            level=row.level,
            response=SlaTargetType.of(row, "response"),
            resolution=SlaTargetType.of(row, "resolution"),
            next_fire_at=row.next_fire_at,
            computed_at=row.computed_at,
        )


@strawberry.input
class SlaLevelInput:
    key: str
    labels: JSON = strawberry.field(description='{"zh-CN": "P1 紧急", "en": "P1 Critical"}')
    response: str | None = None
    resolution: str | None = None
    warning_share: float | None = 0.8
    warning_lead: str | None = None
    active: bool = True
    position: int | None = None
    version: int | None = strawberry.field(default=None, description="Required to update.")


@strawberry.input
class SlaRuleInput:
    record_kind: str
    level: str
    category: str | None = None
    impact: str | None = None
    urgency: str | None = None
    service_unit: str | None = None
    ci_importance: str | None = None
    position: int | None = None


def _labels(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (value or {}).items()} if isinstance(value, dict) else {}


def _dimensions(rule: SlaRuleInput) -> dict[str, str | None]:
    return {
        "category": rule.category,
        "impact": rule.impact,
        "urgency": rule.urgency,
        "service_unit": rule.service_unit,
        "ci_importance": rule.ci_importance,
    }


@strawberry.type
class SlaQuery:
    @strawberry.field(description="Every SLA level, in order.")
    def sla_levels(self, info: Info[Context, Any]) -> list[SlaLevelType]:
        context = info.context
        rows = service.list_levels(context.session, context.require_actor())
        return [SlaLevelType.of(row, context.locale) for row in rows]

    @strawberry.field(description="A record kind's SLA matrix, in order.")
    def sla_rules(self, info: Info[Context, Any], kind: str) -> list[SlaRuleType]:
        context = info.context
        return [
            SlaRuleType.of(row)
            for row in service.list_rules(context.session, context.require_actor(), kind)
        ]

    @strawberry.field(
        description=(
            "A record's SLA clock as last computed; null when it has none. NOT_FOUND for a "
            "record the viewer may not see."
        )
    )
    def sla_clock(
        self, info: Info[Context, Any], record: RecordReferenceInput
    ) -> SlaClockType | None:
        context = info.context
        row = clocks.clock_of(
            context.session, context.kernel, record.to_ref(), context.require_actor()
        )
        return None if row is None else SlaClockType.of(row)


@strawberry.type
class SlaMutation:
    @strawberry.mutation(description="A new SLA level.")
    def create_sla_level(self, info: Info[Context, Any], input: SlaLevelInput) -> SlaLevelType:
        context = info.context
        row = service.create_level(
            context.session,
            context.require_actor(),
            key=input.key,
            labels=_labels(input.labels),
            response=input.response,
            resolution=input.resolution,
            warning_share=input.warning_share,
            warning_lead=input.warning_lead,
            active=input.active,
            position=input.position,
        )
        return SlaLevelType.of(row, context.locale)

    @strawberry.mutation(
        description="Change a level (give its version); running clocks re-base on it."
    )
    def update_sla_level(self, info: Info[Context, Any], input: SlaLevelInput) -> SlaLevelType:
        context = info.context
        row = service.update_level(
            context.session,
            context.require_actor(),
            input.key,
            input.version or 0,
            labels=_labels(input.labels),
            response=input.response,
            resolution=input.resolution,
            warning_share=input.warning_share,
            warning_lead=input.warning_lead,
            active=input.active,
            position=input.position,
        )
        return SlaLevelType.of(row, context.locale)

    @strawberry.mutation(description="Remove a level no rule and no running clock uses.")
    def delete_sla_level(
        self, info: Info[Context, Any], key: str, version: int | None = None
    ) -> bool:
        context = info.context
        service.delete_level(context.session, context.require_actor(), key, version)
        return True

    @strawberry.mutation(description="A new rule of a record kind's SLA matrix.")
    def create_sla_rule(self, info: Info[Context, Any], input: SlaRuleInput) -> SlaRuleType:
        context = info.context
        row = service.create_rule(
            context.session,
            context.require_actor(),
            input.record_kind,
            level=input.level,
            position=input.position,
            **_dimensions(input),
        )
        return SlaRuleType.of(row)

    @strawberry.mutation(description="Change a matrix rule (give its version).")
    def update_sla_rule(
        self, info: Info[Context, Any], id: int, version: int, input: SlaRuleInput
    ) -> SlaRuleType:
        context = info.context
        row = service.update_rule(
            context.session,
            context.require_actor(),
            id,
            version,
            level=input.level,
            position=input.position,
            **_dimensions(input),
        )
        return SlaRuleType.of(row)

    @strawberry.mutation(description="Remove a matrix rule.")
    def delete_sla_rule(
        self, info: Info[Context, Any], id: int, version: int | None = None
    ) -> bool:
        context = info.context
        service.delete_rule(context.session, context.require_actor(), id, version)
        return True

    @strawberry.mutation(
        description="The calendar a service unit's SLA clocks count on; null: the default."
    )
    def set_service_unit_sla_calendar(
        self, info: Info[Context, Any], service_unit_id: int, calendar: str | None = None
    ) -> bool:
        context = info.context
        service.set_unit_calendar(
            context.session, context.require_actor(), service_unit_id, calendar
        )
        return True
